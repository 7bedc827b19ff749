// lastmile model → .tflite (schema version 3), written with the flatbuffers Builder. int8 export
// writes each layer's int8 weights, int32 biases and per-channel or per-tensor scales as they are
// (16-bit weights are re-quantized first, requantize.ts); float export writes f32 tensors. Names
// of the original tensors are reused when the model came from a .tflite, and the final int8
// softmax is written back if the source had one.
import { Builder } from 'flatbuffers';
import { ConfigError, UnsupportedError } from '../errors.js';
import { resolveGraph, type ResolvedGraph, type ResolvedNode } from '../model/graph.js';
import type { Activation, NodeKind } from '../model/layers.js';
import type { FloatModel, QuantizedModel } from '../model/model.js';
import type { ExportContext } from './mapping.js';
import { TFLITE_EXPORTERS } from './ops.js';
import { requantizeModelTo8 } from './requantize.js';
import { BuiltinOp, OptionsType, Slot, TFLITE_FILE_IDENTIFIER, TFLITE_SCHEMA_VERSION, TensorType } from './schema.js';
import type { TfliteMeta } from './import.js';

export interface TensorSpec {
  name: string;
  shape: number[];
  type: number;
  buffer: number;
  quant?: { scale: number[]; zeroPoint: number[]; dim: number };
}

export interface OpSpec {
  builtin: number;
  inputs: number[];
  outputs: number[];
  options?: { type: number; write: (b: Builder) => number };
}

/** Operator versions TFLite assigns for int8 kernels (float kernels are version 1). */
const INT8_VERSION: Record<number, number> = {
  [BuiltinOp.CONV_2D]: 3, [BuiltinOp.DEPTHWISE_CONV_2D]: 3, [BuiltinOp.FULLY_CONNECTED]: 4, [BuiltinOp.ADD]: 2,
  [BuiltinOp.AVERAGE_POOL_2D]: 2, [BuiltinOp.MAX_POOL_2D]: 2, [BuiltinOp.RESHAPE]: 1, [BuiltinOp.SOFTMAX]: 2,
};

export interface WriteOptions {
  /** Leave out the final softmax (write the head's int8 logits as the output). */
  dropSoftmax?: boolean;
  /** Also expose these nodes' output tensors as graph outputs, after the model's own (for layer-by-layer checks). */
  extraOutputs?: string[];
  description?: string;
}

