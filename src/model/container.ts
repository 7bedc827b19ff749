// The lastmile model file: a versioned binary container that works the same in Node and a browser.
//
//   offset 0   "LMDL"            magic
//          4   u16 version       (1)
//          6   u16 reserved      (0)
//          8   u32 headerBytes   length of the UTF-8 JSON header
//         12   header JSON       { kind, ..., tensors: [{ name, dtype, shape, offset, bytes }] }
//          …   zero padding to 16, then tensor data (each tensor 16-byte aligned)
//   last 4     u32 CRC-32 of every byte before it
//
// The reader trusts nothing: sizes are checked against the file before anything is allocated, so a
// hostile header cannot make it allocate more than the file itself holds.
import { FormatError } from '../errors.js';

export const MODEL_MAGIC = 'LMDL';
export const MODEL_VERSION = 1;
const MAX_HEADER_BYTES = 1 << 20;
const MAX_TENSORS = 4096;
const MAX_FILE_BYTES = 256 << 20;

export type DType = 'f32' | 'i32' | 'i16' | 'i8' | 'u8';
export type TensorData = Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array;

const DTYPE_BYTES: Record<DType, number> = { f32: 4, i32: 4, i16: 2, i8: 1, u8: 1 };

export interface NamedTensor {
  name: string;
  shape: number[];
  data: TensorData;
}

export interface ContainerContents {
  /** Everything but the tensors: plain JSON-able metadata. */
  header: Record<string, unknown>;
  tensors: NamedTensor[];
}

interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  bytes: number;
}

export function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Int16Array) return 'i16';
  if (data instanceof Int8Array) return 'i8';
  return 'u8';
}

function makeArray(dtype: DType, bytes: Uint8Array): TensorData {
  // Copy into a fresh, exactly-sized buffer: the file's bytes may not be aligned for the view type,
  // and a Node Buffer's slice() is a view into a shared pool, not a copy.
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  switch (dtype) {
    case 'f32':
      return new Float32Array(copy);
    case 'i32':
      return new Int32Array(copy);
    case 'i16':
      return new Int16Array(copy);
    case 'i8':
      return new Int8Array(copy);
    case 'u8':
      return new Uint8Array(copy);
  }
}

let crcTable: Uint32Array | undefined;
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

export function encodeContainer(contents: ContainerContents): Uint8Array {
  const entries: TensorEntry[] = [];
  let dataBytes = 0;
  for (const t of contents.tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new FormatError(`tensor '${t.name}': shape [${t.shape.join(', ')}] has ${count} elements but the data has ${t.data.length}`);
    entries.push({ name: t.name, dtype: dtypeOf(t.data), shape: t.shape, offset: dataBytes, bytes: t.data.byteLength });
    dataBytes = align16(dataBytes + t.data.byteLength);
  }
  const headerJson = new TextEncoder().encode(JSON.stringify({ ...contents.header, tensors: entries }));
  const dataStart = align16(12 + headerJson.length);
  const total = dataStart + dataBytes + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MODEL_MAGIC), 0);
  view.setUint16(4, MODEL_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, headerJson.length, true);
  out.set(headerJson, 12);
  contents.tensors.forEach((t, i) => {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), dataStart + entries[i]!.offset);
  });
  view.setUint32(total - 4, crc32(out.subarray(0, total - 4)), true);
  return out;
}

export function decodeContainer(bytes: Uint8Array, what = 'model file'): ContainerContents {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(`${what}: expected bytes`);
  if (bytes.length > MAX_FILE_BYTES) throw new FormatError(`${what}: ${bytes.length} B is larger than the ${MAX_FILE_BYTES} B limit`);
  if (bytes.length < 16) throw new FormatError(`${what}: ${bytes.length} B is too short to be a lastmile model (truncated?)`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== MODEL_MAGIC) throw new FormatError(`${what}: not a lastmile model (magic '${magic}', expected '${MODEL_MAGIC}')`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== MODEL_VERSION) throw new FormatError(`${what}: format version ${version} is not supported (this build reads version ${MODEL_VERSION})`);
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) throw new FormatError(`${what}: checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)}): the file is corrupt or truncated`);
  const headerBytes = view.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES || 12 + headerBytes > bytes.length - 4) {
    throw new FormatError(`${what}: header length ${headerBytes} B does not fit in the ${bytes.length} B file`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + headerBytes)));
  } catch (e) {
    throw new FormatError(`${what}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new FormatError(`${what}: header must be a JSON object`);
  const rawEntries = header.tensors;
  if (!Array.isArray(rawEntries) || rawEntries.length > MAX_TENSORS) throw new FormatError(`${what}: header.tensors must be an array of at most ${MAX_TENSORS} entries`);
  const dataStart = align16(12 + headerBytes);
  const dataEnd = bytes.length - 4;
  const tensors: NamedTensor[] = rawEntries.map((raw, i) => {
    const e = raw as Partial<TensorEntry>;
    const where = `${what}: tensor #${i}`;
    if (typeof e.name !== 'string' || !e.name) throw new FormatError(`${where} has no name`);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) throw new FormatError(`${where} '${e.name}' has unknown dtype '${String(e.dtype)}'`);
    if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 1 << 28)) {
      throw new FormatError(`${where} '${e.name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    }
    const count = e.shape.reduce((a: number, b: number) => a * b, 1);
    const bytesNeeded = count * DTYPE_BYTES[e.dtype as DType];
    if (!Number.isInteger(e.offset) || !Number.isInteger(e.bytes) || e.bytes !== bytesNeeded) {
      throw new FormatError(`${where} '${e.name}': ${String(e.bytes)} B declared, shape [${e.shape.join(', ')}] needs ${bytesNeeded} B`);
    }
    const start = dataStart + (e.offset as number);
    if ((e.offset as number) < 0 || start + bytesNeeded > dataEnd) {
      throw new FormatError(`${where} '${e.name}' [${e.offset}, +${bytesNeeded}) lies outside the file's data section (truncated?)`);
    }
    return { name: e.name, shape: e.shape as number[], data: makeArray(e.dtype as DType, bytes.subarray(start, start + bytesNeeded)) };
  });
  const { tensors: _entries, ...rest } = header;
  return { header: rest, tensors };
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
