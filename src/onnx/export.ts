// ONNX export of a whole lastmile model, so any ONNX runtime (onnxruntime, Netron, TVM, …) can run
// or inspect exactly what the emulated MCU runs.
//
// Layouts. lastmile keeps activations NHWC (TFLite), conv weights OHWI, depthwise weights
// [kH][kW][C·m] and dense weights [units][in]; ONNX's Conv wants NCHW activations and OIHW
// weights. The graph input stays NHWC (the caller feeds the same bytes as to lastmile) and one
// Transpose turns it into NCHW; everything inside is NCHW and weights are transposed here. A dense
// layer after a spatial tensor flattens it in NHWC order on our device (TFLite's FullyConnected),
// while ONNX's Flatten of an NCHW tensor is in CHW order, so that dense layer's weight columns are
// permuted instead of transposing the activations back (the graph then looks like PyTorch's).
//
// Float models export as plain float ops (opset 13). Quantized models export as QDQ: every
// activation tensor is QuantizeLinear'd to int8 with the model's own scale and zero point and
// DequantizeLinear'd before each consumer; weights are int8/int16 initializers behind a
// DequantizeLinear (per-tensor, or per-channel on axis 0), biases int32 at scale inScale·wScale.
// The graph mirrors the lowered graph QuantizedSession runs — activations fused where it fuses
// them, and a dense head that returns raw int32 accumulators becomes a float Gemm output.
// DequantizeLinear accepts int16 only from opset 21, so a model with any 16-bit weights is
// stamped opset 21 (IR 10); onnxruntime-node 1.30 runs it (test/onnx.test.ts checks this).
import { ShapeError } from '../errors.js';
import { elementCount, resolveGraph, type ResolvedGraph, type ResolvedNode } from '../model/graph.js';
import type { Activation, Padding } from '../model/layers.js';
import type { FloatModel, QuantizedModel } from '../model/model.js';
import { lowerGraph, type LoweredOp } from '../runtime/lowering.js';
import { opDef } from '../ops/registry.js';
import {
  encodeModelProto, floatTensor, floatValueInfo, intAttr, intTensor, intsAttr,
  type AttributeProto, type NodeProto, type TensorProto,
} from '../model/onnx-proto.js';

/** Name of the graph input: float [N, H, W, C] (or [N, features]). */
export const ONNX_INPUT = 'input';
/** Name of the graph output: float [N, classes] (or the last layer's shape, NHWC). */
export const ONNX_OUTPUT = 'logits';
/** Symbolic batch dimension of input and output. */
export const ONNX_BATCH = 'N';
/**
 * Model metadata key under which the exporter records each layer's padding ('same' | 'valid'), as
 * JSON. Where both give the same geometry (1×1 kernels, exactly fitting pools) the importer keeps
 * the recorded one, so import(export(model)) gives back the same architecture.
 */
export const PADDING_METADATA = 'lastmile.padding';
/** Opset of float and 8-bit-weight exports. */
export const ONNX_OPSET = 13;
/** Opset of exports with 16-bit weights: the first whose DequantizeLinear takes int16. */
export const ONNX_OPSET_INT16 = 21;

type Numeric = Float32Array | Int8Array | Int16Array | Int32Array;

// Layout conversions live with the operators (src/ops/onnx-layout.ts); re-exported for the importer and tests.
export { ohwiToOihw, oihwToOhwi, depthwiseToOnnx, depthwiseFromOnnx, chwFlattenIndex, denseColumnsToChw, denseColumnsFromChw, onnxPads } from '../ops/onnx-layout.js';

// ---- graph building ----

