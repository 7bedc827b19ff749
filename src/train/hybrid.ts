// The hybrid method (after ElasticZO-INT8, arXiv 2501.04287): the dense classifier head learns by
// exact integer backprop, every other trained layer by QZO-FF, all in fixed point on the device.
//
// One step on a batch B:
//   head only:  one unperturbed forward per micro-batch; the head kernel turns logits and the
//               head's int8 input into δ = softmax − onehot (Q.15) and sums δ·(f − zf) and δ.
//   with body:  the QZO-FF step on the body (2m perturbed forwards; the head is not perturbed)
//               and the head's sums taken on each of those same 2m forwards: their mean is the
//               head gradient at the unperturbed body up to O(ε²) (±εz cancel to first order), so
//               the head costs no extra forward pass.
//   then        centred SGD (hybrid-center.ts): G_W ← ΣδF − m⊗Σδ, W ← W − round(c_w·G_W),
//               b ← b − round(c_b·Σδ) − ΔW·m, with c_w = q·η·s_f/(N·2^15·Δw), c_b = q·η/(N·2^15·s_f·Δw),
//               N = rows summed, m the features' mean and η = headStep/(s_f²·V) (V: mean ‖f − m‖²),
//               both measured on the first step, q = min(1, (t+1)/warmup) in Q15.
// SGD (not sign or Adam) because the head gradient is exact and small: its magnitude carries the
// signal, and SGD keeps no state beyond the sums (Adam would need two moments per head weight).
// The head's SRAM (δ rows and the int32 sums) is planned like any other buffer (hybridSramBuffers).
import { ConfigError, FormatError } from '../errors.js';
import type { MethodState } from './checkpoint.js';
import type { QuantizedModel } from '../model/model.js';
import type { DeviceBuffer } from '../device/arena.js';
import type { QuantizedSession } from '../runtime/session.js';
import { crossEntropyI32, prepareCrossEntropy, type PreparedCrossEntropy } from '../kernels/loss.js';
import { DELTA_FRAC_BITS, accumulateHeadGradient, applyHeadStep, headGradBytes, makeHeadStep, type HeadGradBuffers, type HeadGradShape } from '../kernels/head-grad.js';
import { resolveGraph } from '../model/graph.js';
import { lowerGraph } from '../runtime/lowering.js';
import { opDef } from '../ops/registry.js';
import { BatchOrder, loadMicroBatch, quantizeSet, type QuantizedSet } from './batches.js';
import { QzoFfTrainer, type QzoFfConfig, type StepResult } from './qzo-ff.js';
import { sessionPrefixCache, type PrefixCache } from './qzo-ff/prefix.js';
import { scaleMultiplier, validateControl, warmupQ15 } from './qzo-ff/step-control.js';
import { accumulateTailGradient, type TailGradBuffers } from '../kernels/tail-grad.js';
import { applyTail, initTail, requireTail, tailBuffers, tailStepFactors, type TailInfo } from './hybrid-tail.js';
import { addFeatureStats, centerWeightGradient, correctBias, emptyFeatureStats, featureMean, meanSquare, type FeatureStats } from './hybrid-center.js';

/** The head's fixed η before issue #18's tuning (plain SGD, real units); the default now sets η from the features. */
export const HYBRID_HEAD_LR = 0.01;

/** The hybrid's defaults (docs/TRAINING.md "The hybrid method"); the exported C mirrors them. */
export const HYBRID_DEFAULTS = Object.freeze({
  /**
   * The head's step relative to its curvature: η = headStep / mean‖f‖², with mean‖f‖² the mean squared
   * norm of the head's input (real units) over the rows of the first step. The head's cross-entropy
   * Hessian is ≈ p(1−p)·‖f‖², so a fixed η that suits one backbone's features diverges on another's
   * (MNIST's small-CNN features are ~6× the Fashion-MNIST ones in ‖f‖²). Used when no headLr is given.
   */
  headStep: 2,
  /**
   * Linear warm-up of both updates over the first steps: the head's step multiplier and the body's update
   * scale are × min(1, (t + 1)/warmup) in Q15 (t: the head's / the body's own step count). The first
   * steps start from the prototype head, where the gradient is largest; a full-size step there costs
   * query accuracy before it buys any.
   */
  warmup: 20,
  /**
   * The body's update on mini-batches is × √(B/N) in Q15 (step-control.ts 'batch'): sign-SPSA moves
   * every body weight by ~η whatever the signal, and on a mini-batch of B of N samples the signs are
   * noisy; the head's exact gradient needs no such scale. A no-op when steps see the whole set.
   */
  bodyBatchScale: true,
  /**
   * Step the head in the centred parametrisation (hybrid-center.ts): the weight gradient uses f − mean f
   * and the bias absorbs the shift, so η is set by the features' variance, not their squared mean.
   */
  center: true,
  /** Steps in which only the head trains before the body's QZO-FF steps begin. */
  headFirstSteps: 0,
  /**
   * Parameter layers learned by integer backprop: 2 = the head and the layer below it (hybrid-tail.ts)
   * where the model has that pattern and the selection trains it, else the head alone.
   */
  bpLayers: 2 as 1 | 2,
  /** The tail layer's SGD η in real units (plain SGD on the real-valued weights; warm-up as the head's). */
  tailLr: 0.3,
});

