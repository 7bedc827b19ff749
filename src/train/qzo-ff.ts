// QZO-FF (Feng et al., NeurIPS 2024): quantized zeroth-order forward-gradient training.
//
// One step, for a batch B and m directions z_1..z_m (each regenerated from a seed, never stored):
//   for i in 1..m:  L⁺_i = L(w + εz_i; B),  L⁻_i = L(w − εz_i; B)       (2m integer forward passes)
//                   s_i  = sign(L⁺_i − L⁻_i)                             (integer compare)
//   w ← clamp(w − round(c · Σ_i s_i·z_i)),  c = η·Δz / (Δw·m)             (one integer pass per tensor)
// The perturbation is fused into the kernels' weight packing, so stored weights are only ever written
// by the update, and the update runs only after every argument has been validated: a step that throws
// before the update leaves the weights at their pre-step values; once the first tensor is written the
// step is committed and completes before any error is re-thrown (post-step values).
//
// The step itself is qzo-ff/step.ts (the path above, nothing else); the modes below are strategies in
// qzo-ff/strategies/ and hooks/profiling live in qzo-ff/instruments.ts. This file owns the trainer's
// state: validation, SRAM buffers, ε/η on each tensor's grid, checkpoints and the fit loop.
//
// Optional modes (docs/TRAINING.md has each one's memory and forward-call cost):
//   params: 'bias'   int32 biases perturbed in place and restored exactly after each pass (weights stay in flash);
//   sparse           a fixed bitmap keeps ~10% of each weight tensor; perturbation and update masked;
//   momentum         z = β·z1 + (1−β)·z2 materialised in int8, history ĝ kept in int8;
//   sharpness        one probe pair picks an ascent direction, the step is evaluated at w + ρ·s0·z0;
//   dither           stochastic rounding of εq·z and of the update (the 8w8a remedy);
//   residual         8-bit weights keep their sub-LSB update remainder in an int8/int16 residual (error feedback).
// Modes that cannot fuse the perturbation into weight packing (mask, stored z, dither) perturb the stored
// weights in place one layer at a time, just before that layer runs (QuantizedSession.forward's `source`
// hook), saving its trainable values into a backup and restoring them bit for bit after it ran (a dense
// layer block by block of output units, so its backup holds one block: qzo-ff/backup-blocks.ts);
// only the update leaves a stored tensor changed.
import { ConfigError, FormatError } from '../errors.js';
import type { QuantizedSession, SessionOptions } from '../runtime/session.js';
import { lowerGraph } from '../runtime/lowering.js';
import { resolveGraph } from '../model/graph.js';
import type { DeviceBuffer } from '../device/arena.js';
import type { QuantizedModel } from '../model/model.js';
import type { ZDistribution } from '../kernels/perturb-spec.js';
import { makePerturbSpec } from '../kernels/perturb.js';
import { MAX_DIRECTIONS, makeUpdateMultiplier, requireDirections } from '../kernels/update.js';
import { crossEntropyI32, prepareCrossEntropy, type PreparedCrossEntropy } from '../kernels/loss.js';
import { DELTA_Z, ONE_Q } from '../kernels/rng.js';
import { quantizeMultiplier } from '../kernels/multiplier.js';
import { makeDitherFactor, makeSmallMultiplier, momentumCoefficients } from '../kernels/materialised-zo.js';
import { makeResidualMultiplier, residualBytes, type ResidualBits } from '../kernels/residual-update.js';
import { checkResidualState, perturbEpsilon, validateResidual } from './qzo-ff/residual-config.js';
import { makeSchedule, type Schedule, type ScheduleSpec } from './schedule.js';
import { BatchOrder, loadMicroBatch, quantizeSet, type BatchOrderState, type QuantizedSet } from './batches.js';
import { buildSparseMask, sparseKeepCount, type SparseConfig } from './sparse.js';
import type { Dataset } from '../data/dataset.js';
import { BIAS_STREAM, directionSeed, type BatchLoss, type LayerState, type PerturbFactor, type TensorState, type TrainerParts, type UpdateFactor } from './qzo-ff/tensor.js';
import { qzoFfStep } from './qzo-ff/step.js';
import { backupSizes, layerUnits, planBackupBlocks } from './qzo-ff/backup-blocks.js';
import { stepInstruments } from './qzo-ff/instruments.js';
import { stepMode } from './qzo-ff/strategies/index.js';
import { atStep } from './qzo-ff/strategies/momentum.js';
import { prefixCacheBuffers, sessionPrefixCache, type PrefixCache } from './qzo-ff/prefix.js';
import { checkHasMethods, checkOptionsObject, describe } from '../util/guards.js';
import { stepScale, validateControl, type ControlState, type StepControlConfig } from './qzo-ff/step-control.js';

export { directionSeed };

/** A number, or a function of the step (a schedule for momentum's α and β). */
export type Schedulable = number | ((step: number) => number);

/** Where a step is when the phase hook runs (for instrumentation and fault-injection tests). */
export type StepPhase = 'probe' | 'between-forwards' | 'after-direction' | 'before-update' | 'update';

