// The hybrid method (integer backprop for the dense head, QZO-FF for the rest) and the backprop
// baseline's recipe: the head kernel against a float64/BigInt reference of the same integer formula,
// identical bits in every build, the plan equal to the measured SRAM, and the CLI end to end.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { makeAllBenches, rng, randInt, randomInt8, randomInt16, randomInt32, type Bench } from './helpers/devices.js';
import { lastmile } from './helpers/cli.js';
import { accumulateHeadGradient, applyHeadStep, makeHeadStep } from '../src/kernels/head-grad.js';
import { prepareCrossEntropy } from '../src/kernels/loss.js';
import { ConfigError } from '../src/errors.js';
import { loadModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { HybridTrainer, hybridHead, hybridSramBuffers } from '../src/train/hybrid.js';
import { planSessions } from '../src/train/prepare-run.js';
import { BP_RECIPE, plateauReached, plateauTracker, trainBackpropRecipe } from '../src/train/bp-recipe.js';
import { evaluate } from '../src/train/evaluate.js';
import type { BuildFlavor } from '../src/device/features.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(4 * 1024 * 1024);
});

/** round(v / 2^s), half away from zero, in BigInt (v·mult needs 62 bits: more than a double holds). */
function roundShift(v: bigint, s: number): bigint {
  const half = 1n << BigInt(s - 1);
  return v >= 0n ? (v + half) >> BigInt(s) : -((-v + half) >> BigInt(s));
}

interface Case {
  rows: number; classes: number; features: number; zero: number;
  logits: Int32Array; labels: Int32Array; feats: Int8Array; scale: number;
}

function randomCase(r: () => number): Case {
  const rows = randInt(r, 1, 8);
  const classes = randInt(r, 2, 12);
  const features = randInt(r, 1, 40);
  const spread = [50, 5000, 2 ** 20][randInt(r, 0, 2)]!;
  return {
    rows, classes, features, zero: randInt(r, -128, 127),
    logits: randomInt32(r, rows * classes, -spread, spread),
    labels: Int32Array.from({ length: rows }, () => randInt(r, 0, classes - 1)),
    feats: randomInt8(r, rows * features),
    scale: 10 ** (-1 - 4 * r()), // one logit step: 1e-5 … 0.1 nats
  };
}

/** Runs the kernel on one build; returns δ, ΣδF and Σδ as the device wrote them. */
function runKernel(b: Bench, c: Case, prior?: { w: Int32Array; b: Int32Array }) {
  const a = b.arena;
  a.reset();
  const logits = a.put(c.logits, 'logits');
  const labels = a.put(c.labels, 'labels');
  const feats = a.put(c.feats, 'features');
  const delta = a.alloc(c.rows * c.classes * 4, 'delta');
  const gradW = a.put(prior?.w ?? new Int32Array(c.classes * c.features), 'gw');
  const gradB = a.put(prior?.b ?? new Int32Array(c.classes), 'gb');
  accumulateHeadGradient(a, logits, labels, feats, c.rows, { classes: c.classes, features: c.features, featureZero: c.zero }, prepareCrossEntropy({ scale: c.scale, zeroPoint: 0 }, 'int32'), { delta, gradW, gradB });
  const mem = b.device.memory.buffer;
  const out = {
    delta: new Int32Array(mem, delta.offset, c.rows * c.classes).slice(),
    w: new Int32Array(mem, gradW.offset, c.classes * c.features).slice(),
    b: new Int32Array(mem, gradB.offset, c.classes).slice(),
  };
  return out;
}

