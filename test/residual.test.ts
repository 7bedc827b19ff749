// 8w8a with a residual: the update kernel against a reference written from the definition (on every
// build), the invariant that w·2^R + r accumulates every step, and the trainer's behaviour, memory
// plan, refusals and checkpoint round trip.
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
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { makeResidualMultiplier, updateWithResidual, type ResidualBits } from '../src/kernels/residual-update.js';
import { ONE_Q } from '../src/kernels/rng.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.js';
import { checkExportable } from '../src/export/c/prepare.js';
import { ConfigError, ShapeError, UnsupportedError } from '../src/errors.js';
import type { BuildFlavor } from '../src/device/features.js';
import { makeAllBenches, randInt, randomInt8, rng, type Bench } from './helpers/devices.js';
import { multiplyByQuantizedMultiplierRef } from './reference/tflm.js';
import { zAtRef } from './reference/rng-ref.js';

const DEVICE = { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
const BASE: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4 };
const DEVICE_PRESET = { name: 'nrf52840', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };
const RESIDUAL: QzoFfConfig = { ...BASE, residual: true };
let benches: Bench[];
let episode: Episode;
let proto: FloatModel;
let q8: QuantizedModel;
let q16: QuantizedModel;

beforeAll(async () => {
  benches = await makeAllBenches(4 * 1024 * 1024);
  const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 60, seed: 11 });
  proto = await withPrototypeHead(backbone, episode.support);
  const ranges = await calibrate(proto, episode.support);
  q8 = quantizeModel(proto, ranges, { weightBits: 8, perChannel: false });
  q16 = quantizeModel(proto, ranges, { weightBits: 16, perChannel: false });
});

interface Case { bits: ResidualBits; keys: number[]; signs: number[]; start: number; multiplier: number; shift: number; mask: Uint8Array | null }

/** v = w·2^R + r − requant(Σ s_j·z_j), clamped to ±127·2^R, split by round-to-nearest (the definition). */
function reference(w: Int8Array, r: Int8Array | Int16Array, c: Case): { w: number[]; r: number[] } {
  const R = c.bits;
  const outW = Array.from(w);
  const outR = Array.from(r);
  for (let i = 0; i < w.length; i++) {
    if (c.mask && !((c.mask[i >> 3]! >> (i & 7)) & 1)) continue;
    let g = 0;
    for (let j = 0; j < c.keys.length; j++) g += c.signs[j]! * zAtRef(c.keys[j]!, c.start + i, 'gaussian', ONE_Q);
    let v = w[i]! * 2 ** R + r[i]! - multiplyByQuantizedMultiplierRef(g, c.multiplier, c.shift);
    v = Math.max(-127 * 2 ** R, Math.min(127 * 2 ** R, v));
    const wq = Math.floor((v + 2 ** (R - 1)) / 2 ** R);
    outW[i] = wq;
    outR[i] = v - wq * 2 ** R;
  }
  return { w: outW, r: outR };
}

function randomCase(seed: number, n: number, bits: ResidualBits): { c: Case; w: Int8Array; r: Int8Array | Int16Array } {
  const rand = rng(seed);
  const m = randInt(rand, 1, 8);
  const u = makeResidualMultiplier(Math.exp((rand() - 0.5) * 6) * 3e-3, 0.008, m, bits);
  const mask = rand() < 0.5 ? null : Uint8Array.from({ length: Math.ceil(n / 8) }, () => randInt(rand, 0, 255));
  const half = 2 ** (bits - 1);
  const r = bits === 16 ? Int16Array.from({ length: n }, () => randInt(rand, -half, half - 1)) : Int8Array.from({ length: n }, () => randInt(rand, -half, half - 1));
  return {
    c: { bits, keys: Array.from({ length: m }, () => randInt(rand, 0, 2 ** 32 - 1)), signs: Array.from({ length: m }, () => randInt(rand, -1, 1)), start: randInt(rand, 0, 1000), ...u, mask },
    w: randomInt8(rand, n, -127, 127), r,
  };
}

function run(b: Bench, w: Int8Array, r: Int8Array | Int16Array, c: Case): { w: number[]; r: number[] } {
  b.arena.reset();
  const wb = b.arena.put(w, 'w');
  const rb = b.arena.put(r, 'r');
  const mask = c.mask ? b.arena.put(c.mask, 'mask') : null;
  const keys = b.arena.alloc(32, 'keys');
  const signs = b.arena.alloc(32, 'signs');
  updateWithResidual(b.arena, wb, rb, w.length, { keys, signs, keyValues: c.keys, signValues: c.signs, dist: 'gaussian', multiplier: c.multiplier, shift: c.shift, bits: c.bits, mask, start: c.start });
  return { w: Array.from(b.arena.i8(wb)), r: Array.from(c.bits === 16 ? b.arena.i16(rb) : b.arena.i8(rb)) };
}

