// The main job as a library call: take a pre-trained float backbone and a few labelled samples of
// new classes, build the prototype head, quantize (16w8a by default), check the QZO-FF plan fits the
// device, then adapt on the device with QZO-FF — and, for comparison, run f32 backprop on the same data.
import { ConfigError, DataError, ShapeError } from '../errors.js';
import { sampleSize, validateDataset, type Dataset } from '../data/dataset.js';
import { crc32 } from '../model/container.js';
import { saveModel, type FloatModel, type Model, type QuantizedModel } from '../model/model.js';
import { BackpropSession, type OptimizerSpec } from '../runtime/backprop-session.js';
import { Mcu } from '../device/mcu.js';
import type { BuildFlavor } from '../device/features.js';
import type { ZDistribution } from '../kernels/perturb-spec.js';
import { Profiler } from '../device/profiler.js';
import { evaluate } from './evaluate.js';
import { evaluateFloat, trainBackprop } from './backprop.js';
import { FloatZoTrainer, floatZoSramBuffers } from './float-zo.js';
import { QzoFfTrainer, type QzoFfConfig, type StepResult } from './qzo-ff.js';
import type { FrontEndSpec } from '../runtime/front-end.js';
import { checkRunFits, modeMemory, planDefaultHybrid, planRun, startSession, type ModeMemory, type Precision } from './prepare-run.js';
import { requireDirections } from '../kernels/update.js';
import { checkAdaptOptions } from './guards.js';
import { differingKeys, listCheckpoints, loadNewestCheckpoint, saveCheckpoint, type CheckpointStore, type RunConfig, type SkippedCheckpoint } from './checkpoint.js';
import type { TrainSelection } from './selection.js';
import type { ScheduleSpec } from './schedule.js';
import { isGraphInput } from '../ops/registry.js';
import type { InputNode } from '../model/layers.js';
import { ADAPT_DEFAULTS, defaultDirections } from './defaults.js';
import { BP_RECIPE, trainBackpropRecipe, type BpRecipe } from './bp-recipe.js';
import { HYBRID_DEFAULTS, HybridTrainer } from './hybrid.js';
import { exportHybridState, restoreHybridState } from './hybrid-state.js';
import { chooseMethod, hybridUnsupported } from './method-choice.js';
import { quantizeSet, type QuantizedSet } from './batches.js';

export type { Precision, ModeMemory };
/**
 * qzo-ff: the paper's integer method; hybrid: integer backprop for the dense head, QZO-FF for the
 * rest (train/hybrid.ts); bp: f32 backprop inside the device budget; ff-float: sign-m-SPSA in f32.
 */
export type AdaptMethod = 'qzo-ff' | 'hybrid' | 'bp' | 'ff-float';
export const ADAPT_METHODS: readonly AdaptMethod[] = ['qzo-ff', 'hybrid', 'bp', 'ff-float'];

