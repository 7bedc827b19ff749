// Encoding and decoding ONNX ModelProtos with the protobufjs classes of the optional package
// `onnx-proto`, loaded when this module is first imported (only src/onnx/ does): without the
// package, that import throws MissingPackageError naming it.
import type onnxProtoTypes from 'onnx-proto';
import { FormatError } from '../errors.js';
import { importOptional } from '../util/optional-package.js';
import type { ModelProto } from './onnx-proto.js';

const { onnx }: typeof onnxProtoTypes = (await importOptional('onnx-proto', 'ONNX export and import', () => import('onnx-proto'))).default;

/**
 * Serialize a ModelProto. In Node protobufjs returns a Buffer, whose slice() is a view rather than
 * a copy; callers get a plain Uint8Array that owns its bytes.
 */
export function encodeModelProto(model: ModelProto): Uint8Array {
  const encoded = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  const out = new Uint8Array(encoded.length);
  out.set(encoded);
  return out;
}

/** Decode a ModelProto; any protobuf error (truncation, bad wire type, bad length) is a FormatError. */
export function decodeModelProto(bytes: Uint8Array, what: string): onnxProtoTypes.onnx.ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(`${what}: expected the bytes of an .onnx file (Uint8Array), got ${typeof bytes}`);
  if (bytes.length === 0) throw new FormatError(`${what}: the file is empty`);
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new FormatError(`${what}: not a readable ONNX ModelProto (${(e as Error).message}); the file is truncated or corrupt — re-export it`);
  }
}
