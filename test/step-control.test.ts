// Step-size control of the QZO-FF step (src/train/qzo-ff/step-control.ts and the guarded step in
// src/train/qzo-ff.ts): integer arithmetic against a BigInt reference, the exact undo of a rejected
// guarded step, the guard's buffers in the memory plan, and no early damage on the main task.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { quantizeSet } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import { buildSparseMask } from '../src/train/sparse.js';
import {
  Q15_ONE, SPREAD_SHIFT, batchQ15, isqrt, nextSpread, scaleMultiplier, spreadOf, spreadQ15, stepScale, validateControl, warmupQ15,
} from '../src/train/qzo-ff/step-control.js';
import { ConfigError } from '../src/errors.js';

const DEVICE = { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
const BASE: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4 };

// The reference: the same rules written with BigInt (what C computes with int64_t and >>).
const ref = {
  warmup: (step: number, w: number) => (w === 0 || step + 1 >= w ? 32768n : (BigInt(step + 1) << 15n) / BigInt(w)),
  spread: (diffs: number[]) => diffs.reduce((s, d) => s + BigInt(Math.min(2 ** 31 - 1, Math.abs(d))), 0n) / BigInt(diffs.length),
  next: (r: bigint, a: bigint) => (r === 0n ? a : r + ((a - r) >> BigInt(SPREAD_SHIFT))),
  ratio: (a: bigint, r: bigint) => (r <= 0n || a >= r ? 32768n : (a << 15n) / r),
  scale: (m: bigint, q: bigint) => (q >= 32768n ? m : (m * q) >> 15n),
  sqrt: (x: bigint) => {
    let lo = 0n;
    let hi = x + 1n;
    while (hi - lo > 1n) {
      const mid = (lo + hi) >> 1n;
      if (mid * mid <= x) lo = mid;
      else hi = mid;
    }
    return lo;
  },
};

describe('step-control arithmetic matches an int64 reference', () => {
  it('warm-up, spread, running spread, ratio and multiplier scaling', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let k = 0; k < 2000; k++) {
      const step = rnd(300);
      const w = rnd(50);
      expect(warmupQ15(step, w)).toBe(Number(ref.warmup(step, w)));
      const m = 1 + rnd(8);
      const diffs = Array.from({ length: m }, () => (rnd(2) ? 1 : -1) * rnd(2 ** 31));
      const a = spreadOf(diffs);
      expect(a).toBe(Number(ref.spread(diffs)));
      const running = rnd(2) ? 0 : rnd(2 ** 31);
      const next = nextSpread(running, a);
      expect(next).toBe(Number(ref.next(BigInt(running), BigInt(a))));
      const q = spreadQ15(a, next);
      expect(q).toBe(Number(ref.ratio(BigInt(a), BigInt(next))));
      expect(q).toBeGreaterThanOrEqual(0);
      expect(q).toBeLessThanOrEqual(Q15_ONE);
      const mult = 1 + rnd(2 ** 31 - 1);
      expect(scaleMultiplier(mult, q)).toBe(Number(ref.scale(BigInt(mult), BigInt(q))));
      const x = rnd(2 ** 31) * (1 + rnd(2 ** 10));
      expect(isqrt(x)).toBe(Number(ref.sqrt(BigInt(x))));
      const set = 1 + rnd(100000);
      const batch = 1 + rnd(set);
      const bq = batchQ15(batch, set);
      expect(bq).toBe(batch >= set ? Q15_ONE : Number(ref.sqrt((BigInt(batch) << 30n) / BigInt(set))));
      expect(bq).toBeLessThanOrEqual(Q15_ONE);
    }
  });

  it('a step with half the usual spread moves half as far; the first step sets the running spread', () => {
    const c = { spread: true };
    const first = stepScale(c, { spread: 0 }, 0, [1000, -3000]);
    expect(first).toEqual({ q15: Q15_ONE, state: { spread: 2000 } });
    const weak = stepScale(c, first.state, 1, [1000, 1000]);
    expect(weak.state.spread).toBe(2000 - 125);
    expect(weak.q15).toBe(Math.floor((1000 * Q15_ONE) / 1875));
    const warm = stepScale({ warmup: 4 }, { spread: 0 }, 0, [5]);
    expect(warm.q15).toBe(Q15_ONE / 4);
  });

  it('refuses a warm-up that is not a whole number of steps', () => {
    expect(() => validateControl({ warmup: 2.5 })).toThrow(ConfigError);
    expect(() => validateControl({ warmup: -1 })).toThrow(ConfigError);
  });
});

