import { defineConfig } from 'vitest/config';

// The packaging suite (npm run test:package): packs the package, installs the tarball into a fresh
// project outside the repository (its dependencies come from the npm registry or npm's cache), runs
// the README's library example there, bundles the core for a browser and trains with the bundle in
// Debian's Chromium. Kept out of `npm test`: it needs npm, the registry (or a warm cache) and Chromium.
export default defineConfig({
  test: {
    include: ['test/package/**/*.spec.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
