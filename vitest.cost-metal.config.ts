import { defineConfig } from 'vitest/config';

// The cost model against fresh QEMU measurements (`npm run test:cost-metal`): needs Debian's
// gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm, and the exported C runtime in
// src/export/c/runtime. Kept out of `npm test` (its files are *.spec.ts).
export default defineConfig({
  test: {
    include: ['test/cost-metal/**/*.spec.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 20 * 60_000,
  },
});