export interface AdaptOptions {
  /**
   * Default ADAPT_DEFAULTS.method (hybrid), falling back to qzo-ff with a note (AdaptResult.methodNote)
   * where the hybrid cannot run; an explicit 'hybrid' that cannot run is a ConfigError (method-choice.ts).
   * The baselines run inside the same device budget and fail the same way if they do not fit.
   */
  method?: AdaptMethod;
  backbone: FloatModel;
  support: Dataset;
  query: Dataset;
  device: { name: string; sramBytes: number; flashBytes: number };
  /** A front end the device runs before each forward (wav:DIR data: the KWS MFCC), included in the memory plans. */
  frontEnd?: FrontEndSpec;
  precision?: Precision;
  selection?: TrainSelection;
  epsilon?: number;
  directions?: number;
  dist?: ZDistribution;
  lr?: number;
  schedule?: ScheduleSpec;
  steps?: number;
  /** Samples per forward call on the device (the loss sums micro-batches). */
  microBatch?: number;
  seed?: number;
  /** Also run the f32 backprop baseline (BP_RECIPE, train/bp-recipe.ts) on the same data (default true). */
  baseline?: boolean;
  /** The baseline's recipe (default BP_RECIPE); bpLr is also --method bp's Adam η. */
  bpRecipe?: BpRecipe;
  bpLr?: number;
  /** A fixed SGD η for the hybrid head (default: HYBRID_DEFAULTS.headStep / mean‖f − f̄‖², measured on the first step). */
  headLr?: number;
  /** Hybrid: parameter layers learned by integer backprop, 1 (the head) or 2 (and the layer below it); default HYBRID_DEFAULTS.bpLayers where it applies, else 1. */
  bpLayers?: 1 | 2;
  /** Hybrid with bpLayers 2: the tail layer's SGD η (default HYBRID_DEFAULTS.tailLr). */
  tailLr?: number;
  build?: BuildFlavor | 'auto';
  /** The paper's enhancements and the 8w8a remedy (see docs/TRAINING.md); all off by default. */
  enhancements?: Pick<QzoFfConfig, 'normalize' | 'momentum' | 'sharpness' | 'dither' | 'residual' | 'residualBits' | 'control' | 'zBuffer'>;
  profile?: boolean;
  /** Samples per step (default: the whole support set). */
  batchSize?: number;
  /**
   * Run the frozen layers before the first trained one once per sample and reuse their output in all
   * 2m passes (qzo-ff/prefix.ts): same results, less compute, a planned SRAM cache. Default on; the
   * cache is planned only where something is frozen and only if it fits the device.
   */
  reusePrefix?: boolean;
  /** Training accuracy on (up to 200 of) the support samples is measured every this many steps (0: never). */
  progressEvery?: number;
  onStep?: (r: StepResult, total: number, trainAccuracy?: number) => void;
  /** Called once the memory plans are known, before the budget check and any training. */
  onPlan?: (memory: AdaptResult['memory']) => void;
  /** Checkpoint the integer training (qzo-ff or hybrid) into a store, and optionally resume from it. */
  checkpoint?: AdaptCheckpointOptions;
  /** Told what resuming found and when each checkpoint is durable. */
  onCheckpoint?: (event: CheckpointEvent) => void;
}

export interface AdaptCheckpointOptions {
  /** Where checkpoints go: FileCheckpointStore (src/train/checkpoint-store.ts) in Node. */
  store: CheckpointStore;
  /** Write a checkpoint after every this many steps, and after the last step. */
  every: number;
  /**
   * Continue from the newest good checkpoint (newer unreadable ones are skipped and reported); an
   * empty store starts fresh. Without it, a store that already holds checkpoints is refused.
   */
  resume?: boolean;
  /** Good checkpoints kept (default 2), so one unreadable file never loses the run. */
  keep?: number;
}

export type CheckpointEvent =
  | { kind: 'resumed'; step: number; name: string; skipped: SkippedCheckpoint[] }
  | { kind: 'fresh'; skipped: SkippedCheckpoint[] }
  | { kind: 'written'; step: number; name: string };


export interface AdaptResult {
  zeroShot: number;
  after: number;
  bp: number | null;
  steps: number;
  /** Measured SRAM high-water mark of the QZO-FF run. */
  sramPeak: number;
  flash: number;
  memory: { ff: ModeMemory; bp: ModeMemory; infer: ModeMemory };
  device: { name: string; sramBytes: number; flashBytes: number; build: BuildFlavor };
  losses: number[];
  bpLosses: number[];
  /** The baseline's recipe and the steps it ran (null without a baseline). */
  bpRecipe: (BpRecipe & { steps: number; batch: number | 'full' }) | null;
  wallMs: { ff: number; bp: number; total: number };
  /** The adapted model: quantized for qzo-ff, float for the f32 baselines. */
  adapted: Model;
  method: AdaptMethod;
  /** Why the default method did not apply and what trained instead (null when it did, or the method was given). */
  methodNote: string | null;
  /** Hybrid runs: the layers learned by integer backprop (the tail, if any, then the head); absent otherwise. */
  backpropLayers?: string[];
  profiler?: Profiler;
  config: Record<string, unknown>;
  /** With checkpointing: where training started from and what was written. */
  checkpoint?: { resumedFrom: number | null; skipped: SkippedCheckpoint[]; written: number; last: string | null };
  /**
   * With reusePrefix and something frozen before the first trained op: the cache's samples and bytes
   * (already in memory.ff), whether it is kept across steps ('set') or refilled every step ('step'),
   * how many micro-batches ran the prefix and how many were served from the cache.
   */
  prefixCache?: { samples: number; bytes: number; across: 'set' | 'step'; firstTrainedOp: number; prefixRuns: number; reused: number };
}