export interface HybridConfig extends QzoFfConfig {
  /** A fixed η for the head's integer SGD (default: headStep / mean‖f − f̄‖² from the first step). */
  headLr?: number;
  /** η = headStep / mean‖f‖² measured on the first step, when headLr is absent (default HYBRID_DEFAULTS.headStep). */
  headStep?: number;
  /** Linear Q15 warm-up of the head's and the body's steps (default HYBRID_DEFAULTS.warmup; the body's own control.warmup wins). */
  warmup?: number;
  /** Centred head steps (default HYBRID_DEFAULTS.center). */
  center?: boolean;
  /** Steps at the start in which only the head trains (one unperturbed forward per micro-batch); the body waits. */
  headFirstSteps?: number;
  /** The tail's η (default HYBRID_DEFAULTS.tailLr); used when the session was planned with a tail (RunPlan.bpLayers 2). */
  tailLr?: number;
}

export interface HeadInfo {
  name: string;
  classes: number;
  features: number;
  featureScale: number;
  featureZero: number;
  weightScale: number;
  weightBits: 8 | 16;
}

/** The model's dense head and its input's quantization; a ConfigError for a head the kernel cannot train. */
export function hybridHead(model: QuantizedModel): HeadInfo {
  const lowered = lowerGraph(resolveGraph(model.architecture));
  const op = lowered.ops[lowered.ops.length - 1]!;
  const def = opDef(op.node.node.kind);
  const name = op.node.node.name;
  const p = model.params[name];
  if (!p || def.paramLayout !== 'OI' || def.quantized?.int32Head !== true) {
    throw new ConfigError(`the hybrid method trains a fully-connected classifier head by backprop, but '${model.architecture.name}' ends in '${name}' (${op.node.node.kind}): use --method qzo-ff`);
  }
  const inQ = model.activations[op.inputs[0]!]!;
  const classes = p.bias.length;
  if (p.weightScales.length !== 1) throw new ConfigError(`the hybrid head needs one weight scale for '${name}' (per-tensor quantization), got ${p.weightScales.length}`);
  return { name, classes, features: p.weights.length / classes, featureScale: inQ.scale, featureZero: inQ.zeroPoint, weightScale: p.weightScales[0]!, weightBits: p.weightBits as 8 | 16 };
}

/** The hybrid head's SRAM, for the session's extraSram (so the plan holds it and the device measures it). */
export function hybridSramBuffers(model: QuantizedModel, microBatch: number): { name: string; bytes: number }[] {
  const h = hybridHead(model);
  const b = headGradBytes(h, microBatch);
  return [
    { name: 'hybrid-delta', bytes: b.delta },
    { name: 'hybrid-grad-w', bytes: b.gradW },
    { name: 'hybrid-grad-b', bytes: b.gradB },
    // The first step's feature statistics (hybrid-center.ts): S_d in int64 and the mean m_d in int32 per
    // feature. The emulator keeps them on the host; the device (the C export) keeps them here.
    { name: 'hybrid-feature-sums', bytes: h.features * 8 },
    { name: 'hybrid-feature-mean', bytes: h.features * 4 },
  ];
}

/**
 * The head's SGD factors for N = rows summed: c_w = η·s_f/(N·2^15·Δw), c_b = η/(N·2^15·s_f·Δw), as
 * (multiplier, shift). One definition: the exported C's device step reproduces this order of operations.
 */