describe('integer head gradient (hybrid method)', () => {
  it('δ is within one Q.15 unit of float64 softmax − onehot; ΣδF and Σδ are exact; every build gives the same bits', () => {
    const r = rng(181);
    let offByOne = 0;
    let total = 0;
    for (let t = 0; t < 200; t++) {
      const c = randomCase(r);
      const prior = { w: randomInt32(r, c.classes * c.features, -(2 ** 20), 2 ** 20), b: randomInt32(r, c.classes, -(2 ** 20), 2 ** 20) };
      const outs = benches.map((b) => runKernel(b, c, prior));
      for (const o of outs.slice(1)) {
        expect(Array.from(o.delta)).toEqual(Array.from(outs[0]!.delta));
        expect(Array.from(o.w)).toEqual(Array.from(outs[0]!.w));
        expect(Array.from(o.b)).toEqual(Array.from(outs[0]!.b));
      }
      const { delta, w, b } = outs[0]!;
      const q = prepareCrossEntropy({ scale: c.scale, zeroPoint: 0 }, 'int32');
      const wantW = Array.from(prior.w);
      const wantB = Array.from(prior.b);
      for (let row = 0; row < c.rows; row++) {
        const x = Array.from(c.logits.subarray(row * c.classes, (row + 1) * c.classes));
        const max = Math.max(...x);
        // a_c as the kernel forms it (the cross-entropy's Q5.26 rounding), then exact float64 softmax.
        const a = x.map((v) => Number(roundShift(BigInt(v - max) * BigInt(q.multiplier), 31 - q.shift)) / 2 ** 26);
        const e = a.map((v) => Math.exp(v));
        const sum = e.reduce((s, v) => s + v, 0);
        for (let k = 0; k < c.classes; k++) {
          const ref = (e[k]! / sum) * 2 ** 15 - (k === c.labels[row] ? 2 ** 15 : 0);
          const got = delta[row * c.classes + k]!;
          expect(Math.abs(got - ref)).toBeLessThanOrEqual(1);
          if (got !== Math.round(ref)) offByOne++;
          total++;
          wantB[k]! += got;
          for (let d = 0; d < c.features; d++) wantW[k * c.features + d]! += got * (c.feats[row * c.features + d]! - c.zero);
        }
        // Σ_c δ = Σ p − 1 ≈ 0: the rounding of each p moves it by at most half a unit per class.
        const rowSum = Array.from(delta.subarray(row * c.classes, (row + 1) * c.classes)).reduce((s, v) => s + v, 0);
        expect(Math.abs(rowSum)).toBeLessThanOrEqual(c.classes);
      }
      expect(Array.from(w)).toEqual(wantW);
      expect(Array.from(b)).toEqual(wantB);
    }
    // The ±1 allowance is for exp's few-LSB error crossing a rounding boundary: rare, not the rule.
    expect(offByOne / total).toBeLessThan(0.01);
  });

  it('the SGD step is round(g·c) half away from zero, clamped to the grid, and clears the sums; same bits in every build', () => {
    const r = rng(5);
    for (let t = 0; t < 100; t++) {
      const bits = ([8, 16, 32] as const)[t % 3]!;
      const n = randInt(r, 1, 64);
      const params = bits === 8 ? randomInt8(r, n, -127, 127) : bits === 16 ? randomInt16(r, n) : randomInt32(r, n);
      const grad = randomInt32(r, n, -(2 ** 31), 2 ** 31 - 1);
      const step = makeHeadStep(2 ** (-30 + 35 * r()), "test step");
      const outs = benches.map((b) => {
        b.arena.reset();
        const p = b.arena.put(params, 'p');
        const g = b.arena.put(grad, 'g');
        applyHeadStep(b.arena, p, bits, n, g, step);
        const mem = b.device.memory.buffer;
        const after = bits === 8 ? new Int8Array(mem, p.offset, n).slice() : bits === 16 ? new Int16Array(mem, p.offset, n).slice() : new Int32Array(mem, p.offset, n).slice();
        return { after: Array.from(after), grad: Array.from(new Int32Array(mem, g.offset, n)) };
      });
      for (const o of outs) expect(o).toEqual(outs[0]);
      const limit = bits === 8 ? 127n : bits === 16 ? 32767n : 2n ** 31n - 1n;
      const low = bits === 32 ? -(2n ** 31n) : -limit;
      const want = Array.from(params, (v, i) => {
        const x = BigInt(v) - roundShift(BigInt(grad[i]!) * BigInt(step.multiplier), step.totalShift);
        return Number(x > limit ? limit : x < low ? low : x);
      });
      expect(outs[0]!.after).toEqual(want);
      expect(outs[0]!.grad.every((g) => g === 0)).toBe(true);
    }
    expect(() => makeHeadStep(0, 'x')).toThrow(ConfigError);
    expect(() => makeHeadStep(2 ** -40, 'x')).toThrow(/raise the learning rate/);
    expect(() => makeHeadStep(2 ** 31, 'x')).toThrow(/lower the learning rate/);
  });

  it('a bad label is a DataError, not a trap', () => {
    const b = benches[0]!;
    const c = randomCase(rng(9));
    c.labels[0] = c.classes;
    expect(() => runKernel(b, c)).toThrow(/label/);
  });
});

