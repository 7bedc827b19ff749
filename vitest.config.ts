import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Workers are Node subprocesses started with relaxed SIMD enabled, so the relaxed build is
    // tested beside scalar and simd in the same process (Node 20 keeps it behind a flag).
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--experimental-wasm-relaxed-simd'] } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
