// Guards for the library's public entry points. TypeScript types vanish at run time: a JavaScript
// caller can pass a plain array, null or {} where a model or data set is expected, or a seed the RNG
// would silently wrap. Each guard turns that into a typed error naming the argument and what it
// takes, before any work. Hand-written (a schema library would add to the browser bundle for a dozen
// checks). Pure and dependency-free, so every layer may use them.
import { ConfigError, DataError } from '../errors.js';

export const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? `an object with keys [${Object.keys(v as object).slice(0, 6).join(', ')}]` : `${typeof v} ${String(v)}`);
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A seed is a uint32 (the Mulberry32 state and the checkpoint field); other numbers would be wrapped or rounded silently. */
export function checkSeed(seed: unknown, what = 'seed'): void {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1) {
    throw new ConfigError(`${what} must be an integer in [0, 4294967295], got ${typeof seed === 'number' ? seed : describe(seed)}`);
  }
}

/** A float model as loadModel returns it: kind 'float', an architecture with nodes, params. */
export function checkFloatModel(m: unknown, what = 'backbone'): void {
  if (!isObject(m) || m.kind !== 'float' || !isObject(m.architecture) || !Array.isArray((m.architecture as { nodes?: unknown }).nodes) || !isObject(m.params)) {
    throw new ConfigError(`${what} must be a float model (from loadModel or pretrain), got ${describe(m)}`);
  }
}

/** A Dataset: shape [H, W, C], Float32Array images, Int32Array labels, a class count. */
export function checkDatasetShape(d: unknown, what: string): void {
  if (!isObject(d) || !(d.images instanceof Float32Array) || !(d.labels instanceof Int32Array) || !Array.isArray(d.shape) || !Number.isInteger(d.classes)) {
    throw new ConfigError(`${what} must be a Dataset { name, shape, images: Float32Array, labels: Int32Array, classes }, got ${describe(d)}`);
  }
}

/** checkDatasetShape, and every finite pixel in [0, 1] (for data a model is trained on). */
export function checkDataset(d: unknown, what: string): void {
  checkDatasetShape(d, what);
  const images = (d as { images: Float32Array }).images;
  // Pixels are in [0, 1] (8-bit values / 255): a negative value is a caller's preprocessing error
  // (mean subtraction, [-1, 1] scaling) that would silently wreck accuracy.
  for (let i = 0; i < images.length; i++) {
    const v = images[i]!;
    if ((v < 0 || v > 1) && Number.isFinite(v)) {
      const size = images.length / Math.max(1, (d as { labels: Int32Array }).labels.length);
      throw new DataError(`${what} '${String((d as { name?: unknown }).name)}': sample ${Math.floor(i / size)} has pixel value ${v} outside [0, 1]; scale images to [0, 1] (8-bit pixels / 255)`);
    }
  }
}

export function checkDevice(device: unknown): void {
  if (!isObject(device)) throw new ConfigError(`device must be { name, sramBytes, flashBytes } (e.g. resolveDevice('nrf52840')), got ${describe(device)}`);
  for (const key of ['sramBytes', 'flashBytes'] as const) {
    const v = device[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v % 16 !== 0) {
      throw new ConfigError(`device.${key} must be a positive integer number of bytes, a multiple of 16, got ${typeof v === 'number' ? v : describe(v)}`);
    }
  }
}

/** A model as loadModel returns it, float or quantized. */
export function checkModel(m: unknown, what = 'model'): void {
  if (!isObject(m) || (m.kind !== 'float' && m.kind !== 'quantized') || !isObject(m.architecture) || !isObject(m.params)) {
    throw new ConfigError(`${what} must be a model (from loadModel, pretrain or quantizeModel), got ${describe(m)}`);
  }
}

export function checkOptionsObject(o: unknown, what: string): void {
  if (!isObject(o)) throw new ConfigError(`${what} takes an options object, got ${describe(o)}`);
}

/** An object with the given methods (a checkpoint store, a session, a device), for duck-typed parameters. */
export function checkHasMethods(v: unknown, methods: readonly string[], what: string, expected: string): void {
  if (!isObject(v) || methods.some((m) => typeof v[m] !== 'function')) throw new ConfigError(`${what} must be ${expected}, got ${describe(v)}`);
}

/** Class ids or sample indices: an array (or typed array) of integers in [0, limit). */
export function checkIndexList(v: unknown, limit: number, what: string): void {
  const list = v as ArrayLike<unknown> | null | undefined;
  if (list === null || list === undefined || typeof list !== 'object' || typeof list.length !== 'number') {
    throw new ConfigError(`${what} must be an array of integers, got ${describe(v)}`);
  }
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= limit) {
      throw new ConfigError(`${what}[${i}] must be an integer in [0, ${limit}), got ${typeof x === 'number' ? x : describe(x)}`);
    }
  }
}

/** An Architecture: { name, nodes: [...] }. */
export function checkArchitecture(a: unknown, what = 'architecture'): void {
  if (!isObject(a) || !Array.isArray(a.nodes)) throw new ConfigError(`${what} must be an architecture { name, nodes } (e.g. architecturePreset('mnist-cnn')), got ${describe(a)}`);
}