/** How one of our tensors is held in the ONNX graph: a 4-D NCHW tensor, or 2-D [N, features]. */
interface Repr {
  /** Float tensor (float export) or int8 tensor (QDQ export). */
  name: string;
  layout: 'nchw' | 'flat';
  /** Our per-sample shape of the tensor. */
  shape: number[];
}

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly tensorNames = new Set<string>([ONNX_INPUT, ONNX_OUTPUT]);
  private readonly nodeNames = new Set<string>();
  private clipBounds: [string, string] | undefined;

  /** A tensor name not used yet, as close to `base` as possible. */
  fresh(base: string): string {
    let name = base;
    for (let k = 2; this.tensorNames.has(name); k++) name = `${base}_${k}`;
    this.tensorNames.add(name);
    return name;
  }

  node(opType: string, name: string, inputs: string[], output: string, attribute: AttributeProto[] = []): string {
    let nodeName = name;
    for (let k = 2; this.nodeNames.has(nodeName); k++) nodeName = `${name}_${k}`;
    this.nodeNames.add(nodeName);
    this.nodes.push({ opType, name: nodeName, input: inputs, output: [output], attribute });
    return output;
  }

  initializer(t: TensorProto): string {
    const name = this.fresh(String(t.name));
    this.initializers.push({ ...t, name });
    return name;
  }

  activation(act: Activation, x: string, layer: string, output: string): string {
    if (act === 'none') return x;
    if (act === 'relu') return this.node('Relu', `${layer}/relu`, [x], output);
    this.clipBounds ??= [this.initializer(floatTensor('relu6/min', [], [0])), this.initializer(floatTensor('relu6/max', [], [6]))];
    return this.node('Clip', `${layer}/relu6`, [x, ...this.clipBounds], output);
  }
}

/** Where a layer's float weights and bias come from (initializers, or DequantizeLinear outputs). */
interface ParamSource {
  weights(op: LoweredOp, onnxLayout: (w: Numeric) => Numeric, dims: number[]): string;
  bias(op: LoweredOp): string;
}

function checkParams(model: FloatModel | QuantizedModel, graph: ResolvedGraph): void {
  for (const n of graph.nodes) {
    if (n.weightShape === undefined) continue;
    const p = model.params[n.node.name];
    if (!p) throw new ShapeError(`cannot export: layer '${n.node.name}' has no parameters in model '${model.architecture.name}'`);
    if (p.weights.length !== elementCount(n.weightShape) || p.bias.length !== n.biasLength) {
      throw new ShapeError(`cannot export: layer '${n.node.name}' holds ${p.weights.length} weights and ${p.bias.length} biases; its shape needs ${elementCount(n.weightShape)} and ${n.biasLength}`);
    }
    if (model.kind === 'quantized') {
      const q = p as QuantizedModel['params'][string];
      const s = q.weightScales;
      if (s.length !== 1 && s.length !== n.biasLength) throw new ShapeError(`cannot export: layer '${n.node.name}' has ${s.length} weight scales; expected 1 or ${n.biasLength}`);
      // The initializer's element type comes from the array, the opset and zero point from weightBits.
      if ((q.weights instanceof Int16Array) !== (q.weightBits === 16)) throw new ShapeError(`cannot export: layer '${n.node.name}' says ${q.weightBits}-bit weights but stores ${q.weights.constructor.name}`);
    }
  }
}

/** The opset an export of this model uses: 21 when any weights are 16-bit, else 13. */
export function onnxOpsetFor(model: FloatModel | QuantizedModel): number {
  if (model.kind === 'float') return ONNX_OPSET;
  return Object.values(model.params).some((p) => p.weightBits === 16) ? ONNX_OPSET_INT16 : ONNX_OPSET;
}

/**
 * Export a float model (plain float graph) or a quantized model (QDQ graph) as an ONNX ModelProto.
 * Input 'input' is float NHWC [N, H, W, C] (or [N, features]); output 'logits' is float.
 */