const BP_OPTIMIZER = (lr: number): OptimizerSpec => ({ kind: 'adam', lr });

/** What adapt() steps: QZO-FF or the hybrid (both integer, both on the session). */
interface DeviceTrainer {
  step: number;
  trainStep(set: QuantizedSet): StepResult;
}

export async function adapt(o: AdaptOptions): Promise<AdaptResult> {
  checkAdaptOptions(o);
  // A checkpoint directory is this run's alone while it trains (a FileError if another run has it).
  const locked = o.checkpoint?.store.lock?.() ?? false;
  try {
    return await adaptUnlocked(o);
  } finally {
    if (locked) o.checkpoint!.store.unlock?.();
  }
}

async function adaptUnlocked(o: AdaptOptions): Promise<AdaptResult> {
  const t0 = performance.now();
  const precision = o.precision ?? '16w8a';
  if (precision !== '16w8a' && precision !== '8w8a') throw new ConfigError(`precision must be 16w8a or 8w8a, got '${precision}'`);
  const selection = o.selection ?? { kind: 'full' };
  const steps = o.steps ?? ADAPT_DEFAULTS.steps;
  const micro = Math.min(o.microBatch ?? ADAPT_DEFAULTS.microBatch, o.support.labels.length);
  const seed = o.seed ?? ADAPT_DEFAULTS.seed;
  if (!Number.isInteger(steps) || steps < 0) throw new ConfigError(`steps must be a non-negative integer, got ${steps}`);
  validateAdaptInputs(o);

  // The hybrid's own settings with another method would be silently unused: refuse them, as the CLI does.
  for (const [key, v] of [['bpLayers', o.bpLayers], ['tailLr', o.tailLr], ['headLr', o.headLr]] as const) {
    if (v !== undefined && o.method !== undefined && o.method !== 'hybrid') throw new ConfigError(`${key} is a setting of the hybrid method, not of '${o.method}': drop it or use method 'hybrid'`);
  }
  const { method, note: chosenNote } = chooseMethod(o.method, () => hybridUnsupported(o.backbone.architecture, selection, undefined, o.enhancements));
  if (o.checkpoint && method !== 'qzo-ff' && method !== 'hybrid') throw new ConfigError(`checkpoints are supported for the integer methods (qzo-ff, hybrid), not '${method}': drop the checkpoint option or use another method`);
  const planWith = (bpLayers: 1 | 2 | undefined) => planRun({
    backbone: o.backbone, support: o.support, precision, selection, microBatch: micro, build: o.build, enhancements: o.enhancements, ...(o.frontEnd ? { frontEnd: o.frontEnd } : {}),
    // Frozen layers before the first trained one (the body's first, or the head alone) are the same in
    // every pass for both integer methods: their output is cached (qzo-ff/prefix.ts).
    ...((o.reusePrefix ?? ADAPT_DEFAULTS.reusePrefix) ? { prefixCache: { sramBytes: o.device.sramBytes } } : {}),
    ...(method === 'hybrid' ? { method, ...(bpLayers !== undefined ? { bpLayers } : {}) } : {}),
    trainer: {
      epsilon: o.epsilon ?? ADAPT_DEFAULTS.epsilon, directions: o.directions ?? defaultDirections(method), dist: o.dist ?? ADAPT_DEFAULTS.dist, lr: o.lr ?? ADAPT_DEFAULTS.lr, schedule: o.schedule, seed,
      ...(o.batchSize ? { batchSize: o.batchSize } : {}),
    },
  });
  // Where the tail's sums do not fit the device and nobody asked for them, the default learns the head alone by backprop and says so.
  const planned = o.bpLayers === undefined ? await planDefaultHybrid(planWith, o.device.sramBytes) : { run: await planWith(o.bpLayers), fallback: null };
  const runPlan = planned.run;
  const methodNote = planned.fallback ?? chosenNote;
  const { proto, quantized, trainable, trainerConfig, plans } = runPlan;
  const memory = { ff: modeMemory(plans.ff, o.device), bp: modeMemory(plans.bp, o.device), infer: modeMemory(plans.infer, o.device) };
  o.onPlan?.(memory);
  if (method === 'bp' || method === 'ff-float') return adaptFloat(o, method, proto, trainable, memory, t0);
  if (method !== 'qzo-ff' && method !== 'hybrid') throw new ConfigError(`unknown method '${String(method)}'`);
  checkRunFits(runPlan, o.device);

  const session = await startSession(runPlan, o.device, { build: o.build });
  const mcu = session.mcu;
  const profiler = o.profile ? new Profiler() : undefined;
  const zeroShot = evaluate(session, o.query).accuracy;
  const zo = method === 'qzo-ff' ? new QzoFfTrainer(session, trainable, trainerConfig) : null;
  const hybrid = zo ? null : new HybridTrainer(session, trainable, { ...trainerConfig, ...(o.headLr !== undefined ? { headLr: o.headLr } : {}), ...(o.tailLr !== undefined ? { tailLr: o.tailLr } : {}) });
  const trainer: DeviceTrainer = zo ?? hybrid!;
  const exportState = () => (zo ? zo.exportState() : exportHybridState(hybrid!));
  const prefix = zo ? zo.prefix : (hybrid!.body?.prefix ?? hybrid!.prefix);
  const set = quantizeSet(session, o.support);
  const losses: number[] = [];
  const ck = o.checkpoint;
  const run = ck ? runConfig({ method, headLr: hybrid ? o.headLr ?? 'from the first step' : undefined, bp: hybrid ? { layers: runPlan.bpLayers!, tailLr: o.tailLr ?? HYBRID_DEFAULTS.tailLr } : undefined, precision, selection, trainable, trainerConfig, microBatch: micro, quantized, support: o.support }) : null;
  const checkpointInfo: AdaptResult['checkpoint'] = ck ? { resumedFrom: null, skipped: [], written: 0, last: null } : undefined;
  if (ck && checkpointInfo && run) {
    // Nothing has been written to any trained tensor yet: a refused resume leaves no trace.
    if (ck.resume) {
      const found = await loadNewestCheckpoint(ck.store);
      checkpointInfo.skipped = found.skipped;
      if (found.checkpoint) {
        const stored = found.checkpoint.run.method;
        if (stored !== method) {
          throw new ConfigError(`cannot resume from ${ck.store.location}/${found.name}: it was written by a ${String(stored)} run and this run trains with ${method}; resume with method ${String(stored)} (--method ${String(stored)}), or use another checkpoint directory to start a new run`);
        }
        const differs = differingKeys(found.checkpoint.run, run);
        if (differs.length) {
          throw new ConfigError(`cannot resume from ${ck.store.location}/${found.name}: it was written by a run with different ${differs.join(', ')}; resume with the same settings, or use another checkpoint directory to start a new run`);
        }
        if (found.checkpoint.trainer.step > steps) {
          throw new ConfigError(`cannot resume from ${ck.store.location}/${found.name}: it is at step ${found.checkpoint.trainer.step}, beyond the ${steps} steps asked for; ask for at least ${found.checkpoint.trainer.step} steps`);
        }
        if (zo) zo.restoreState(found.checkpoint.trainer, set.count);
        else restoreHybridState(hybrid!, found.checkpoint.trainer, set.count);
        losses.push(...found.checkpoint.losses);
        checkpointInfo.resumedFrom = trainer.step;
        o.onCheckpoint?.({ kind: 'resumed', step: trainer.step, name: found.name!, skipped: found.skipped });
      } else o.onCheckpoint?.({ kind: 'fresh', skipped: found.skipped });
    } else {
      const existing = await listCheckpoints(ck.store);
      if (existing.length) {
        throw new ConfigError(`${ck.store.location} already holds checkpoints (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}): resume that run (--resume) or use an empty directory`);
      }
    }
  }
  const probeCount = Math.min(200, set.count);
  const probe = { ...set, count: probeCount, samples: set.samples.subarray(0, probeCount * set.sampleSize), labels: set.labels.subarray(0, probeCount) };
  const every = o.progressEvery ?? 0;
  session.profiler = profiler;
  const tFf = performance.now();
  while (trainer.step < steps) {
    const r = trainer.trainStep(set);
    losses.push(r.loss);
    if (ck && checkpointInfo && run && (r.step % ck.every === 0 || r.step === steps)) {
      const name = await saveCheckpoint(ck.store, { run, trainer: exportState(), losses: Float64Array.from(losses) }, ck.keep ?? 2);
      checkpointInfo.written++;
      checkpointInfo.last = name;
      o.onCheckpoint?.({ kind: 'written', step: r.step, name });
    }
    const measure = every > 0 && (r.step % every === 0 || r.step === steps);
    o.onStep?.(r, steps, measure ? evaluate(session, probe).accuracy : undefined);
  }
  const ffMs = performance.now() - tFf;
  session.profiler = undefined;
  const after = evaluate(session, o.query).accuracy;
  const adapted = session.exportModel();

  let bp: number | null = null;
  let bpLosses: number[] = [];
  let bpRecipe: AdaptResult['bpRecipe'] = null;
  const tBp = performance.now();
  if (o.baseline ?? true) {
    // Backprop runs with whatever memory it needs (it usually would not fit the device: that is the point).
    // Mini-batches (batchSize below the support size): the recipe's optimizer and η for the same steps.
    const recipe = o.bpRecipe ?? BP_RECIPE;
    const mini = trainerConfig.batchSize !== undefined && trainerConfig.batchSize < o.support.labels.length ? { batch: trainerConfig.batchSize, steps } : undefined;
    const r = await trainBackpropRecipe(proto, o.support, { trainable, seed, recipe, build: o.build, ...(mini ? { miniBatch: mini } : {}) });
    bp = (await evaluateFloat(r.model, o.query, o.build)).accuracy;
    bpLosses = r.losses;
    bpRecipe = { ...recipe, steps: r.losses.length, batch: mini ? mini.batch : 'full' };
  }
  const bpMs = performance.now() - tBp;
  return {
    zeroShot, after, bp, steps, sramPeak: mcu.sram.highWater, flash: mcu.flash.highWater, memory,
    device: { ...o.device, build: mcu.build }, losses, bpLosses, bpRecipe,
    wallMs: { ff: ffMs, bp: bpMs, total: performance.now() - t0 }, adapted, method, methodNote, ...(hybrid ? { backpropLayers: [...(hybrid.tail ? [hybrid.tail.name] : []), hybrid.head.name] } : {}), ...(profiler ? { profiler } : {}), ...(checkpointInfo ? { checkpoint: checkpointInfo } : {}),
    ...(runPlan.prefixCache && prefix ? { prefixCache: { ...runPlan.prefixCache, firstTrainedOp: prefix.info.firstOp, ...prefix.stats } } : {}),
    // method is recorded when it is not the paper's (so qzo-ff runs keep their recorded config and hashes).
    config: { ...(method !== 'qzo-ff' ? { method } : {}), precision, selection, steps, microBatch: micro, epsilon: trainerConfig.epsilon, directions: trainerConfig.directions, dist: trainerConfig.dist, lr: trainerConfig.lr, seed, trainable, enhancements: o.enhancements ?? {} },
  };
}

