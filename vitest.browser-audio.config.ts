import { defineConfig } from 'vitest/config';

// The page's spoken-word mode in Debian's Chromium (`npm run test:browser-audio`): a fake microphone
// fed from a WAV rendered by espeak-ng (apt-get install -y chromium espeak-ng sox) and MLPerf Tiny's
// keyword model from ../shared/mlperf-tiny. Kept out of `npm test` and `test:browser` (its files are
// *.spec.ts under test/browser-audio) because it needs those tools and files; it fails, never skips.
export default defineConfig({
  test: {
    include: ['test/browser-audio/**/*.spec.ts'],
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--experimental-wasm-relaxed-simd'] } },
    fileParallelism: false,
    testTimeout: 10 * 60_000,
    hookTimeout: 10 * 60_000,
  },
});
