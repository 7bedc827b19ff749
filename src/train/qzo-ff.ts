// QZO-FF (Feng et al., NeurIPS 2024): quantized zeroth-order forward-gradient training.
//
// One step, for a batch B and m directions z_1..z_m (each regenerated from a seed, never stored):
//   for i in 1..m:  L⁺_i = L(w + εz_i; B),  L⁻_i = L(w − εz_i; B)       (2m integer forward passes)
//                   s_i  = sign(L⁺_i − L⁻_i)                             (integer compare)
//   w ← clamp(w − round(c · Σ_i s_i·z_i)),  c = η·Δz / (Δw·m)             (one integer pass per tensor)
// The perturbation is fused into the kernels' weight packing, so stored weights are only ever written
// by the update, and the update runs only after every argument has been validated: a step that throws
// leaves the weights at their pre-step values.
import { ConfigError } from '../errors.js';
import type { QuantizedSession } from '../runtime/session.js';
import type { DeviceBuffer } from '../runtime/arena.js';
import type { PerturbSpec, ZDistribution } from '../kernels/perturb-spec.js';
import { makePerturbSpec } from '../kernels/perturb.js';
import { MAX_DIRECTIONS, makeUpdateMultiplier, prepareUpdate, updateWeights, type PreparedUpdate } from '../kernels/update.js';
import { crossEntropyI32, lossSign, prepareCrossEntropy, type PreparedCrossEntropy } from '../kernels/loss.js';
import { makeSchedule, type Schedule, type ScheduleSpec } from './schedule.js';
import { loadMicroBatch, quantizeSet, type QuantizedSet } from './batches.js';
import type { Dataset } from '../data/dataset.js';
import { mulberry32, shuffle } from '../util/random.js';

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
}

/** SRAM the trainer needs besides the session's own buffers (declare via SessionOptions.extraSram). */
export function qzoFfSramBuffers(sessionBatch: number): { name: string; bytes: number }[] {
  return [
    { name: 'labels', bytes: sessionBatch * 4 },
    { name: 'loss', bytes: 4 },
    { name: 'update-keys', bytes: MAX_DIRECTIONS * 4 },
    { name: 'update-signs', bytes: MAX_DIRECTIONS * 4 },
  ];
}

export interface StepResult {
  step: number;
  /** Mean of (L⁺ + L⁻)/2 over directions, per sample, in nats (reporting only). */
  loss: number;
  signs: number[];
  lr: number;
}

interface LayerState {
  name: string;
  /** Multiplies ε and η for this layer (1 without kernel-wise normalisation). */
  scale: number;
  tensorId: number;
  weightScale: number;
  bits: 8 | 16;
  count: number;
  weights: DeviceBuffer;
}

