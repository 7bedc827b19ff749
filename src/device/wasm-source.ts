// Where the compiled device builds come from: the package's build/ folder in Node, a URL in a
// browser (or any bytes the caller already has). Compiled modules are cached per flavour.
import type { BuildFlavor } from './features.js';
import { readBuildFile } from './wasm-file.js';
import { ConfigError } from '../errors.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const moduleCache = new Map<string, Promise<WebAssembly.Module>>();
let defaultBaseUrl: string | undefined;

/**
 * Browser only: the folder every device fetches its build from when created without a wasmBaseUrl.
 * A bundled app needs it because library code that creates devices internally (prototype heads,
 * calibration) cannot pass one, and the package-relative default means nothing inside a bundle.
 * undefined restores that default.
 */
export function setDefaultWasmBaseUrl(baseUrl: string | URL | undefined): void {
  if (baseUrl !== undefined && typeof baseUrl !== 'string' && !(baseUrl instanceof URL)) {
    throw new ConfigError(`setDefaultWasmBaseUrl takes a URL or a string (the folder holding the device builds), got ${baseUrl === null ? 'null' : typeof baseUrl}`);
  }
  defaultBaseUrl = baseUrl === undefined ? undefined : String(baseUrl);
}

/** Where the builds are by default: the package's build/ folder, from src/runtime or dist/src/runtime. */
function defaultBuildFolder(): URL {
  return new URL(import.meta.url.includes('/dist/src/device/') ? '../../../build/' : '../../build/', import.meta.url);
}

async function browserBytes(flavor: BuildFlavor, baseUrl?: string | URL): Promise<Uint8Array<ArrayBuffer>> {
  // A relative base ('/build/', 'wasm/') is resolved against the page, as a browser would.
  const page = typeof location !== 'undefined' ? location.href : import.meta.url;
  const url = new URL(`${flavor}.wasm`, baseUrl === undefined ? defaultBuildFolder() : new URL(String(baseUrl), page));
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url} failed: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Compile (once per flavour and base URL) the device module. */
export function compileBuild(flavor: BuildFlavor, baseUrl: string | URL | undefined = isNode ? undefined : defaultBaseUrl): Promise<WebAssembly.Module> {
  const key = `${flavor}@${baseUrl ?? ''}`;
  let cached = moduleCache.get(key);
  if (!cached) {
    cached = (async () => {
      const bytes = isNode && !baseUrl ? await readBuildFile(flavor) : await browserBytes(flavor, baseUrl);
      return WebAssembly.compile(bytes);
    })();
    cached.catch(() => moduleCache.delete(key));
    moduleCache.set(key, cached);
  }
  return cached;
}
