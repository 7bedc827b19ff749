import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { loadModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { BackpropSession } from '../src/runtime/backprop-session.js';
import { QzoFfTrainer, directionSeed, qzoFfSramBuffers, type QzoFfConfig, type StepInfo } from '../src/train/qzo-ff.js';
import { FloatZoTrainer, floatZoSramBuffers } from '../src/train/float-zo.js';
import { buildSparseMask } from '../src/train/sparse.js';
import { parseSelection, selectionTrainerOptions, trainableLayers } from '../src/train/selection.js';
import { resolveGraph } from '../src/model/graph.js';
import { subset } from '../src/data/dataset.js';
import { makePerturbSpec, perturbWeights } from '../src/kernels/perturb.js';
import { makeUpdateMultiplier, prepareUpdate, updateWeights } from '../src/kernels/update.js';
import { fillZ, streamKey, DELTA_Z, ONE_Q } from '../src/kernels/rng.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import {
  makeDitherFactor, perturbBias, perturbMaterialised, updateBias, updateMaterialised, momentumZ, momentumCoefficients,
} from '../src/kernels/materialised-zo.js';
import { ConfigError } from '../src/errors.js';
import type { BuildFlavor } from '../src/device/features.js';
import { makeAllBenches, rng, randomInt16, type Bench } from './helpers/devices.js';

const DEVICE = { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
const BASE: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4 };
let episode: Episode;
let proto: FloatModel;
let q16: QuantizedModel;
let q8: QuantizedModel;
let benches: Bench[];

beforeAll(async () => {
  const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 60, seed: 11 });
  proto = await withPrototypeHead(backbone, episode.support);
  const ranges = await calibrate(proto, episode.support);
  q16 = quantizeModel(proto, ranges, { weightBits: 16, perChannel: false });
  q8 = quantizeModel(proto, ranges, { weightBits: 8, perChannel: false });
  benches = await makeAllBenches(4 * 1024 * 1024);
});

const names = () => Object.keys(q16.params);
const head = () => names().slice(-1);

async function makeTrainer(trainable: string[], config: QzoFfConfig, model = q16, build: BuildFlavor = 'simd') {
  const mcu = await Mcu.create({ budget: DEVICE, build });
  const session = new QuantizedSession(mcu, model, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model, trainable, config }) });
  const trainer = new QzoFfTrainer(session, trainable, config);
  return { mcu, session, trainer, set: trainer.prepareData(episode.support) };
}

/** The stored bytes of a layer's weights or bias. */
function stored(session: QuantizedSession, layer: string, part: 'w' | 'b' = 'w'): Uint8Array {
  const b = (part === 'w' ? session.weights : session.biases).get(layer)!;
  return new Uint8Array(session.mcu.device.memory.buffer, b.offset, b.bytes).slice();
}

