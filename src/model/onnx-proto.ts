// A thin typed layer over the `onnx-proto` package (protobufjs classes generated from onnx.proto):
// the enum values we use, small builders for the tensors/attributes the exporter writes, and
// defensive readers for the importer. protobufjs decodes int64 fields as Long objects and fills
// absent fields with defaults, and a corrupt file can carry any value in any field, so every
// reader here checks type, range and size before anything is allocated, and reports FormatError.
//
// This module only builds and checks plain objects, so operators' ONNX mappings (src/ops/*/onnx.ts)
// can import it from the browser-safe core; the protobufjs classes that encode and decode, from the
// optional package `onnx-proto`, are loaded by onnx-codec.ts.
import type onnxProtoTypes from 'onnx-proto';
import { FormatError } from '../errors.js';
export type ModelProto = onnxProtoTypes.onnx.IModelProto;
export type GraphProto = onnxProtoTypes.onnx.IGraphProto;
export type NodeProto = onnxProtoTypes.onnx.INodeProto;
export type TensorProto = onnxProtoTypes.onnx.ITensorProto;
export type AttributeProto = onnxProtoTypes.onnx.IAttributeProto;
export type ValueInfoProto = onnxProtoTypes.onnx.IValueInfoProto;

/** TensorProto.DataType values this project reads or writes. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  DOUBLE: 11,
} as const;

/** AttributeProto.AttributeType and TensorProto.DataLocation values from onnx.proto. */
const AttrType = { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;
const EXTERNAL_DATA_LOCATION = 1;
/** TensorProto.DataType names from onnx.proto, for messages. */
const DATA_TYPE_NAMES = ['UNDEFINED', 'FLOAT', 'UINT8', 'INT8', 'UINT16', 'INT16', 'INT32', 'INT64', 'STRING', 'BOOL', 'FLOAT16', 'DOUBLE', 'UINT32', 'UINT64', 'COMPLEX64', 'COMPLEX128', 'BFLOAT16', 'FLOAT8E4M3FN', 'FLOAT8E4M3FNUZ', 'FLOAT8E5M2', 'FLOAT8E5M2FNUZ', 'UINT4', 'INT4', 'FLOAT4E2M1'];

/**
 * Largest tensor the importer accepts (elements). MCU-scale models hold tens of thousands of
 * parameters; 2^26 floats (256 MiB) is far above any of them and keeps a hostile `dims` field
 * from asking for gigabytes.
 */
export const MAX_TENSOR_ELEMENTS = 1 << 26;

// ---------------------------------------------------------------------------------------------
// Builders (exporter side)

/** Raw little-endian bytes of a typed array (ONNX raw_data is little-endian, like every JS host). */
function rawBytes(a: Int8Array | Int16Array | Int32Array | Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): TensorProto {
  return { name, dataType: DataType.FLOAT, dims, rawData: rawBytes(Float32Array.from(values)) };
}

export function intTensor(name: string, dims: number[], values: Int8Array | Int16Array | Int32Array): TensorProto {
  const dataType = values instanceof Int8Array ? DataType.INT8 : values instanceof Int16Array ? DataType.INT16 : DataType.INT32;
  return { name, dataType, dims, rawData: rawBytes(values) };
}

export function int64Tensor(name: string, dims: number[], values: readonly number[]): TensorProto {
  return { name, dataType: DataType.INT64, dims, rawData: rawBytes(BigInt64Array.from(values, (v) => BigInt(v))) };
}

export const intAttr = (name: string, i: number): AttributeProto => ({ name, type: AttrType.INT, i });
export const intsAttr = (name: string, ints: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints });
export const floatAttr = (name: string, f: number): AttributeProto => ({ name, type: AttrType.FLOAT, f });
export const tensorAttr = (name: string, t: TensorProto): AttributeProto => ({ name, type: AttrType.TENSOR, t });
export const stringAttr = (name: string, s: string): AttributeProto => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(s) });

/** A float tensor value-info; a string dimension is symbolic (dim_param), a number is fixed. */
export function floatValueInfo(name: string, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

// ---------------------------------------------------------------------------------------------
// Readers (importer side)

interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
  toNumber(): number;
}

