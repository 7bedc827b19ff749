import { defineConfig } from 'vitest/config';

// The browser suite: drives Debian's Chromium (/usr/bin/chromium) over the page built into dist-web/
// by `npm run build:web` (the test:browser script builds it first). Kept out of `npm test`.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.spec.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
