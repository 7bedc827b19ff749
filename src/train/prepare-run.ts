// The one pipeline that prepares a QZO-FF run, shared by adapt (library and CLI) and the web page:
//   prototype head → calibrate → quantize → trainable selection → SRAM plans → fit check → session.
// planRun does the host-only part (nothing on the device yet) so a caller can show the plans first;
// checkRunFits refuses a run that does not fit before any device memory is taken; startSession lays
// the plan into a fresh Mcu. prepareRun is the three in order.
import type { Dataset } from '../data/dataset.js';
import type { BuildFlavor } from '../device/features.js';
import { Mcu } from '../device/mcu.js';
import { resolveGraph, type Architecture } from '../model/graph.js';
import type { FloatModel, QuantizedModel, WeightBits } from '../model/model.js';
import { calibrate } from '../quant/calibrate.js';
import { quantizeModel } from '../quant/quantize.js';
import { BackpropSession } from '../runtime/backprop-session.js';
import { QuantizedSession, type SessionOptions, type SessionPlan } from '../runtime/session.js';
import { withPrototypeHead } from './prototype.js';
import { qzoFfSessionOptions, type QzoFfConfig } from './qzo-ff.js';
import { PREFIX_CACHE, prefixCacheBuffers } from './qzo-ff/prefix.js';
import { frontEndRequests, type FrontEndSpec } from '../runtime/front-end.js';
import { HYBRID_DEFAULTS, hybridHead, hybridSramBuffers } from './hybrid.js';
import { findTail, tailShape, requireTail, tailKeptTensors, tailSramBuffers } from './hybrid-tail.js';
import { ConfigError } from '../errors.js';
import { BP_RECIPE } from './bp-recipe.js';
import { selectionTrainerOptions, trainableLayers, type TrainSelection } from './selection.js';

export type Precision = '16w8a' | '8w8a';

export interface RunBudget {
  sramBytes: number;
  flashBytes: number;
}

export interface PlanRunOptions {
  backbone: FloatModel;
  /** The labelled images the prototype head, the calibration and the training use. */
  support: Dataset;
  precision: Precision;
  selection: TrainSelection;
  /** Samples per forward call (capped at the support size). */
  microBatch: number;
  /** The trainer's own settings; the selection's options and the enhancements are merged in here. */
  trainer: QzoFfConfig;
  enhancements?: Partial<QzoFfConfig>;
  build?: BuildFlavor | 'auto';
  /**
   * Reuse the frozen prefix (qzo-ff/prefix.ts): plan a cache holding the prefix output of every
   * support sample (kept across steps); if that exceeds `sramBytes`, one of every sample of a step's
   * batch; if that does not fit either, no cache.
   */
  prefixCache?: { sramBytes: number };
  /** A front end the device runs before each forward (wav:DIR data: the KWS MFCC); planned with the session. */
  frontEnd?: FrontEndSpec;
  /** 'hybrid': the head trains by integer backprop (its buffers join the plan), the rest by QZO-FF. */
  method?: 'qzo-ff' | 'hybrid';
  /**
   * Hybrid only: parameter layers learned by integer backprop, 1 (the head) or 2 (the head and the
   * layer below it, hybrid-tail.ts). Default HYBRID_DEFAULTS.bpLayers where the model and selection
   * allow it, else 1; an explicit 2 that cannot apply is a ConfigError.
   */
  bpLayers?: 1 | 2;
}

export interface ModeMemory {
  sramPeak: number;
  flash: number;
  fits: boolean;
}

export interface RunPlan {
  precision: Precision;
  /** The backbone with its prototype head (float), and its quantized twin the device trains. */
  proto: FloatModel;
  quantized: QuantizedModel;
  trainable: string[];
  trainerConfig: QzoFfConfig;
  microBatch: number;
  sessionOptions: SessionOptions;
  plans: { ff: SessionPlan; infer: SessionPlan; bp: SessionPlan };
  /** The frozen-prefix cache in the QZO-FF plan: samples it holds and its bytes (null: none). */
  prefixCache: { samples: number; bytes: number; across: 'set' | 'step' } | null;
  /** Hybrid runs: layers learned by integer backprop (null for other methods). */
  bpLayers: 1 | 2 | null;
}