describe('hybrid training on the device', () => {
  let episode: Episode;
  let q16: QuantizedModel;
  let proto: FloatModel;
  const CONFIG: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4 };
  beforeAll(async () => {
    const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
    episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 40, seed: 11 });
    proto = await withPrototypeHead(backbone, episode.support);
    q16 = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 16, perChannel: false });
  });

  async function hybridRun(trainable: string[], build: BuildFlavor, steps: number) {
    const { sessionOptions, plans } = planSessions({ proto, quantized: q16, trainable, microBatch: 5, trainerConfig: CONFIG, hybrid: true });
    const mcu = await Mcu.create({ budget: { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 }, build });
    const session = new QuantizedSession(mcu, q16, sessionOptions);
    const trainer = new HybridTrainer(session, trainable, CONFIG);
    const set = trainer.prepareData(episode.support);
    const before = evaluate(session, episode.query).accuracy;
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) losses.push(trainer.trainStep(set).loss);
    const h = createHash('sha256');
    for (const l of trainable) {
      for (const b of [session.weights.get(l)!, session.biases.get(l)!]) h.update(new Uint8Array(mcu.device.memory.buffer, b.offset, b.bytes));
    }
    return { mcu, session, plan: plans.ff, before, after: evaluate(session, episode.query).accuracy, losses, hash: h.digest('hex') };
  }

  it('head only: the measured SRAM equals the plan, which holds the head sums; same bits in every build; it learns', async () => {
    const head = hybridHead(q16);
    const runs = await Promise.all((['scalar', 'simd', 'relaxed'] as const).map((b) => hybridRun([head.name], b, 15)));
    const r = runs[0]!;
    expect(r.mcu.sram.highWater).toBe(r.plan.sramBytes);
    expect(r.session.plan.sramBytes).toBe(r.plan.sramBytes);
    for (const e of hybridSramBuffers(q16, 5)) expect(r.plan.sram.buffers.find((b) => b.name === `extra:${e.name}`)?.bytes).toBe(e.bytes);
    expect(r.plan.sram.buffers.find((b) => b.name === 'extra:hybrid-grad-w')!.bytes).toBe(head.classes * head.features * 4);
    expect(new Set(runs.map((x) => x.hash)).size).toBe(1);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0]!);
    expect(r.after).toBeGreaterThan(r.before);
  });

  it('full: the body trains by QZO-FF (no head buffers of its own), the head by backprop; plan = measured; builds agree', async () => {
    const all = Object.keys(q16.params);
    const runs = await Promise.all((['scalar', 'relaxed'] as const).map((b) => hybridRun(all, b, 3)));
    const r = runs[0]!;
    expect(r.mcu.sram.highWater).toBe(r.plan.sramBytes);
    expect(runs[1]!.hash).toBe(r.hash);
    // The plan is QZO-FF's plus exactly the head's buffers (SRAM plans may reuse gaps, so compare the extras).
    const extras = r.plan.sram.buffers.filter((b) => b.name.startsWith('extra:hybrid-')).reduce((s, b) => s + b.bytes, 0);
    expect(extras).toBe(hybridSramBuffers(q16, 5).reduce((s, b) => s + b.bytes, 0));
    expect(r.losses.every(Number.isFinite)).toBe(true);
  });

  it('head-only QZO-FF leaves the prototype bias where it is (params weights, by design); weights+bias and the hybrid move it', async () => {
    const head = hybridHead(q16).name;
    const biasAfter = async (params: QzoFfConfig['params']) => {
      const config = { ...CONFIG, params };
      const mcu = await Mcu.create({ budget: { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 } });
      const session = new QuantizedSession(mcu, q16, { batch: 5, trainable: new Set([head]), extraSram: qzoFfSramBuffers(5, { model: q16, trainable: [head], config }) });
      const { QzoFfTrainer } = await import('../src/train/qzo-ff.js');
      const t = new QzoFfTrainer(session, [head], config);
      const set = t.prepareData(episode.support);
      for (let s = 0; s < 5; s++) t.trainStep(set);
      const b = session.biases.get(head)!;
      const w = session.weights.get(head)!;
      return { bias: Array.from(new Int32Array(mcu.device.memory.buffer, b.offset, b.bytes / 4)), weights: Array.from(new Int16Array(mcu.device.memory.buffer, w.offset, w.bytes / 2)) };
    };
    const frozen = await biasAfter('weights');
    expect(frozen.bias).toEqual(Array.from(q16.params[head]!.bias));
    expect(frozen.weights).not.toEqual(Array.from(q16.params[head]!.weights));
    expect((await biasAfter('weights+bias')).bias).not.toEqual(Array.from(q16.params[head]!.bias));
    const hybrid = await hybridRun([head], 'simd', 2);
    const b = hybrid.session.biases.get(head)!;
    expect(Array.from(new Int32Array(hybrid.mcu.device.memory.buffer, b.offset, b.bytes / 4))).not.toEqual(Array.from(q16.params[head]!.bias));
  });

  it('refuses a session that was not prepared for it, and a selection without the head', async () => {
    const head = hybridHead(q16).name;
    const mcu = await Mcu.create({ budget: { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 } });
    const session = new QuantizedSession(mcu, q16, { batch: 5, trainable: new Set([head]), extraSram: qzoFfSramBuffers(5) });
    expect(() => new HybridTrainer(session, [head], CONFIG)).toThrow(/hybridSramBuffers/);
    expect(() => new HybridTrainer(session, [Object.keys(q16.params)[0]!], CONFIG)).toThrow(ConfigError);
  });
});