export function exportOnnx(model: FloatModel | QuantizedModel): Uint8Array {
  const graph = resolveGraph(model.architecture);
  checkParams(model, graph);
  const lowered = lowerGraph(graph);
  if (lowered.ops.length === 0) throw new ShapeError(`cannot export '${model.architecture.name}': it has no layer that computes anything (only flatten after the input)`);
  const b = new GraphBuilder();
  const shapeOf = new Map(graph.nodes.map((n) => [n.node.name, n.outShape]));
  const reprs = new Map<string, Repr>();
  const quant = model.kind === 'quantized' ? model : undefined;
  const inputShape = graph.inputShape;
  const spatialInput = inputShape.length === 3;

  // Quantized graphs: int8 tensors are dequantized once per tensor, on first use.
  const dequantized = new Map<string, string>();
  const qparams = new Map<string, [string, string]>();
  const quantParams = (tensor: string): [string, string] => {
    let q = qparams.get(tensor);
    if (!q) {
      const a = quant!.activations[tensor];
      if (!a) throw new ShapeError(`cannot export: no activation quantization for tensor '${tensor}'`);
      q = [b.initializer(floatTensor(`${tensor}/scale`, [], [a.scale])), b.initializer(intTensor(`${tensor}/zero_point`, [], Int8Array.of(a.zeroPoint)))];
      qparams.set(tensor, q);
    }
    return q;
  };
  const floatOf = (tensor: string): string => {
    const r = reprs.get(tensor)!;
    if (!quant) return r.name;
    let f = dequantized.get(r.name);
    if (!f) {
      f = b.node('DequantizeLinear', `${tensor}/dequantize`, [r.name, ...quantParams(tensor)], b.fresh(`${tensor}/dequantized`));
      dequantized.set(r.name, f);
    }
    return f;
  };
  /** Finish an op: float result → (QuantizeLinear with the tensor's own quantization) → repr. */
  const produce = (tensor: string, floatValue: string, layout: Repr['layout']): void => {
    if (!quant) {
      reprs.set(tensor, { name: floatValue, layout, shape: shapeOf.get(tensor)! });
      return;
    }
    const q = b.node('QuantizeLinear', `${tensor}/quantize`, [floatValue, ...quantParams(tensor)], b.fresh(`${tensor}/quantized`));
    reprs.set(tensor, { name: q, layout, shape: shapeOf.get(tensor)! });
  };

  // The input: NHWC as fed to lastmile, transposed once to NCHW.
  const inputName = lowered.inputName;
  const nchwInput = spatialInput ? b.node('Transpose', `${inputName}/to_nchw`, [ONNX_INPUT], b.fresh(`${inputName}/nchw`), [intsAttr('perm', [0, 3, 1, 2])]) : ONNX_INPUT;
  produce(inputName, nchwInput, spatialInput ? 'nchw' : 'flat');

  const params: ParamSource = quant
    ? {
        weights(op, toOnnx, dims) {
          const name = op.node.node.name;
          const p = quant.params[name]!;
          const perChannel = p.weightScales.length > 1;
          const scaleDims = perChannel ? [p.weightScales.length] : [];
          const zero = p.weightBits === 16 ? new Int16Array(p.weightScales.length) : new Int8Array(p.weightScales.length);
          const q = b.initializer(intTensor(`${name}/weight_quantized`, dims, toOnnx(p.weights) as Int8Array | Int16Array));
          const s = b.initializer(floatTensor(`${name}/weight_scale`, scaleDims, p.weightScales));
          const z = b.initializer(intTensor(`${name}/weight_zero_point`, scaleDims, zero));
          return b.node('DequantizeLinear', `${name}/weight_dequantize`, [q, s, z], b.fresh(`${name}/weight`), perChannel ? [intAttr('axis', 0)] : []);
        },
        bias(op) {
          const name = op.node.node.name;
          const p = quant.params[name]!;
          const inScale = quant.activations[op.inputs[0]!]!.scale;
          const perChannel = p.weightScales.length > 1;
          const scaleDims = perChannel ? [p.bias.length] : [];
          // The bias lives on the accumulator grid: one unit = inScale · wScale of its channel.
          const scales = Float32Array.from(p.weightScales, (w) => inScale * w);
          const q = b.initializer(intTensor(`${name}/bias_quantized`, [p.bias.length], p.bias));
          const s = b.initializer(floatTensor(`${name}/bias_scale`, scaleDims, scales));
          const z = b.initializer(intTensor(`${name}/bias_zero_point`, scaleDims, new Int32Array(scales.length)));
          return b.node('DequantizeLinear', `${name}/bias_dequantize`, [q, s, z], b.fresh(`${name}/bias`), perChannel ? [intAttr('axis', 0)] : []);
        },
      }
    : {
        weights(op, toOnnx, dims) {
          const name = op.node.node.name;
          return b.initializer(floatTensor(`${name}/weight`, dims, toOnnx((model as FloatModel).params[name]!.weights)));
        },
        bias(op) {
          const name = op.node.node.name;
          return b.initializer(floatTensor(`${name}/bias`, [(model as FloatModel).params[name]!.bias.length], (model as FloatModel).params[name]!.bias));
        },
      };

  const headOp = lowered.ops[lowered.ops.length - 1]!;
  // QuantizedSession returns a dense head's raw int32 accumulators (no requantization, no
  // activation): the QDQ graph ends in that Gemm's float output.
  const rawHead = quant !== undefined && opDef(headOp.node.node.kind).quantized?.int32Head === true;
  for (const op of lowered.ops) {
    const n: ResolvedNode = op.node;
    const name = n.node.name;
    const inRepr = reprs.get(op.inputs[0]!)!;
    const onnx = opDef(n.node.kind).onnx;
    if (!onnx) throw new ShapeError(`cannot export layer '${name}' of kind '${n.node.kind}' to ONNX`);
    const isRawHead = op === headOp && rawHead;
    const r = onnx.export({
      b, op: n, inputs: op.inputs, output: op.output, activation: op.activation, inLayout: inRepr.layout, inShape: inRepr.shape,
      floatOf, weights: (toOnnx, dims) => params.weights(op, toOnnx, dims), bias: () => params.bias(op), quantized: quant !== undefined, rawHead: isRawHead, quantParams,
    });
    if ('final' in r) {
      reprs.set(op.output, { name: r.final, layout: r.layout, shape: shapeOf.get(op.output)! });
      continue;
    }
    const { activation, layout } = r;
    let value = r.value;
    value = b.activation(activation, value, name, activation === 'none' ? value : b.fresh(op.output));
    if (isRawHead) {
      reprs.set(op.output, { name: value, layout, shape: shapeOf.get(op.output)! });
      dequantized.set(value, value); // already real-valued: floatOf must not dequantize it again
    } else {
      produce(op.output, value, layout);
    }
  }

  // The output in our layout: NHWC for a spatial result, our NHWC-order flatten for a flatten.
  const outRepr = reprs.get(lowered.outputName)!;
  let out = floatOf(lowered.outputName);
  const outShape = graph.outputShape;
  if (outRepr.layout === 'nchw') {
    out = b.node('Transpose', `${ONNX_OUTPUT}/to_nhwc`, [out], b.fresh(`${ONNX_OUTPUT}/nhwc`), [intsAttr('perm', [0, 2, 3, 1])]);
    if (outShape.length === 1) out = b.node('Flatten', `${ONNX_OUTPUT}/flatten`, [out], b.fresh(`${ONNX_OUTPUT}/flat`), [intAttr('axis', 1)]);
  }
  renameOutput(b.nodes, out, ONNX_OUTPUT);

  const opset = onnxOpsetFor(model);
  const paddings: Record<string, Padding> = {};
  for (const n of graph.nodes) if ('padding' in n.node) paddings[n.node.name] = n.node.padding;
  return encodeModelProto({
    // IR 8 pairs with opset 13 (ONNX 1.10); opset 21 needs IR 10 (ONNX 1.16).
    irVersion: opset >= ONNX_OPSET_INT16 ? 10 : 8,
    producerName: 'lastmile',
    producerVersion: '0.1.0',
    docString: `${model.kind === 'quantized' ? 'QDQ' : 'float'} export of lastmile model '${model.architecture.name}'; input NHWC`,
    opsetImport: [{ domain: '', version: opset }],
    metadataProps: [{ key: PADDING_METADATA, value: JSON.stringify(paddings) }],
    graph: {
      name: model.architecture.name,
      node: b.nodes,
      initializer: b.initializers,
      input: [floatValueInfo(ONNX_INPUT, [ONNX_BATCH, ...inputShape])],
      output: [floatValueInfo(ONNX_OUTPUT, [ONNX_BATCH, ...outShape])],
    },
  });
}

/** Make the node that produces `from` write the graph output name instead (nothing else reads it). */
function renameOutput(nodes: NodeProto[], from: string, to: string): void {
  const producer = nodes.find((n) => n.output?.[0] === from);
  if (!producer || nodes.some((n) => n.input?.includes(from))) throw new Error(`internal: output tensor '${from}' is not a sink`);
  producer.output = [to];
}