export interface QzoFfConfig {
  /** Real perturbation size ε (paper example: 1e-3). */
  epsilon: number;
  /** Directions per step, m (paper default 3). */
  directions: number;
  dist: ZDistribution;
  /** Learning rate η in real weight units per unit of ĝ. */
  lr: number;
  schedule?: ScheduleSpec;
  /** Samples per step (default: the whole training set). */
  batchSize?: number;
  seed: number;
  /**
   * Kernel-wise normalisation (the paper's enhancement): scale each layer's ε and η by the RMS of its
   * weights, ‖w_l‖/√d_l — the expected ‖w_l‖/‖z_l‖ for a standard normal z — so layers of very
   * different magnitude move by comparable relative amounts. Computed once, when training starts.
   */
  normalize?: boolean;
  /** Which parameters of the trainable layers train (default 'weights'); 'bias' is bias-only (BitFit-like). */
  params?: 'weights' | 'bias' | 'weights+bias';
  /** Sparse update: a fixed mask keeping a fraction of each weight tensor (weights only). */
  sparse?: SparseConfig;
  /** Momentum-guided sampling: z = β·z1 + (1−β)·z2, z1 ~ N(0, √α I), z2 ~ N(z_prev, √(1−α) I). */
  momentum?: { alpha: Schedulable; beta: Schedulable };
  /** Sharpness-aware perturbation: one probe pair, then the step is evaluated at w + ρ·s0·z0. */
  sharpness?: { rho: number };
  /**
   * Stochastic rounding of εq·z and of the update (dither below one LSB, deterministic from the seed):
   * the remedy for 8-bit weights, where εq = round(ε/Δw) is 0. Opt-in; changes the 16-bit results too.
   */
  dither?: boolean;
  /**
   * 8w8a with a residual (error feedback; docs/TRAINING.md "8w8a with a residual"): every trained int8
   * weight keeps the sub-LSB remainder of its updates in a residual of `residualBits` (SRAM, planned),
   * so small steps accumulate instead of rounding to 0; ε is raised to one weight LSB where it is below
   * half of one (εq ≥ 1). 8-bit weights only; not with dither, momentum or the guarded step.
   */
  residual?: boolean;
  /** The residual's width: 8 (int8, 1/256 LSB; default) or 16 (int16, 1/65536 LSB). */
  residualBits?: ResidualBits;
  /**
   * Draw each direction's z once into an int8 buffer per trained weight tensor (SRAM) that both
   * perturbed passes read instead of regenerating z per weight. `true`: one direction at a time (n bytes
   * per tensor; at m = 1 the update reads it too). `'step'`: every direction of the step (m·n bytes), so
   * the update reads all m instead of regenerating them. Faster where layers do few MACs per weight
   * (dense layers); results are bit-identical. Applies to the paper's fused path (no bias, momentum,
   * dither, masked perturbation or sharpness); ignored otherwise.
   */
  zBuffer?: boolean | 'step';
  /**
   * Step-size control (qzo-ff/step-control.ts, docs/TRAINING.md "Step-size control"): loss-spread
   * scaling, linear warm-up and the guarded step. Absent: the paper's plain step.
   */
  control?: StepControlConfig;
  /** Called at fixed points of a step; an exception thrown here aborts the step (tests use this). */
  phaseHook?: (phase: StepPhase, detail: { step: number; direction?: number; layer?: string }) => void;
}

/** The trainer's own SRAM buffers, for `extraSram`. Pass the training plan to include the optional modes' buffers. */
export function qzoFfSramBuffers(
  sessionBatch: number, training?: { model: QuantizedModel; trainable: readonly string[]; config: QzoFfConfig; prefixSamples?: number },
): { name: string; bytes: number }[] {
  if (!Number.isInteger(sessionBatch) || sessionBatch < 1) throw new ConfigError(`qzoFfSramBuffers: the session batch must be an integer ≥ 1, got ${describe(sessionBatch)}`);
  const out = [
    { name: 'labels', bytes: sessionBatch * 4 },
    { name: 'loss', bytes: 4 },
    { name: 'update-keys', bytes: MAX_DIRECTIONS * 4 },
    { name: 'update-signs', bytes: MAX_DIRECTIONS * 4 },
  ];
  if (!training) return out;
  const { model, trainable, config } = training;
  // Frozen-prefix reuse (qzo-ff/prefix.ts): a slot per sample the cache is to hold.
  if (training.prefixSamples !== undefined) out.push(...prefixCacheBuffers(model, trainable, training.prefixSamples));
  const parts = trainedParts(config);
  let backupBytes = 0;
  for (const name of trainable) {
    const p = model.params[name];
    if (!p) throw new ConfigError(`layer '${name}' has no parameters in model '${model.architecture.name}'`);
    for (const part of parts) {
      const count = part === 'w' ? p.weights.length : p.bias.length;
      const bytesPer = part === 'w' ? p.weightBits / 8 : 4;
      const key = `${part}:${name}`;
      if (part === 'w' && config.sparse) out.push({ name: `zo-mask:${name}`, bytes: Math.ceil(count / 8) });
      if (materialises(part, config)) backupBytes = Math.max(backupBytes, trainedCount(count, config) * bytesPer);
      if (part === 'w' && zBuffered(config)) out.push({ name: `zo-zbuf:${key}`, bytes: count * zBufferDirections(config) });
      if (config.sharpness) out.push({ name: `zo-neighbour:${key}`, bytes: count * bytesPer });
      if (config.control?.guard) out.push({ name: `zo-guard:${key}`, bytes: count * bytesPer });
      if (part === 'w' && config.residual) out.push({ name: residualName(name), bytes: residualBytes(count, config.residualBits ?? 8) });
      if (config.momentum) {
        out.push({ name: `zo-z:${key}`, bytes: config.directions * count });
        out.push({ name: `zo-history:${key}`, bytes: count });
      }
    }
  }
  // Materialised weights are perturbed in place one layer at a time: one backup of the largest layer's
  // trainable elements serves them all.
  if (backupBytes > 0) out.push({ name: ZO_BACKUP, bytes: backupBytes });
  return out;
}