/** An int64 field (number or Long) as a safe JS integer, or FormatError. */
export function int64(value: unknown, what: string): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (value !== null && typeof value === 'object' && typeof (value as LongLike).toNumber === 'function' && typeof (value as LongLike).low === 'number') {
    n = (value as LongLike).toNumber();
  } else {
    throw new FormatError(`${what}: expected an integer, found ${typeof value}`);
  }
  if (!Number.isSafeInteger(n)) throw new FormatError(`${what}: integer ${String(value)} is out of range`);
  return n;
}

export function int64List(values: unknown, what: string): number[] {
  if (values === null || values === undefined) return [];
  if (!Array.isArray(values)) throw new FormatError(`${what}: expected a list of integers`);
  if (values.length > 1024) throw new FormatError(`${what}: ${values.length} entries is not a plausible attribute`);
  return values.map((v, i) => int64(v, `${what}[${i}]`));
}

/** Tensor dims as checked numbers, with the element count bounded by MAX_TENSOR_ELEMENTS. */
export function tensorDims(t: TensorProto, what: string): { dims: number[]; count: number } {
  const dims = int64List(t.dims, `${what} dims`);
  if (dims.length > 8) throw new FormatError(`${what}: rank ${dims.length} is not supported (at most 8)`);
  let count = 1;
  for (const d of dims) {
    if (d < 0) throw new FormatError(`${what}: negative dimension ${d}`);
    count *= d;
    if (count > MAX_TENSOR_ELEMENTS) throw new FormatError(`${what}: [${dims.join(', ')}] holds more than ${MAX_TENSOR_ELEMENTS} elements; this importer is for MCU-scale models`);
  }
  return { dims, count };
}

function checkInline(t: TensorProto, what: string): void {
  if (t.dataLocation === EXTERNAL_DATA_LOCATION || (t.externalData?.length ?? 0) > 0) {
    throw new FormatError(`${what}: the tensor is stored in an external data file; save the model with all tensors inside the .onnx file`);
  }
  if (t.segment) throw new FormatError(`${what}: segmented tensors are not supported`);
}

/** A FLOAT or DOUBLE tensor's values as float32 (raw_data or the typed repeated field). */
export function readFloatTensor(t: TensorProto, what: string): { dims: number[]; data: Float32Array } {
  checkInline(t, what);
  const { dims, count } = tensorDims(t, what);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(count);
  if (t.dataType === DataType.FLOAT) {
    if (raw) {
      if (raw.length !== count * 4) throw new FormatError(`${what}: raw_data holds ${raw.length} bytes, [${dims.join(', ')}] float needs ${count * 4}`);
      const dv = view(raw);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true);
    } else {
      const values = t.floatData ?? [];
      if (values.length !== count) throw new FormatError(`${what}: float_data holds ${values.length} values, [${dims.join(', ')}] needs ${count}`);
      data.set(values);
    }
  } else if (t.dataType === DataType.DOUBLE) {
    if (raw) {
      if (raw.length !== count * 8) throw new FormatError(`${what}: raw_data holds ${raw.length} bytes, [${dims.join(', ')}] double needs ${count * 8}`);
      const dv = view(raw);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat64(i * 8, true);
    } else {
      const values = t.doubleData ?? [];
      if (values.length !== count) throw new FormatError(`${what}: double_data holds ${values.length} values, [${dims.join(', ')}] needs ${count}`);
      data.set(values);
    }
  } else {
    throw new FormatError(`${what}: expected a float tensor, found data type ${String(t.dataType)} (${dataTypeName(t.dataType)})`);
  }
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(data[i]!)) throw new FormatError(`${what}: value ${i} is ${data[i]} (or overflows float32); repair the model's parameters`);
  }
  return { dims, data };
}