function hashParams(session: QuantizedSession, layers: string[]): string {
  const h = createHash('sha256');
  for (const l of layers) h.update(stored(session, l, 'w')).update(stored(session, l, 'b'));
  return h.digest('hex');
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe('update sign', () => {
  it('steps along the estimated gradient lower the loss of a convex problem (a linear probe)', async () => {
    // Cross-entropy is convex in the head's weights for fixed features: an inverted sign would climb.
    const { trainer, set } = await makeTrainer(head(), { ...BASE, directions: 8, lr: 1e-2 });
    const before = trainer.lossAt(set);
    for (let s = 0; s < 25; s++) trainer.trainStep(set);
    const after = trainer.lossAt(set);
    expect(after).toBeLessThan(before - 0.05);
  });
});

describe('bias-only training', () => {
  it('bias kernels: scratch perturbation and in-place update match the formula, on every build', () => {
    const r = rng(3);
    const count = 37;
    const bias = Int32Array.from({ length: count }, () => Math.floor((r() - 0.5) * 2 ** 31));
    bias[0] = 2 ** 31 - 1; // saturation
    const results = benches.map((b) => {
      const src = b.arena.alloc(count * 4, 'b');
      const dst = b.arena.alloc(count * 4, 'b±');
      const zb = b.arena.alloc(count, 'z');
      const keys = b.arena.alloc(32, 'keys');
      const signs = b.arena.alloc(32, 'signs');
      b.arena.i32(src).set(bias);
      const key = streamKey(b.device, 77, 3);
      const mult = quantizeMultiplier(2.76);
      perturbBias(b.arena, src, dst, count, { key, dist: 'gaussian', sign: -1, ...mult });
      fillZ(b.arena, zb, count, { key, start: 0, dist: 'gaussian', oneQ: ONE_Q });
      const z = b.arena.i8(zb).slice(0, count);
      const perturbed = b.arena.i32(dst).slice(0, count);
      const stillStored = b.arena.i32(src).slice(0, count);
      updateBias(b.arena, src, count, { keys, signs, keyValues: [key], signValues: [1] }, { dist: 'gaussian', ...mult });
      const updated = b.arena.i32(src).slice(0, count);
      b.arena.reset();
      return { z, perturbed, stillStored, updated };
    });
    const { z, perturbed, stillStored, updated } = results[0]!;
    expect(Array.from(stillStored)).toEqual(Array.from(bias));
    for (let i = 0; i < count; i++) {
      const delta = Math.round(z[i]! * 2.76); // requant(z, 2.76) on these small values is round-half-away
      const sat = (x: number) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, x));
      expect(Math.abs(perturbed[i]! - sat(bias[i]! - delta))).toBeLessThanOrEqual(1);
      expect(Math.abs(updated[i]! - sat(bias[i]! - delta))).toBeLessThanOrEqual(1);
    }
    expect(perturbed[0]).toBeLessThanOrEqual(2 ** 31 - 1);
    for (const r2 of results.slice(1)) {
      expect(Array.from(r2.perturbed)).toEqual(Array.from(perturbed));
      expect(Array.from(r2.updated)).toEqual(Array.from(updated));
    }
  });

  it('trains the int32 biases (perturbed in place, restored exactly), lowers the loss, and never writes a weight', async () => {
    const all = names();
    const sel = parseSelection('bias', { trainerOptions: true });
    expect(trainableLayers(resolveGraph(q16.architecture), sel)).toEqual(all);
    const config = { ...BASE, ...selectionTrainerOptions(sel), lr: 0.05, directions: 4 };
    const { session, trainer } = await makeTrainer(all, config);
    // On a balanced episode the bias gradient of the prototype head is ~0 (Σ_samples p − y ≈ 0 per
    // class); two classes only make the biases matter, so a working bias update must lower the loss.
    const twoClasses = Array.from(episode.support.labels).flatMap((l, i) => (l < 2 ? [i] : []));
    const set = trainer.prepareData(subset(episode.support, twoClasses));
    expect(session.plan.sramCategory['extra:zo-panel:b:conv3']).toBeUndefined(); // perturbed in place, restored after each pass
    const w0 = all.map((l) => stored(session, l, 'w'));
    const b0 = all.map((l) => stored(session, l, 'b'));
    const before = trainer.lossAt(set);
    let during: Uint8Array[] = [];
    trainer.config.phaseHook = (phase) => {
      if (phase === 'between-forwards' && during.length === 0) during = all.map((l) => stored(session, l, 'b'));
    };
    for (let s = 0; s < 30; s++) trainer.trainStep(set);
    expect(during.every((b, i) => same(b, b0[i]!))).toBe(true); // the in-place perturbation was undone after the + pass
    expect(all.every((l, i) => same(stored(session, l, 'w'), w0[i]!))).toBe(true);
    expect(all.some((l, i) => !same(stored(session, l, 'b'), b0[i]!))).toBe(true);
    expect(trainer.lossAt(set)).toBeLessThan(before - 0.2);
  });
});