const ZO_BACKUP = 'zo-backup';
const layerBackupName = (layer: string) => `${ZO_BACKUP}:${layer}`;
/** Whether z buffers are in use: asked for, and every tensor on the fused path (the paper's step). */
const zBuffered = (c: QzoFfConfig): boolean =>
  !!c.zBuffer && !c.sharpness && (c.params ?? 'weights') === 'weights' && !materialises('w', c);
/** Directions a tensor's z buffer holds: all m of the step ('step'), else the current one. */
export const zBufferDirections = (c: QzoFfConfig): number => (c.zBuffer === 'step' ? c.directions : 1);
const maskName = (layer: string) => `zo-mask:${layer}`;
const residualName = (layer: string) => `zo-residual:w:${layer}`;

/** Layers with parameters in execution order: a layer's index here is its z stream's tensor id. */
function paramLayerOrder(model: QuantizedModel): string[] {
  return lowerGraph(resolveGraph(model.architecture)).ops.map((o) => o.node.node.name).filter((n) => model.params[n] !== undefined);
}

/**
 * Session options for QZO-FF training on `model`: the trainable layers, the weights that stay in flash
 * (bias-only), the trainer's SRAM buffers, each in-place-perturbed layer's backup (live only at its
 * layer's op), and the sparse masks as flash data. A mask is fixed from the
 * pre-trained weights before training and never written again, so like every other constant it lives
 * in flash (written once, when the session is laid out) instead of SRAM.
 */
export function qzoFfSessionOptions(
  batch: number, training: { model: QuantizedModel; trainable: readonly string[]; config: QzoFfConfig; prefixSamples?: number },
): SessionOptions & { trainable: ReadonlySet<string>; extraSram: { name: string; bytes: number }[]; layerSram: { name: string; bytes: number; layer: string }[] } {
  const { model, trainable, config } = training;
  const flashData: { name: string; data: Uint8Array }[] = [];
  if (config.sparse && trainedParts(config).includes('w')) {
    const order = paramLayerOrder(model);
    for (const name of trainable) {
      const p = model.params[name];
      if (!p) throw new ConfigError(`layer '${name}' has no parameters in model '${model.architecture.name}'`);
      flashData.push({ name: maskName(name), data: buildSparseMask(p.weights, config.sparse, order.indexOf(name)) });
    }
  }
  const masks = new Set(flashData.map((f) => `${f.name}`));
  // A layer's in-place perturbation needs its backup only while that layer runs: one per layer, each
  // planned with its layer's op, instead of one shared backup live for the whole step; a layer run in
  // blocks of output units (qzo-ff/backup-blocks.ts) needs only its busiest block's.
  const lowered = lowerGraph(resolveGraph(model.architecture));
  const layerSram = materialises('w', config) && trainedParts(config).includes('w')
    ? trainable.map((name) => {
      const p = model.params[name]!;
      const mask = flashData.find((f) => f.name === maskName(name))?.data ?? null;
      // A session short of SRAM may give the layer a smaller backup (smaller blocks); the trainer runs the blocks that fit what it got.
      const [bytes, ...smaller] = backupSizes(layerUnits(lowered, name), p.weights.length, p.weightBits, mask, trainedCount(p.weights.length, config) * (p.weightBits / 8));
      return { name: layerBackupName(name), bytes: bytes!, layer: name, ...(smaller.length ? { smaller } : {}) };
    })
    : [];
  return {
    batch, trainable: new Set(trainable), frozenWeights: qzoFfFrozenWeights(trainable, config),
    extraSram: qzoFfSramBuffers(batch, training).filter((b) => !masks.has(b.name) && !(layerSram.length && b.name === ZO_BACKUP)),
    flashData, layerSram,
  };
}
/** Elements of a weight tensor that train: the mask's keep count, or all of them. */
const trainedCount = (count: number, c: QzoFfConfig): number => (c.sparse ? sparseKeepCount(count, c.sparse) : count);

/**
 * Trainable layers whose weights the configuration never changes (bias-only training): pass as the
 * session's `frozenWeights` so those weights stay in flash and only their biases take SRAM.
 */
export function qzoFfFrozenWeights(trainable: readonly string[], config: Pick<QzoFfConfig, 'params'>): Set<string> {
  return new Set(config.params === 'bias' ? trainable : []);
}

const trainedParts = (c: QzoFfConfig): ('w' | 'b')[] => (c.params === 'bias' ? ['b'] : c.params === 'weights+bias' ? ['w', 'b'] : ['w']);
/** Whether a tensor's perturbation goes to a scratch panel rather than being fused into packing. */
// Biases never need one: they are perturbed in place and restored exactly after each forward pass.
const materialises = (part: 'w' | 'b', c: QzoFfConfig): boolean =>
  part === 'w' && (!!c.momentum || !!c.dither || (!!c.sparse && (c.sparse.maskPerturbation ?? true)));

