// Browser stand-in for wasm-file.ts (see the "browser" map in package.json): a browser has no
// package folder to read, so wasm-source.ts fetches builds by URL and never calls this.
import type { BuildFlavor } from './features.js';

export async function readBuildFile(flavor: BuildFlavor): Promise<Uint8Array<ArrayBuffer>> {
  throw new Error(`reading build/${flavor}.wasm from disk needs Node; in a browser, devices fetch it from wasmBaseUrl`);
}