/**
 * Refuse unusable input before any work: every problem gets a typed error that says what to change.
 * (The trainer and session check again at their own boundaries; these messages speak adapt's terms.)
 */
function validateAdaptInputs(o: AdaptOptions): void {
  const lr = o.lr ?? ADAPT_DEFAULTS.lr;
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) throw new ConfigError(`learning rate η must be a finite number > 0 (e.g. 0.003), got ${lr}`);
  const eps = o.epsilon ?? ADAPT_DEFAULTS.epsilon;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) throw new ConfigError(`perturbation size ε must be a finite number > 0 (e.g. 0.001), got ${eps}`);
  requireDirections(o.directions ?? ADAPT_DEFAULTS.directions);
  if (o.microBatch !== undefined && !(Number.isInteger(o.microBatch) && o.microBatch >= 1)) throw new ConfigError(`micro-batch must be an integer ≥ 1, got ${o.microBatch}`);
  if (o.batchSize !== undefined && !(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw new ConfigError(`batch size must be an integer ≥ 1, got ${o.batchSize}`);
  if (o.checkpoint) {
    if (!Number.isInteger(o.checkpoint.every) || o.checkpoint.every < 1) throw new ConfigError(`checkpoint interval must be an integer ≥ 1 steps, got ${o.checkpoint.every}`);
  }
  const input = o.backbone.architecture.nodes[0];
  const want = input && isGraphInput(input) ? (input as InputNode).shape : undefined;
  for (const [role, d] of [['support', o.support], ['query', o.query]] as const) {
    if (d.labels.length === 0) throw new DataError(`the ${role} set '${d.name}' is empty: give it at least one image per class`);
    // A flat input ([features]) takes any image of as many values; an image input needs the same H×W×C.
    const mismatch = want && (want.length === 3 ? d.shape.join('×') !== want.join('×') : sampleSize(d) !== want.reduce((a, b) => a * b, 1));
    if (want && mismatch) {
      const channels = want.length === 3 && d.shape[2] !== want[2] ? ` (${d.shape[2]} channel${d.shape[2] === 1 ? '' : 's'} where the model takes ${want[2]})` : '';
      throw new ShapeError(`${role} images of '${d.name}' are ${d.shape.join('×')}${channels}, but model '${o.backbone.architecture.name}' takes ${want.join('×')}: resize or convert the images (an image folder is resized for you) or use a backbone for this input`);
    }
    validateDataset(d);
  }
  if (o.query.classes !== o.support.classes) throw new DataError(`the query set has ${o.query.classes} classes and the support set ${o.support.classes}: both must label the same classes`);
  const counts = new Int32Array(o.support.classes);
  for (const l of o.support.labels) counts[l]!++;
  const empty = [...counts.keys()].filter((c) => counts[c] === 0);
  if (empty.length) {
    const names = empty.map((c) => o.support.classNames?.[c] ?? String(c));
    throw new DataError(`the support set '${o.support.name}' has no images of class${empty.length > 1 ? 'es' : ''} ${names.join(', ')}: every class needs at least one labelled image (add some, or drop the class)`);
  }
  if (o.support.shape.some((x) => !Number.isInteger(x) || x < 1) || sampleSize(o.support) < 1) throw new ShapeError(`support images have an invalid shape ${o.support.shape.join('×')}`);
}

/** The settings a checkpoint must match to be resumed, with fingerprints of the model and data. */
function runConfig(r: { method: 'qzo-ff' | 'hybrid'; headLr: number | string | undefined; bp: { layers: 1 | 2; tailLr: number } | undefined; precision: Precision; selection: TrainSelection; trainable: string[]; trainerConfig: QzoFfConfig; microBatch: number; quantized: QuantizedModel; support: Dataset }): RunConfig {
  const c = r.trainerConfig;
  const momentum = c.momentum;
  if (momentum && (typeof momentum.alpha === 'function' || typeof momentum.beta === 'function')) {
    throw new ConfigError('momentum α or β given as a function cannot be checkpointed (a checkpoint must record every setting): use numbers, or train without checkpoints');
  }
  const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const model = saveModel(r.quantized);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  return {
    // headLr only for the hybrid, so a qzo-ff checkpoint's run configuration is what it always was.
    // bpLayers (and the tail's η with two) only for the hybrid with a tail, so head-only hybrid checkpoints read as before.
    method: r.method, ...(r.headLr !== undefined ? { headLr: r.headLr } : {}), ...(r.bp?.layers === 2 ? { bpLayers: 2, tailLr: r.bp.tailLr } : {}), precision: r.precision, selection: r.selection, trainable: r.trainable, microBatch: r.microBatch,
    epsilon: c.epsilon, directions: c.directions, dist: c.dist, lr: c.lr, schedule: c.schedule ?? { kind: 'constant' }, seed: c.seed,
    batchSize: c.batchSize ?? null, params: c.params ?? 'weights', sparse: c.sparse ?? null, normalize: c.normalize ?? false,
    momentum: momentum ?? null, sharpness: c.sharpness ?? null, dither: c.dither ?? false,
    ...(c.residual ? { residual: c.residualBits ?? 8 } : {}),
    // Only when set, so checkpoints of plain runs keep their run configuration.
    ...(c.control ? { control: { guard: !!c.control.guard, spread: !!c.control.spread, warmup: c.control.warmup ?? 0, batch: !!c.control.batch, strictGuard: !!c.control.strictGuard } } : {}),
    model: `crc32:${hex(crc32(model))}:${model.length}`,
    support: `crc32:${hex(crc32(bytesOf(r.support.images)))}:${hex(crc32(bytesOf(r.support.labels)))}:${r.support.labels.length}`,
  };
}

/**
 * The f32 baselines on the device budget: backprop (Adam) or float zeroth-order (sign-m-SPSA in f32,
 * the paper's "FF fp"). Each runs in an Mcu with exactly the device's SRAM and flash, so a baseline
 * that does not fit fails with the same BudgetError QZO-FF would.
 */
async function adaptFloat(o: AdaptOptions, method: 'bp' | 'ff-float', proto: FloatModel, trainable: string[], memory: AdaptResult['memory'], t0: number): Promise<AdaptResult> {
  const steps = o.steps ?? ADAPT_DEFAULTS.steps;
  const micro = Math.min(o.microBatch ?? ADAPT_DEFAULTS.microBatch, o.support.labels.length);
  const seed = o.seed ?? ADAPT_DEFAULTS.seed;
  const zeroShot = (await evaluateFloat(proto, o.query, o.build)).accuracy;
  const tTrain = performance.now();
  let model: FloatModel;
  let sramPeak: number;
  let flash: number;
  let build: BuildFlavor;
  const losses: number[] = [];
  if (method === 'bp') {
    const lr = o.bpLr ?? ADAPT_DEFAULTS.bpLr;
    const r = await trainBackprop(proto, o.support, {
      trainable, optimizer: BP_OPTIMIZER(lr), batch: micro, steps, seed, budget: o.device, build: o.build,
      onStep: (step, loss) => {
        losses.push(loss);
        o.onStep?.({ step: step + 1, loss, signs: [], lr }, steps);
      },
    });
    model = r.model;
    sramPeak = r.sramPeak;
    flash = r.session.mcu.flash.highWater;
    build = r.session.mcu.build;
  } else {
    const mcu = await Mcu.create({ budget: o.device, build: o.build });
    const session = new BackpropSession(mcu, proto, { batch: micro, trainable: new Set(trainable), optimizer: BP_OPTIMIZER(ADAPT_DEFAULTS.bpLr), forwardOnly: true, extraSram: floatZoSramBuffers(proto, trainable) });
    const trainer = new FloatZoTrainer(session, trainable, {
      epsilon: o.epsilon ?? ADAPT_DEFAULTS.epsilon, directions: o.directions ?? ADAPT_DEFAULTS.directions, dist: o.dist ?? ADAPT_DEFAULTS.dist, lr: o.lr ?? ADAPT_DEFAULTS.lr, schedule: o.schedule, seed,
    });
    for (let s = 0; s < steps; s++) {
      const r = trainer.trainStep(o.support);
      losses.push(r.loss);
      o.onStep?.(r, steps);
    }
    model = session.exportModel();
    sramPeak = mcu.sram.highWater;
    flash = mcu.flash.highWater;
    build = mcu.build;
  }
  const trainMs = performance.now() - tTrain;
  const after = (await evaluateFloat(model, o.query, o.build)).accuracy;
  return {
    zeroShot, after, bp: null, steps, sramPeak, flash, memory, device: { ...o.device, build }, losses, bpLosses: [], bpRecipe: null,
    wallMs: { ff: trainMs, bp: 0, total: performance.now() - t0 }, adapted: model, method, methodNote: null,
    config: { method, precision: 'f32', selection: o.selection ?? { kind: 'full' }, steps, microBatch: micro, epsilon: o.epsilon ?? ADAPT_DEFAULTS.epsilon, directions: o.directions ?? ADAPT_DEFAULTS.directions, dist: o.dist ?? ADAPT_DEFAULTS.dist, lr: method === 'bp' ? o.bpLr ?? ADAPT_DEFAULTS.bpLr : o.lr ?? ADAPT_DEFAULTS.lr, seed, trainable, enhancements: {} },
  };
}