/** One trained tensor's stored values (and momentum history) as the host sees them. */
export interface TrainedTensorState {
  layer: string;
  part: 'w' | 'b';
  values: Int8Array | Int16Array | Int32Array;
  /** Momentum history ĝ on the z grid (momentum mode only). */
  history: Int8Array | null;
  /** The sub-LSB residual of 8-bit weights (residual mode only). */
  residual?: Int8Array | Int16Array | null;
}

/**
 * Everything a run carries from one step to the next: with the same session, selection and config,
 * restoring it and training on gives bit for bit what the uninterrupted run would have given.
 * Masks, panels, z slots and neighbours are not in it: they are rebuilt from the pre-trained model
 * at construction or rewritten within every step.
 */
export interface TrainerState {
  step: number;
  batchOrder: BatchOrderState;
  tensors: TrainedTensorState[];
  /** Step-control state (the running loss spread); absent when the controls keep none. */
  control?: ControlState;
}

export interface StepResult {
  step: number;
  /** Mean of (L⁺ + L⁻)/2 over directions, per sample, in nats (reporting only). */
  loss: number;
  signs: number[];
  lr: number;
  /** The guarded step undid this step's update (it raised the batch loss). */
  rejected?: boolean;
}

/** Per-step callback data. stepsPerSec is wall-clock (reporting only; not part of the determinism). */
export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  stepsPerSec: number;
}

export interface FitOptions {
  steps: number;
  /** Steps per epoch for evaluation and early stopping (default: ceil(set size / batch size)). */
  epochSteps?: number;
  onStep?: (info: StepInfo) => void;
  /** Evaluated after every epoch (e.g. validation accuracy); enables onEpoch metrics and early stopping. */
  evaluate?: (epoch: number) => number;
  onEpoch?: (info: { epoch: number; step: number; metric: number | undefined }) => void;
  /** Stop when the metric has not improved by more than minDelta for `patience` epochs. */
  earlyStopping?: { patience: number; mode?: 'max' | 'min'; minDelta?: number };
}

export interface FitResult {
  steps: number;
  epochs: number;
  losses: number[];
  metrics: number[];
  bestMetric: number | undefined;
  bestEpoch: number | undefined;
  stoppedEarly: boolean;
}

export class QzoFfTrainer {
  readonly session: QuantizedSession;
  readonly config: QzoFfConfig;
  /** The layers whose weights train (empty for bias-only training). */
  readonly layers: LayerState[];
  private readonly tensors: TensorState[];
  private readonly schedule: Schedule;
  private readonly loss: PreparedCrossEntropy;
  private readonly labels: DeviceBuffer;
  private readonly lossOut: DeviceBuffer;
  private readonly keysBuf: DeviceBuffer;
  private readonly signsBuf: DeviceBuffer;
  private readonly batchOrder: BatchOrder;
  private readonly inverseOneQ: { multiplier: number; shift: number };
  private _parts: TrainerParts | undefined;
  /** The frozen prefix's cache, when the session was planned with one (qzo-ff/prefix.ts). */
  readonly prefix: PrefixCache | null;
  /** The guarded step's copy of each trained tensor (parallel to `tensors`; null without a guard). */
  private readonly guardCopies: (DeviceBuffer | null)[] = [];
  private control: ControlState = { spread: 0 };
  step = 0;
  /**
   * Called after every training forward pass and its loss, with the rows that pass ran (the hybrid
   * method reads the head's features and logits here). Not called by lossAt().
   */
  afterForward: ((rows: number) => void) | undefined;
  private inStep = false;

