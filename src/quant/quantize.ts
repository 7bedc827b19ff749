// Post-training quantization: symmetric per-channel (or per-tensor) weights on an 8- or 16-bit
// grid, int32 biases on the accumulator grid, and affine int8 activations from calibrated ranges.
import { ConfigError, DataError } from '../errors.js';
import { elementCount, paramNodes, resolveGraph, type ResolvedGraph, type ResolvedNode } from '../model/graph.js';
import type { ActivationQuant, FloatModel, QuantizedModel, QuantizedParams, WeightBits } from '../model/model.js';
import { isClassifierHead, outputChannelIsLastAxis } from '../ops/registry.js';

export interface Range {
  min: number;
  max: number;
}

export interface QuantizeOptions {
  weightBits?: WeightBits;
  /** Per-output-channel weight scales (default) or one per tensor. */
  perChannel?: boolean;
  /** Nodes whose weights use a per-tensor scale regardless (the classifier head, whose int32 logits need one scale). */
  perTensorNodes?: string[];
}

export const weightLimit = (bits: WeightBits): number => (bits === 16 ? 32767 : 127);

/** Which axis of the stored weight layout is the output channel. */
function channelAxisIsLast(node: ResolvedNode): boolean {
  return outputChannelIsLastAxis(node.node.kind);
}

export function quantizeWeights(weights: Float32Array, node: ResolvedNode, bits: WeightBits, perChannel: boolean): { q: Int8Array | Int16Array; scales: Float32Array } {
  const channels = node.biasLength!;
  const limit = weightLimit(bits);
  const lastAxis = channelAxisIsLast(node);
  const perChan = elementCount(node.weightShape!) / channels;
  const channelOf = (i: number) => (lastAxis ? i % channels : Math.floor(i / perChan));
  const maxAbs = new Float64Array(perChannel ? channels : 1);
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (!Number.isFinite(w)) throw new DataError(`layer '${node.node.name}': weight ${i} is ${w}; retrain or repair the float model`);
    const c = perChannel ? channelOf(i) : 0;
    maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(w));
  }
  // An all-zero channel still needs a positive scale; any value represents its zeros exactly.
  const scales = Float32Array.from(maxAbs, (m) => (m > 0 ? m / limit : 1 / limit));
  const q = bits === 16 ? new Int16Array(weights.length) : new Int8Array(weights.length);
  for (let i = 0; i < weights.length; i++) {
    const s = scales[perChannel ? channelOf(i) : 0]!;
    q[i] = Math.max(-limit, Math.min(limit, Math.round(weights[i]! / s)));
  }
  return { q, scales };
}

/** Affine int8 from a real range; the range is widened to include 0 so zero is exact. */
export function activationQuantFromRange(range: Range): ActivationQuant {
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max)) throw new DataError(`activation range [${range.min}, ${range.max}] is not finite: calibration data contains NaN/Inf`);
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  const scale = hi > lo ? (hi - lo) / 255 : 1 / 255;
  const zeroPoint = Math.max(-128, Math.min(127, Math.round(-128 - lo / scale)));
  return { scale, zeroPoint };
}

/** Nodes whose output must reuse their input's quantization (TFLite's constraint for these ops). */
function sharesInputQuant(node: ResolvedNode): boolean {
  const k = node.node.kind;
  return k === 'maxpool' || k === 'avgpool' || k === 'globalavgpool' || k === 'flatten';
}

/**
 * Quantize a float model given calibrated activation ranges for every node (see calibrate()).
 * The last dense layer (the head) defaults to per-tensor weights so its int32 logits share a scale.
 */
export function quantizeModel(model: FloatModel, ranges: Record<string, Range>, options: QuantizeOptions = {}): QuantizedModel {
  const bits = options.weightBits ?? 16;
  if (bits !== 8 && bits !== 16) throw new ConfigError(`weightBits must be 8 or 16, got ${String(bits)}`);
  const graph = resolveGraph(model.architecture);
  const head = headNode(graph);
  const perTensor = new Set(options.perTensorNodes ?? (head ? [head.node.name] : []));
  const activations: Record<string, ActivationQuant> = {};
  for (const n of graph.nodes) {
    if (sharesInputQuant(n)) {
      activations[n.node.name] = activations[graph.nodes[n.inputs[0]!]!.node.name]!;
      continue;
    }
    const range = ranges[n.node.name];
    if (!range) throw new ConfigError(`no calibration range for node '${n.node.name}'`);
    activations[n.node.name] = activationQuantFromRange(range);
  }
  const params: Record<string, QuantizedParams> = {};
  for (const n of paramNodes(graph)) {
    const name = n.node.name;
    const p = model.params[name]!;
    const { q, scales } = quantizeWeights(p.weights, n, bits, (options.perChannel ?? true) && !perTensor.has(name));
    const inScale = activations[graph.nodes[n.inputs[0]!]!.node.name]!.scale;
    const bias = new Int32Array(n.biasLength!);
    for (let c = 0; c < bias.length; c++) {
      const s = inScale * scales[scales.length === 1 ? 0 : c]!;
      bias[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(p.bias[c]! / s)));
    }
    params[name] = { weightBits: bits, weights: q, weightScales: scales, bias };
  }
  return { kind: 'quantized', architecture: model.architecture, params, activations, meta: { ...model.meta, weightBits: bits } };
}

/** The classifier head: the last node, when it is a dense layer. */
export function headNode(graph: ResolvedGraph): ResolvedNode | undefined {
  const last = graph.nodes[graph.nodes.length - 1]!;
  return isClassifierHead(last.node) ? last : undefined;
}

/** Real-valued multiplier that maps a layer's int32 accumulator to its int8 output. */
export function outputMultiplier(model: QuantizedModel, graph: ResolvedGraph, node: ResolvedNode, channel: number): number {
  const p = model.params[node.node.name]!;
  const inScale = model.activations[graph.nodes[node.inputs[0]!]!.node.name]!.scale;
  const wScale = p.weightScales[p.weightScales.length === 1 ? 0 : channel]!;
  return (inScale * wScale) / model.activations[node.node.name]!.scale;
}