export async function planRun(o: PlanRunOptions): Promise<RunPlan> {
  const weightBits: WeightBits = o.precision === '16w8a' ? 16 : 8;
  const micro = Math.min(o.microBatch, o.support.labels.length);
  const proto = await withPrototypeHead(o.backbone, o.support, o.build);
  const ranges = await calibrate(proto, o.support, { build: o.build });
  const quantized = quantizeModel(proto, ranges, { weightBits, perChannel: false });
  const trainable = trainableLayers(resolveGraph(quantized.architecture), o.selection);
  const trainerConfig: QzoFfConfig = { ...o.trainer, ...selectionTrainerOptions(o.selection), ...o.enhancements };
  const bpLayers = o.method === 'hybrid' ? resolveBpLayers(quantized, trainable, o.bpLayers) : null;
  const base = { proto, quantized, trainable, microBatch: micro, trainerConfig, ...(o.frontEnd ? { frontEnd: o.frontEnd } : {}), ...(bpLayers !== null ? { hybrid: true, bpLayers } : {}) };
  let planned = planSessions(base);
  let prefixCache: RunPlan['prefixCache'] = null;
  if (o.prefixCache) {
    const n = o.support.labels.length;
    const perStep = Math.min(trainerConfig.batchSize ?? n, n);
    for (const [samples, across] of [[n, 'set'], [perStep, 'step']] as const) {
      const p = planSessions({ ...base, prefixSamples: samples });
      const bytes = p.sessionOptions.extraSram.find((b) => b.name === PREFIX_CACHE)?.bytes ?? 0;
      if (bytes === 0) break; // nothing frozen before the first trained layer
      if (p.plans.ff.sramBytes <= o.prefixCache.sramBytes) {
        planned = p;
        prefixCache = { samples, bytes, across };
        break;
      }
    }
  }
  const { sessionOptions, plans } = planned;
  return { precision: o.precision, proto, quantized, trainable, trainerConfig, microBatch: micro, sessionOptions, plans, prefixCache, bpLayers };
}

/**
 * The SRAM/flash plans of a run (QZO-FF with the trainer's buffers, inference, and f32 backprop with
 * Adam for the same selection), host-only. Plans depend on shapes and modes, not on weight values, so
 * the memory report calls this with stand-in models.
 */
export function planSessions(o: { proto: FloatModel; quantized: QuantizedModel; trainable: readonly string[]; microBatch: number; trainerConfig: QzoFfConfig; prefixSamples?: number; frontEnd?: FrontEndSpec; hybrid?: boolean; bpLayers?: 1 | 2 }): { sessionOptions: SessionOptions & { extraSram: { name: string; bytes: number }[] }; plans: RunPlan['plans'] } {
  const { quantized, microBatch: batch } = o;
  const trainable = [...o.trainable];
  const fe = o.frontEnd ? { frontEnd: o.frontEnd } : {};
  // Hybrid: QZO-FF's buffers and placements for the body only, plus the head's δ rows and gradient sums
  // (and the tail's, when the layer below the head learns by backprop too).
  const tail = o.hybrid && o.bpLayers === 2 ? requireTail(quantized) : null;
  const backpropLayers = o.hybrid ? [hybridHead(quantized).name, ...(tail ? [tail.name] : [])] : [];
  const zoLayers = trainable.filter((n) => !backpropLayers.includes(n));
  // The prefix cache's boundary is the first trained layer of all (the head alone, when only it trains).
  const zo = qzoFfSessionOptions(batch, { model: quantized, trainable: zoLayers, config: o.trainerConfig, ...(o.prefixSamples !== undefined && !o.hybrid ? { prefixSamples: o.prefixSamples } : {}) });
  const prefix = o.hybrid && o.prefixSamples !== undefined ? prefixCacheBuffers(quantized, trainable, o.prefixSamples) : [];
  const sessionOptions = {
    ...zo, trainable: new Set(trainable), extraSram: o.hybrid ? [...zo.extraSram, ...prefix, ...hybridSramBuffers(quantized, batch), ...(tail ? tailSramBuffers(tail) : [])] : zo.extraSram, ...fe,
    ...(tail ? { keepTensors: tailKeptTensors(tail) } : {}),
  };
  const plans = {
    ff: QuantizedSession.plan(quantized, sessionOptions),
    infer: QuantizedSession.plan(quantized, { batch, ...fe }),
    // What f32 backprop (Adam) would need for the same selection: the comparison every report shows.
    // Its float session has no front-end stage, so the front end's buffers are held for the whole session (an upper bound).
    bp: BackpropSession.plan(o.proto, { batch, trainable: new Set(trainable), optimizer: { kind: BP_RECIPE.optimizer, lr: BP_RECIPE.lr }, ...(o.frontEnd ? { extraSram: frontEndRequests(o.frontEnd, quantized) } : {}) }),
  };
  return { sessionOptions, plans };
}

