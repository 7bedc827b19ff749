import { defineConfig } from 'vitest/config';

// The fault-injection suite (`npm run test:faults`): power-cut training runs with SIGKILL and
// exceptions injected inside steps. Kept out of `npm test` (its files are *.spec.ts) because it
// spawns dozens of training processes; FAULT_RUNS sets how many (50 by default, 500 for the full run).
export default defineConfig({
  test: {
    include: ['test/faults/**/*.spec.ts'],
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--experimental-wasm-relaxed-simd'] } },
    // One file at a time: the SIGKILL suite uses both cores itself.
    fileParallelism: false,
    testTimeout: 4 * 60 * 60 * 1000,
    hookTimeout: 10 * 60 * 1000,
  },
});