let episode: Episode;
let q16: QuantizedModel;

beforeAll(async () => {
  const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 60, seed: 11 });
  const proto = await withPrototypeHead(backbone, episode.support);
  q16 = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 16, perChannel: false });
});

async function makeTrainer(trainable: string[], config: QzoFfConfig) {
  const mcu = await Mcu.create({ budget: DEVICE, build: 'simd' });
  const session = new QuantizedSession(mcu, q16, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model: q16, trainable, config }) });
  const trainer = new QzoFfTrainer(session, trainable, config);
  return { mcu, session, trainer, set: trainer.prepareData(episode.support) };
}

const storedBytes = (session: QuantizedSession, layer: string, part: 'w' | 'b' = 'w') => {
  const b = (part === 'w' ? session.weights : session.biases).get(layer)!;
  return session.mcu.device.bytes.slice(b.offset, b.offset + b.bytes);
};

describe('guarded step', () => {
  it('a step that raises the batch loss is undone bit for bit, clamped weights included; an accepted one equals the plain step', async () => {
    const all = Object.keys(q16.params);
    // η far too large: the update saturates weights at the clamp and raises the loss.
    const config: QzoFfConfig = { ...BASE, lr: 0.5, params: 'weights+bias', control: { guard: true } };
    const guarded = await makeTrainer(all, config);
    const plain = await makeTrainer(all, { ...config, control: undefined });
    const before = all.flatMap((l) => [storedBytes(guarded.session, l), storedBytes(guarded.session, l, 'b')]);
    const lossBefore = guarded.trainer.lossAt(guarded.set);
    const r = guarded.trainer.trainStep(guarded.set);
    plain.trainer.trainStep(plain.set);
    const plainAfter = all.flatMap((l) => [storedBytes(plain.session, l), storedBytes(plain.session, l, 'b')]);
    // The plain step moved (and clamped) weights and raised the loss; the guarded one put every byte back.
    expect(plain.trainer.lossAt(plain.set)).toBeGreaterThan(lossBefore);
    const w16 = new Int16Array(plainAfter[0]!.buffer);
    expect(w16.some((v) => Math.abs(v) === 32767)).toBe(true);
    expect(r.rejected).toBe(true);
    const after = all.flatMap((l) => [storedBytes(guarded.session, l), storedBytes(guarded.session, l, 'b')]);
    after.forEach((bytes, i) => expect(Buffer.from(bytes).equals(Buffer.from(before[i]!))).toBe(true));
    expect(guarded.trainer.lossAt(guarded.set)).toBe(lossBefore);
    expect(guarded.trainer.step).toBe(1);

    // At the default η: the first step the guard accepts equals the plain step from the same state.
    const g2 = await makeTrainer(all, { ...BASE, control: { guard: true } });
    const p2 = await makeTrainer(all, BASE);
    let accepted = false;
    for (let s = 0; s < 20 && !accepted; s++) {
      const state = g2.trainer.exportState();
      accepted = g2.trainer.trainStep(g2.set).rejected === false;
      if (!accepted) continue;
      p2.trainer.restoreState(state, p2.set.count);
      p2.trainer.trainStep(p2.set);
    }
    expect(accepted).toBe(true);
    for (const l of all) expect(Buffer.from(storedBytes(g2.session, l)).equals(Buffer.from(storedBytes(p2.session, l)))).toBe(true);
  });

  it('strict guard: never ends a step with a higher batch loss than L(w) before it', async () => {
    const all = Object.keys(q16.params);
    const { trainer, set } = await makeTrainer(all, { ...BASE, lr: 0.03, control: { guard: true, strictGuard: true } });
    let rejected = 0;
    for (let s = 0; s < 6; s++) {
      const before = trainer.lossAt(set);
      if (trainer.trainStep(set).rejected) rejected++;
      expect(trainer.lossAt(set)).toBeLessThanOrEqual(before);
    }
    expect(rejected).toBeGreaterThan(0);
  });

  it('its copy of the trained tensors is in the plan, and the plan equals the measured high-water mark', async () => {
    const all = Object.keys(q16.params);
    const config: QzoFfConfig = { ...BASE, control: { guard: true, spread: true, warmup: 5 } };
    const { mcu, session, trainer, set } = await makeTrainer(all, config);
    for (const l of all) {
      const planned = session.plan.sram.buffers.find((b) => b.name === `extra:zo-guard:w:${l}`);
      expect(planned?.bytes).toBe(q16.params[l]!.weights.length * 2);
    }
    for (let s = 0; s < 3; s++) trainer.trainStep(set);
    expect(mcu.sram.highWater).toBe(session.plan.sramBytes);
    const plain = await makeTrainer(all, BASE);
    const copies = all.reduce((s, l) => s + q16.params[l]!.weights.length * 2, 0);
    expect(session.plan.sramBytes - plain.session.plan.sramBytes).toBeGreaterThanOrEqual(copies);
  });

  it('the running spread survives exportState/restoreState, so a resumed run is bit-identical', async () => {
    const all = Object.keys(q16.params);
    const config: QzoFfConfig = { ...BASE, control: { guard: true, spread: true, warmup: 3 } };
    const a = await makeTrainer(all, config);
    for (let s = 0; s < 6; s++) a.trainer.trainStep(a.set);
    const b = await makeTrainer(all, config);
    for (let s = 0; s < 3; s++) b.trainer.trainStep(b.set);
    const state = b.trainer.exportState();
    expect(state.control!.spread).toBeGreaterThan(0);
    const c = await makeTrainer(all, config);
    c.trainer.restoreState(state, c.set.count);
    for (let s = 0; s < 3; s++) c.trainer.trainStep(c.set);
    for (const l of all) expect(Buffer.from(storedBytes(c.session, l)).equals(Buffer.from(storedBytes(a.session, l)))).toBe(true);
  });
});