describe('residual update kernel', () => {
  it('equals the definition on scalar, simd and relaxed, for int8 and int16 residuals, dense and masked', () => {
    for (let k = 0; k < 12; k++) {
      const bits: ResidualBits = k % 2 ? 16 : 8;
      const n = 37 + 61 * k;
      const { c, w, r } = randomCase(100 + k, n, bits);
      const want = reference(w, r, c);
      for (const b of benches) expect(run(b, w, r, c), `case ${k} on ${b.device.build}`).toEqual(want);
    }
  });

  it('accumulates sub-LSB steps: after 40 steps of ~0.05 LSB per unit of z, w·256 + r is exactly the sum of every step', () => {
    const b = benches[0]!;
    const n = 512;
    // c = 0.05 LSB per unit of Σ s·z: the plain update (round(c·g)) moves only |g| ≥ 10 — here one small step at a time.
    const u = makeResidualMultiplier(0.05 * 0.008 / (3.5 / 127), 0.008, 1, 8);
    let w = new Int8Array(n);
    let r = new Int8Array(n);
    const total = new Float64Array(n);
    for (let s = 0; s < 40; s++) {
      const c: Case = { bits: 8, keys: [1000 + s], signs: [1], start: 0, ...u, mask: null };
      for (let i = 0; i < n; i++) total[i]! -= multiplyByQuantizedMultiplierRef(zAtRef(c.keys[0]!, i, 'gaussian', ONE_Q), u.multiplier, u.shift);
      const out = run(b, w, r, c);
      w = Int8Array.from(out.w);
      r = Int8Array.from(out.r);
    }
    for (let i = 0; i < n; i++) expect(w[i]! * 256 + r[i]!).toBe(total[i]);
    expect(w.some((x) => x !== 0)).toBe(true);
  });

  it('refuses bad arguments before writing anything', () => {
    const b = benches[0]!;
    b.arena.reset();
    const w = b.arena.alloc(16, 'w');
    const keys = b.arena.alloc(32, 'keys');
    const signs = b.arena.alloc(32, 'signs');
    const base = { keys, signs, keyValues: [1], signValues: [1], dist: 'gaussian' as const, multiplier: 2 ** 30, shift: 0, bits: 8 as ResidualBits };
    expect(() => updateWithResidual(b.arena, w, w, 16, base)).toThrow(ShapeError);
    const r = b.arena.alloc(16, 'r');
    expect(() => updateWithResidual(b.arena, w, r, 16, { ...base, bits: 16 })).toThrow(/residual/);
    expect(() => updateWithResidual(b.arena, w, r, 16, { ...base, bits: 4 as ResidualBits })).toThrow(ConfigError);
    expect(() => updateWithResidual(b.arena, w, r, 16, { ...base, signValues: [2] })).toThrow(ConfigError);
  });
});

async function makeTrainer(trainable: string[], config: QzoFfConfig, model = q8, build: BuildFlavor = 'simd') {
  const mcu = await Mcu.create({ budget: DEVICE, build });
  const session = new QuantizedSession(mcu, model, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model, trainable, config }) });
  const trainer = new QzoFfTrainer(session, trainable, config);
  return { session, trainer, set: trainer.prepareData(episode.support) };
}

const storedBytes = (session: QuantizedSession, layer: string) => {
  const b = session.weights.get(layer)!;
  return new Uint8Array(session.mcu.device.memory.buffer, b.offset, b.bytes).slice();
};
const names = () => Object.keys(q8.params);