  /**
   * `internal.wholeLayerBackup` runs every in-place-perturbed layer whole (the backup then holds all its
   * trainable weights): only for tests that check the block-wise run gives the same weights.
   */
  constructor(session: QuantizedSession, trainable: readonly string[], config: QzoFfConfig, internal?: { wholeLayerBackup?: boolean }) {
    checkHasMethods(session, ['forward'], 'QzoFfTrainer: session', 'a QuantizedSession');
    if (!Array.isArray(trainable)) throw new ConfigError(`QzoFfTrainer: trainable must be an array of layer names, got ${describe(trainable)}`);
    checkOptionsObject(config, 'QzoFfTrainer');
    requireDirections(config.directions);
    if (!Number.isFinite(config.epsilon) || config.epsilon <= 0) throw new ConfigError(`ε must be a finite number > 0, got ${config.epsilon}`);
    if (trainable.length === 0) throw new ConfigError('nothing to train: the trainable selection is empty');
    if (config.zBuffer !== undefined && typeof config.zBuffer !== 'boolean' && config.zBuffer !== 'step') {
      throw new ConfigError(`zBuffer must be true, false or 'step', got ${describe(config.zBuffer)}`);
    }
    if (config.params !== undefined && !['weights', 'bias', 'weights+bias'].includes(config.params)) {
      throw new ConfigError(`params must be 'weights', 'bias' or 'weights+bias', got '${config.params}'`);
    }
    if (config.sharpness && !(Number.isFinite(config.sharpness.rho) && config.sharpness.rho > 0)) {
      throw new ConfigError(`sharpness ρ must be a finite number > 0, got ${config.sharpness.rho}`);
    }
    if (config.momentum) momentumCoefficients(atStep(config.momentum.alpha, 0), atStep(config.momentum.beta, 0));
    if (config.control) validateControl(config.control);
    if (config.residual || config.residualBits !== undefined) validateResidual(config);
    if (config.sparse && config.params === 'bias') throw new ConfigError(`a sparse mask selects weights, but params is 'bias': use params 'weights' or drop sparse`);
    this.session = session;
    this.config = config;
    this.schedule = makeSchedule(config.lr, config.schedule);
    const extra = (name: string, why: string, bytes = 0) => {
      const b = session.extra.get(name);
      if (!b || b.bytes < bytes) throw new ConfigError(`the session was not prepared for ${why}${b ? ` ('${name}' holds ${b.bytes} B, this configuration needs ${bytes} B)` : ''}: pass qzoFfSramBuffers(batch, { model, trainable, config }) as its extraSram`);
      return b;
    };
    this.labels = extra('labels', 'training');
    this.lossOut = extra('loss', 'training');
    this.keysBuf = extra('update-keys', 'training');
    this.signsBuf = extra('update-signs', 'training');
    this.loss = prepareCrossEntropy({ scale: session.logitsScale, zeroPoint: 0 }, 'int32');
    this.inverseOneQ = quantizeMultiplier(1 / ONE_Q);
    const ops = session.lowered.ops;
    const rms = (values: ArrayLike<number>, lsb: number) => {
      let sq = 0;
      for (let i = 0; i < values.length; i++) sq += (values[i]! * lsb) ** 2;
      return Math.sqrt(sq / Math.max(1, values.length)) || 1;
    };
    this.tensors = [];
    this.layers = [];
    for (const name of trainable) {
      const p = session.model.params[name];
      const weights = session.weights.get(name);
      const bias = session.biases.get(name);
      if (!p || !weights || !bias) throw new ConfigError(`layer '${name}' has no weights in this session`);
      const inFlash = (b: DeviceBuffer) => b.offset < session.mcu.sram.base;
      if (inFlash(bias) || (config.params !== 'bias' && inFlash(weights))) throw new ConfigError(`layer '${name}' lives in flash: prepare the session with it in 'trainable'${config.params === 'bias' ? '' : ' (and not in frozenWeights)'}`);
      const tensorId = session.paramLayers.indexOf(name);
      // One ε and one c per tensor: with per-channel scales the coarsest channel sets them.
      const weightScale = Math.max(...p.weightScales);
      for (const part of trainedParts(config)) {
        const key = `${part}:${name}`;
        const why = `this training mode ('${key}')`;
        let lsb = weightScale;
        if (part === 'b') {
          const op = ops.find((o) => o.node.node.name === name);
          const inQ = op && session.model.activations[op.inputs[0]!];
          if (!inQ) throw new ConfigError(`layer '${name}': no input quantization found, so the bias grid is unknown`);
          lsb = inQ.scale * weightScale;
        }
        const scale = config.normalize ? rms(part === 'w' ? p.weights : p.bias, lsb) : 1;
        const maskBits = part === 'w' && config.sparse ? buildSparseMask(p.weights, config.sparse, tensorId) : null;
        const t: Omit<TensorState, 'eps' | 'rho'> = {
          layer: name, part, tensorId: part === 'w' ? tensorId : tensorId + BIAS_STREAM,
          bits: part === 'w' ? p.weightBits : 32, count: part === 'w' ? p.weights.length : p.bias.length,
          stored: part === 'w' ? weights : bias, lsb, scale,
          mask: part === 'w' && config.sparse ? (session.flashData.get(maskName(name)) ?? extra(maskName(name), why)) : null,
          trained: part === 'w' ? trainedCount(p.weights.length, config) : p.bias.length,
          zbuf: part === 'w' && zBuffered(config) ? extra(`zo-zbuf:${key}`, why, p.weights.length * zBufferDirections(config)) : null,
          panel: materialises(part, config) ? (session.extra.get(layerBackupName(name)) ?? extra(ZO_BACKUP, why)) : null,
          blocks: materialises(part, config) && !internal?.wholeLayerBackup ? planBackupBlocks(layerUnits(session.lowered, name), p.weights.length, p.weightBits, maskBits, session.extra.get(layerBackupName(name))?.bytes) : null,
          neighbour: config.sharpness ? extra(`zo-neighbour:${key}`, why) : null,
          z: config.momentum ? extra(`zo-z:${key}`, why) : null,
          history: config.momentum ? extra(`zo-history:${key}`, why) : null,
          residual: part === 'w' && config.residual ? { buffer: extra(residualName(name), why), bits: config.residualBits ?? 8 } : null,
        };
        if (t.residual && p.weightBits !== 8) throw new ConfigError(`layer '${name}' has ${p.weightBits}-bit weights: the residual is for 8-bit weights (8w8a), whose updates round to 0 without it; drop residual or use 8w8a`);
        // The residual starts at 0: the fixed-point value w·2^R + r starts on the quantized weight.
        if (t.residual) session.mcu.device.bytes.fill(0, t.residual.buffer.offset, t.residual.buffer.offset + residualBytes(t.count, t.residual.bits));
        // Derive (and so validate) ε, ρ and η on this grid now, so a bad setting fails before the first step.
        const eps = this.perturbFactor(t, config.epsilon);
        const rho = config.sharpness ? this.perturbFactor(t, config.sharpness.rho) : null;
        this.updateFactor(t, config.lr);
        if (t.mask) {
          const mask = maskBits!;
          const bytes = session.mcu.device.bytes;
          if (t.mask.offset >= session.mcu.sram.base) bytes.set(mask, t.mask.offset);
          else if (!mask.every((v, i) => bytes[t.mask!.offset + i] === v)) {
            throw new ConfigError(`the sparse mask of '${name}' in the session's flash is not the one this configuration selects: build the session with qzoFfSessionOptions(batch, { model, trainable, config }) of this config`);
          }
        }
        if (t.history) session.mcu.device.bytes.fill(0, t.history.offset, t.history.offset + t.count);
        this.tensors.push({ ...t, eps, rho });
        this.guardCopies.push(config.control?.guard ? extra(`zo-guard:${key}`, why) : null);
        if (part === 'w') this.layers.push({ name, scale, tensorId, weightScale, bits: p.weightBits, count: p.weights.length, weights, zbuf: t.zbuf });
      }
    }
    this.batchOrder = new BatchOrder(config.seed ^ 0x51ed270b);
    this.prefix = sessionPrefixCache(session, trainable);
  }

