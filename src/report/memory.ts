// The memory report: for one model and device, what inference, QZO-FF training and backprop training
// each need in SRAM and flash, whether each fits, and where the bytes go per layer. Every figure is
// the planner's (which tests hold equal to the arena's measured high-water mark).
import type { FloatModel, QuantizedModel, WeightBits } from '../model/model.js';
import { initFloatModel } from '../model/model.js';
import { resolveGraph, type Architecture } from '../model/graph.js';
import { quantizeModel } from '../quant/quantize.js';
import { BackpropSession } from '../runtime/backprop-session.js';
import { QuantizedSession, type SessionPlan } from '../runtime/session.js';
import { planSessions } from '../train/prepare-run.js';
import { PREFIX_CACHE } from '../train/qzo-ff/prefix.js';
import type { FrontEndSpec } from '../runtime/front-end.js';
import { ConfigError } from '../errors.js';
import { requireResidualBits, type ResidualBits } from '../kernels/residual-update.js';
import { selectionTrainerOptions, trainableLayers, selectionLabel, type TrainSelection } from '../train/selection.js';
import { checkArchitecture, checkDevice, checkModel, checkOptionsObject, isObject } from '../util/guards.js';

export type Mode = 'infer' | 'ff' | 'bp';

export interface LayerMemory {
  layer: string;
  /** Bytes by kind for this layer: weights (SRAM or flash), activation (its output), scratch, gradients, state. */
  sram: Record<string, number>;
  flash: number;
}

export interface ModeReport {
  mode: Mode;
  label: string;
  sramPeak: number;
  flash: number;
  fits: boolean;
  /** SRAM bytes by category (sum of buffer sizes; buffers with disjoint lifetimes share bytes in the peak). */
  sramByCategory: Record<string, number>;
  perLayer: LayerMemory[];
  plan: SessionPlan;
}

export interface MemoryReport {
  model: string;
  device: { name: string; sramBytes: number; flashBytes: number };
  batch: number;
  selection: string;
  weightBits: WeightBits;
  modes: Partial<Record<Mode, ModeReport>>;
  /** bp.sramPeak / ff.sramPeak when both were planned. */
  bpOverFf?: number;
  /** The frozen-prefix cache inside the QZO-FF plan (train/qzo-ff/prefix.ts), when one is planned. */
  prefixCache?: { samples: number; bytes: number };
}

/** A quantized stand-in with the right shapes (values do not change a plan). */
export function planningModels(arch: Architecture, weightBits: WeightBits): { float: FloatModel; quantized: QuantizedModel } {
  const float = initFloatModel(arch, 1);
  const graph = resolveGraph(arch);
  const ranges = Object.fromEntries(graph.nodes.map((n) => [n.node.name, { min: -1, max: 1 }]));
  return { float, quantized: quantizeModel(float, ranges, { weightBits, perChannel: false }) };
}

function layerOf(bufferName: string): { layer: string; kind: string } {
  const [kind, ...rest] = bufferName.split(':');
  return { kind: kind!, layer: rest.join(':') || kind! };
}

function summarize(mode: Mode, label: string, planned: SessionPlan, device: { sramBytes: number; flashBytes: number }): ModeReport {
  // What the device runs: frozen layers pre-packed in flash unless the panels overflow it.
  const plan = QuantizedSession.fitting(planned, device);
  const byCategory: Record<string, number> = {};
  const perLayer = new Map<string, LayerMemory>();
  const entry = (layer: string) => {
    let e = perLayer.get(layer);
    if (!e) perLayer.set(layer, (e = { layer, sram: {}, flash: 0 }));
    return e;
  };
  for (const b of plan.sram.buffers) {
    const cat = plan.sramCategory[b.name] ?? 'other';
    byCategory[cat] = (byCategory[cat] ?? 0) + b.alignedBytes;
    const { layer, kind } = layerOf(b.name);
    const e = entry(layer);
    e.sram[kind] = (e.sram[kind] ?? 0) + b.alignedBytes;
  }
  for (const f of plan.flash) entry(layerOf(f.name).layer).flash += Math.ceil(f.bytes / 16) * 16;
  return {
    mode, label, sramPeak: plan.sramBytes, flash: plan.flashBytes, fits: plan.sramBytes <= device.sramBytes && plan.flashBytes <= device.flashBytes,
    sramByCategory: byCategory, perLayer: [...perLayer.values()], plan,
  };
}

