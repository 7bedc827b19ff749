// Per-layer MCU estimates for a model graph: each layer kind maps to the kernel call it lowers to
// (one table entry per kind), the calls are costed by model.ts and summed per inference.
import type { ResolvedGraph, ResolvedNode } from '../model/graph.js';
import type { NodeKind } from '../model/layers.js';
import { COST_MODEL_VERSION, estimateKernel, type CostTarget } from './model.js';
import type { CostKernel, KernelShape } from './shape.js';

export type WeightBits = 8 | 16;

type ShapeOf = (n: ResolvedNode, input: number[], bits: WeightBits) => KernelShape | null;

const spatial = (kernel: CostKernel, n: ResolvedNode, input: number[], k: [number, number], s: [number, number], padding: 'same' | 'valid', outC: number): KernelShape => ({
  kernel, inH: input[0]!, inW: input[1]!, inC: input[2]!, outC, kH: k[0], kW: k[1], strideH: s[0], strideW: s[1], padding, batch: 1,
});

/** The kernel call each layer kind runs; null = no work on the device (fused or an alias). */
const LAYER_KERNELS: Record<NodeKind, ShapeOf> = {
  input: () => null,
  flatten: () => null,
  relu: () => null, // fused into the producing layer (runtime/lowering.ts)
  relu6: () => null,
  conv2d: (n, input, bits) => (n.node.kind === 'conv2d' ? spatial(`conv_w${bits}`, n, input, n.node.kernel, n.node.stride, n.node.padding, n.node.filters) : null),
  depthwise: (n, input, bits) => (n.node.kind === 'depthwise' ? spatial(`dw_w${bits}`, n, input, n.node.kernel, n.node.stride, n.node.padding, input[2]!) : null),
  dense: (n, input, bits) => (n.node.kind === 'dense' ? { kernel: `fc_w${bits}`, inH: 1, inW: 1, inC: input.reduce((a, b) => a * b, 1), outC: n.node.units, kH: 1, kW: 1, strideH: 1, strideW: 1, padding: 'valid', batch: 1 } : null),
  maxpool: (n, input) => (n.node.kind === 'maxpool' ? spatial('maxpool', n, input, n.node.pool, n.node.stride, n.node.padding, input[2]!) : null),
  avgpool: (n, input) => (n.node.kind === 'avgpool' ? spatial('avgpool', n, input, n.node.pool, n.node.stride, n.node.padding, input[2]!) : null),
  globalavgpool: (n, input) => spatial('avgpool', n, input, [input[0]!, input[1]!], [input[0]!, input[1]!], 'valid', input[2]!),
  add: (n, input) => ({ kernel: 'add', inH: 1, inW: 1, inC: input.reduce((a, b) => a * b, 1), outC: input.reduce((a, b) => a * b, 1), kH: 1, kW: 1, strideH: 1, strideW: 1, padding: 'valid', batch: 1 }),
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

export function layerKernelShape(graph: ResolvedGraph, n: ResolvedNode, bits: WeightBits): KernelShape | null {
  const input = n.inputs.length ? graph.nodes[n.inputs[0]!]!.outShape : n.outShape;
  return LAYER_KERNELS[n.node.kind](n, input, bits);
}

export function estimateInference(graph: ResolvedGraph, target: CostTarget, bits: WeightBits = 8): InferenceEstimate {
  const layers: LayerEstimate[] = [];
  for (const n of graph.nodes) {
    const shape = layerKernelShape(graph, n, bits);
    if (!shape) continue;
    const e = estimateKernel(shape, target);
    layers.push({ layer: n.node.name, kind: n.node.kind, kernel: shape.kernel, macs: n.macs, instructions: Math.round(e.instructions), cycles: Math.round(e.cycles), ms: e.ms, mJ: e.mJ });
  }
  const cycles = layers.reduce((s, l) => s + l.cycles, 0);
  const ms = layers.reduce((s, l) => s + l.ms, 0);
  const mJ = target.powerW === null ? null : layers.reduce((s, l) => s + (l.mJ ?? 0), 0);
  const macs = layers.reduce((s, l) => s + l.macs, 0);
  return {
    model: graph.name,
    mcu: { core: target.core, clockHz: target.clockHz, cyclesPerInference: cycles, msPerInference: ms, mJPerInference: mJ, device: target.name, model: COST_MODEL_VERSION },
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
 * QZO-FF step on the device: 2·m forward passes over the batch (L⁺ and L⁻ per direction). The
 * perturbation, loss and update kernels are not calibrated yet and are not counted, so this is
 * a lower bound dominated by the forwards.
 */
export function estimateQzoStep(graph: ResolvedGraph, target: CostTarget, opts: { directions: number; batch: number; steps: number; bits: WeightBits }): StepEstimate {
  const inf = estimateInference(graph, target, opts.bits);
  const forwards = 2 * opts.directions * opts.batch;
  const cyclesPerStep = inf.mcu.cyclesPerInference * forwards;
  const msPerStep = inf.mcu.msPerInference * forwards;
  const totalMs = msPerStep * opts.steps;
  return {
    core: target.core, clockHz: target.clockHz, cyclesPerStep: Math.round(cyclesPerStep), msPerStep, totalMs,
    mJ: target.powerW === null ? null : totalMs * target.powerW, model: COST_MODEL_VERSION,
    counts: `${forwards} integer forward passes per step (2 × m=${opts.directions} × batch ${opts.batch}); perturbation, loss and update not counted`,
  };
}