export function headStepFactors(h: HeadInfo, lr: number, rows: number) {
  const unit = rows * 2 ** DELTA_FRAC_BITS;
  return {
    w: makeHeadStep((lr * h.featureScale) / (unit * h.weightScale), `hybrid head weight step of '${h.name}'`),
    b: makeHeadStep(lr / (unit * h.featureScale * h.weightScale), `hybrid head bias step of '${h.name}'`),
  };
}

export class HybridTrainer {
  readonly session: QuantizedSession;
  readonly head: HeadInfo;
  /** QZO-FF on the layers before the head (null when only the head trains). */
  readonly body: QzoFfTrainer | null;
  /** The head's η: fixed (headLr), or set from the first step's features (null until then). */
  private headLr: number | null;
  private readonly headStep: number;
  private readonly center: boolean;
  /** The first step's feature statistics (null once measured). */
  private stats: FeatureStats | null;
  /** The features' mean m in int8 units (zeros without centring). */
  private mean: Int32Array;
  private readonly buffers: HeadGradBuffers;
  private readonly shape: HeadGradShape;
  private readonly loss: PreparedCrossEntropy;
  private readonly labels: DeviceBuffer;
  private readonly lossOut: DeviceBuffer;
  /** The head-only data order (with a body, the body's trainer draws the batches); read by hybrid-state.ts. */
  readonly order: BatchOrder;
  /** Head only: the frozen features' cache, when the session was planned with one (qzo-ff/prefix.ts). */
  readonly prefix: PrefixCache | null;
  private readonly config: HybridConfig;
  private readonly headFirst: number;
  private readonly warmup: number;
  private rows = 0;
  step = 0;
  /** The layer below the head when it learns by backprop too (the session was planned with its buffers), else null. */
  readonly tail: TailInfo | null;
  private readonly tailBuffers: TailGradBuffers | null;
  private readonly tailLr: number;

  constructor(session: QuantizedSession, trainable: readonly string[], config: HybridConfig) {
    this.session = session;
    this.config = config;
    this.head = hybridHead(session.model);
    if (!trainable.includes(this.head.name)) throw new ConfigError(`the hybrid method trains the head '${this.head.name}', but the selection leaves it out: train it (e.g. --train full or head)`);
    if (!session.trainable.includes(this.head.name)) throw new ConfigError(`the head '${this.head.name}' lives in flash: prepare the session with it in 'trainable'`);
    if (config.params !== undefined && config.params !== 'weights') throw new ConfigError(`the hybrid method trains the head's weights and bias and the body's weights; params '${config.params}' is not supported with it`);
    this.headLr = config.headLr ?? null;
    this.headStep = config.headStep ?? HYBRID_DEFAULTS.headStep;
    if (!(Number.isFinite(this.headStep) && this.headStep > 0)) throw new ConfigError(`hybrid head step must be a finite number > 0, got ${this.headStep}`);
    this.headFirst = config.headFirstSteps ?? HYBRID_DEFAULTS.headFirstSteps;
    if (!(Number.isInteger(this.headFirst) && this.headFirst >= 0 && this.headFirst <= 1_000_000)) throw new ConfigError(`hybrid head-first steps must be a whole number in [0, 1000000], got ${this.headFirst}`);
    if (this.headLr !== null && !(Number.isFinite(this.headLr) && this.headLr > 0)) throw new ConfigError(`hybrid head learning rate must be a finite number > 0, got ${this.headLr}`);
    const extra = (name: string) => {
      const b = session.extra.get(name);
      if (!b) throw new ConfigError(`the session was not prepared for the hybrid method: pass hybridSramBuffers(model, batch) in its extraSram (missing '${name}')`);
      return b;
    };
    this.buffers = { delta: extra('hybrid-delta'), gradW: extra('hybrid-grad-w'), gradB: extra('hybrid-grad-b') };
    this.labels = extra('labels');
    this.lossOut = extra('loss');
    this.shape = { classes: this.head.classes, features: this.head.features, featureZero: this.head.featureZero };
    this.loss = prepareCrossEntropy({ scale: session.logitsScale, zeroPoint: 0 }, 'int32');
    this.center = config.center ?? HYBRID_DEFAULTS.center;
    this.stats = emptyFeatureStats(this.head.features);
    this.mean = new Int32Array(this.head.features);
    this.warmup = config.warmup ?? HYBRID_DEFAULTS.warmup;
    validateControl({ warmup: this.warmup });
    const planned = session.extra.has('tail-grad-w');
    this.tail = planned ? requireTail(session.model) : null;
    this.tailBuffers = planned ? tailBuffers(session) : null;
    this.tailLr = config.tailLr ?? HYBRID_DEFAULTS.tailLr;
    if (!(Number.isFinite(this.tailLr) && this.tailLr > 0)) throw new ConfigError(`hybrid tail learning rate must be a finite number > 0, got ${this.tailLr}`);
    if (this.tail) {
      if (!trainable.includes(this.tail.name) || !session.trainable.includes(this.tail.name)) throw new ConfigError(`the hybrid's tail '${this.tail.name}' must be trained and in SRAM (the session was planned with its buffers)`);
      initTail(session, this.tail, this.tailBuffers!);
    }
    const bodyLayers = trainable.filter((n) => n !== this.head.name && n !== this.tail?.name);
    const bodyConfig: QzoFfConfig = { ...config, control: { ...config.control, warmup: config.control?.warmup ?? this.warmup, batch: config.control?.batch ?? HYBRID_DEFAULTS.bodyBatchScale } };
    this.body = bodyLayers.length ? new QzoFfTrainer(session, bodyLayers, bodyConfig) : null;
    if (this.body) this.body.afterForward = (rows) => this.accumulate(rows);
    this.order = new BatchOrder(config.seed ^ 0x51ed270b);
    this.prefix = this.body ? null : sessionPrefixCache(session, trainable);
    const mem = session.mcu.device.bytes;
    for (const b of [this.buffers.gradW, this.buffers.gradB]) mem.fill(0, b.offset, b.offset + b.bytes);
    // Validate the step factors on this grid now, so a bad η fails before the first step.
    if (this.headLr !== null) this.stepFactors(1, this.headLr);
    // The tail's too: otherwise a bad tail η throws inside the first step, after the body's update.
    if (this.tail) tailStepFactors(this.tail, this.tailLr, 1, this.head.weightScale);
  }

