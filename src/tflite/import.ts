// .tflite → lastmile model. Walks the operators in order, hands each to its mapping from the
// operator table (ops.ts) and collects nodes, parameters and activation quantization. int8 models
// keep every integer and scale exactly as stored (weights, int32 biases, per-channel scales, zero
// points); float models become a FloatModel for our PTQ. Operators without a mapping are listed
// together in one typed error before anything else is reported.
import { FormatError, UnsupportedError } from '../errors.js';
import type { ModelNode } from '../model/layers.js';
import { resolveGraph } from '../model/graph.js';
import type { ActivationQuant, FloatModel, FloatParams, QuantizedModel, QuantizedParams } from '../model/model.js';
import { LastmileError } from '../errors.js';
import { readTflite, type TfliteFile, type TfliteOperator } from './reader.js';
import { TFLITE_IMPORTERS, SUPPORTED_TFLITE_OPS } from './ops.js';
import type { ImportContext } from './mapping.js';
import { importFail, importUnsupported } from './mapping.js';
import { TensorType, builtinOpName, tensorTypeName } from './schema.js';

/** What the importer remembers about the source file (stored in model.meta.tflite). */
export interface TfliteMeta {
  description: string;
  /** lastmile node name → the TFLite tensor name of its output. */
  outputTensorNames: Record<string, string>;
  /** Parameter layer → TFLite names of its weight and bias tensors. */
  paramTensorNames: Record<string, { weights: string; bias: string }>;
  /** Constant int32 operands kept for export, by node (RESHAPE shapes). */
  constants: Record<string, { name: string; values: number[] }>;
  /** The final int8 softmax, applied by the run contract after the head. */
  softmax?: { beta: number; tensorName: string; scale: number; zeroPoint: number };
}

export interface ImportOptions {
  /** Class names in output order, stored as meta.classNames. */
  labels?: string[];
  name?: string;
}

export function importTflite(bytes: Uint8Array, what = 'tflite file', options: ImportOptions = {}): QuantizedModel | FloatModel {
  const file = readTflite(bytes, what);
  return convertTflite(file, what, options);
}