/** An INT64 or INT32 tensor's values as numbers (shapes, axes). */
export function readIntTensor(t: TensorProto, what: string): { dims: number[]; data: number[] } {
  checkInline(t, what);
  const { dims, count } = tensorDims(t, what);
  if (count > 1024) throw new FormatError(`${what}: ${count} integers is not a plausible shape or axes tensor`);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const data: number[] = [];
  if (t.dataType === DataType.INT64) {
    if (raw) {
      if (raw.length !== count * 8) throw new FormatError(`${what}: raw_data holds ${raw.length} bytes, [${dims.join(', ')}] int64 needs ${count * 8}`);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < count; i++) {
        const v = dv.getBigInt64(i * 8, true);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new FormatError(`${what}: value ${i} is out of range`);
        data.push(Number(v));
      }
    } else {
      const values = int64List(t.int64Data, `${what} int64_data`);
      if (values.length !== count) throw new FormatError(`${what}: int64_data holds ${values.length} values, [${dims.join(', ')}] needs ${count}`);
      data.push(...values);
    }
  } else if (t.dataType === DataType.INT32) {
    if (raw) {
      if (raw.length !== count * 4) throw new FormatError(`${what}: raw_data holds ${raw.length} bytes, [${dims.join(', ')}] int32 needs ${count * 4}`);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < count; i++) data.push(dv.getInt32(i * 4, true));
    } else {
      const values = t.int32Data ?? [];
      if (values.length !== count) throw new FormatError(`${what}: int32_data holds ${values.length} values, [${dims.join(', ')}] needs ${count}`);
      data.push(...values);
    }
  } else {
    throw new FormatError(`${what}: expected an integer tensor, found data type ${String(t.dataType)} (${dataTypeName(t.dataType)})`);
  }
  return { dims, data };
}

export function dataTypeName(type: unknown): string {
  return typeof type === 'number' ? DATA_TYPE_NAMES[type] ?? 'unknown' : 'unknown';
}

/** Typed access to one node's attributes, with the node named in every error. */
export class Attributes {
  // Attribute `type` is required since IR 3, but old exporters left it UNDEFINED; then the field
  // that carries data decides.
  private readonly byName = new Map<string, AttributeProto>();
  constructor(
    node: NodeProto,
    private readonly where: string,
  ) {
    for (const a of node.attribute ?? []) {
      if (typeof a.name !== 'string' || a.name.length === 0) throw new FormatError(`${where}: an attribute has no name`);
      this.byName.set(a.name, a);
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  int(name: string, fallback: number): number {
    const a = this.byName.get(name);
    if (!a) return fallback;
    if (a.type !== AttrType.INT && a.type !== AttrType.UNDEFINED) throw new FormatError(`${this.where}: attribute '${name}' should be an INT`);
    return int64(a.i ?? 0, `${this.where} attribute '${name}'`);
  }

  ints(name: string): number[] | undefined {
    const a = this.byName.get(name);
    if (!a) return undefined;
    if (a.type !== AttrType.INTS && !(a.type === AttrType.UNDEFINED && (a.ints?.length ?? 0) > 0)) throw new FormatError(`${this.where}: attribute '${name}' should be INTS`);
    return int64List(a.ints, `${this.where} attribute '${name}'`);
  }

  float(name: string): number | undefined {
    const a = this.byName.get(name);
    if (!a) return undefined;
    if ((a.type !== AttrType.FLOAT && a.type !== AttrType.UNDEFINED) || typeof a.f !== 'number') throw new FormatError(`${this.where}: attribute '${name}' should be a FLOAT`);
    return a.f;
  }

  string(name: string): string | undefined {
    const a = this.byName.get(name);
    if (!a) return undefined;
    if ((a.type !== AttrType.STRING && a.type !== AttrType.UNDEFINED) || !(a.s instanceof Uint8Array)) throw new FormatError(`${this.where}: attribute '${name}' should be a STRING`);
    return new TextDecoder().decode(a.s);
  }

  tensor(name: string): TensorProto | undefined {
    const a = this.byName.get(name);
    if (!a) return undefined;
    if ((a.type !== AttrType.TENSOR && a.type !== AttrType.UNDEFINED) || !a.t) throw new FormatError(`${this.where}: attribute '${name}' should be a TENSOR`);
    return a.t;
  }

  floats(name: string): number[] | undefined {
    const a = this.byName.get(name);
    if (!a) return undefined;
    if ((a.type !== AttrType.FLOATS && !(a.type === AttrType.UNDEFINED && (a.floats?.length ?? 0) > 0)) || !Array.isArray(a.floats)) throw new FormatError(`${this.where}: attribute '${name}' should be FLOATS`);
    return a.floats;
  }
}
