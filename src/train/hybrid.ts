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
//   then        W ← W − round(c_w·ΣδF), b ← b − round(c_b·Σδ), plain SGD with
//               c_w = η·s_f/(N·2^15·Δw), c_b = η/(N·2^15·s_f·Δw), N = rows summed.
// SGD (not sign or Adam) because the head gradient is exact and small: its magnitude carries the
// signal, and SGD keeps no state beyond the sums (Adam would need two moments per head weight).
// The head's SRAM (δ rows and the int32 sums) is planned like any other buffer (hybridSramBuffers).
import { ConfigError } from '../errors.js';
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

/** The head's learning rate: plain SGD on the mean cross-entropy, in real units. */
export const HYBRID_HEAD_LR = 0.01;

export interface HybridConfig extends QzoFfConfig {
  /** η of the head's integer SGD (default HYBRID_HEAD_LR). */
  headLr?: number;
}

interface HeadInfo {
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
  ];
}

export class HybridTrainer {
  readonly session: QuantizedSession;
  readonly head: HeadInfo;
  /** QZO-FF on the layers before the head (null when only the head trains). */
  readonly body: QzoFfTrainer | null;
  private readonly headLr: number;
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
  private rows = 0;
  step = 0;

  constructor(session: QuantizedSession, trainable: readonly string[], config: HybridConfig) {
    this.session = session;
    this.config = config;
    this.head = hybridHead(session.model);
    if (!trainable.includes(this.head.name)) throw new ConfigError(`the hybrid method trains the head '${this.head.name}', but the selection leaves it out: train it (e.g. --train full or head)`);
    if (!session.trainable.includes(this.head.name)) throw new ConfigError(`the head '${this.head.name}' lives in flash: prepare the session with it in 'trainable'`);
    if (config.params !== undefined && config.params !== 'weights') throw new ConfigError(`the hybrid method trains the head's weights and bias and the body's weights; params '${config.params}' is not supported with it`);
    this.headLr = config.headLr ?? HYBRID_HEAD_LR;
    if (!(Number.isFinite(this.headLr) && this.headLr > 0)) throw new ConfigError(`hybrid head learning rate must be a finite number > 0, got ${this.headLr}`);
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
    const bodyLayers = trainable.filter((n) => n !== this.head.name);
    this.body = bodyLayers.length ? new QzoFfTrainer(session, bodyLayers, config) : null;
    if (this.body) this.body.afterForward = (rows) => this.accumulate(rows);
    this.order = new BatchOrder(config.seed ^ 0x51ed270b);
    this.prefix = this.body ? null : sessionPrefixCache(session, trainable);
    const mem = session.mcu.device.bytes;
    for (const b of [this.buffers.gradW, this.buffers.gradB]) mem.fill(0, b.offset, b.offset + b.bytes);
    // Validate the step factors on this grid now, so a bad η fails before the first step.
    this.stepFactors(1);
  }

  private accumulate(rows: number): void {
    const s = this.session;
    const prof = s.profiler;
    const t0 = prof?.now();
    accumulateHeadGradient(s.mcu.sram, s.logits, this.labels, s.headInput, rows, this.shape, this.loss, this.buffers);
    if (prof && t0 !== undefined) prof.record('hybrid-head', 'head-grad', rows * this.head.classes * this.head.features, prof.now() - t0);
    this.rows += rows;
  }

  private stepFactors(rows: number) {
    const h = this.head;
    const unit = rows * 2 ** DELTA_FRAC_BITS;
    return {
      w: makeHeadStep((this.headLr * h.featureScale) / (unit * h.weightScale), `hybrid head weight step of '${h.name}'`),
      b: makeHeadStep(this.headLr / (unit * h.featureScale * h.weightScale), `hybrid head bias step of '${h.name}'`),
    };
  }

  private applyHead(): void {
    const s = this.session;
    const f = this.stepFactors(this.rows);
    const prof = s.profiler;
    const t0 = prof?.now();
    applyHeadStep(s.mcu.sram, s.weights.get(this.head.name)!, this.head.weightBits, this.head.classes * this.head.features, this.buffers.gradW, f.w);
    applyHeadStep(s.mcu.sram, s.biases.get(this.head.name)!, 32, this.head.classes, this.buffers.gradB, f.b);
    if (prof && t0 !== undefined) prof.record('hybrid-head', 'head-update', 0, prof.now() - t0);
    this.rows = 0;
  }

  prepareData(data: Parameters<QzoFfTrainer['prepareData']>[0]): QuantizedSet {
    return quantizeSet(this.session, data);
  }

  trainStep(set: QuantizedSet): StepResult {
    this.rows = 0;
    let result: StepResult;
    if (this.body) {
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
      result = { step: this.step + 1, loss: total / 2 ** 16 / batch.length, signs: [], lr: this.headLr };
    }
    this.applyHead();
    this.step++;
    return result;
  }
}