  /** A copy of the run's state between steps (weights, biases, momentum history, step, data order). */
  exportState(): TrainerState {
    const mem = this.session.mcu.device.memory.buffer;
    const tensors = this.tensors.map((t): TrainedTensorState => ({
      layer: t.layer, part: t.part,
      values: t.bits === 32 ? new Int32Array(mem, t.stored.offset, t.count).slice() : t.bits === 16 ? new Int16Array(mem, t.stored.offset, t.count).slice() : new Int8Array(mem, t.stored.offset, t.count).slice(),
      history: t.history ? new Int8Array(mem, t.history.offset, t.count).slice() : null,
      ...(t.residual ? { residual: t.residual.bits === 16 ? new Int16Array(mem, t.residual.buffer.offset, t.count).slice() : new Int8Array(mem, t.residual.buffer.offset, t.count).slice() } : {}),
    }));
    return { step: this.step, batchOrder: this.batchOrder.save(), tensors, ...(this.config.control?.spread ? { control: { ...this.control } } : {}) };
  }

  /**
   * Continue from an exported state. The trainer must have been built like the one that exported it
   * (same model, selection and config), because masks and normalisation come from the pre-trained
   * weights. Everything is checked before anything is written, so a state that does not fit leaves
   * the trainer as it was.
   */
  restoreState(state: TrainerState, setCount: number): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new FormatError(`trainer state: step ${state.step} is not a non-negative integer`);
    if (state.tensors.length !== this.tensors.length) {
      throw new ConfigError(`trainer state holds ${state.tensors.length} trained tensors, this trainer trains ${this.tensors.length}: resume with the selection and params it was saved with`);
    }
    this.tensors.forEach((t, i) => {
      const s = state.tensors[i]!;
      const want = t.bits === 32 ? Int32Array : t.bits === 16 ? Int16Array : Int8Array;
      if (s.layer !== t.layer || s.part !== t.part) throw new ConfigError(`trainer state tensor #${i} is '${s.part}:${s.layer}', this trainer's is '${t.part}:${t.layer}': resume with the selection it was saved with`);
      if (!(s.values instanceof want) || s.values.length !== t.count) {
        throw new ConfigError(`trainer state '${t.part}:${t.layer}' holds ${s.values.length} ${s.values.constructor.name} values, this trainer needs ${t.count} ${want.name}: the model or precision differs`);
      }
      // The weight grid is symmetric (±(2^(b−1) − 1)); −2^(b−1) can only come from a forged file.
      const limit = t.bits === 16 ? 32767 : 127;
      if (t.part === 'w' && s.values.some((v) => v < -limit)) throw new FormatError(`trainer state '${t.part}:${t.layer}' holds weights below −${limit}, off the symmetric ${t.bits}-bit grid: the checkpoint is not one this trainer wrote`);
      if (!!s.history !== !!t.history || (s.history && s.history.length !== t.count)) {
        throw new ConfigError(`trainer state '${t.part}:${t.layer}': momentum history ${s.history ? 'present' : 'absent'} but this trainer ${t.history ? 'uses' : 'does not use'} momentum`);
      }
      checkResidualState(t, s.residual);
    });
    const control = state.control ?? { spread: 0 };
    if (!(Number.isInteger(control.spread) && control.spread >= 0 && control.spread < 2 ** 31)) throw new FormatError(`trainer state: running loss spread ${control.spread} is not an integer in [0, 2^31)`);
    // restore() validates before it assigns, so a bad order also leaves the trainer untouched.
    this.batchOrder.restore(state.batchOrder, setCount);
    const bytes = this.session.mcu.device.bytes;
    this.tensors.forEach((t, i) => {
      const s = state.tensors[i]!;
      bytes.set(new Uint8Array(s.values.buffer, s.values.byteOffset, s.values.byteLength), t.stored.offset);
      if (t.history && s.history) bytes.set(new Uint8Array(s.history.buffer, s.history.byteOffset, s.history.byteLength), t.history.offset);
      if (t.residual && s.residual) bytes.set(new Uint8Array(s.residual.buffer, s.residual.byteOffset, s.residual.byteLength), t.residual.buffer.offset);
    });
    this.step = state.step;
    this.control = { ...control };
  }

  /** How ε maps onto a tensor's grid: εq (deterministic), a dither factor, or the bias multiplier. */
  private perturbFactor(t: Omit<TensorState, 'eps' | 'rho'>, eps: number): PerturbFactor {
    const e = eps * t.scale;
    if (t.part === 'b') return { epsQ: 1, dither: null, bias: makeSmallMultiplier((e * DELTA_Z) / t.lsb, 127, `bias perturbation factor ε·Δz/Δb of '${t.layer}'`) };
    if (this.config.dither) return { epsQ: 1, dither: makeDitherFactor((e * DELTA_Z) / t.lsb, `perturbation factor ε·Δz/Δw of '${t.layer}'`), bias: null };
    // With a residual the update no longer needs ε on the grid's scale, but the perturbation still moves
    // whole int8 LSBs: below half an LSB it is raised to one (εq = 1), where the loss difference sees it.
    if (t.residual) {
      const spec = makePerturbSpec({ seed: 0, tensorId: 0, epsilon: perturbEpsilon(this.config, e, t.lsb), weightScale: t.lsb, dist: this.config.dist, sign: 1, weightBits: 8 }, this.session.mcu.device);
      return { epsQ: spec.signedEps, dither: null, bias: null };
    }
    // makePerturbSpec refuses εq = 0 ("below half a weight LSB"); name the layer and the opt-in remedy.
    let spec;
    try {
      spec = makePerturbSpec({ seed: 0, tensorId: 0, epsilon: e, weightScale: t.lsb, dist: this.config.dist, sign: 1, weightBits: t.bits as 8 | 16 }, this.session.mcu.device);
    } catch (err) {
      if (err instanceof ConfigError && Math.round(e / t.lsb) === 0) {
        throw new ConfigError(`layer '${t.layer}': ${err.message}, or set dither: true (stochastic rounding of ε·z, see docs/TRAINING.md)`);
      }
      throw err;
    }
    return { epsQ: spec.signedEps, dither: null, bias: null };
  }

  /** c = η·Δz/(Δ·m) on a tensor's grid, as the form its update kernel takes. */
  private updateFactor(t: Omit<TensorState, 'eps' | 'rho'>, lr: number): UpdateFactor {
    const m = this.config.directions;
    const c = (lr * t.scale * DELTA_Z) / t.lsb / m;
    if (t.part === 'b') {
      if (c * m * 127 < 0.5) throw new ConfigError(`bias update factor c = ${c} of '${t.layer}' moves no bias by even half an LSB; raise η (= ${lr})`);
      return { ...makeSmallMultiplier(c, m * 127, `bias update factor η·Δz/Δb/m of '${t.layer}'`), dither: false };
    }
    if (this.config.dither) {
      const f = makeDitherFactor(c, `update factor η·Δz/Δw/m of '${t.layer}'`);
      return { multiplier: f.mult, shift: f.shift, dither: true };
    }
    if (t.residual) return { ...makeResidualMultiplier(lr * t.scale, t.lsb, m, t.residual.bits), dither: false };
    const u = makeUpdateMultiplier(lr * t.scale, t.lsb, m);
    return { multiplier: u.multiplier, shift: u.shift, dither: false };
  }

  /** Prepare a training set once (quantized on the host, validated). */
  prepareData(data: Dataset): QuantizedSet {
    return quantizeSet(this.session, data);
  }

  private nextBatch(set: QuantizedSet): number[] {
    return this.batchOrder.next(set.count, Math.min(this.config.batchSize ?? set.count, set.count));
  }

  /** Integer loss of the batch at the perturbed point (Q16.16 nats, summed, saturating). */
  private batchLoss(set: QuantizedSet, batch: number[], perturb?: Parameters<BatchLoss>[0], source?: Parameters<BatchLoss>[1], prefix: PrefixCache | null = null): number {
    const s = this.session;
    let total = 0;
    for (let from = 0; from < batch.length; from += s.batch) {
      const rows = Math.min(s.batch, batch.length - from);
      loadMicroBatch(s, set, batch, from, rows, this.labels);
      if (prefix) prefix.forward(batch, from, rows, perturb, source);
      else s.forward(perturb, source);
      const l = crossEntropyI32(s.mcu.sram, s.logits, this.labels, this.lossOut, rows, s.classes, this.loss);
      total = Math.min(2 ** 31 - 1, total + l.q16);
      if (this.inStep) this.afterForward?.(rows);
    }
    return total;
  }

  /** Integer loss of a batch at the current stored weights (reporting and tests). */
  lossAt(set: QuantizedSet, indices?: number[]): number {
    const batch = indices ?? Array.from({ length: set.count }, (_, i) => i);
    return this.batchLoss(set, batch) / 2 ** 16 / batch.length;
  }

  trainStep(set: QuantizedSet): StepResult {
    // A step that fails before its first write must leave no trace, the data order included, so a
    // retried step sees the same batch.
    const orderBefore = this.batchOrder.mark();
    const stepBefore = this.step;
    try {
      this.inStep = true;
      return this.runStep(set);
    } catch (e) {
      if (this.step === stepBefore) this.batchOrder.rewind(orderBefore);
      throw e;
    } finally {
      this.inStep = false;
    }
  }

  /** The trainer's fixed parts, as the step's strategies see them. */
  private get parts(): TrainerParts {
    return this._parts ??= {
      session: this.session, config: this.config, tensors: this.tensors, layers: this.layers, keysBuf: this.keysBuf,
      signsBuf: this.signsBuf, inverseOneQ: this.inverseOneQ, updateFactor: (t, lr) => this.stepUpdateFactor(t, lr),
    };
  }

  /** Each tensor's factor at the last rate it was derived for: η only changes under a schedule. */
  private readonly factorAt = new Map<TensorState, { lr: number; factor: Readonly<UpdateFactor> }>();

  private stepUpdateFactor(t: TensorState, lr: number): UpdateFactor {
    const kept = this.factorAt.get(t);
    if (kept && Object.is(kept.lr, lr)) return kept.factor;
    const factor = Object.freeze(this.updateFactor(t, lr));
    this.factorAt.set(t, { lr, factor });
    return factor;
  }

  private runStep(set: QuantizedSet): StepResult {
    const batch = this.nextBatch(set);
    const lr = this.schedule(this.step, Number.POSITIVE_INFINITY);
    const io = stepInstruments(this.session.profiler, this.config.phaseHook);
    this.prefix?.beginStep(set, batch.length);
    const prefix = this.prefix?.active ? this.prefix : null;
    const loss: BatchLoss = (perturb, source) => this.batchLoss(set, batch, perturb, source, prefix);
    const mode = stepMode(this.parts, loss, io, this.step);
    const control = this.config.control;
    if (control?.guard) this.saveGuardCopies();
    const lossBefore = control?.guard && control.strictGuard ? io.time('guard forward', 'forward', () => loss()) : undefined;
    let nextControl = this.control;
    const scale = control ? (diffs: readonly number[]) => {
      const s = stepScale(control, this.control, this.step, diffs, { size: batch.length, set: set.count });
      nextControl = s.state;
      return s.q15;
    } : undefined;
    const r = qzoFfStep(mode, io, { seed: this.config.seed, step: this.step, directions: this.config.directions, lr, scale });
    this.control = nextControl;
    this.step++;
    if (r.deferred !== undefined) throw r.deferred;
    // Guarded step: the loss after the update against the mean of the step's 2m losses, in integers
    // (2m·L(w') > Σ(L⁺ + L⁻)); a step that raised it is undone from the copy, bit for bit.
    let rejected: boolean | undefined;
    if (control?.guard) {
      const after = io.time('guard forward', 'forward', () => loss());
      rejected = lossBefore !== undefined ? after > lossBefore : 2 * this.config.directions * after > r.pairSum;
      if (rejected) this.restoreGuardCopies();
    }
    return { step: this.step, loss: r.lossSum / this.config.directions / 2 ** 16 / batch.length, signs: r.signs, lr, ...(rejected === undefined ? {} : { rejected }) };
  }

  private saveGuardCopies(): void {
    const bytes = this.session.mcu.device.bytes;
    this.tensors.forEach((t, i) => {
      const g = this.guardCopies[i]!;
      bytes.copyWithin(g.offset, t.stored.offset, t.stored.offset + g.bytes);
    });
  }

  private restoreGuardCopies(): void {
    const bytes = this.session.mcu.device.bytes;
    this.tensors.forEach((t, i) => {
      const g = this.guardCopies[i]!;
      bytes.copyWithin(t.stored.offset, g.offset, g.offset + g.bytes);
    });
  }

  /**
   * Train for up to `steps` steps with per-step callbacks, per-epoch evaluation and early stopping.
   * Deterministic for a seed (stepsPerSec aside, which is wall-clock).
   */
  fit(set: QuantizedSet, o: FitOptions): FitResult {
    if (!Number.isInteger(o.steps) || o.steps < 0) throw new ConfigError(`steps must be a non-negative integer, got ${o.steps}`);
    const epochSteps = o.epochSteps ?? Math.ceil(set.count / Math.min(this.config.batchSize ?? set.count, set.count));
    if (!Number.isInteger(epochSteps) || epochSteps < 1) throw new ConfigError(`epochSteps must be a positive integer, got ${epochSteps}`);
    const es = o.earlyStopping;
    if (es && !(Number.isInteger(es.patience) && es.patience >= 1)) throw new ConfigError(`early-stopping patience must be a positive integer, got ${es.patience}`);
    if (es && !o.evaluate) throw new ConfigError('early stopping needs a validation metric: pass evaluate(epoch)');
    const sign = es?.mode === 'min' ? -1 : 1;
    const minDelta = es?.minDelta ?? 0;
    const losses: number[] = [];
    const metrics: number[] = [];
    let best: number | undefined;
    let bestEpoch: number | undefined;
    let epoch = 0;
    let sinceBest = 0;
    const t0 = performance.now();
    for (let s = 0; s < o.steps; s++) {
      const r = this.trainStep(set);
      losses.push(r.loss);
      const elapsed = (performance.now() - t0) / 1000;
      o.onStep?.({ step: r.step, loss: r.loss, lr: r.lr, stepsPerSec: elapsed > 0 ? (s + 1) / elapsed : 0 });
      if ((s + 1) % epochSteps !== 0 && s + 1 !== o.steps) continue;
      epoch++;
      const metric = o.evaluate?.(epoch);
      if (metric !== undefined) {
        metrics.push(metric);
        if (best === undefined || sign * (metric - best) > minDelta) {
          best = metric;
          bestEpoch = epoch;
          sinceBest = 0;
        } else sinceBest++;
      }
      o.onEpoch?.({ epoch, step: r.step, metric });
      if (es && sinceBest >= es.patience) return { steps: s + 1, epochs: epoch, losses, metrics, bestMetric: best, bestEpoch, stoppedEarly: true };
    }
    return { steps: o.steps, epochs: epoch, losses, metrics, bestMetric: best, bestEpoch, stoppedEarly: false };
  }
}
