// The estimates the commands print: one function per view (adaptation, profile, inference), each
// returning JSON-ready data or the reason there is no estimate, so a command's edit is one call.
import { LastmileError } from '../errors.js';
import type { Architecture, ResolvedGraph } from '../model/graph.js';
import { resolveGraph } from '../model/graph.js';
import type { ResolvedDevice } from '../device/presets.js';
import { estimateInference, estimateQzoStep, layerKernelShape, type WeightBits } from './graph-estimate.js';
import { COST_MODEL_VERSION, estimateKernel, targetForPreset, type CostTarget } from './model.js';

export interface McuUnavailable {
  model: string;
  estimate: null;
  reason: string;
}

/** The `mcu` object of adapt's JSON: {core, clockHz, cyclesPerStep, msPerStep, totalMs, mJ, model}. */
export interface McuAdaptation {
  core: string;
  clockHz: number;
  cyclesPerStep: number;
  msPerStep: number;
  totalMs: number;
  mJ: number | null;
  model: string;
  steps: number;
  counts: string;
  /** Backprop here is f32 Adam; the exported C library has no f32 kernels to calibrate. */
  bp: McuUnavailable;
}

function targetFor(device: ResolvedDevice): CostTarget | McuUnavailable {
  if (!device.preset) return { model: COST_MODEL_VERSION, estimate: null, reason: `no estimate: '${device.name}' is a bare memory budget; pass a device preset (lastmile devices) for its core and clock` };
  try {
    return targetForPreset(device.name);
  } catch (e) {
    if (e instanceof LastmileError) return { model: COST_MODEL_VERSION, estimate: null, reason: e.message };
    throw e;
  }
}

const unavailable = (t: CostTarget | McuUnavailable): t is McuUnavailable => 'reason' in t;

const BP_NOTE: McuUnavailable = { model: COST_MODEL_VERSION, estimate: null, reason: 'no estimate: backprop runs f32 Adam, and the C export has no f32 kernels to calibrate on' };

export function mcuAdaptation(arch: Architecture, device: ResolvedDevice, o: { bits: WeightBits; batch: number; microBatch?: number; directions: number; steps: number; trainable: readonly string[] }): McuAdaptation | McuUnavailable {
  const target = targetFor(device);
  if (unavailable(target)) return target;
  const s = estimateQzoStep(resolveGraph(arch), target, o);
  return { ...s, steps: o.steps, bp: BP_NOTE };
}

export function describeAdaptation(m: McuAdaptation | McuUnavailable, deviceName: string): string {
  if ('reason' in m) return `on-device estimate: ${m.reason}`;
  const energy = m.mJ === null ? 'no power figure' : m.mJ >= 1000 ? `${(m.mJ / 1000).toFixed(2)} J` : `${m.mJ.toFixed(1)} mJ`;
  const total = m.totalMs >= 7_200_000 ? `${(m.totalMs / 3_600_000).toFixed(1)} h` : m.totalMs >= 60_000 ? `${(m.totalMs / 60_000).toFixed(1)} min` : `${(m.totalMs / 1000).toFixed(2)} s`;
  return `on ${deviceName} (${m.core} @ ${m.clockHz / 1e6} MHz, estimated): ${m.msPerStep.toFixed(1)} ms per QZO-FF step, ${total} for ${m.steps} steps, ${energy} (cost model ${m.model}; backprop: ${m.bp.reason})`;
}

export interface McuProfileRow {
  name: string;
  kernel: string;
  cyclesPerStep: number;
  msPerStep: number;
}

export interface McuProfile {
  core: string;
  clockHz: number;
  cyclesPerStep: number;
  msPerStep: number;
  model: string;
  byLayer: McuProfileRow[];
  byKernel: McuProfileRow[];
}

/** Per layer and per kernel, the estimated MCU cycles one QZO-FF step spends (the profile's view). */
export function mcuProfile(graph: ResolvedGraph, device: ResolvedDevice, o: { bits: WeightBits; batch: number; directions: number; trainable: readonly string[] }): McuProfile | McuUnavailable {
  const target = targetFor(device);
  if (unavailable(target)) return target;
  const trainable = new Set(o.trainable);
  const byLayer: McuProfileRow[] = [];
  for (const n of graph.nodes) {
    const shape = layerKernelShape(graph, n, { bits: o.bits, batch: o.batch, perturbed: trainable.has(n.node.name) });
    if (!shape) continue;
    const e = estimateKernel(shape, target);
    byLayer.push({ name: n.node.name, kernel: shape.kernel, cyclesPerStep: 2 * o.directions * e.cycles, msPerStep: 2 * o.directions * e.ms });
  }
  for (const n of graph.nodes) {
    if (!trainable.has(n.node.name) || !n.weightShape) continue;
    const e = estimateKernel({ kernel: `update_w${o.bits}`, inH: 1, inW: 1, inC: n.weightShape.reduce((a, b) => a * b, 1), outC: o.directions, kH: 1, kW: 1, strideH: 1, strideW: 1, padding: 'valid', batch: 1 }, target);
    byLayer.push({ name: `update:${n.node.name}`, kernel: `update_w${o.bits}`, cyclesPerStep: e.cycles, msPerStep: e.ms });
  }
  const kernels = new Map<string, McuProfileRow>();
  for (const r of byLayer) {
    const k = kernels.get(r.kernel) ?? { name: r.kernel, kernel: r.kernel, cyclesPerStep: 0, msPerStep: 0 };
    k.cyclesPerStep += r.cyclesPerStep;
    k.msPerStep += r.msPerStep;
    kernels.set(r.kernel, k);
  }
  const cycles = byLayer.reduce((s, r) => s + r.cyclesPerStep, 0);
  return {
    core: target.core, clockHz: target.clockHz, cyclesPerStep: Math.round(cycles), msPerStep: byLayer.reduce((s, r) => s + r.msPerStep, 0), model: COST_MODEL_VERSION,
    byLayer: byLayer.map((r) => ({ ...r, cyclesPerStep: Math.round(r.cyclesPerStep) })),
    byKernel: [...kernels.values()].sort((a, b) => b.cyclesPerStep - a.cyclesPerStep).map((r) => ({ ...r, cyclesPerStep: Math.round(r.cyclesPerStep) })),
  };
}

export interface McuInference {
  core: string;
  clockHz: number;
  cyclesPerInference: number;
  msPerInference: number;
  mJPerInference: number | null;
  model: string;
}

/** Inference latency on the device (the memory command's view). */
export function mcuInference(arch: Architecture, device: ResolvedDevice, bits: WeightBits): McuInference | McuUnavailable {
  const target = targetFor(device);
  if (unavailable(target)) return target;
  const { device: _d, ...mcu } = estimateInference(resolveGraph(arch), target, bits).mcu;
  return mcu;
}
