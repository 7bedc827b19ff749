// Node file helpers for the .tflite commands: class names from --labels and raw int8 tensors from
// .bin or .npy files. Models are read by src/io/model-file.ts, which imports .tflite files on the fly.
import { stat } from 'node:fs/promises';
import { ConfigError, FormatError } from '../errors.js';
import { readBounded } from '../io/bounded-read.js';

/** Class names from --labels: a comma-separated list, or a file with one name per line. */
export async function parseLabels(spec: string): Promise<string[]> {
  let names: string[];
  if (spec.includes(',') || !(await stat(spec).then((s) => s.isFile()).catch(() => false))) names = spec.split(',');
  else names = new TextDecoder().decode(await readBounded(spec, { maxBytes: 1 << 20, what: 'labels file' })).split(/\r?\n/);
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