describe('8w8a with a residual', () => {
  it('trains the 8-bit convolutions plain 8w8a refuses: they change and the training loss falls', async () => {
    await expect(makeTrainer(['conv3', 'logits'], BASE)).rejects.toThrow(/below half a weight LSB/);
    const { session, trainer, set } = await makeTrainer(['conv3', 'logits'], RESIDUAL);
    const w0 = storedBytes(session, 'conv3');
    const before = trainer.lossAt(set);
    for (let s = 0; s < 40; s++) trainer.trainStep(set);
    expect(Buffer.compare(Buffer.from(storedBytes(session, 'conv3')), Buffer.from(w0))).not.toBe(0);
    expect(trainer.lossAt(set)).toBeLessThan(before - 0.05);
  });

  it('trains to bit-identical weights and residuals on scalar, simd and relaxed', async () => {
    const all = names();
    const hashes = await Promise.all((['scalar', 'simd', 'relaxed'] as const).map(async (build) => {
      const t = await makeTrainer(all, { ...RESIDUAL, residualBits: 16 }, q8, build);
      for (let s = 0; s < 3; s++) t.trainer.trainStep(t.set);
      const h = createHash('sha256');
      for (const x of t.trainer.exportState().tensors) h.update(new Uint8Array(x.values.buffer)).update(new Uint8Array(x.residual!.buffer));
      return h.digest('hex');
    }));
    expect(hashes[1]).toBe(hashes[0]);
    expect(hashes[2]).toBe(hashes[0]);
  });

  it('plans one residual per trained weight tensor: int8 makes 8-bit weights + residual the bytes of 16-bit weights', () => {
    const trainable = names();
    const buffers = (c: QzoFfConfig) => qzoFfSramBuffers(5, { model: q8, trainable, config: c }).filter((b) => b.name.startsWith('zo-residual'));
    const weights = trainable.map((n) => q8.params[n]!.weights.length);
    expect(buffers(RESIDUAL)).toEqual(trainable.map((n, i) => ({ name: `zo-residual:w:${n}`, bytes: weights[i] })));
    expect(buffers({ ...RESIDUAL, residualBits: 16 }).map((b) => b.bytes)).toEqual(weights.map((x) => 2 * x));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(weights) + sum(buffers(RESIDUAL).map((b) => b.bytes))).toBe(sum(trainable.map((n) => q16.params[n]!.weights.byteLength)));
    expect(buffers(BASE)).toEqual([]);
  });

  it('refuses 16-bit weights, dither, momentum, the guarded step and bias-only training with a typed error', async () => {
    await expect(makeTrainer(['logits'], RESIDUAL, q16)).rejects.toThrow(/16-bit weights: the residual is for 8-bit weights/);
    for (const extra of [{ dither: true }, { momentum: { alpha: 0.5, beta: 0.5 } }, { control: { guard: true } }, { params: 'bias' as const }, { residualBits: 4 as ResidualBits }]) {
      await expect(makeTrainer(['logits'], { ...RESIDUAL, ...extra })).rejects.toThrow(ConfigError);
    }
    await expect(makeTrainer(['logits'], { ...BASE, residualBits: 8 })).rejects.toThrow(/residual is off/);
  });

  it('a checkpoint carries the residual: resuming gives bit for bit the uninterrupted run', async () => {
    const trainable = ['conv3', 'logits'];
    const a = await makeTrainer(trainable, RESIDUAL);
    for (let s = 0; s < 6; s++) a.trainer.trainStep(a.set);
    const full = a.trainer.exportState();
    const b = await makeTrainer(trainable, RESIDUAL);
    for (let s = 0; s < 3; s++) b.trainer.trainStep(b.set);
    const saved = decodeCheckpoint(encodeCheckpoint({ run: {}, trainer: b.trainer.exportState(), losses: new Float64Array(3) }));
    expect(saved.trainer.tensors[0]!.residual).toBeInstanceOf(Int8Array);
    expect(saved.trainer.tensors[0]!.residual!.some((x) => x !== 0)).toBe(true);
    const c = await makeTrainer(trainable, RESIDUAL);
    c.trainer.restoreState(saved.trainer, c.set.count);
    for (let s = 0; s < 3; s++) c.trainer.trainStep(c.set);
    expect(c.trainer.exportState()).toEqual(full);
    // A state without the residual does not fit a trainer that keeps one (and the other way round).
    const plain = { ...saved.trainer, tensors: saved.trainer.tensors.map((t) => ({ ...t, residual: null })) };
    expect(() => c.trainer.restoreState(plain, c.set.count)).toThrow(/has no residual/);
  });

  it('the C export refuses the residual mode with an UnsupportedError', async () => {
    const err = (() => { try { checkExportable({ backbone: proto, support: episode.support, query: episode.query, device: DEVICE_PRESET, precision: '8w8a', steps: 1, enhancements: { residual: true } }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(UnsupportedError);
    expect((err as Error).message).toMatch(/residual/);
  });
});

describe('residual options', () => {
  it('--residual takes 8 (the default) or 16 and only with 8w8a; the memory report plans it for 8-bit weights only', async () => {
    const { residualOption } = await import('../src/cli/residual-option.js');
    const { memoryReport } = await import('../src/report/memory.js');
    expect(residualOption(undefined, '8w8a')).toBeUndefined();
    expect(residualOption(true, '8w8a')).toBe(8);
    expect(residualOption('16', '8w8a')).toBe(16);
    expect(() => residualOption('4', '8w8a')).toThrow(ConfigError);
    expect(() => residualOption(true, '16w8a')).toThrow(/--precision 8w8a/);
    const model = { float: proto, quantized: q8 };
    const device = { name: 'nrf52840', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };
    const plain = memoryReport(model, { device, batch: 5, weightBits: 8, modes: ['ff'] }).modes.ff!;
    const withResidual = memoryReport(model, { device, batch: 5, weightBits: 8, modes: ['ff'], residual: 8 }).modes.ff!;
    const trained = names().reduce((s, n) => s + q8.params[n]!.weights.length, 0);
    expect(withResidual.label).toBe('QZO-FF 8w8a + int8 residual');
    // The residuals live for the whole run, so the peak grows by at least their bytes (plus alignment).
    expect(withResidual.sramPeak - plain.sramPeak).toBeGreaterThanOrEqual(trained);
    expect(withResidual.sramPeak - plain.sramPeak).toBeLessThan(trained + 64);
    expect(() => memoryReport(model, { device, weightBits: 16, residual: 8 })).toThrow(ConfigError);
  });
});
