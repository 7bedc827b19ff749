// Per-layer MCU estimates for a model graph: each layer kind maps to the exported kernel call it
// lowers to (one table entry per kind), the calls are costed by model.ts and summed per inference
// or per QZO-FF step.
import type { ResolvedGraph, ResolvedNode } from '../model/graph.js';
import type { Conv2DNode, DenseNode, DepthwiseConv2DNode, NodeKind, Pool2DNode } from '../model/layers.js';
import type { Padding } from '../kernels/geometry.js';
import { COST_MODEL_VERSION, estimateKernel, type CostTarget } from './model.js';
import type { CostKernel, KernelShape } from './shape.js';

export type WeightBits = 8 | 16;

interface CallOptions { bits: WeightBits; batch: number; perturbed: boolean }
type ShapeOf = (n: ResolvedNode, input: number[], o: CallOptions) => KernelShape | null;

const withWidth = (base: 'conv' | 'dw' | 'fc', o: CallOptions): CostKernel => `${base}_w${o.bits}${o.perturbed ? '_pt' : ''}` as CostKernel;
const spatial = (kernel: CostKernel, input: number[], k: [number, number], s: [number, number], padding: Padding, outC: number, batch: number): KernelShape => ({
  kernel, inH: input[0]!, inW: input[1]!, inC: input[2]!, outC, kH: k[0], kW: k[1], strideH: s[0], strideW: s[1], padding, batch,
});
const flat = (kernel: CostKernel, inputs: number, outC: number, batch: number): KernelShape => ({
  kernel, inH: 1, inW: 1, inC: inputs, outC, kH: 1, kW: 1, strideH: 1, strideW: 1, padding: 'valid', batch,
});
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The kernel call each layer kind runs; null = no work on the device (fused or an alias). */
const LAYER_KERNELS: Record<NodeKind, ShapeOf> = {
  input: () => null,
  flatten: () => null,
  relu: () => null, // fused into the producing layer (runtime/lowering.ts)
  relu6: () => null,
  conv2d: (n, input, o) => { const c = n.node as Conv2DNode; return spatial(withWidth('conv', o), input, c.kernel, c.stride, c.padding, c.filters, o.batch); },
  depthwise: (n, input, o) => { const d = n.node as DepthwiseConv2DNode; return spatial(withWidth('dw', o), input, d.kernel, d.stride, d.padding, input[2]!, o.batch); },
  dense: (n, input, o) => flat(withWidth('fc', o), size(input), (n.node as DenseNode).units, o.batch),
  maxpool: (n, input, o) => { const p = n.node as Pool2DNode; return spatial('maxpool', input, p.pool, p.stride, p.padding, input[2]!, o.batch); },
  avgpool: (n, input, o) => { const p = n.node as Pool2DNode; return spatial('avgpool', input, p.pool, p.stride, p.padding, input[2]!, o.batch); },
  globalavgpool: (_n, input, o) => spatial('gap', input, [input[0]!, input[1]!], [1, 1], 'valid', input[2]!, o.batch),
  add: (_n, input, o) => flat('add', size(input), size(input), o.batch),
};

export interface LayerEstimate {
  layer: string;
  kind: string;
  kernel: CostKernel;
  macs: number;
  instructions: number;
  cycles: number;
  ms: number;
  mJ: number | null;
}

export interface InferenceEstimate {
  model: string;
  mcu: { core: string; clockHz: number; cyclesPerInference: number; msPerInference: number; mJPerInference: number | null; device: string; model: string };
  layers: LayerEstimate[];
  macs: number;
  cyclesPerMac: number;
}

export function layerKernelShape(graph: ResolvedGraph, n: ResolvedNode, o: CallOptions): KernelShape | null {
  const input = n.inputs.length ? graph.nodes[n.inputs[0]!]!.outShape : n.outShape;
  return LAYER_KERNELS[n.node.kind](n, input, o);
}

function forwardLayers(graph: ResolvedGraph, target: CostTarget, bits: WeightBits, batch: number, perturbed: (layer: string) => boolean): LayerEstimate[] {
  const layers: LayerEstimate[] = [];
  for (const n of graph.nodes) {
    const shape = layerKernelShape(graph, n, { bits, batch, perturbed: perturbed(n.node.name) });
    if (!shape) continue;
    const e = estimateKernel(shape, target);
    layers.push({ layer: n.node.name, kind: n.node.kind, kernel: shape.kernel, macs: n.macs * batch, instructions: Math.round(e.instructions), cycles: Math.round(e.cycles), ms: e.ms, mJ: e.mJ });
  }
  return layers;
}

const sum = (layers: LayerEstimate[], key: 'cycles' | 'ms' | 'macs') => layers.reduce((s, l) => s + l[key], 0);

export function estimateInference(graph: ResolvedGraph, target: CostTarget, bits: WeightBits = 8): InferenceEstimate {
  const layers = forwardLayers(graph, target, bits, 1, () => false);
  const cycles = sum(layers, 'cycles');
  const ms = sum(layers, 'ms');
  const macs = sum(layers, 'macs');
  return {
    model: graph.name,
    mcu: { core: target.core, clockHz: target.clockHz, cyclesPerInference: cycles, msPerInference: ms, mJPerInference: target.powerW === null ? null : ms * target.powerW, device: target.name, model: COST_MODEL_VERSION },
    layers,
    macs,
    cyclesPerMac: macs ? cycles / macs : 0,
  };
}

export interface StepEstimate {
  core: string;
  clockHz: number;
  cyclesPerStep: number;
  msPerStep: number;
  totalMs: number;
  mJ: number | null;
  model: string;
  /** What the step estimate counts and leaves out. */
  counts: string;
}

/**
 * One QZO-FF step on the device: for each of m directions two forward passes over the batch
 * (L⁺, L⁻) in which every trainable layer first stages its weights through the perturbation,
 * then one update per trainable layer that redraws the m z values of each weight. The loss
 * kernel (one call per forward, over the logits only) is not calibrated and not counted.
 */
export function estimateQzoStep(graph: ResolvedGraph, target: CostTarget, opts: { directions: number; batch: number; steps: number; bits: WeightBits; trainable: readonly string[]; microBatch?: number }): StepEstimate {
  const trainable = new Set(opts.trainable);
  // A forward over the batch is ceil(batch / microBatch) kernel calls, and each call of a
  // trainable layer stages its perturbed weights again.
  const micro = Math.max(1, Math.min(opts.microBatch ?? opts.batch, opts.batch));
  let cycles = 0, ms = 0;
  for (let done = 0; done < opts.batch; done += micro) {
    const forward = forwardLayers(graph, target, opts.bits, Math.min(micro, opts.batch - done), (name) => trainable.has(name));
    cycles += 2 * opts.directions * sum(forward, 'cycles');
    ms += 2 * opts.directions * sum(forward, 'ms');
  }
  for (const n of graph.nodes) {
    if (!trainable.has(n.node.name) || !n.weightShape) continue;
    const e = estimateKernel(flat(`update_w${opts.bits}`, size(n.weightShape), opts.directions, 1), target);
    cycles += e.cycles;
    ms += e.ms;
  }
  const totalMs = ms * opts.steps;
  return {
    core: target.core, clockHz: target.clockHz, cyclesPerStep: Math.round(cycles), msPerStep: ms, totalMs,
    mJ: target.powerW === null ? null : totalMs * target.powerW, model: COST_MODEL_VERSION,
    counts: `2 × m=${opts.directions} forward passes of batch ${opts.batch} in calls of ${micro} with ${trainable.size} perturbed layer(s), plus the update; the loss kernel is not counted`,
  };
}