  private accumulate(rows: number): void {
    const s = this.session;
    const prof = s.profiler;
    const t0 = prof?.now();
    accumulateHeadGradient(s.mcu.sram, s.logits, this.labels, s.headInput, rows, this.shape, this.loss, this.buffers);
    if (prof && t0 !== undefined) prof.record('hybrid-head', 'head-grad', rows * this.head.classes * this.head.features, prof.now() - t0);
    if (this.tail) {
      const t = this.tail;
      const t1 = prof?.now();
      accumulateTailGradient(s.mcu.sram, rows, t.geometry, {
        delta: this.buffers.delta, classes: this.head.classes, headWeights: s.weights.get(this.head.name)!, headBits: this.head.weightBits,
        input: s.tensorBuffer(t.input), inputZero: t.inputZero, gate: s.tensorBuffer(t.gate), gateLo: t.gateLo, gateHi: t.gateHi,
      }, this.tailBuffers!);
      const g = t.geometry;
      if (prof && t1 !== undefined) prof.record(`hybrid-tail:${t.name}`, 'tail-grad', rows * g.outHeight * g.outWidth * g.outChannels * g.kernelHeight * g.kernelWidth * g.inChannels, prof.now() - t1);
    }
    if (this.stats) addFeatureStats(this.stats, s.mcu.device.bytes, s.headInput.offset, rows, this.head.features, this.head.featureZero);
    this.rows += rows;
  }

  private stepFactors(rows: number, lr: number) {
    return headStepFactors(this.head, lr, rows);
  }


  /** The head's η (fixed from the first step on). */
  get headLearningRate(): number | null {
    return this.headLr;
  }

  /** Checkpoints (hybrid-state.ts HybridStateHook): the first step's η and feature mean, fixed from then on. */
  saveMethodState(): MethodState | null {
    return this.stats ? null : { scalars: { headLr: this.headLr! }, tensors: { mean: this.mean.slice() } };
  }