const bytesOf = (a: Int8Array | Int32Array | Float32Array | Int16Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function writeTflite(model: QuantizedModel | FloatModel, options: WriteOptions = {}): Uint8Array {
  const isFloat = model.kind === 'float';
  const q = model.kind === 'quantized' ? requantizeModelTo8(model) : undefined;
  const graph = resolveGraph(model.architecture);
  const meta = (model.meta.tflite && typeof model.meta.tflite === 'object' ? model.meta.tflite : undefined) as TfliteMeta | undefined;
  const tensors: TensorSpec[] = [];
  const buffers: Uint8Array[] = [new Uint8Array(0)];
  const ops: OpSpec[] = [];
  const tensorOf = new Map<string, number>();
  const { fusedActivation, aliasOf } = foldActivations(graph);
  const realName = (name: string) => aliasOf.get(name) ?? name;

  const addTensor = (spec: Omit<TensorSpec, 'buffer'>, data?: Uint8Array): number => {
    let buffer = 0;
    if (data) {
      buffers.push(data);
      buffer = buffers.length - 1;
    }
    tensors.push({ ...spec, buffer });
    return tensors.length - 1;
  };
  const activationTensor = (name: string, shape: number[]): number => {
    const act = q?.activations[name];
    const t = addTensor({
      name: meta?.outputTensorNames[name] ?? name,
      shape: [1, ...shape],
      type: isFloat ? TensorType.FLOAT32 : TensorType.INT8,
      ...(act ? { quant: { scale: [act.scale], zeroPoint: [act.zeroPoint], dim: 0 } } : {}),
    });
    tensorOf.set(name, t);
    return t;
  };

  activationTensor(graph.nodes[0]!.node.name, graph.inputShape);
  const ctx: ExportContext = {
    input(node, i) {
      const name = realName(graph.nodes[node.inputs[i]!]!.node.name);
      const t = tensorOf.get(name);
      if (t === undefined) throw new Error(`internal: tensor '${name}' was not written before '${node.node.name}'`);
      return t;
    },
    outputTensor: (node) => activationTensor(node.node.name, node.outShape),
    inputShape: (node, i) => graph.nodes[node.inputs[i]!]!.outShape,
    intermediate(node, suffix, shape) {
      const act = q?.activations[node.node.name];
      return addTensor({ name: `${node.node.name}/${suffix}`, shape: [1, ...shape], type: isFloat ? TensorType.FLOAT32 : TensorType.INT8, ...(act ? { quant: { scale: [act.scale], zeroPoint: [act.zeroPoint], dim: 0 } } : {}) });
    },
    params(node, shape, channelAxis) {
      const name = node.node.name;
      const names = meta?.paramTensorNames[name];
      if (isFloat) {
        const p = (model as FloatModel).params[name]!;
        const weights = addTensor({ name: names?.weights || `${name}/weights`, shape, type: TensorType.FLOAT32 }, bytesOf(p.weights.slice()));
        const bias = addTensor({ name: names?.bias || `${name}/bias`, shape: [node.biasLength!], type: TensorType.FLOAT32 }, bytesOf(p.bias.slice()));
        return { weights, bias };
      }
      const p = q!.params[name]!;
      const inScale = q!.activations[graph.nodes[node.inputs[0]!]!.node.name]!.scale;
      const scales = Array.from(p.weightScales);
      const zeros = scales.map(() => 0);
      const weights = addTensor({ name: names?.weights || `${name}/weights`, shape, type: TensorType.INT8, quant: { scale: scales, zeroPoint: zeros, dim: scales.length > 1 ? channelAxis : 0 } }, bytesOf(p.weights.slice() as Int8Array));
      const biasScales = scales.map((s) => Math.fround(inScale * s));
      const bias = addTensor({ name: names?.bias || `${name}/bias`, shape: [node.biasLength!], type: TensorType.INT32, quant: { scale: biasScales, zeroPoint: zeros, dim: 0 } }, bytesOf(p.bias.slice()));
      return { weights, bias };
    },
    int32Constant(node, name, values) {
      const kept = meta?.constants?.[node];
      const v = kept ?? { name, values };
      return addTensor({ name: v.name, shape: [v.values.length], type: TensorType.INT32 }, bytesOf(Int32Array.from(v.values)));
    },
    op: (builtin, inputs, outputs, opts) => void ops.push({ builtin, inputs, outputs, options: opts }),
  };

  for (const n of graph.nodes.slice(1)) {
    if (aliasOf.has(n.node.name)) continue;
    const exporter = TFLITE_EXPORTERS[n.node.kind as NodeKind];
    if (!exporter) throw new UnsupportedError(`layer '${n.node.name}' (${n.node.kind}) has no .tflite form`);
    exporter.export(ctx, n, fusedActivation.get(n.node.name) ?? ('activation' in n.node ? n.node.activation : 'none'));
  }
  const last = realName(graph.nodes[graph.nodes.length - 1]!.node.name);
  let output = tensorOf.get(last)!;
  if (meta?.softmax && !options.dropSoftmax) {
    const sm = meta.softmax;
    const t = addTensor({ name: sm.tensorName, shape: tensors[output]!.shape, type: isFloat ? TensorType.FLOAT32 : TensorType.INT8, ...(isFloat ? {} : { quant: { scale: [sm.scale], zeroPoint: [sm.zeroPoint], dim: 0 } }) });
    const beta = sm.beta;
    ops.push({ builtin: BuiltinOp.SOFTMAX, inputs: [output], outputs: [t], options: { type: OptionsType.SoftmaxOptions, write: (b) => { b.startObject(1); b.addFieldFloat32(Slot.SoftmaxOptions.beta, beta, 0); return b.endObject(); } } });
    output = t;
  }
  const extra = (options.extraOutputs ?? []).map((name) => {
    const t = tensorOf.get(realName(name));
    if (t === undefined) throw new ConfigError(`extra output '${name}' is not a tensor of model '${model.architecture.name}'`);
    return t;
  });
  return encodeTflite(tensors, buffers, ops, [tensorOf.get(graph.nodes[0]!.node.name)!], [output, ...extra], isFloat, options.description ?? `lastmile export of ${model.architecture.name}`);
}

/** Standalone relu/relu6 nodes fold into the layer before them (TFLite fuses activations). */
function foldActivations(graph: ResolvedGraph): { fusedActivation: Map<string, Activation>; aliasOf: Map<string, string> } {
  const fusedActivation = new Map<string, Activation>();
  const aliasOf = new Map<string, string>();
  for (const n of graph.nodes) {
    if (n.node.kind !== 'relu' && n.node.kind !== 'relu6') continue;
    const producer = graph.nodes[n.inputs[0]!]!;
    const p = producer.node;
    const fusable = 'activation' in p && p.activation === 'none' && !fusedActivation.has(p.name) && graph.consumers[producer.index]!.length === 1;
    if (!fusable) throw new UnsupportedError(`standalone ${n.node.kind} '${n.node.name}' cannot be fused into '${p.name}' for export`);
    fusedActivation.set(p.name, n.node.kind);
    aliasOf.set(n.node.name, p.name);
  }
  return { fusedActivation, aliasOf };
}

/** Encodes tensors, constant buffers and operators as a .tflite FlatBuffer (no checks: tests use it to craft hostile files). */
export function encodeTflite(tensors: TensorSpec[], buffers: Uint8Array[], ops: OpSpec[], inputs: number[], outputs: number[], isFloat: boolean, description: string): Uint8Array {
  const b = new Builder(1024 + buffers.reduce((s, d) => s + d.length + 32, 0));
  const intVector = (values: number[]) => {
    b.startVector(4, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]!);
    return b.endVector();
  };
  const floatVector = (values: number[]) => {
    b.startVector(4, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]!);
    return b.endVector();
  };
  const longVector = (values: number[]) => {
    b.startVector(8, values.length, 8);
    for (let i = values.length - 1; i >= 0; i--) b.addInt64(BigInt(values[i]!));
    return b.endVector();
  };
  const tableVector = (offsets: number[]) => {
    b.startVector(4, offsets.length, 4);
    for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
    return b.endVector();
  };
  // Constant data aligned to 16 B (schema: force_align 16), as the TFLite converter writes it.
  const dataVector = (data: Uint8Array) => {
    b.startVector(1, data.length, 16);
    const raw = b as unknown as { space: number; bb: { setPosition(p: number): void; bytes(): Uint8Array } };
    raw.space -= data.length;
    raw.bb.setPosition(raw.space);
    raw.bb.bytes().set(data, raw.space);
    return b.endVector();
  };

  const bufferOffsets = buffers.map((data) => {
    const dataOff = data.length ? dataVector(data) : 0;
    b.startObject(3);
    if (dataOff) b.addFieldOffset(Slot.Buffer.data, dataOff, 0);
    return b.endObject();
  });

  const codes: number[] = [];
  const codeIndex = (builtin: number) => {
    let i = codes.indexOf(builtin);
    if (i < 0) {
      codes.push(builtin);
      i = codes.length - 1;
    }
    return i;
  };
  const opOffsets = ops.map((op) => {
    const inOff = intVector(op.inputs);
    const outOff = intVector(op.outputs);
    const optOff = op.options ? op.options.write(b) : 0;
    const index = codeIndex(op.builtin);
    b.startObject(9);
    b.addFieldInt32(Slot.Operator.opcodeIndex, index, 0);
    b.addFieldOffset(Slot.Operator.inputs, inOff, 0);
    b.addFieldOffset(Slot.Operator.outputs, outOff, 0);
    if (op.options) {
      b.addFieldInt8(Slot.Operator.builtinOptionsType, op.options.type, 0);
      b.addFieldOffset(Slot.Operator.builtinOptions, optOff, 0);
    }
    return b.endObject();
  });

  const tensorOffsets = tensors.map((t) => {
    const nameOff = b.createString(t.name);
    const shapeOff = intVector(t.shape);
    let quantOff = 0;
    if (t.quant) {
      const s = floatVector(t.quant.scale);
      const z = longVector(t.quant.zeroPoint);
      b.startObject(7);
      b.addFieldOffset(Slot.Quantization.scale, s, 0);
      b.addFieldOffset(Slot.Quantization.zeroPoint, z, 0);
      b.addFieldInt32(Slot.Quantization.quantizedDimension, t.quant.dim, 0);
      quantOff = b.endObject();
    }
    b.startObject(9);
    b.addFieldOffset(Slot.Tensor.shape, shapeOff, 0);
    b.addFieldInt8(Slot.Tensor.type, t.type, 0);
    b.addFieldInt32(Slot.Tensor.buffer, t.buffer, 0);
    b.addFieldOffset(Slot.Tensor.name, nameOff, 0);
    if (quantOff) b.addFieldOffset(Slot.Tensor.quantization, quantOff, 0);
    return b.endObject();
  });

  const tensorsOff = tableVector(tensorOffsets);
  const inputsOff = intVector(inputs);
  const outputsOff = intVector(outputs);
  const opsOff = tableVector(opOffsets);
  const sgName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(Slot.SubGraph.tensors, tensorsOff, 0);
  b.addFieldOffset(Slot.SubGraph.inputs, inputsOff, 0);
  b.addFieldOffset(Slot.SubGraph.outputs, outputsOff, 0);
  b.addFieldOffset(Slot.SubGraph.operators, opsOff, 0);
  b.addFieldOffset(Slot.SubGraph.name, sgName, 0);
  const subgraph = b.endObject();

  const codeOffsets = codes.map((code) => {
    b.startObject(4);
    b.addFieldInt8(Slot.OperatorCode.deprecatedBuiltinCode, Math.min(code, 127), 0);
    b.addFieldInt32(Slot.OperatorCode.version, isFloat ? 1 : (INT8_VERSION[code] ?? 1), 1);
    b.addFieldInt32(Slot.OperatorCode.builtinCode, code, 0);
    return b.endObject();
  });
  const codesOff = tableVector(codeOffsets);
  const subgraphsOff = tableVector([subgraph]);
  const descOff = b.createString(description);
  const buffersOff = tableVector(bufferOffsets);
  b.startObject(8);
  b.addFieldInt32(Slot.Model.version, TFLITE_SCHEMA_VERSION, 0);
  b.addFieldOffset(Slot.Model.operatorCodes, codesOff, 0);
  b.addFieldOffset(Slot.Model.subgraphs, subgraphsOff, 0);
  b.addFieldOffset(Slot.Model.description, descOff, 0);
  b.addFieldOffset(Slot.Model.buffers, buffersOff, 0);
  const root = b.endObject();
  b.finish(root, TFLITE_FILE_IDENTIFIER);
  if (tensors.length === 0) throw new ConfigError('nothing to export');
  return b.asUint8Array().slice();
}
