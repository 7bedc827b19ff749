// Node file helpers for the .tflite commands: one model-loading function for every command that
// takes --model (a .tflite is imported on the fly, anything else is read as a lastmile model),
// bounded reads, atomic writes, and raw int8 tensors from .bin or .npy files.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { ConfigError, FormatError } from '../errors.js';
import { loadModel, type Model } from '../model/model.js';
import { importTflite, type ImportOptions } from './import.js';
import { TFLITE_MAX_FILE_BYTES } from './reader.js';
import { TFLITE_FILE_IDENTIFIER } from './schema.js';

const MAX_MODEL_FILE_BYTES = 256 << 20;

export async function readBounded(path: string, limit: number, what: string): Promise<Uint8Array> {
  const info = await stat(path).catch((e: Error) => {
    throw new ConfigError(`cannot read ${what} '${path}': ${e.message}`);
  });
  if (!info.isFile()) throw new ConfigError(`${what} '${path}' is not a file`);
  if (info.size > limit) throw new FormatError(`${what} '${path}' is ${info.size} B, more than the ${limit} B limit`);
  return new Uint8Array(await readFile(path));
}

export function isTflite(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === TFLITE_FILE_IDENTIFIER;
}

/** Reads a model given on the command line: a .tflite (imported) or a lastmile .lmdl. */
export async function loadModelFile(path: string, options: ImportOptions = {}): Promise<Model> {
  const bytes = await readBounded(path, Math.max(MAX_MODEL_FILE_BYTES, TFLITE_MAX_FILE_BYTES), 'model file');
  if (path.toLowerCase().endsWith('.tflite') || isTflite(bytes)) return importTflite(bytes, path, options);
  return loadModel(bytes, path);
}

/** Writes a file atomically: temporary file, fsync, rename over the target. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path) || '.', { recursive: true });
  const tmp = join(dirname(path) || '.', `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Class names from --labels: a comma-separated list, or a file with one name per line. */
export async function parseLabels(spec: string): Promise<string[]> {
  let names: string[];
  if (spec.includes(',') || !(await stat(spec).then((s) => s.isFile()).catch(() => false))) names = spec.split(',');
  else names = new TextDecoder().decode(await readBounded(spec, 1 << 20, 'labels file')).split(/\r?\n/);
  names = names.map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new ConfigError(`--labels '${spec}' names no classes`);
  if (new Set(names).size !== names.length) throw new ConfigError(`--labels '${spec}' names a class twice`);
  return names;
}

/** Raw int8 values from a .bin file, or an int8 .npy array (any shape, C order). */
export function parseInt8Tensor(bytes: Uint8Array, what: string): Int8Array {
  if (bytes.length >= 10 && bytes[0] === 0x93 && String.fromCharCode(...bytes.subarray(1, 6)) === 'NUMPY') {
    const major = bytes[6]!;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerLen = major === 1 ? view.getUint16(8, true) : bytes.length >= 12 ? view.getUint32(8, true) : -1;
    const start = major === 1 ? 10 : 12;
    if (major < 1 || major > 3 || headerLen < 0 || headerLen > 65536 || start + headerLen > bytes.length) throw new FormatError(`${what}: malformed .npy header`);
    const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
    const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
    if (descr !== '|i1' && descr !== 'i1' && descr !== '<i1') throw new FormatError(`${what}: .npy dtype '${descr}'; the run contract takes int8 (numpy int8, descr '|i1')`);
    if (/'fortran_order'\s*:\s*True/.test(header)) throw new FormatError(`${what}: Fortran-ordered .npy arrays are not supported`);
    const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
    if (shape === undefined) throw new FormatError(`${what}: .npy header has no shape`);
    const count = shape.split(',').map((s) => s.trim()).filter(Boolean).reduce((a, d) => a * Number(d), 1);
    const data = bytes.subarray(start + headerLen);
    if (!Number.isInteger(count) || data.length !== count) throw new FormatError(`${what}: .npy shape (${shape}) needs ${count} B of data, the file holds ${data.length}`);
    return new Int8Array(data.slice().buffer);
  }
  return new Int8Array(bytes.slice().buffer);
}