describe('sparse update', () => {
  it('a magnitude mask keeps the ~10% largest weights; a random mask is a pure function of its seed', () => {
    const w = Int16Array.from({ length: 200 }, (_, i) => ((i * 7919) % 401) - 200);
    const mask = buildSparseMask(w, { by: 'magnitude' }, 0);
    const kept = Array.from({ length: 200 }, (_, i) => i).filter((i) => (mask[i >> 3]! >> (i & 7)) & 1);
    expect(kept.length).toBe(20);
    const minKept = Math.min(...kept.map((i) => Math.abs(w[i]!)));
    const maxDropped = Math.max(...w.filter((_, i) => !kept.includes(i)).map((v) => Math.abs(v)));
    expect(minKept).toBeGreaterThanOrEqual(maxDropped);
    const r1 = buildSparseMask(w, { by: 'random', seed: 5 }, 2);
    expect(Array.from(buildSparseMask(w, { by: 'random', seed: 5 }, 2))).toEqual(Array.from(r1));
    expect(Array.from(buildSparseMask(w, { by: 'random', seed: 6 }, 2))).not.toEqual(Array.from(r1));
    expect(r1.reduce((s, b) => s + ((b.toString(2).match(/1/g) ?? []).length), 0)).toBe(20);
  });

  it('a mask that keeps every weight trains bit-identically to plain QZO-FF (masked panel path = fused path)', async () => {
    const plain = await makeTrainer(head(), BASE);
    const full = await makeTrainer(head(), { ...BASE, sparse: { by: 'magnitude', fraction: 1 } });
    for (let s = 0; s < 5; s++) {
      plain.trainer.trainStep(plain.set);
      full.trainer.trainStep(full.set);
    }
    expect(hashParams(full.session, head())).toBe(hashParams(plain.session, head()));
  });

  it('only masked weights move; the mask is declared SRAM in the plan; masked perturbation leaves the rest untouched', async () => {
    const all = names();
    const config = { ...BASE, ...selectionTrainerOptions(parseSelection('sparse:0.1:random:3', { trainerOptions: true })) };
    const { session, trainer, set, mcu } = await makeTrainer(all, config);
    for (const l of all) {
      const planned = session.plan.sram.buffers.find((b) => b.name === `extra:zo-mask:${l}`);
      expect(planned?.bytes).toBe(Math.ceil(q16.params[l]!.weights.length / 8));
    }
    expect(mcu.sram.highWater).toBe(session.plan.sramBytes);
    const before = all.map((l) => Int16Array.from(q16.params[l]!.weights));
    for (let s = 0; s < 20; s++) trainer.trainStep(set);
    let moved = 0;
    for (const [k, l] of all.entries()) {
      const mask = buildSparseMask(q16.params[l]!.weights, config.sparse!, session.paramLayers.indexOf(l));
      const now = new Int16Array(stored(session, l).buffer);
      for (let i = 0; i < now.length; i++) {
        const trains = (mask[i >> 3]! >> (i & 7)) & 1;
        if (!trains) expect(now[i]).toBe(before[k]![i]);
        else if (now[i] !== before[k]![i]) moved++;
      }
    }
    expect(moved).toBeGreaterThan(0);
    // The masked perturbation kernel: frozen elements copied, trainable ones perturbed as perturb_w16.
    const b = benches[0]!;
    const n = 64;
    const src = b.arena.alloc(n * 2, 'w');
    const dst = b.arena.alloc(n * 2, 'w±');
    const ref = b.arena.alloc(n * 2, 'ref');
    const maskBuf = b.arena.alloc(8, 'mask');
    b.arena.i16(src).set(randomInt16(rng(9), n, -3000, 3000));
    b.arena.u8(maskBuf).set([0x0f, 0xf0, 0, 0xff, 1, 2, 4, 8]);
    const spec = makePerturbSpec({ seed: 12, tensorId: 1, epsilon: 0.01, weightScale: 1e-3, dist: 'gaussian', sign: 1, weightBits: 16 }, b.device);
    perturbWeights(b.arena, src, ref, n, 16, spec);
    perturbMaterialised(b.arena, src, dst, n, 16, { key: spec.key, dist: 'gaussian', signedEps: spec.signedEps, multiplier: spec.multiplier, shift: spec.shift, mask: maskBuf });
    const m = b.arena.u8(maskBuf);
    for (let i = 0; i < n; i++) {
      const trains = (m[i >> 3]! >> (i & 7)) & 1;
      expect(b.arena.i16(dst)[i]).toBe(trains ? b.arena.i16(ref)[i] : b.arena.i16(src)[i]);
    }
    b.arena.reset();
  });
});