describe('the backprop baseline recipe', () => {
  it('stops once the loss has not improved by the relative gain for `patience` steps, or at the cap', () => {
    const rule = { patience: 3, minRelativeGain: 0.01, minAbsoluteGain: 0, maxSteps: 100 };
    expect(plateauReached([1, 0.9, 0.8], rule)).toBe(false);
    // 0.995 is not 1% below 1.0: three non-improving steps after the best → stop.
    expect(plateauReached([1, 0.995, 0.995, 0.992], rule)).toBe(true);
    expect(plateauReached([1, 0.995, 0.995, 0.98], rule)).toBe(false);
    expect(plateauReached([1, 0.995, 0.995, 0.98, 0.979, 0.975], rule)).toBe(false);
    expect(plateauReached([1, 0.995, 0.995, 0.98, 0.979, 0.975, 0.975], rule)).toBe(true);
    expect(plateauReached(Array.from({ length: 100 }, (_, i) => 1 / (i + 1)), rule)).toBe(true);
    // A loss decaying geometrically to 0 never stops a purely relative rule; the absolute gain does.
    const decay = Array.from({ length: 99 }, (_, i) => 0.9 ** i);
    expect(plateauReached(decay, rule)).toBe(false);
    expect(plateauReached(decay, { ...rule, minAbsoluteGain: 1e-3 })).toBe(true);
    // The tracker a training loop uses makes the same decision at every step.
    const r = rng(3);
    for (let t = 0; t < 50; t++) {
      let l = 2;
      const losses: number[] = [];
      const track = plateauTracker(rule);
      for (let s = 0; s < 100; s++) {
        l *= 1 - 0.03 * r() + 0.01 * r();
        losses.push(l);
        const stop = track(l);
        expect(stop).toBe(plateauReached(losses, rule));
        if (stop) break;
      }
    }
    expect(BP_RECIPE).toMatchObject({ optimizer: 'adam', patience: 50, minRelativeGain: 1e-4, minAbsoluteGain: 1e-3, maxSteps: 2000 });
  });

  it('a real run stops at the plateau, below the cap, with the last `patience` losses no real gain on the best', async () => {
    const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
    const ep = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 5, seed: 9100 });
    const p = await withPrototypeHead(backbone, ep.support);
    const head = Object.keys(p.params).slice(-1);
    const recipe = { ...BP_RECIPE, patience: 10 };
    const r = await trainBackpropRecipe(p, ep.support, { trainable: head, seed: 1, recipe });
    expect(r.losses.length).toBeLessThan(recipe.maxSteps);
    expect(plateauReached(r.losses, recipe)).toBe(true);
    expect(plateauReached(r.losses.slice(0, -1), recipe)).toBe(false);
  });
});

describe('lastmile adapt --method hybrid', () => {
  it('trains the main task above zero-shot and prints the baseline recipe', async () => {
    const run = await lastmile(['adapt', '--method', 'hybrid', '--train', 'head', '--steps', '60', '--queries', '40', '--json', '--out', `${process.env.TMPDIR ?? '/tmp'}/lastmile-hybrid-${process.pid}`], { timeoutMs: 300_000 });
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout) as { method: string; zeroShot: number; after: number; bp: number; bpRecipe: { optimizer: string; lr: number; steps: number }; sramPeak: number; memory: { ff: { sramPeak: number } } };
    expect(json.method).toBe('hybrid');
    expect(json.after).toBeGreaterThan(json.zeroShot + 5);
    expect(json.sramPeak).toBe(json.memory.ff.sramPeak);
    expect(json.bpRecipe).toMatchObject({ optimizer: 'adam', lr: BP_RECIPE.lr });
    expect(json.bpRecipe.steps).toBeGreaterThan(0);
  });
});