/** A 32-bit mix of (run seed, step, direction): the seed of one direction's z. */
export function directionSeed(runSeed: number, step: number, direction: number): number {
  let x = (runSeed ^ Math.imul(step + 1, 0x9e3779b1) ^ Math.imul(direction + 1, 0x85ebca77)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export class QzoFfTrainer {
  readonly session: QuantizedSession;
  readonly config: QzoFfConfig;
  readonly layers: LayerState[];
  private readonly schedule: Schedule;
  private readonly loss: PreparedCrossEntropy;
  private readonly labels: DeviceBuffer;
  private readonly lossOut: DeviceBuffer;
  private readonly keysBuf: DeviceBuffer;
  private readonly signsBuf: DeviceBuffer;
  private readonly order: number[];
  private readonly random: () => number;
  private cursor = 0;
  step = 0;

  constructor(session: QuantizedSession, trainable: readonly string[], config: QzoFfConfig) {
    if (!Number.isInteger(config.directions) || config.directions < 1 || config.directions > MAX_DIRECTIONS) {
      throw new ConfigError(`m (directions per step) must be an integer in [1, ${MAX_DIRECTIONS}], got ${config.directions}`);
    }
    if (!Number.isFinite(config.epsilon) || config.epsilon <= 0) throw new ConfigError(`ε must be a finite number > 0, got ${config.epsilon}`);
    if (trainable.length === 0) throw new ConfigError('nothing to train: the trainable selection is empty');
    this.session = session;
    this.config = config;
    this.schedule = makeSchedule(config.lr, config.schedule);
    const extra = (name: string) => {
      const b = session.extra.get(name);
      if (!b) throw new ConfigError(`the session was not prepared for training: add qzoFfSramBuffers() to its extraSram`);
      return b;
    };
    this.labels = extra('labels');
    this.lossOut = extra('loss');
    this.keysBuf = extra('update-keys');
    this.signsBuf = extra('update-signs');
    this.loss = prepareCrossEntropy({ scale: session.logitsScale, zeroPoint: 0 }, 'int32');
    this.layers = trainable.map((name) => {
      const p = session.model.params[name];
      const weights = session.weights.get(name);
      if (!p || !weights) throw new ConfigError(`layer '${name}' has no weights in this session`);
      if (weights.offset < session.mcu.sram.base) throw new ConfigError(`layer '${name}' lives in flash: prepare the session with it in 'trainable'`);
      // One ε and one c per tensor: with per-channel scales the coarsest channel sets them.
      const weightScale = Math.max(...p.weightScales);
      let scale = 1;
      if (config.normalize) {
        let sq = 0;
        for (let i = 0; i < p.weights.length; i++) sq += (p.weights[i]! * weightScale) ** 2;
        scale = Math.sqrt(sq / p.weights.length) || 1;
      }
      const layer: LayerState = { name, scale, tensorId: session.paramLayers.indexOf(name), weightScale, bits: p.weightBits, count: p.weights.length, weights };
      // Validate ε and η on this grid now, so a bad setting fails before the first step.
      makePerturbSpec({ seed: 0, tensorId: layer.tensorId, epsilon: config.epsilon * scale, weightScale, dist: config.dist, sign: 1, weightBits: p.weightBits }, session.mcu.device);
      makeUpdateMultiplier(config.lr * scale, weightScale, config.directions);
      return layer;
    });
    this.random = mulberry32(config.seed ^ 0x51ed270b);
    this.order = [];
  }

  /** Prepare a training set once (quantized on the host, validated). */
  prepareData(data: Dataset): QuantizedSet {
    return quantizeSet(this.session, data);
  }

  private nextBatch(set: QuantizedSet): number[] {
    const size = Math.min(this.config.batchSize ?? set.count, set.count);
    if (size === set.count) return Array.from({ length: set.count }, (_, i) => i);
    const out: number[] = [];
    while (out.length < size) {
      if (this.cursor >= this.order.length) {
        this.order.length = 0;
        for (let i = 0; i < set.count; i++) this.order.push(i);
        shuffle(this.order, this.random);
        this.cursor = 0;
      }
      out.push(this.order[this.cursor++]!);
    }
    return out;
  }

  /** Integer loss of the batch at the perturbed point (Q16.16 nats, summed, saturating). */
  private batchLoss(set: QuantizedSet, batch: number[], perturb?: (layer: string) => PerturbSpec | undefined): number {
    const s = this.session;
    let total = 0;
    for (let from = 0; from < batch.length; from += s.batch) {
      const rows = Math.min(s.batch, batch.length - from);
      loadMicroBatch(s, set, batch, from, rows, this.labels);
      s.forward(perturb);
      const l = crossEntropyI32(s.mcu.sram, s.logits, this.labels, this.lossOut, rows, s.classes, this.loss);
      total = Math.min(2 ** 31 - 1, total + l.q16);
    }
    return total;
  }

  trainStep(set: QuantizedSet): StepResult {
    const { config, session } = this;
    const device = session.mcu.device;
    const batch = this.nextBatch(set);
    const lr = this.schedule(this.step, Number.POSITIVE_INFINITY);
    const m = config.directions;
    const signs: number[] = [];
    const keysPerLayer: number[][] = this.layers.map(() => []);
    let lossSum = 0;
    const prof = session.profiler;
    for (let i = 0; i < m; i++) {
      const seed = directionSeed(config.seed, this.step, i);
      const specs = (sign: 1 | -1) => {
        const map = new Map<string, PerturbSpec>();
        for (const l of this.layers) {
          map.set(l.name, makePerturbSpec({ seed, tensorId: l.tensorId, epsilon: config.epsilon * l.scale, weightScale: l.weightScale, dist: config.dist, sign, weightBits: l.bits }, device));
        }
        return map;
      };
      const plus = prof ? prof.time('rng+perturb setup', 'rng', () => specs(1)) : specs(1);
      const minus = prof ? prof.time('rng+perturb setup', 'rng', () => specs(-1)) : specs(-1);
      this.layers.forEach((l, j) => keysPerLayer[j]!.push(plus.get(l.name)!.key));
      const lPlus = this.batchLoss(set, batch, (name) => plus.get(name));
      const lMinus = this.batchLoss(set, batch, (name) => minus.get(name));
      signs.push(lossSign(lPlus, lMinus));
      lossSum += (lPlus + lMinus) / 2;
    }
    // Everything the update needs is derived and validated first; only then are weights written.
    const updates: { layer: LayerState; prepared: PreparedUpdate }[] = [];
    for (const l of this.layers) {
      let mult;
      try {
        mult = makeUpdateMultiplier(lr * l.scale, l.weightScale, m);
      } catch (e) {
        if (lr < config.lr) continue; // a decayed rate that no longer moves any weight: skip, not fail
        throw e;
      }
      updates.push({ layer: l, prepared: prepareUpdate(session.mcu.sram, { directions: m, dist: config.dist, multiplier: mult.multiplier, shift: mult.shift }, `update:${l.name}`, { keys: this.keysBuf, signs: this.signsBuf }) });
    }
    const runUpdates = () => {
      for (const u of updates) {
        const j = this.layers.indexOf(u.layer);
        updateWeights(session.mcu.sram, u.prepared, u.layer.weights, u.layer.count, u.layer.bits, { keys: keysPerLayer[j]!, signs });
      }
    };
    if (prof) prof.time('update', 'update', runUpdates);
    else runUpdates();
    this.step++;
    return { step: this.step, loss: lossSum / m / 2 ** 16 / batch.length, signs, lr };
  }
}
