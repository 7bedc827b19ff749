// The contract between the .tflite importer/exporter and the per-operator mappings in
// src/ops/<kind>/tflite.ts. An importer turns one TFLite operator into lastmile nodes through an
// ImportContext; an exporter turns one lastmile node back into TFLite operators through an
// ExportContext. Neither touches FlatBuffers directly.
import { FormatError, UnsupportedError } from '../errors.js';
import type { Activation, ModelNode, Padding } from '../model/layers.js';
import type { ActivationQuant } from '../model/model.js';
import type { ResolvedNode } from '../model/graph.js';
import type { TfliteOperator, TfliteTensor } from './reader.js';
import { ActivationCode, PaddingCode, builtinOpName } from './schema.js';

export interface ImportContext {
  readonly what: string;
  tensor(index: number): TfliteTensor;
  /** Node name producing the tensor (after aliases); fails for constants. */
  producer(tensorIndex: number, op: TfliteOperator): string;
  /** The int8 activation quantization of a tensor (per-tensor scale and zero point). */
  activationQuant(tensorIndex: number, op: TfliteOperator): ActivationQuant;
  /** A fresh node name for this operator. */
  nodeName(op: TfliteOperator, prefix: string): string;
  /** Adds a node writing tensor `output` with its quantization. */
  addNode(node: ModelNode, output: number, quant: ActivationQuant): void;
  /** Stores a parameter layer's weights (int8 symmetric or float) and bias. */
  addParams(node: string, op: TfliteOperator, weights: number, bias: number, channelAxis: 'first' | 'last'): void;
  /** Makes tensor `output` another name for what `input` holds (a reshape that changes nothing). */
  alias(output: number, input: number): void;
  /** Remembers a constant int32 operand (e.g. RESHAPE's shape) so export writes it back unchanged. */
  keepConstant(node: string, tensorIndex: number): void;
  /** Records the model's final softmax (applied to the head's output). */
  setSoftmax(op: TfliteOperator, beta: number, input: number, output: number): void;
}

export interface TfliteImporter {
  import(ctx: ImportContext, op: TfliteOperator): void;
}

export interface ExportContext {
  /** Tensor index of the node's i-th input. */
  input(node: ResolvedNode, i: number): number;
  /** Per-sample shape of the node's i-th input. */
  inputShape(node: ResolvedNode, i: number): number[];
  /** An activation tensor inside a node's lowering (quantized like the node's output). */
  intermediate(node: ResolvedNode, suffix: string, shape: number[]): number;
  /** Adds the tensor for `node`'s output and returns its index. */
  outputTensor(node: ResolvedNode): number;
  /** Adds constant weight and bias tensors of a parameter layer; returns their indices. */
  params(node: ResolvedNode, tfliteWeightShape: number[], channelAxis: number): { weights: number; bias: number };
  /** A constant int32 tensor (e.g. RESHAPE's shape); the imported one of `node`, if any, wins. */
  int32Constant(node: string, name: string, values: number[]): number;
  /** Appends an operator. */
  op(builtin: number, inputs: number[], outputs: number[], options?: { type: number; write: (b: import('flatbuffers').Builder) => number }): void;
}

export interface TfliteExporter {
  export(ctx: ExportContext, node: ResolvedNode, activation: Activation): void;
}

export function importFail(ctx: { what: string }, op: TfliteOperator, message: string): never {
  throw new FormatError(`${ctx.what}: operator ${op.index} (${builtinOpName(op.builtin)}): ${message}`);
}

export function importUnsupported(ctx: { what: string }, op: TfliteOperator, message: string): never {
  throw new UnsupportedError(`${ctx.what}: operator ${op.index} (${builtinOpName(op.builtin)}): ${message}`);
}

export function readPadding(ctx: { what: string }, op: TfliteOperator, code: number): Padding {
  if (code === PaddingCode.SAME) return 'same';
  if (code === PaddingCode.VALID) return 'valid';
  return importFail(ctx, op, `padding code ${code} is neither SAME nor VALID`);
}

export function readActivation(ctx: { what: string }, op: TfliteOperator, code: number): Activation {
  if (code === ActivationCode.NONE) return 'none';
  if (code === ActivationCode.RELU) return 'relu';
  if (code === ActivationCode.RELU6) return 'relu6';
  return importUnsupported(ctx, op, `fused activation ${code} (lastmile supports NONE, RELU and RELU6)`);
}

export const activationCode = (a: Activation): number => (a === 'relu' ? ActivationCode.RELU : a === 'relu6' ? ActivationCode.RELU6 : ActivationCode.NONE);
/** TFLite knows only SAME and VALID: explicit pads (from an ONNX import) cannot be written. */
export function paddingCode(p: Padding, layer = 'a layer'): number {
  if (p === 'same') return PaddingCode.SAME;
  if (p === 'valid') return PaddingCode.VALID;
  throw new UnsupportedError(`${layer} has explicit pads [${p.join(', ')}], which TensorFlow Lite cannot express (it has only SAME and VALID); export this model as ONNX instead`);
}

/** Checks the operator has `count` inputs/outputs (inputs may allow optional trailing −1). */
export function requireArity(ctx: { what: string }, op: TfliteOperator, inputs: number, outputs: number, optionalFrom = inputs): void {
  if (op.inputs.length < optionalFrom || op.inputs.length > inputs) importFail(ctx, op, `takes ${inputs} inputs, has ${op.inputs.length}`);
  for (let i = 0; i < optionalFrom; i++) if (op.inputs[i]! < 0) importFail(ctx, op, `input ${i} is required`);
  if (op.outputs.length !== outputs) importFail(ctx, op, `has ${op.outputs.length} outputs, expected ${outputs}`);
}

/** Checks a strictly positive stride/window value read from options. */
export function positive(ctx: { what: string }, op: TfliteOperator, value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 1 << 16) importFail(ctx, op, `${what} must be a positive integer, got ${value}`);
  return value;
}

/** Spatial shape [H, W, C] of a 4-D NHWC tensor with batch 1. */
export function nhwc(ctx: { what: string }, op: TfliteOperator, t: TfliteTensor): [number, number, number] {
  if (t.shape.length !== 4 || t.shape[0] !== 1) importUnsupported(ctx, op, `tensor '${t.name}' has shape [${t.shape.join(', ')}]; expected [1, H, W, C]`);
  return [t.shape[1]!, t.shape[2]!, t.shape[3]!];
}