describe('momentum-guided sampling', () => {
  it('perturbing from and updating with a stored int8 z equals the stream kernels bit for bit, on every build', () => {
    const outs = benches.map((b) => {
      const n = 203;
      const src = b.arena.alloc(n * 2, 'w');
      const viaStream = b.arena.alloc(n * 2, 'stream');
      const viaZ = b.arena.alloc(n * 2, 'stored z');
      const z = b.arena.alloc(3 * n, 'z');
      const keysBuf = b.arena.alloc(32, 'keys');
      const signsBuf = b.arena.alloc(32, 'signs');
      const w = randomInt16(rng(21), n, -32767, 32767);
      b.arena.i16(src).set(w);
      const spec = makePerturbSpec({ seed: 8, tensorId: 2, epsilon: 0.02, weightScale: 1e-3, dist: 'gaussian', sign: -1, weightBits: 16 }, b.device);
      const keys = [spec.key, streamKey(b.device, 9, 2), streamKey(b.device, 10, 2)];
      keys.forEach((key, j) => fillZ(b.arena, b.arena.sub(z, j * n, n, `z${j}`), n, { key, start: 0, dist: 'gaussian', oneQ: ONE_Q }));
      perturbWeights(b.arena, src, viaStream, n, 16, spec);
      perturbMaterialised(b.arena, src, viaZ, n, 16, { z: b.arena.sub(z, 0, n, 'z0'), key: 0, dist: 'gaussian', signedEps: spec.signedEps, multiplier: spec.multiplier, shift: spec.shift });
      const p1 = Array.from(b.arena.i16(viaStream).slice(0, n));
      const p2 = Array.from(b.arena.i16(viaZ).slice(0, n));
      const mult = makeUpdateMultiplier(5e-3, 1e-3, 3);
      const signs = [1, -1, 1];
      b.arena.i16(viaStream).set(w);
      b.arena.i16(viaZ).set(w);
      const prepared = prepareUpdate(b.arena, { directions: 3, dist: 'gaussian', multiplier: mult.multiplier, shift: mult.shift });
      updateWeights(b.arena, prepared, viaStream, n, 16, { keys, signs });
      updateMaterialised(b.arena, viaZ, n, 16, { keys: keysBuf, signs: signsBuf, keyValues: [0, 0, 0], signValues: signs, z }, { dist: 'gaussian', multiplier: mult.multiplier, shift: mult.shift });
      const u1 = Array.from(b.arena.i16(viaStream).slice(0, n));
      const u2 = Array.from(b.arena.i16(viaZ).slice(0, n));
      b.arena.reset();
      return { p1, p2, u1, u2 };
    });
    for (const o of outs) {
      expect(o.p2).toEqual(o.p1);
      expect(o.u2).toEqual(o.u1);
      expect(o.u1).toEqual(outs[0]!.u1);
      expect(o.u1.some((v, i) => v !== outs[0]!.p1[i])).toBe(true);
    }
  });

  it('momentum z follows β·√α·n1 + (1−β)·(h + √(1−α)·n2), and α = β = 1 reproduces plain QZO-FF exactly', async () => {
    const b = benches[0]!;
    const n = 4096;
    const dst = b.arena.alloc(n, 'z');
    const hist = b.arena.alloc(n, 'h');
    b.arena.i8(hist).fill(40);
    const k1 = streamKey(b.device, 1, 0);
    const k2 = streamKey(b.device, 2, 0);
    momentumZ(b.arena, dst, hist, n, [k1, k2], momentumCoefficients(0.5, 0.5));
    const z = b.arena.i8(dst).slice(0, n);
    const mean = z.reduce((s, v) => s + v, 0) / n;
    const varZ = z.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    expect(Math.abs(mean - 20)).toBeLessThan(1.5); // (1−β)·h = 0.5·40
    // Var = (β²α + (1−β)²(1−α))·36² = (0.125 + 0.125)·1296 = 324
    expect(Math.abs(varZ - 324)).toBeLessThan(30);
    b.arena.reset();
    const plain = await makeTrainer(head(), BASE);
    const mom = await makeTrainer(head(), { ...BASE, momentum: { alpha: 1, beta: 1 } });
    for (let s = 0; s < 5; s++) {
      plain.trainer.trainStep(plain.set);
      mom.trainer.trainStep(mom.set);
    }
    expect(hashParams(mom.session, head())).toBe(hashParams(plain.session, head()));
    const withHistory = await makeTrainer(head(), { ...BASE, momentum: { alpha: (s) => (s < 2 ? 1 : 0.5), beta: 0.5 } });
    for (let s = 0; s < 5; s++) withHistory.trainer.trainStep(withHistory.set);
    expect(hashParams(withHistory.session, head())).not.toBe(hashParams(plain.session, head()));
    const h = withHistory.session.extra.get('zo-history:w:logits')!;
    expect(new Int8Array(withHistory.mcu.device.memory.buffer, h.offset, h.bytes).some((v) => v !== 0)).toBe(true);
  });
});

