// Reads a .tflite file into plain, validated data: tensors with their shapes, types, constant
// bytes and quantization, and operators in execution order. Nothing is trusted: offsets and
// lengths are bounded (flatbuffer.ts), indices are range-checked, constant sizes must match
// their shapes, and the operator list must be a valid dataflow order (every tensor read is a
// graph input, a constant or written by an earlier operator; nothing is written twice), which
// rules out cycles and dangling references before any conversion starts.
import { FormatError, UnsupportedError } from '../errors.js';
import { FlatReader, type Table } from './flatbuffer.js';
import { Slot, TENSOR_TYPE_BYTES, TFLITE_FILE_IDENTIFIER, TFLITE_SCHEMA_VERSION, tensorTypeName } from './schema.js';

export const TFLITE_MAX_FILE_BYTES = 64 << 20;
const MAX_TENSORS = 4096;
const MAX_OPERATORS = 4096;
const MAX_BUFFERS = 8192;
const MAX_RANK = 6;
const MAX_ELEMENTS = 1 << 26;

export interface TfliteQuant {
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: number;
  /** Constant contents (a view into the file), if the tensor has a non-empty buffer. */
  data?: Uint8Array;
  quant?: TfliteQuant;
}

export interface TfliteOperator {
  index: number;
  /** BuiltinOperator code (32 = CUSTOM). */
  builtin: number;
  customCode?: string;
  version: number;
  /** Tensor indices; −1 marks an omitted optional input. */
  inputs: number[];
  outputs: number[];
  optionsType: number;
  options?: Table;
}

export interface TfliteFile {
  version: number;
  description: string;
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
  /** Bytes of the file (the writer copies untouched buffers from here). */
  size: number;
}