describe('no early damage on the main task (full fine-tuning, 5-way 5-shot, classes 5–9)', () => {
  it('with a 100-step warm-up and the guard, the mean query accuracy after 1 and 5 steps stays ≥ zero-shot − 1; the plain step falls below', async () => {
    const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
    const source = await loadBundledMnist();
    const zero: number[] = [];
    const curves = new Map<string, number[][]>([['plain', []], ['controlled', []]]);
    for (const seed of [1, 2, 3]) {
      const ep = sampleEpisode(source, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 50, seed });
      const proto = await withPrototypeHead(backbone, ep.support);
      const q = quantizeModel(proto, await calibrate(proto, ep.support), { weightBits: 16, perChannel: false });
      const all = Object.keys(q.params);
      for (const [name, control] of [['plain', undefined], ['controlled', { guard: true, warmup: 100 }]] as const) {
        const config: QzoFfConfig = { ...BASE, seed, ...(control ? { control } : {}) };
        const mcu = await Mcu.create({ budget: DEVICE, build: 'simd' });
        const session = new QuantizedSession(mcu, q, { batch: 5, trainable: new Set(all), extraSram: qzoFfSramBuffers(5, { model: q, trainable: all, config }) });
        const query = quantizeSet(session, ep.query);
        if (name === 'plain') zero.push(evaluate(session, query).accuracy);
        const trainer = new QzoFfTrainer(session, all, config);
        const set = trainer.prepareData(ep.support);
        const row: number[] = [];
        for (let s = 1; s <= 5; s++) {
          trainer.trainStep(set);
          if (s === 1 || s === 5) row.push(evaluate(session, query).accuracy);
        }
        curves.get(name)!.push(row);
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const z = mean(zero);
    const at = (name: string, i: number) => mean(curves.get(name)!.map((r) => r[i]!));
    expect(at('controlled', 0)).toBeGreaterThanOrEqual(z - 1);
    expect(at('controlled', 1)).toBeGreaterThanOrEqual(z - 1);
    expect(at('plain', 0)).toBeLessThan(z - 1);
  }, 60_000);
});

describe('sparse perturbation of small weights', () => {
  it("'small' keeps the smallest |w| of each tensor", () => {
    const w = Int16Array.from([5, -1, 9, 0, -7, 3, 2, -8, 4, 6]);
    const mask = buildSparseMask(w, { fraction: 0.3, by: 'small' }, 0);
    const kept = Array.from(w.keys()).filter((i) => (mask[i >> 3]! >> (i & 7)) & 1);
    expect(kept).toEqual([1, 3, 6]);
  });
});
