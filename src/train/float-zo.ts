// Float zeroth-order training: the same sign-m-SPSA as QZO-FF, in f32 (the paper's "FF fp" column).
//
// One step, for a batch B and m directions z_1..z_m:
//   z_i      = Δz · zq_i, zq_i the very int8 stream QZO-FF uses (rng_fill_z, same seed and tensor id)
//   s_i      = sign(L(w + εz_i; B) − L(w − εz_i; B))                  (2m f32 forward passes)
//   w        ← w − η · (1/m) Σ_i s_i · z_i                              (f32, rounded once per store)
// The perturbation is written into the weights in SRAM (the f32 forward reads them there), so the
// stored values must come back exactly: w + εz − εz is not w in floating point. The trainer keeps
// an f32 copy of each trainable tensor in SRAM (4 B per weight, planned with the session through
// floatZoSramBuffers, so the memory plan and the high-water mark both show it) and always writes w = copy ± εz from that copy; after the
// last forward pass, and in a `finally` when anything throws, the weights are restored from the copy
// bit for bit. Only the update writes the copy.
import { ConfigError, ShapeError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { sampleSize, validateDataset } from '../data/dataset.js';
import type { DeviceBuffer } from '../device/arena.js';
import type { BackpropSession } from '../runtime/backprop-session.js';
import type { FloatModel } from '../model/model.js';
import { paramNodes, resolveGraph } from '../model/graph.js';
import type { ZDistribution } from '../kernels/perturb-spec.js';
import { DELTA_Z, ONE_Q, fillZ, streamKey } from '../kernels/rng.js';
import { requireDirections } from '../kernels/update.js';
import { directionSeed, type StepResult } from './qzo-ff.js';
import { makeSchedule, type Schedule, type ScheduleSpec } from './schedule.js';
import { mulberry32, shuffle } from '../util/random.js';

export interface FloatZoConfig {
  epsilon: number;
  directions: number;
  dist: ZDistribution;
  lr: number;
  schedule?: ScheduleSpec;
  batchSize?: number;
  seed: number;
  /** Called between the + and − forward passes (fault-injection tests). */
  phaseHook?: (phase: 'between-forwards', detail: { step: number; direction: number }) => void;
}

interface FloatTensor {
  name: string;
  tensorId: number;
  count: number;
  weights: DeviceBuffer;
  copy: DeviceBuffer;
  z: DeviceBuffer;
}

/** The trainer's SRAM buffers (f32 copy and int8 z per trainable tensor): pass them as the session's `extraSram`. */
export function floatZoSramBuffers(model: FloatModel, trainable: readonly string[]): { name: string; bytes: number }[] {
  return trainable.flatMap((name) => {
    const p = model.params[name];
    if (!p) throw new ConfigError(`layer '${name}' has no parameters in model '${model.architecture.name}'`);
    return [{ name: `float-zo:copy:${name}`, bytes: p.weights.byteLength }, { name: `float-zo:z:${name}`, bytes: p.weights.length }];
  });
}

export class FloatZoTrainer {
  readonly session: BackpropSession;
  readonly config: FloatZoConfig;
  private readonly tensors: FloatTensor[] = [];
  private readonly schedule: Schedule;
  private readonly random: () => number;
  private readonly order: number[] = [];
  private cursor = 0;
  step = 0;

  /**
   * The session must train `trainable` (their weights live in SRAM) and must have been planned with
   * floatZoSramBuffers(model, trainable) as its extraSram (the f32 copy and the int8 z).
   */
  constructor(session: BackpropSession, trainable: readonly string[], config: FloatZoConfig) {
    requireDirections(config.directions);
    if (!Number.isFinite(config.epsilon) || config.epsilon <= 0) throw new ConfigError(`ε must be a finite number > 0, got ${config.epsilon}`);
    if (trainable.length === 0) throw new ConfigError('nothing to train: the trainable selection is empty');
    this.session = session;
    this.config = config;
    this.schedule = makeSchedule(config.lr, config.schedule);
    this.random = mulberry32(config.seed ^ 0x51ed270b);
    const mcu = session.mcu;
    // The same tensor ids as QZO-FF (parameter layers in execution order), so both see the same z.
    const ids = paramNodes(resolveGraph(session.model.architecture)).map((n) => n.node.name);
    for (const name of trainable) {
      const p = session.model.params[name];
      if (!p) throw new ConfigError(`layer '${name}' has no parameters in model '${session.model.architecture.name}'`);
      if (!session.options.trainable.has(name)) throw new ConfigError(`layer '${name}' is frozen in this session: add it to the session's 'trainable'`);
      // The session lays its SRAM plan out as one block at the start of the SRAM arena.
      const planned = session.plan.sram.buffers.find((b) => b.name === `w:${name}`);
      if (!planned) throw new ConfigError(`layer '${name}': the session has no SRAM weights buffer`);
      const weights: DeviceBuffer = { name: `w:${name}`, offset: mcu.sram.base + planned.offset, bytes: p.weights.byteLength };
      const view = new Float32Array(mcu.device.memory.buffer, weights.offset, p.weights.length);
      for (let i = 0; i < view.length; i++) {
        if (!Object.is(view[i], p.weights[i])) throw new ShapeError(`layer '${name}': the session's SRAM layout is not the planned one (weight ${i} differs); use a fresh session`);
      }
      const extra = (key: string) => {
        const b = session.extra.get(key);
        if (!b) throw new ConfigError(`the session was not prepared for float ZO training of '${name}': pass floatZoSramBuffers(model, trainable) as its extraSram`);
        return b;
      };
      const copy = extra(`float-zo:copy:${name}`);
      mcu.device.bytes.copyWithin(copy.offset, weights.offset, weights.offset + weights.bytes);
      const z = extra(`float-zo:z:${name}`);
      this.tensors.push({ name, tensorId: ids.indexOf(name), count: p.weights.length, weights, copy, z });
    }
  }

  private f32(b: DeviceBuffer, count: number): Float32Array {
    return new Float32Array(this.session.mcu.device.memory.buffer, b.offset, count);
  }

  private nextBatch(count: number): number[] {
    const size = Math.min(this.config.batchSize ?? count, count);
    if (size === count) return Array.from({ length: count }, (_, i) => i);
    const out: number[] = [];
    while (out.length < size) {
      if (this.cursor >= this.order.length) {
        this.order.length = 0;
        for (let i = 0; i < count; i++) this.order.push(i);
        shuffle(this.order, this.random);
        this.cursor = 0;
      }
      out.push(this.order[this.cursor++]!);
    }
    return out;
  }

  /** Mean cross-entropy (nats) of the batch at the weights now in SRAM, in micro-batches of the session's batch. */
  lossOn(data: Dataset, batch?: number[]): number {
    const s = this.session;
    const size = sampleSize(data);
    const idx = batch ?? Array.from({ length: data.labels.length }, (_, i) => i);
    let total = 0;
    for (let from = 0; from < idx.length; from += s.batch) {
      const rows = Math.min(s.batch, idx.length - from);
      const x = new Float32Array(s.batch * size);
      const y = new Int32Array(s.batch);
      for (let r = 0; r < rows; r++) {
        const i = idx[from + r]!;
        x.set(data.images.subarray(i * size, (i + 1) * size), r * size);
        y[r] = data.labels[i]!;
      }
      s.setBatch(x, y);
      s.forward();
      const logits = s.readLogits();
      for (let r = 0; r < rows; r++) {
        const row = logits.subarray(r * s.classes, (r + 1) * s.classes);
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let sum = 0;
        for (const v of row) sum += Math.exp(v - max);
        total += Math.log(sum) + max - row[y[r]!]!;
      }
    }
    return total / idx.length;
  }

  /** w = copy + sign·ε·Δz·zq for every trainable tensor (z already filled). */
  private setPerturbed(sign: number): void {
    const e = sign * this.config.epsilon * DELTA_Z;
    for (const t of this.tensors) {
      const w = this.f32(t.weights, t.count);
      const c = this.f32(t.copy, t.count);
      const z = new Int8Array(this.session.mcu.device.memory.buffer, t.z.offset, t.count);
      for (let i = 0; i < t.count; i++) w[i] = c[i]! + e * z[i]!;
    }
  }

  private restore(): void {
    const bytes = this.session.mcu.device.bytes;
    for (const t of this.tensors) bytes.copyWithin(t.weights.offset, t.copy.offset, t.copy.offset + t.weights.bytes);
  }

  private fill(seed: number): void {
    const arena = this.session.mcu.sram;
    for (const t of this.tensors) {
      fillZ(arena, t.z, t.count, { key: streamKey(arena.device, seed, t.tensorId), start: 0, dist: this.config.dist, oneQ: ONE_Q });
    }
  }

  trainStep(data: Dataset): StepResult {
    if (this.step === 0) validateDataset(data);
    const { config } = this;
    const m = config.directions;
    const batch = this.nextBatch(data.labels.length);
    const lr = this.schedule(this.step, Number.POSITIVE_INFINITY);
    const signs: number[] = [];
    let lossSum = 0;
    try {
      for (let j = 0; j < m; j++) {
        this.fill(directionSeed(config.seed, this.step, j));
        this.setPerturbed(1);
        const lPlus = this.lossOn(data, batch);
        config.phaseHook?.('between-forwards', { step: this.step, direction: j });
        this.setPerturbed(-1);
        const lMinus = this.lossOn(data, batch);
        signs.push(lPlus > lMinus ? 1 : lPlus < lMinus ? -1 : 0);
        lossSum += (lPlus + lMinus) / 2;
      }
    } finally {
      this.restore();
    }
    // The update regenerates each z (as QZO-FF does) and applies it to the copy one direction at a
    // time, w ← w − (η·Δz/m)·s_j·zq_j: no gradient buffer, at the price of m f32 roundings per weight.
    const c = (lr * DELTA_Z) / m;
    for (let j = 0; j < m; j++) {
      if (signs[j] === 0) continue;
      this.fill(directionSeed(config.seed, this.step, j));
      const cs = c * signs[j]!;
      for (const t of this.tensors) {
        const z = new Int8Array(this.session.mcu.device.memory.buffer, t.z.offset, t.count);
        const copy = this.f32(t.copy, t.count);
        for (let i = 0; i < t.count; i++) copy[i] = copy[i]! - cs * z[i]!;
      }
    }
    this.restore(); // weights ← the updated copy
    this.step++;
    return { step: this.step, loss: lossSum / m, signs, lr };
  }
}
