// Node: read a device build from the installed package's build/ folder. Bundlers targeting a
// browser swap this module for wasm-file.browser.ts (package.json "browser" map), so a browser
// bundle never sees node:fs; the imports stay dynamic so the unbundled module still loads in a
// browser from a static server.
import type { BuildFlavor } from './features.js';

export async function readBuildFile(flavor: BuildFlavor): Promise<Uint8Array<ArrayBuffer>> {
  const { readFile, access } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const path = await import('node:path');
  // Walk up from this file (src/device or dist/src/device) to the package root's build/.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'build', `${flavor}.wasm`);
    try {
      await access(candidate);
      return new Uint8Array(await readFile(candidate));
    } catch {
      dir = path.dirname(dir);
    }
  }
  throw new Error(`build/${flavor}.wasm not found: run 'npm run build:wasm' (npm install does it)`);
}