  loadMethodState(state: MethodState | null): void {
    if (!state) throw new ConfigError(`the checkpoint lacks the hybrid head's first-step state (η, feature mean): it was written by an older lastmile; resume with that one or start a new run`);
    const lr = state.scalars.headLr;
    const mean = state.tensors.mean;
    if (!(typeof lr === 'number' && Number.isFinite(lr) && lr > 0) || !(mean instanceof Int32Array) || mean.length !== this.head.features || mean.some((v) => v < -255 || v > 255)) {
      throw new FormatError(`the hybrid head's first-step state in the checkpoint is invalid (η ${lr}, ${mean?.length ?? 0} feature means for ${this.head.features} features)`);
    }
    this.headLr = lr;
    this.mean = mean.slice();
    this.stats = null;
  }

  private applyHead(): void {
    const s = this.session;
    const h = this.head;
    if (this.stats) {
      // First step: the features' mean m (centring) and mean square V, then η = headStep / (s_f²·V).
      if (this.center) this.mean = featureMean(this.stats);
      if (this.headLr === null) this.headLr = this.headStep / (h.featureScale ** 2 * meanSquare(this.stats, this.mean));
      this.stats = null;
    }
    const f = this.stepFactors(this.rows, this.headLr!);
    const q15 = warmupQ15(this.step, this.warmup);
    for (const k of ['w', 'b'] as const) f[k] = { ...f[k], multiplier: scaleMultiplier(f[k].multiplier, q15) };
    const prof = s.profiler;
    const t0 = prof?.now();
    const weights = s.weights.get(h.name)!;
    const bias = s.biases.get(h.name)!;
    const count = h.classes * h.features;
    const bytes = s.mcu.device.bytes;
    const view = (b: DeviceBuffer, bits: 8 | 16 | 32): Int8Array | Int16Array | Int32Array => {
      const at = bytes.byteOffset + b.offset;
      if (bits === 8) return new Int8Array(bytes.buffer, at, b.bytes);
      return bits === 16 ? new Int16Array(bytes.buffer, at, b.bytes / 2) : new Int32Array(bytes.buffer, at, b.bytes / 4);
    };
    let before: Int8Array | Int16Array | Int32Array | null = null;
    if (this.center) {
      centerWeightGradient(view(this.buffers.gradW, 32) as Int32Array, view(this.buffers.gradB, 32) as Int32Array, this.mean);
      before = view(weights, h.weightBits).slice(0, count);
    }
    if (this.tail) applyTail(s, this.tail, this.tailBuffers!, tailStepFactors(this.tail, this.tailLr, this.rows, h.weightScale), q15);
    applyHeadStep(s.mcu.sram, weights, h.weightBits, count, this.buffers.gradW, f.w);
    applyHeadStep(s.mcu.sram, bias, 32, h.classes, this.buffers.gradB, f.b);
    if (before) correctBias(view(bias, 32).subarray(0, h.classes) as Int32Array, before, view(weights, h.weightBits).subarray(0, count), this.mean);
    if (prof && t0 !== undefined) prof.record('hybrid-head', 'head-update', 0, prof.now() - t0);
    this.rows = 0;
  }

  prepareData(data: Parameters<QzoFfTrainer['prepareData']>[0]): QuantizedSet {
    return quantizeSet(this.session, data);
  }

  trainStep(set: QuantizedSet): StepResult {
    this.rows = 0;
    let result: StepResult;
    if (this.body && this.step >= this.headFirst) {
      result = this.body.trainStep(set);
    } else {
      const s = this.session;
      const batch = this.order.next(set.count, Math.min(this.config.batchSize ?? set.count, set.count));
      let total = 0;
      this.prefix?.beginStep(set, batch.length);
      const prefix = this.prefix?.active ? this.prefix : null;
      for (let from = 0; from < batch.length; from += s.batch) {
        const rows = Math.min(s.batch, batch.length - from);
        loadMicroBatch(s, set, batch, from, rows, this.labels);
        if (prefix) prefix.forward(batch, from, rows, undefined, undefined);
        else s.forward();
        total += crossEntropyI32(s.mcu.sram, s.logits, this.labels, this.lossOut, rows, s.classes, this.loss).q16;
        this.accumulate(rows);
      }
      result = { step: this.step + 1, loss: total / 2 ** 16 / batch.length, signs: [], lr: 0 };
    }
    this.applyHead();
    if (!this.body || this.step < this.headFirst) result = { ...result, lr: this.headLr! };
    this.step++;
    return result;
  }
}