/**
 * Layers the hybrid learns by backprop: the requested count, or the default where the model has a tail
 * (hybrid-tail.ts) and the selection trains it, else 1.
 */
export function resolveBpLayers(model: QuantizedModel | Architecture, trainable: readonly string[], requested?: 1 | 2): 1 | 2 {
  if (requested !== undefined && requested !== 1 && requested !== 2) throw new ConfigError(`--bp-layers must be 1 or 2, got ${String(requested)}`);
  const want = requested ?? HYBRID_DEFAULTS.bpLayers;
  if (want === 1) return 1;
  const tail = 'architecture' in model ? findTail(model) : tailShape(model);
  const why = typeof tail === 'string' ? tail : trainable.includes(tail.name) ? null : `the selection leaves '${tail.name}' frozen`;
  if (why === null) return 2;
  if (requested !== undefined) throw new ConfigError(`--bp-layers 2 cannot apply: ${why}; use --bp-layers 1`);
  return 1;
}

/** A mode's memory on the device: the plan its session runs there (a fallback when the plan overflows it). */
export function modeMemory(planned: SessionPlan, device: RunBudget): ModeMemory {
  const plan = QuantizedSession.fitting(planned, device);
  return { sramPeak: plan.sramBytes, flash: plan.flashBytes, fits: plan.sramBytes <= device.sramBytes && plan.flashBytes <= device.flashBytes };
}

/** BudgetError (naming region, need and budget) before any device memory is touched. */
/**
 * The default hybrid's plan on a device: the tail's int64 sums are 4× its 16-bit weights (ResNet-8's
 * s3b: 288 KiB), so where the two-layer plan does not fit and a head-only one does, the default learns
 * the head alone by backprop. `plan(bpLayers)` plans the run with that many backprop layers (undefined:
 * the model's default). Returns the plan and, when it fell back, why (for the run's note).
 */
export async function planDefaultHybrid(plan: (bpLayers: 1 | 2 | undefined) => Promise<RunPlan>, sramBytes: number): Promise<{ run: RunPlan; fallback: string | null }> {
  const run = await plan(undefined);
  if (run.bpLayers !== 2 || run.plans.ff.sramBytes <= sramBytes) return { run, fallback: null };
  const headOnly = await plan(1);
  if (headOnly.plans.ff.sramBytes > sramBytes) return { run, fallback: null };
  return {
    run: headOnly,
    fallback: `the layer below the head would learn by backprop too, but its gradient sums need ${run.plans.ff.sramBytes} B of SRAM in all, more than the device's ${sramBytes} B: the hybrid learns the head alone by backprop (--bp-layers 1)`,
  };
}

export function checkRunFits(run: RunPlan, device: RunBudget): void {
  QuantizedSession.checkFits(run.plans.ff, device, `QZO-FF ${run.precision} training of '${run.quantized.architecture.name}' (micro-batch ${run.microBatch}, ${run.trainable.length} trainable layers)`);
}

export async function startSession(run: RunPlan, device: RunBudget, runtime: { build?: BuildFlavor | 'auto'; wasmBaseUrl?: string | URL } = {}): Promise<QuantizedSession> {
  const mcu = await Mcu.create({ budget: device, build: runtime.build, ...(runtime.wasmBaseUrl !== undefined ? { wasmBaseUrl: runtime.wasmBaseUrl } : {}) });
  return new QuantizedSession(mcu, run.quantized, run.sessionOptions);
}

/** The whole pipeline: plan, refuse what does not fit, lay the session out on a fresh device. */
export async function prepareRun(o: PlanRunOptions & { device: RunBudget; wasmBaseUrl?: string | URL }): Promise<{ run: RunPlan; session: QuantizedSession }> {
  const run = await planRun(o);
  checkRunFits(run, o.device);
  return { run, session: await startSession(run, o.device, { build: o.build, ...(o.wasmBaseUrl !== undefined ? { wasmBaseUrl: o.wasmBaseUrl } : {}) }) };
}
