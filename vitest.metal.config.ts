import { defineConfig } from 'vitest/config';

// The to-the-metal suite (`npm run test:metal`): exported C on the host cc and on QEMU Cortex-M4/M7/
// M33/M55 boards (Debian gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm) against
// `lastmile adapt --json` and the emulator. Its files are *.spec.ts so `npm test` never picks them up.
export default defineConfig({
  test: {
    include: ['test/metal/**/*.spec.ts'],
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--experimental-wasm-relaxed-simd'] } },
    // One file at a time: each runs two QEMU boards at once on the 2-core machine.
    fileParallelism: false,
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
  },
});