export function readTflite(bytes: Uint8Array, what = 'tflite file'): TfliteFile {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(`${what}: expected bytes`);
  if (bytes.length > TFLITE_MAX_FILE_BYTES) throw new FormatError(`${what}: ${bytes.length} B is larger than the ${TFLITE_MAX_FILE_BYTES} B limit`);
  if (bytes.length < 12) throw new FormatError(`${what}: ${bytes.length} B is too short to be a .tflite model (truncated?)`);
  const ident = String.fromCharCode(...bytes.subarray(4, 8));
  if (ident !== TFLITE_FILE_IDENTIFIER) throw new FormatError(`${what}: not a TensorFlow Lite model (file identifier '${printable(ident)}', expected '${TFLITE_FILE_IDENTIFIER}')`);
  const r = new FlatReader(bytes, what);
  const model = r.table(r.indirect(0, 'root table'), 'Model');
  const version = model.uint(Slot.Model.version, 0);
  if (version !== TFLITE_SCHEMA_VERSION) throw new FormatError(`${what}: schema version ${version}; lastmile reads version ${TFLITE_SCHEMA_VERSION}`);
  const description = model.string(Slot.Model.description, 'description');

  const opcodes = model.tables(Slot.Model.operatorCodes, 'operator_codes', MAX_OPERATORS).map((t, i) => {
    const deprecated = t.byte(Slot.OperatorCode.deprecatedBuiltinCode, 0);
    const extended = t.int(Slot.OperatorCode.builtinCode, 0);
    const builtin = Math.max(deprecated, extended);
    if (builtin < 0) r.fail(`operator_codes[${i}] has a negative builtin code ${builtin}`);
    return { builtin, customCode: t.string(Slot.OperatorCode.customCode, `operator_codes[${i}].custom_code`) || undefined, version: t.int(Slot.OperatorCode.version, 1) };
  });

  const bufferTables = model.tables(Slot.Model.buffers, 'buffers', MAX_BUFFERS);
  const buffers = bufferTables.map((t, i) => {
    const offsetField = t.field(Slot.Buffer.offset, 8);
    if (offsetField && r.i64AsNumber(offsetField, `buffers[${i}].offset`) > 1) {
      throw new UnsupportedError(`${what}: buffer ${i} lives outside the FlatBuffer (the >2 GB layout); lastmile reads models whose constants are inline`);
    }
    return t.bytesView(Slot.Buffer.data, `buffers[${i}].data`, TFLITE_MAX_FILE_BYTES);
  });

  const subgraphs = model.tables(Slot.Model.subgraphs, 'subgraphs', 16);
  if (subgraphs.length !== 1) throw new UnsupportedError(`${what}: ${subgraphs.length} subgraphs; lastmile imports single-subgraph models (no control flow)`);
  const sg = subgraphs[0]!;

  const tensors = sg.tables(Slot.SubGraph.tensors, 'tensors', MAX_TENSORS).map((t, index): TfliteTensor => {
    const where = `tensor ${index}`;
    const name = t.string(Slot.Tensor.name, `${where}.name`) || `tensor_${index}`;
    const shape = t.ints(Slot.Tensor.shape, `${where}.shape`, MAX_RANK);
    let elements = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1 || d > MAX_ELEMENTS) r.fail(`${where} '${name}' has an invalid shape [${shape.join(', ')}]`);
      elements *= d;
      if (elements > MAX_ELEMENTS) r.fail(`${where} '${name}' has ${elements}+ elements, more than the limit of ${MAX_ELEMENTS}`);
    }
    const type = t.byte(Slot.Tensor.type, 0);
    if (t.child(Slot.Tensor.sparsity, `${where}.sparsity`)) throw new UnsupportedError(`${what}: ${where} '${name}' is sparse; lastmile reads dense tensors only`);
    const buffer = t.uint(Slot.Tensor.buffer, 0);
    if (buffer >= Math.max(1, buffers.length)) r.fail(`${where} '${name}' refers to buffer ${buffer}, but the model has ${buffers.length}`);
    let data = buffers[buffer];
    if (data && data.length === 0) data = undefined;
    if (data) {
      const width = TENSOR_TYPE_BYTES[type];
      if (width === undefined) throw new UnsupportedError(`${what}: ${where} '${name}' is a constant of ${tensorTypeName(type)}`);
      if (data.length !== elements * width) r.fail(`${where} '${name}': its buffer holds ${data.length} B, shape [${shape.join(', ')}] of ${tensorTypeName(type)} needs ${elements * width} B`);
    }
    const q = t.child(Slot.Tensor.quantization, `${where}.quantization`);
    let quant: TfliteQuant | undefined;
    if (q) {
      if (q.ubyte(Slot.Quantization.detailsType, 0) !== 0) throw new UnsupportedError(`${what}: ${where} '${name}' uses custom quantization details`);
      const scale = q.floats(Slot.Quantization.scale, `${where}.scale`, 1 << 16);
      const zeroPoint = q.longs(Slot.Quantization.zeroPoint, `${where}.zero_point`, 1 << 16);
      const quantizedDimension = q.int(Slot.Quantization.quantizedDimension, 0);
      if (scale.length > 0) {
        if (zeroPoint.length !== scale.length) r.fail(`${where} '${name}' has ${scale.length} scales but ${zeroPoint.length} zero points`);
        if (!scale.every((s) => Number.isFinite(s) && s > 0)) r.fail(`${where} '${name}' has a non-positive or non-finite quantization scale`);
        if (quantizedDimension < 0 || (scale.length > 1 && (quantizedDimension >= shape.length || shape[quantizedDimension] !== scale.length))) {
          r.fail(`${where} '${name}': ${scale.length} scales along dimension ${quantizedDimension} of shape [${shape.join(', ')}]`);
        }
        quant = { scale, zeroPoint, quantizedDimension };
      }
    }
    return { index, name, shape, type, data, quant };
  });

  const tensorIndex = (i: number, what2: string, optional: boolean): number => {
    if (optional && i === -1) return -1;
    if (!Number.isInteger(i) || i < 0 || i >= tensors.length) r.fail(`${what2} refers to tensor ${i}, but the subgraph has ${tensors.length}`);
    return i;
  };
  const inputs = sg.ints(Slot.SubGraph.inputs, 'subgraph inputs', MAX_TENSORS).map((i) => tensorIndex(i, 'subgraph input', false));
  const outputs = sg.ints(Slot.SubGraph.outputs, 'subgraph outputs', MAX_TENSORS).map((i) => tensorIndex(i, 'subgraph output', false));

  const operators = sg.tables(Slot.SubGraph.operators, 'operators', MAX_OPERATORS).map((t, index): TfliteOperator => {
    const where = `operator ${index}`;
    const opcodeIndex = t.uint(Slot.Operator.opcodeIndex, 0);
    const code = opcodes[opcodeIndex];
    if (!code) return r.fail(`${where} uses operator code ${opcodeIndex}, but the model lists ${opcodes.length}`);
    const optionsType = t.ubyte(Slot.Operator.builtinOptionsType, 0);
    return {
      index,
      builtin: code.builtin,
      customCode: code.customCode,
      version: code.version,
      inputs: t.ints(Slot.Operator.inputs, `${where}.inputs`, 64).map((i) => tensorIndex(i, `${where} input`, true)),
      outputs: t.ints(Slot.Operator.outputs, `${where}.outputs`, 64).map((i) => tensorIndex(i, `${where} output`, false)),
      optionsType,
      options: optionsType ? t.child(Slot.Operator.builtinOptions, `${where}.builtin_options`) : undefined,
    };
  });

  checkDataflow(r, tensors, operators, inputs, outputs);
  return { version, description, tensors, operators, inputs, outputs, size: bytes.length };
}

function checkDataflow(r: FlatReader, tensors: TfliteTensor[], operators: TfliteOperator[], inputs: number[], outputs: number[]): void {
  const ready = new Set<number>(inputs);
  for (const t of tensors) if (t.data) ready.add(t.index);
  for (const op of operators) {
    for (const i of op.inputs) {
      if (i >= 0 && !ready.has(i)) r.fail(`operator ${op.index} reads tensor ${i} ('${tensors[i]!.name}') before anything writes it (a cycle or a dangling reference)`);
    }
    for (const o of op.outputs) {
      if (ready.has(o)) r.fail(`operator ${op.index} writes tensor ${o} ('${tensors[o]!.name}'), which is already a graph input, a constant or another operator's output`);
      ready.add(o);
    }
  }
  for (const o of outputs) if (!ready.has(o)) r.fail(`graph output tensor ${o} ('${tensors[o]!.name}') is never written`);
}

const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