describe('sharpness-aware perturbation', () => {
  it('evaluates the step at the neighbour but ends at w − update: the neighbour shift is never written to stored weights', async () => {
    const config = { ...BASE, sharpness: { rho: 5e-3 } };
    const { session, trainer, set } = await makeTrainer(head(), config);
    const layer = 'logits';
    const neighbour = session.extra.get(`zo-neighbour:w:${layer}`)!;
    for (let s = 0; s < 3; s++) {
      const before = stored(session, layer);
      let midStep: Uint8Array | undefined;
      let neighbourBytes: Uint8Array | undefined;
      trainer.config.phaseHook = (phase) => {
        if (phase === 'between-forwards' && !midStep) {
          midStep = stored(session, layer);
          neighbourBytes = new Uint8Array(session.mcu.device.memory.buffer, neighbour.offset, neighbour.bytes).slice();
        }
      };
      const step = trainer.step;
      const r = trainer.trainStep(set);
      expect(same(midStep!, before)).toBe(true);
      expect(same(neighbourBytes!, before)).toBe(false);
      // Replay the update on the pre-step weights with the returned signs: it must equal the stored result.
      const b = benches[1]!;
      const w = b.arena.alloc(before.length, 'w');
      b.arena.u8(w).set(before);
      const mult = makeUpdateMultiplier(3e-3, Math.max(...q16.params[layer]!.weightScales), 3);
      const prepared = prepareUpdate(b.arena, { directions: 3, dist: 'gaussian', multiplier: mult.multiplier, shift: mult.shift });
      const tensorId = session.paramLayers.indexOf(layer);
      const keys = [0, 1, 2].map((j) => streamKey(b.device, directionSeed(config.seed, step, j), tensorId));
      updateWeights(b.arena, prepared, w, before.length / 2, 16, { keys, signs: r.signs });
      expect(same(b.arena.u8(w).slice(0, before.length), stored(session, layer))).toBe(true);
      b.arena.reset();
    }
  });

  it('the directions are judged at the neighbour: a plain step from the neighbour weights gets the same signs', async () => {
    const config = { ...BASE, sharpness: { rho: 5e-3 } };
    const sam = await makeTrainer(head(), config);
    const neighbour = sam.session.extra.get('zo-neighbour:w:logits')!;
    let at: Uint8Array | undefined;
    sam.trainer.config.phaseHook = (phase) => {
      if (phase === 'probe') at = new Uint8Array(sam.session.mcu.device.memory.buffer, neighbour.offset, neighbour.bytes).slice();
    };
    const signs: number[][] = [];
    const replayed: number[][] = [];
    for (let s = 0; s < 4; s++) {
      signs.push(sam.trainer.trainStep(sam.set).signs);
      const plain = await makeTrainer(head(), BASE);
      plain.session.mcu.device.bytes.set(at!, plain.session.weights.get('logits')!.offset);
      plain.trainer.step = s;
      replayed.push(plain.trainer.trainStep(plain.set).signs);
    }
    expect(replayed).toEqual(signs);
    const plain = await makeTrainer(head(), BASE);
    const plainSigns = [0, 1, 2, 3].map(() => plain.trainer.trainStep(plain.set).signs);
    expect(plainSigns).not.toEqual(signs);
  });
});

