// IDX files (MNIST, Fashion-MNIST, EMNIST, KMNIST): raw or gzip. The parser checks the declared
// dimensions against the bytes present before allocating, and gunzip output is capped, so a hostile
// or truncated file gets a FormatError instead of an allocation it cannot justify.
import { FormatError, DataError } from '../errors.js';
import type { Dataset } from './dataset.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

// 96 MiB holds the 60,000-image train sets of MNIST, Fashion-MNIST and KMNIST and EMNIST-balanced
// (88 MB); the f32 copy is 4× that, so this also bounds a run's memory.
export const MAX_IDX_BYTES = 96 * 1024 * 1024;
const IDX_UBYTE = 0x08;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parse an (already decompressed) IDX file holding unsigned bytes. */
export function parseIdx(bytes: Uint8Array, what = 'IDX file'): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(`${what}: parseIdx takes the file's bytes as a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  if (bytes.length < 4) throw new FormatError(`${what}: ${bytes.length} B is too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new FormatError(`${what}: bad magic ${bytes[0]}, ${bytes[1]} (expected 0, 0): not an IDX file`);
  if (bytes[2] !== IDX_UBYTE) throw new FormatError(`${what}: element type 0x${bytes[2]!.toString(16)} is not supported (only unsigned byte, 0x08)`);
  const rank = bytes[3]!;
  if (rank < 1 || rank > 4) throw new FormatError(`${what}: rank ${rank} is not supported (1..4)`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new FormatError(`${what}: truncated header (${bytes.length} B, need ${headerBytes})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count) || count > MAX_IDX_BYTES) throw new FormatError(`${what}: declared dimensions ${dims.join('×')} are too large`);
  if (bytes.length - headerBytes !== count) {
    throw new FormatError(`${what}: dimensions ${dims.join('×')} need ${count} B of data but the file has ${bytes.length - headerBytes} B (truncated or corrupt)`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Read (bounded, regular files only), inflate if gzip (streamed, output capped), then parse. Node only. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  const { readMaybeGzip } = await import('../io/bounded-read.js');
  return parseIdx(await readMaybeGzip(path, { maxBytes: MAX_IDX_BYTES, maxOutput: MAX_IDX_BYTES, what: 'IDX file' }), path);
}

/** Pair an images IDX (n×H×W) with a labels IDX (n) into a Dataset with values in [0, 1]. */
export function datasetFromIdx(name: string, images: IdxArray, labels: IdxArray, classes = 10, classNames?: string[]): Dataset {
  for (const [role, a] of [['images', images], ['labels', labels]] as const) {
    if (typeof a !== 'object' || a === null || !Array.isArray(a.dims) || !(a.data instanceof Uint8Array)) throw new FormatError(`${name}: ${role} must be an IDX array { dims, data } (from parseIdx or readIdxFile), got ${a === null ? 'null' : typeof a}`);
  }
  if (images.dims.length !== 3) throw new FormatError(`${name}: images must be n×H×W, got ${images.dims.join('×')}`);
  if (labels.dims.length !== 1) throw new FormatError(`${name}: labels must be a vector, got ${labels.dims.join('×')}`);
  const [n, h, w] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) throw new DataError(`${name}: ${n} images but ${labels.dims[0]} labels`);
  const out = new Float32Array(images.data.length);
  for (let i = 0; i < out.length; i++) out[i] = images.data[i]! / 255;
  const lab = Int32Array.from(labels.data);
  for (let i = 0; i < lab.length; i++) if (lab[i]! >= classes) throw new DataError(`${name}: label ${lab[i]} of sample ${i} is outside [0, ${classes - 1}]`);
  return { name, shape: [h, w, 1], images: out, labels: lab, classes, ...(classNames ? { classNames } : {}) };
}