export function convertTflite(file: TfliteFile, what: string, options: ImportOptions = {}): QuantizedModel | FloatModel {
  const missing = [...new Set(file.operators.filter((op) => !TFLITE_IMPORTERS[op.builtin]).map((op) => (op.customCode ? `CUSTOM '${op.customCode}'` : builtinOpName(op.builtin))))];
  if (missing.length) throw new UnsupportedError(`${what}: unsupported operators ${missing.join(', ')}; lastmile imports ${SUPPORTED_TFLITE_OPS.join(', ')}`);
  if (file.inputs.length !== 1 || file.outputs.length !== 1) throw new UnsupportedError(`${what}: ${file.inputs.length} inputs and ${file.outputs.length} outputs; lastmile imports single-input, single-output models`);
  if (file.operators.length === 0) throw new FormatError(`${what}: the model has no operators`);

  const inputTensor = file.tensors[file.inputs[0]!]!;
  const isFloat = inputTensor.type === TensorType.FLOAT32;
  if (!isFloat && inputTensor.type !== TensorType.INT8) throw new UnsupportedError(`${what}: input tensor '${inputTensor.name}' is ${tensorTypeName(inputTensor.type)}; lastmile imports int8 and float32 models`);
  if (inputTensor.shape[0] !== 1 || (inputTensor.shape.length !== 2 && inputTensor.shape.length !== 4)) {
    throw new UnsupportedError(`${what}: input shape [${inputTensor.shape.join(', ')}]; lastmile imports [1, H, W, C] or [1, features]`);
  }

  const nodes: ModelNode[] = [];
  const activations: Record<string, ActivationQuant> = {};
  const qparams: Record<string, QuantizedParams> = {};
  const fparams: Record<string, FloatParams> = {};
  const producerOf = new Map<number, string>();
  const meta: TfliteMeta = { description: file.description, outputTensorNames: {}, paramTensorNames: {}, constants: {} };
  const usedNames = new Set<string>();
  let softmaxInput = -1;

  const quantOf = (index: number, op?: TfliteOperator): ActivationQuant => {
    const t = file.tensors[index]!;
    const where = op ? `operator ${op.index} (${builtinOpName(op.builtin)}): ` : '';
    if (isFloat) {
      if (t.type !== TensorType.FLOAT32) throw new UnsupportedError(`${what}: ${where}tensor '${t.name}' is ${tensorTypeName(t.type)} in a float model`);
      return { scale: 1, zeroPoint: 0 };
    }
    if (t.type !== TensorType.INT8) throw new UnsupportedError(`${what}: ${where}activation '${t.name}' is ${tensorTypeName(t.type)}; lastmile runs int8 activations`);
    const q = t.quant;
    if (!q || q.scale.length !== 1) throw new FormatError(`${what}: ${where}int8 activation '${t.name}' needs one scale and zero point`);
    const zp = q.zeroPoint[0]!;
    if (!Number.isInteger(zp) || zp < -128 || zp > 127) throw new FormatError(`${what}: ${where}activation '${t.name}' has zero point ${zp} outside int8`);
    return { scale: q.scale[0]!, zeroPoint: zp };
  };

  const inputName = 'input';
  nodes.push({ kind: 'input', name: inputName, shape: inputTensor.shape.slice(1) });
  activations[inputName] = quantOf(file.inputs[0]!);
  producerOf.set(file.inputs[0]!, inputName);
  meta.outputTensorNames[inputName] = inputTensor.name;

  const ctx: ImportContext = {
    what,
    tensor(index) {
      const t = file.tensors[index];
      if (!t) throw new FormatError(`${what}: tensor ${index} does not exist`);
      return t;
    },
    producer(index, op) {
      const name = producerOf.get(index);
      if (name === undefined) importFail(ctx, op, `reads tensor ${index} ('${file.tensors[index]?.name}'), which no imported node produces`);
      return name;
    },
    activationQuant: (index, op) => quantOf(index, op),
    nodeName(op, prefix) {
      let name = `${prefix}_${op.index}`;
      while (usedNames.has(name)) name += '_';
      usedNames.add(name);
      return name;
    },
    addNode(node, output, quant) {
      if (softmaxInput >= 0) throw new UnsupportedError(`${what}: operators after the final SOFTMAX are not supported`);
      nodes.push(node);
      activations[node.name] = quant;
      producerOf.set(output, node.name);
      meta.outputTensorNames[node.name] = file.tensors[output]!.name;
    },
    addParams(node, op, weightIndex, biasIndex, channelAxis) {
      const w = ctx.tensor(weightIndex);
      if (!w.data) importUnsupported(ctx, op, `weights '${w.name}' are not a constant`);
      const channels = channelAxis === 'first' ? w.shape[0]! : w.shape[w.shape.length - 1]!;
      const b = biasIndex >= 0 ? ctx.tensor(biasIndex) : undefined;
      if (b && (!b.data || b.shape.length !== 1 || b.shape[0] !== channels)) importFail(ctx, op, `bias '${b.name}' must be a constant of ${channels} values`);
      meta.paramTensorNames[node] = { weights: w.name, bias: b?.name ?? '' };
      if (isFloat) {
        if (w.type !== TensorType.FLOAT32 || (b && b.type !== TensorType.FLOAT32)) importUnsupported(ctx, op, 'a float model with non-float weights (hybrid quantization) is not supported');
        fparams[node] = { weights: copyAs(Float32Array, w.data), bias: b ? copyAs(Float32Array, b.data!) : new Float32Array(channels) };
        return;
      }
      if (w.type !== TensorType.INT8) importUnsupported(ctx, op, `weights '${w.name}' are ${tensorTypeName(w.type)}; lastmile imports int8 weights`);
      const q = w.quant;
      if (!q) importFail(ctx, op, `int8 weights '${w.name}' have no quantization`);
      if (q.zeroPoint.some((z) => z !== 0)) importUnsupported(ctx, op, `weights '${w.name}' have a non-zero zero point (TFLite int8 weights are symmetric)`);
      const axis = channelAxis === 'first' ? 0 : w.shape.length - 1;
      if (q.scale.length !== 1 && (q.scale.length !== channels || q.quantizedDimension !== axis)) importFail(ctx, op, `weights '${w.name}' have ${q.scale.length} scales along dimension ${q.quantizedDimension}; expected 1 or ${channels} along ${axis}`);
      const weights = copyAs(Int8Array, w.data);
      if (weights.includes(-128)) importUnsupported(ctx, op, `weights '${w.name}' use −128, outside TFLite's symmetric int8 weight range [−127, 127]`);
      if (b && b.type !== TensorType.INT32) importUnsupported(ctx, op, `bias '${b.name}' is ${tensorTypeName(b.type)}; int8 layers need int32 biases`);
      qparams[node] = { weightBits: 8, weights, weightScales: Float32Array.from(q.scale), bias: b ? copyAs(Int32Array, b.data!) : new Int32Array(channels) };
    },
    alias(output, input) {
      producerOf.set(output, ctx.producer(input, file.operators[0]!));
    },
    keepConstant(node, index) {
      const t = ctx.tensor(index);
      if (t.type !== TensorType.INT32 || !t.data || t.data.length > 64) return;
      meta.constants[node] = { name: t.name, values: Array.from(copyAs(Int32Array, t.data)) };
    },
    setSoftmax(op, beta, input, output) {
      if (op.index !== file.operators.length - 1 || file.outputs[0] !== output) importUnsupported(ctx, op, 'SOFTMAX is supported as the last operator, producing the model output');
      const inputProducer = ctx.producer(input, op);
      if (nodes[nodes.length - 1]!.name !== inputProducer) importUnsupported(ctx, op, 'SOFTMAX must read the output of the operator just before it');
      softmaxInput = input;
      if (!isFloat) {
        const q = quantOf(output, op);
        meta.softmax = { beta, tensorName: file.tensors[output]!.name, scale: q.scale, zeroPoint: q.zeroPoint };
      } else meta.softmax = { beta, tensorName: file.tensors[output]!.name, scale: 1, zeroPoint: 0 };
      producerOf.set(output, inputProducer);
    },
  };

  for (const op of file.operators) TFLITE_IMPORTERS[op.builtin]!.import(ctx, op);
  const outName = producerOf.get(file.outputs[0]!);
  if (outName !== nodes[nodes.length - 1]!.name) throw new UnsupportedError(`${what}: the model output is not written by its last operator`);

  const architecture = { name: options.name ?? (what.split(/[\\/]/).pop()!.replace(/\.tflite$/i, '') || 'tflite-model'), nodes };
  try {
    resolveGraph(architecture);
  } catch (e) {
    if (e instanceof LastmileError) throw new FormatError(`${what}: the imported graph is invalid: ${e.message}`);
    throw e;
  }
  const baseMeta: Record<string, unknown> = { source: 'tflite', tflite: meta };
  if (options.labels) {
    const classes = nodes[nodes.length - 1]!;
    const count = resolveGraph(architecture).outputShape.reduce((a, b) => a * b, 1);
    if (options.labels.length !== count) throw new FormatError(`${what}: ${options.labels.length} labels given, but output '${classes.name}' has ${count} values`);
    baseMeta.classNames = options.labels;
  }
  if (isFloat) return { kind: 'float', architecture, params: fparams, meta: baseMeta };
  return { kind: 'quantized', architecture, params: qparams, activations, meta: { ...baseMeta, weightBits: 8 } };
}

function copyAs<T extends Int8Array | Int32Array | Float32Array>(ctor: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, bytes: Uint8Array): T {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return new ctor(copy);
}