describe('float zeroth-order (FF fp)', () => {
  async function floatTrainer(trainable: string[], seed = 4) {
    const opts = { batch: 25, trainable: new Set(trainable), optimizer: { kind: 'sgd' as const, lr: 1 }, extraSram: floatZoSramBuffers(proto, trainable) };
    const plan = BackpropSession.plan(proto, opts);
    const mcu = await Mcu.create({ budget: { sramBytes: plan.sramBytes + 128 * 1024, flashBytes: DEVICE.flashBytes }, build: 'simd' });
    const session = new BackpropSession(mcu, proto, opts);
    const trainer = new FloatZoTrainer(session, trainable, { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 1e-2, seed });
    const weights = (l: string) => new Uint8Array(new Float32Array(session.exportModel().params[l]!.weights).buffer);
    return { session, trainer, weights };
  }

  it('lowers the loss, is deterministic, and restores the f32 weights bit for bit when a step throws', async () => {
    const a = await floatTrainer(head());
    const b = await floatTrainer(head());
    const before = a.trainer.lossOn(episode.support);
    for (let s = 0; s < 20; s++) {
      a.trainer.trainStep(episode.support);
      b.trainer.trainStep(episode.support);
    }
    expect(a.trainer.lossOn(episode.support)).toBeLessThan(before - 0.02);
    expect(same(a.weights('logits'), b.weights('logits'))).toBe(true);
    const pre = a.weights('logits');
    a.trainer.config.phaseHook = () => {
      throw new Error('injected between the + and − forward passes');
    };
    expect(() => a.trainer.trainStep(episode.support)).toThrow(/injected/);
    expect(same(a.weights('logits'), pre)).toBe(true);
    expect(a.trainer.step).toBe(20);
  });

  it('uses the same int8 z stream as QZO-FF (same seed, same tensor id)', async () => {
    const f = await floatTrainer(head());
    const q = await makeTrainer(head(), BASE);
    const zBuf = f.session.mcu.sram.alloc(160, 'probe');
    const tensorId = q.session.paramLayers.indexOf('logits');
    const seed = directionSeed(4, 0, 0);
    fillZ(f.session.mcu.sram, zBuf, 160, { key: streamKey(f.session.mcu.device, seed, tensorId), start: 0, dist: 'gaussian', oneQ: ONE_Q });
    // QZO-FF's first + perturbation moves weight i by exactly round(εq·z_i/1q): recover z's sign pattern.
    const b = benches[0]!;
    const w = b.arena.alloc(320, 'w');
    const p = b.arena.alloc(320, 'p');
    b.arena.i16(w).fill(0);
    const spec = makePerturbSpec({ seed, tensorId, epsilon: 1e-3, weightScale: Math.max(...q16.params.logits!.weightScales), dist: 'gaussian', sign: 1, weightBits: 16 }, b.device);
    perturbWeights(b.arena, w, p, 160, 16, spec);
    const z = new Int8Array(f.session.mcu.device.memory.buffer, zBuf.offset, 160);
    const moved = b.arena.i16(p).slice(0, 160);
    // From w = 0 the perturbed weight is requant(εq·z_i, 1/1q) = εq·z_i/36 rounded: within half an LSB.
    expect(z.some((v) => v !== 0)).toBe(true);
    for (let i = 0; i < 160; i++) expect(Math.abs(moved[i]! - (spec.signedEps * z[i]!) / ONE_Q)).toBeLessThanOrEqual(0.5);
    b.arena.reset();
  });
});

describe('8w8a', () => {
  it('plain QZO-FF refuses 8-bit conv weights with a message naming the layer and the remedy', async () => {
    const err = await makeTrainer(['conv3'], BASE, q8).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/layer 'conv3': ε = 0\.001 is below half a weight LSB .* use 16-bit weights or a larger ε, or set dither: true/);
  });

  it('stochastic rounding is unbiased: the mean dithered step equals the sub-LSB value', () => {
    const b = benches[2]!;
    const n = 20000;
    const src = b.arena.alloc(n, 'w');
    const dst = b.arena.alloc(n, 'w+');
    const zb = b.arena.alloc(n, 'z');
    b.arena.i8(zb).fill(36); // z = 1.0
    b.arena.i8(src).fill(0);
    const e = 0.137; // LSBs per z unit: δ = 4.93 on average
    perturbMaterialised(b.arena, src, dst, n, 8, { z: zb, key: 0, dist: 'gaussian', signedEps: 1, multiplier: 0, shift: 0, dither: { key: 99, factor: makeDitherFactor(e, 'test') } });
    const out = b.arena.i8(dst).slice(0, n);
    const mean = out.reduce((s, v) => s + v, 0) / n;
    expect(Math.abs(mean - e * 36)).toBeLessThan(0.02);
    expect(new Set(out).size).toBe(2); // floor and ceil only
    b.arena.reset();
  });

  it('with dither, 8-bit conv weights train: they change and the training loss falls', async () => {
    const { session, trainer, set } = await makeTrainer(['conv3', 'logits'], { ...BASE, dither: true }, q8);
    const w0 = stored(session, 'conv3');
    const before = trainer.lossAt(set);
    for (let s = 0; s < 40; s++) trainer.trainStep(set);
    expect(same(stored(session, 'conv3'), w0)).toBe(false);
    expect(trainer.lossAt(set)).toBeLessThan(before - 0.05);
  });
});

