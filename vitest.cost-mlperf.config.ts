import { defineConfig } from 'vitest/config';

// The cost model against published MLPerf Tiny results (`npm run test:cost-mlperf`): reads
// ../shared/reference/mlperf-tiny-latency.csv and ../shared/mlperf-tiny/README.md, so it is kept
// out of `npm test` (its files are *.spec.ts) and fails when ../shared is missing.
export default defineConfig({
  test: {
    include: ['test/cost-mlperf/**/*.spec.ts'],
    pool: 'forks',
    testTimeout: 120_000,
  },
});
