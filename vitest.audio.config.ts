import { defineConfig } from 'vitest/config';

// The speech suite (`npm run test:audio`): renders spoken keywords with Debian's espeak-ng and sox
// (apt-get install -y espeak-ng sox) into .cache/speech and checks the device front end and the
// wav:DIR data path on them. Kept out of `npm test` (its files are *.spec.ts) because it needs
// those tools; it fails, never skips, when they are missing.
export default defineConfig({
  test: {
    include: ['test/audio/**/*.spec.ts'],
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--experimental-wasm-relaxed-simd'] } },
    fileParallelism: false,
    testTimeout: 30 * 60 * 1000,
    hookTimeout: 30 * 60 * 1000,
  },
});