describe('all modes on every build', () => {
  it('bias + sparse + momentum + sharpness + dither train to bit-identical parameters on scalar, simd and relaxed', async () => {
    const all = names();
    const config: QzoFfConfig = { ...BASE, params: 'weights+bias', sparse: { by: 'random', seed: 2 }, momentum: { alpha: 0.5, beta: 0.7 }, sharpness: { rho: 3e-3 }, dither: true };
    const hashes = await Promise.all((['scalar', 'simd', 'relaxed'] as const).map(async (build) => {
      const t = await makeTrainer(all, { ...config }, q16, build);
      const h0 = hashParams(t.session, all);
      for (let s = 0; s < 4; s++) t.trainer.trainStep(t.set);
      return { h0, h: hashParams(t.session, all) };
    }));
    expect(hashes[0]!.h).not.toBe(hashes[0]!.h0);
    expect(hashes[1]!.h).toBe(hashes[0]!.h);
    expect(hashes[2]!.h).toBe(hashes[0]!.h);
  });
});

describe('callbacks, early stopping and failed steps', () => {
  it('fit reports {step, loss, lr, stepsPerSec} per step and evaluates per epoch, deterministically for a seed', async () => {
    const run = async () => {
      const { trainer, set, session } = await makeTrainer(head(), { ...BASE, batchSize: 10, schedule: { kind: 'step', every: 3, gamma: 0.5 } });
      const infos: StepInfo[] = [];
      const epochs: number[] = [];
      const r = trainer.fit(set, { steps: 9, onStep: (i) => infos.push(i), evaluate: (e) => e * 10, onEpoch: (e) => epochs.push(e.step) });
      return { infos, epochs, r, hash: hashParams(session, head()) };
    };
    const a = await run();
    const b = await run();
    expect(a.infos.map((i) => i.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.infos.map((i) => i.lr)).toEqual([3e-3, 3e-3, 3e-3, 1.5e-3, 1.5e-3, 1.5e-3, 7.5e-4, 7.5e-4, 7.5e-4]);
    expect(a.infos.every((i) => Number.isFinite(i.loss) && i.loss > 0 && i.stepsPerSec > 0)).toBe(true);
    expect(a.epochs).toEqual([3, 6, 9]); // 25 samples, batch 10: 3 steps per epoch
    expect(a.r.metrics).toEqual([10, 20, 30]);
    expect(b.infos.map((i) => i.loss)).toEqual(a.infos.map((i) => i.loss));
    expect(b.hash).toBe(a.hash);
  });

  it('early stopping stops after `patience` epochs without improvement and reports the best epoch', async () => {
    const { trainer, set } = await makeTrainer(head(), BASE);
    const metric = [50, 60, 58, 59, 57, 70];
    const r = trainer.fit(set, { steps: 100, epochSteps: 2, evaluate: (e) => metric[e - 1]!, earlyStopping: { patience: 3, mode: 'max' } });
    expect(r.stoppedEarly).toBe(true);
    expect(r.epochs).toBe(5);
    expect(r.steps).toBe(10);
    expect(r.bestEpoch).toBe(2);
    expect(r.bestMetric).toBe(60);
    expect(() => trainer.fit(set, { steps: 1, earlyStopping: { patience: 1 } })).toThrow(ConfigError);
  });

  for (const mode of ['plain', 'bias+sparse+momentum'] as const) {
    it(`a step that throws between the forward passes leaves pre-step parameters; one that throws during the update leaves post-step ones (${mode})`, async () => {
      const all = names();
      const config: QzoFfConfig = mode === 'plain' ? { ...BASE } : { ...BASE, params: 'weights+bias', sparse: { by: 'magnitude' }, momentum: { alpha: 0.5, beta: 0.5 } };
      const victim = await makeTrainer(all, { ...config });
      const clean = await makeTrainer(all, { ...config });
      for (let s = 0; s < 2; s++) {
        victim.trainer.trainStep(victim.set);
        clean.trainer.trainStep(clean.set);
      }
      const pre = hashParams(victim.session, all);
      victim.trainer.config.phaseHook = (phase, d) => {
        if (phase === 'between-forwards' && d.direction === 1) throw new Error('injected mid-step');
      };
      expect(() => victim.trainer.trainStep(victim.set)).toThrow(/injected mid-step/);
      expect(hashParams(victim.session, all)).toBe(pre);
      expect(victim.trainer.step).toBe(2);
      // Retry the same step, this time failing after the first tensor's update.
      victim.trainer.config.phaseHook = (phase) => {
        if (phase === 'update') throw new Error('injected during the update');
      };
      expect(() => victim.trainer.trainStep(victim.set)).toThrow(/injected during the update/);
      clean.trainer.trainStep(clean.set);
      expect(hashParams(victim.session, all)).toBe(hashParams(clean.session, all));
      expect(hashParams(victim.session, all)).not.toBe(pre);
      victim.trainer.config.phaseHook = undefined;
      victim.trainer.trainStep(victim.set);
      clean.trainer.trainStep(clean.set);
      expect(hashParams(victim.session, all)).toBe(hashParams(clean.session, all));
    });
  }
});

describe('configuration errors', () => {
  it('modes refuse a session prepared without their SRAM, and bad options, before touching any weight', async () => {
    const mcu = await Mcu.create({ budget: DEVICE, build: 'simd' });
    const session = new QuantizedSession(mcu, q16, { batch: 5, trainable: new Set(head()), extraSram: qzoFfSramBuffers(5) });
    expect(() => new QzoFfTrainer(session, head(), { ...BASE, sparse: { by: 'magnitude' } })).toThrow(/qzoFfSramBuffers\(batch, \{ model, trainable, config \}\)/);
    expect(() => new QzoFfTrainer(session, head(), { ...BASE, momentum: { alpha: 1.5, beta: 0.5 } })).toThrow(/α must be in \[0, 1\]/);
    expect(() => new QzoFfTrainer(session, head(), { ...BASE, sharpness: { rho: 0 } })).toThrow(/ρ must be/);
    expect(() => parseSelection('sparse:2', { trainerOptions: true })).toThrow(/fraction/);
    expect(() => parseSelection('bias')).toThrow(/not supported here yet/);
    // The SRAM each mode declares (docs/TRAINING.md): head = 160 int16 weights, 5 int32 biases, m = 3.
    const extra = (c: Partial<QzoFfConfig>) => qzoFfSramBuffers(5, { model: q16, trainable: head(), config: { ...BASE, ...c } }).slice(4);
    expect(extra({})).toEqual([]);
    expect(extra({ params: 'bias' })).toEqual([]);
    expect(extra({ sparse: { by: 'magnitude' } })).toEqual([{ name: 'zo-mask:logits', bytes: 20 }, { name: 'zo-backup', bytes: 32 }]);
    expect(extra({ sparse: { by: 'magnitude', maskPerturbation: false } })).toEqual([{ name: 'zo-mask:logits', bytes: 20 }]);
    expect(extra({ momentum: { alpha: 0.5, beta: 0.5 } })).toEqual([{ name: 'zo-z:w:logits', bytes: 480 }, { name: 'zo-history:w:logits', bytes: 160 }, { name: 'zo-backup', bytes: 320 }]);
    expect(extra({ sharpness: { rho: 1e-3 } })).toEqual([{ name: 'zo-neighbour:w:logits', bytes: 320 }]);
    expect(extra({ dither: true })).toEqual([{ name: 'zo-backup', bytes: 320 }]);
    expect(DELTA_Z).toBeCloseTo(3.5 / 127);
  });
});
