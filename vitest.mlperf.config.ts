import { defineConfig } from 'vitest/config';

// The MLPerf Tiny suite (`npm run test:mlperf`): the four reference int8 models from
// ../shared/mlperf-tiny/ against Arm NN's CpuRef backend (Debian python3-pyarmnn,
// libarmnn-cpuref-backend22, libarmnntfliteparser22, run with /usr/bin/python3). Kept out of
// `npm test` (its files are *.spec.ts) because it needs those files and packages; it fails, never
// skips, when they are missing.
export default defineConfig({
  test: {
    include: ['test/mlperf/**/*.spec.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 30 * 60 * 1000,
    hookTimeout: 10 * 60 * 1000,
  },
});