export interface MemoryReportOptions {
  device: { name: string; sramBytes: number; flashBytes: number };
  batch?: number;
  selection?: TrainSelection;
  weightBits?: WeightBits;
  modes?: Mode[];
  /**
   * 'mixed' (default): inference and QZO-FF in 16w8a/8w8a integers, backprop in f32 — what each
   * method would really run. 'fp16': all three as fp16 float sessions (forward-only ZO for FF),
   * the paper's same-precision comparison.
   */
  compare?: 'mixed' | 'fp16';
  /** Plan the QZO-FF frozen-prefix cache for this many training samples (0 or absent: none). */
  prefixSamples?: number;
  /** A front end the device runs before each forward (the KWS MFCC), planned with the integer sessions. */
  frontEnd?: FrontEndSpec;
  /** 8w8a with a residual of this many bits per trained weight (8 or 16), planned in QZO-FF's SRAM. */
  residual?: ResidualBits;
}

export function memoryReport(source: Architecture | { float: FloatModel; quantized: QuantizedModel }, o: MemoryReportOptions): MemoryReport {
  checkOptionsObject(o, 'memoryReport');
  checkDevice(o.device);
  if (isObject(source) && 'float' in source) {
    checkModel(source.float, 'memoryReport: source.float');
    checkModel(source.quantized, 'memoryReport: source.quantized');
  } else checkArchitecture(source, 'memoryReport: source');
  const weightBits = o.weightBits ?? 16;
  if (o.residual !== undefined) {
    requireResidualBits(o.residual);
    if (weightBits !== 8) throw new ConfigError('the residual is for 8-bit weights (8w8a): plan it with weightBits 8 (CLI --precision 8w8a)');
  }
  const models = 'nodes' in source ? planningModels(source, weightBits) : source;
  const batch = o.batch ?? 1;
  const selection = o.selection ?? { kind: 'full' };
  const trainable = new Set(trainableLayers(resolveGraph(models.quantized.architecture), selection));
  const modes = o.modes ?? ['infer', 'ff', 'bp'];
  const report: MemoryReport = { model: models.quantized.architecture.name, device: o.device, batch, selection: selectionLabel(selection), weightBits, modes: {} };
  const precision = `${weightBits}w8a`;
  if (o.compare === 'fp16') {
    const f16 = { batch, trainable, optimizer: { kind: 'adam' as const, lr: 1e-3 }, precision: 'f16' as const };
    if (modes.includes('infer')) report.modes.infer = summarize('infer', 'inference fp16', BackpropSession.plan(models.float, { ...f16, trainable: new Set() }), o.device);
    if (modes.includes('ff')) report.modes.ff = summarize('ff', 'forward-gradient (ZO) fp16', BackpropSession.plan(models.float, { ...f16, forwardOnly: true }), o.device);
    if (modes.includes('bp')) report.modes.bp = summarize('bp', 'backprop fp16 (Adam)', BackpropSession.plan(models.float, f16), o.device);
    if (report.modes.ff && report.modes.bp) report.bpOverFf = report.modes.bp.sramPeak / report.modes.ff.sramPeak;
    return report;
  }
  // The same plans adapt prepares (prepareRun's planSessions), on stand-in models of the right shapes.
  const trainerConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian' as const, lr: 1e-3, seed: 0, ...selectionTrainerOptions(selection), ...(o.residual ? { residual: true, residualBits: o.residual } : {}) };
  const base = { proto: models.float, quantized: models.quantized, trainable: [...trainable], microBatch: batch, trainerConfig, ...(o.frontEnd ? { frontEnd: o.frontEnd } : {}) };
  let { plans, sessionOptions } = planSessions({ ...base, ...(o.prefixSamples ? { prefixSamples: o.prefixSamples } : {}) });
  // As adapt does: the cache only where it fits the device.
  if (plans.ff.sramBytes > o.device.sramBytes) ({ plans, sessionOptions } = planSessions(base));
  const cache = sessionOptions.extraSram.find((b) => b.name === PREFIX_CACHE);
  if (cache && o.prefixSamples) report.prefixCache = { samples: o.prefixSamples, bytes: cache.bytes };
  if (modes.includes('infer')) report.modes.infer = summarize('infer', `inference ${precision}`, plans.infer, o.device);
  if (modes.includes('ff')) report.modes.ff = summarize('ff', `QZO-FF ${precision}${o.residual ? ` + int${o.residual} residual` : ''}`, plans.ff, o.device);
  if (modes.includes('bp')) report.modes.bp = summarize('bp', 'backprop f32 (Adam)', plans.bp, o.device);
  if (report.modes.ff && report.modes.bp) report.bpOverFf = report.modes.bp.sramPeak / report.modes.ff.sramPeak;
  return report;
}
