// The hybrid's tail on the device, small CNN (models/mnist-cnn-digits04.lmdl): the default plan holds
// the tail's buffers and keeps its input and gate alive, the device measures exactly the plan, every
// build trains to the same bits, training beats zero-shot, and the integer tail gradient is the
// gradient of the real-valued chain (float64, from the dequantized tensors) in direction and — through
// the step factors of hybrid-tail.ts — in size (also for ResNet-8's residual tail and the MLP's dense
// tail). TAIL_NUMBERS=1 prints the measured cosines and ratios.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { initFloatModel, loadModel, type FloatModel } from '../src/model/model.js';
import { architecturePreset } from '../src/model/presets.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { planRun, planSessions, startSession, type RunPlan } from '../src/train/prepare-run.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { HybridTrainer, hybridHead } from '../src/train/hybrid.js';
import { applyTail, findTail, tailBuffers, tailKeptTensors, tailSramBuffers, tailStepFactors, type TailInfo } from '../src/train/hybrid-tail.js';
import { accumulateTailGradient } from '../src/kernels/tail-grad.js';
import { accumulateHeadGradient } from '../src/kernels/head-grad.js';
import { prepareCrossEntropy } from '../src/kernels/loss.js';
import { loadMicroBatch } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import type { QzoFfConfig } from '../src/train/qzo-ff.js';
import { QuantizedSession } from '../src/runtime/session.js';
import type { BuildFlavor } from '../src/device/features.js';

const DEVICE = { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
const CONFIG: QzoFfConfig = { epsilon: 1e-3, directions: 2, dist: 'gaussian', lr: 3e-3, seed: 4 };
let backbone: FloatModel;
let episode: Episode;
let run: RunPlan;
let tail: TailInfo;

beforeAll(async () => {
  backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 40, seed: 11 });
  // The default hybrid: no bpLayers given.
  run = await planRun({ backbone, support: episode.support, precision: '16w8a', selection: { kind: 'full' }, microBatch: 5, trainer: CONFIG, method: 'hybrid' });
  const t = findTail(run.quantized);
  if (typeof t === 'string') throw new Error(t);
  tail = t;
});

function paramsHash(session: QuantizedSession, layers: readonly string[]): string {
  const h = createHash('sha256');
  for (const l of layers) for (const b of [session.weights.get(l)!, session.biases.get(l)!]) h.update(session.mcu.device.bytes.subarray(b.offset, b.offset + b.bytes));
  return h.digest('hex');
}

describe('the default hybrid plan of the small CNN', () => {
  it('learns two layers by backprop: conv3 (through its ReLU and the global pool) and the head', () => {
    expect(run.bpLayers).toBe(2);
    expect(tail).toMatchObject({ name: 'conv3', input: 'pool2', gate: 'conv3', positions: 49, weightBits: 16 });
    expect(tail.geometry).toEqual({ inHeight: 7, inWidth: 7, inChannels: 16, outHeight: 7, outWidth: 7, outChannels: 32, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1 });
    // ReLU gate: passes above the zero point (a real 0), below the int8 top.
    expect(tail.gateLo).toBe(run.quantized.activations.conv3!.zeroPoint);
    expect(tail.gateHi).toBe(127);
  });

  it('the plan holds the tail buffers at their sizes and keeps the tail input and gate to the last op', () => {
    const plan = run.plans.ff;
    for (const e of tailSramBuffers(tail)) expect(plan.sram.buffers.find((b) => b.name === `extra:${e.name}`)?.bytes, e.name).toBe(e.bytes);
    // int64 sums per weight, one filter of int32 patch sums.
    expect(tailSramBuffers(tail).find((b) => b.name === 'tail-grad-w')!.bytes).toBe(32 * 3 * 3 * 16 * 8);
    expect(tailSramBuffers(tail).find((b) => b.name === 'tail-patch')!.bytes).toBe(3 * 3 * 16 * 4);
    expect(run.sessionOptions.keepTensors).toEqual(tailKeptTensors(tail));
    const last = plan.sram.opCount - 1;
    for (const t of tailKeptTensors(tail)) {
      const b = plan.sram.buffers.filter((x) => x.name.endsWith(`:${t}`));
      expect(b.length, `buffer of '${t}' in ${plan.sram.buffers.map((x) => x.name).join(', ')}`).toBeGreaterThan(0);
      expect(Math.max(...b.map((x) => x.lastUse))).toBe(last);
    }
  });

  it('after forward() the tail input and gate still hold what their ops wrote (nothing later reused their SRAM)', async () => {
    const session = await startSession(run, DEVICE, { build: 'simd' });
    const trainer = new HybridTrainer(session, run.trainable, run.trainerConfig);
    const set = trainer.prepareData(episode.support);
    // The input buffer is reused by later ops, so every forward starts from a fresh load.
    const load = () => loadMicroBatch(session, set, [0, 1, 2, 3, 4], 0, 5);
    const ops = session.lowered.ops;
    const snap = (t: string) => {
      const b = session.tensorBuffer(t);
      return Buffer.from(session.mcu.device.bytes.slice(b.offset, b.offset + b.bytes));
    };
    // Run only up to (and including) each tensor's producer, take its contents, then the whole graph.
    const upTo = (t: string) => ops.findIndex((op) => op.output === t) + 1;
    load();
    session.forward(undefined, undefined, 0, upTo(tail.input));
    const input = snap(tail.input);
    load();
    session.forward(undefined, undefined, 0, upTo(tail.gate));
    const gate = snap(tail.gate);
    expect(gate.some((v) => v !== gate[0])).toBe(true);
    load();
    session.forward();
    expect(snap(tail.input).equals(input)).toBe(true);
    expect(snap(tail.gate).equals(gate)).toBe(true);
  });
});

describe('training the small CNN with the tail', () => {
  async function start(build: BuildFlavor) {
    const session = await startSession(run, DEVICE, { build });
    const trainer = new HybridTrainer(session, run.trainable, run.trainerConfig);
    expect(trainer.tail?.name).toBe('conv3');
    const set = trainer.prepareData(episode.support);
    const losses: number[] = [];
    return { session, set, losses, before: evaluate(session, episode.query).accuracy, tail0: paramsHash(session, ['conv3']), steps: (k: number) => { for (let s = 0; s < k; s++) losses.push(trainer.trainStep(set).loss); } };
  }

  it('the measured SRAM equals the plan; every build gives the same bits; 30 steps beat zero-shot', async () => {
    const runs = [];
    for (const b of ['scalar', 'simd', 'relaxed'] as const) {
      const r = await start(b);
      r.steps(6);
      expect(r.session.mcu.sram.highWater).toBe(run.plans.ff.sramBytes);
      expect(paramsHash(r.session, ['conv3']), 'the tail moved').not.toBe(r.tail0);
      runs.push({ ...r, hash: paramsHash(r.session, run.trainable) });
    }
    for (const r of runs.slice(1)) {
      expect(r.hash).toBe(runs[0]!.hash);
      expect(r.losses).toEqual(runs[0]!.losses);
    }
    const simd = runs[1]!;
    simd.steps(24);
    const after = evaluate(simd.session, episode.query).accuracy;
    expect(simd.session.mcu.sram.highWater).toBe(run.plans.ff.sramBytes);
    expect(after, `zero-shot ${simd.before}%`).toBeGreaterThan(simd.before);
    expect(simd.losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(simd.losses.slice(0, 5).reduce((a, b) => a + b) / 5);
  });
});

/** Cosine of two vectors and the ratio of their norms. */
function compare(a: ArrayLike<number>, b: ArrayLike<number>): { cosine: number; ratio: number } {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  return { cosine: ab / Math.sqrt(aa * bb), ratio: Math.sqrt(aa / bb) };
}

/**
 * On `session` (a hybrid session with the tail): the integer tail gradient of the whole support set
 * on unperturbed forwards, the float64 gradient of the mean loss of the real-valued chain conv3 →
 * ReLU → mean pool → head → softmax from the dequantized tensors, and the change one applyTail step
 * makes to the stored weights and bias, in real units.
 */
function gradientCheck(session: QuantizedSession, trainable: readonly string[], eta: number) {
  const trainer = new HybridTrainer(session, trainable, { ...CONFIG, tailLr: eta });
  const t = trainer.tail!;
  const set = trainer.prepareData(episode.support);
  const head = hybridHead(session.model);
  const buffers = tailBuffers(session);
  const extra = (n: string) => session.extra.get(n)!;
  const headBuffers = { delta: extra('hybrid-delta'), gradW: extra('hybrid-grad-w'), gradB: extra('hybrid-grad-b') };
  const loss = prepareCrossEntropy({ scale: session.logitsScale, zeroPoint: 0 }, 'int32');
  const mem = () => session.mcu.device.memory.buffer;
  const g = t.geometry;
  const K = g.kernelHeight * g.kernelWidth * g.inChannels;
  const P = t.positions;
  const sw = (o: number) => t.weightScales[t.weightScales.length === 1 ? 0 : o]!;
  // Dequantized parameters as the device holds them (the bias in s_x·s_w units).
  const Wq = () => Array.from(new Int16Array(mem(), session.weights.get(t.name)!.offset, g.outChannels * K));
  const Bq = () => Array.from(new Int32Array(mem(), session.biases.get(t.name)!.offset, g.outChannels));
  const wBefore = Wq();
  const bBefore = Bq();
  const W = wBefore.map((v, j) => v * sw(Math.floor(j / K)));
  const B = bBefore.map((v, o) => v * sw(o) * t.inputScale);
  const Wh = Array.from(new Int16Array(mem(), session.weights.get(head.name)!.offset, head.classes * head.features), (v) => v * head.weightScale);
  const Bh = Array.from(new Int32Array(mem(), session.biases.get(head.name)!.offset, head.classes), (v) => v * head.weightScale * head.featureScale);
  const dW = new Float64Array(g.outChannels * K);
  const dB = new Float64Array(g.outChannels);
  const n = set.count;
  const all = Array.from({ length: n }, (_, i) => i);
  // Through a residual add (ResNet-8), the gate is ReLU(conv + shortcut): the shortcut's dequantized
  // values are taken from a forward that stops after its producer (the full forward may reuse its SRAM).
  const add = session.lowered.ops.find((op) => op.output === t.gate && op.node.node.kind === 'add');
  const shortcut = add ? add.inputs[1]! : null;
  const shortcutQ = shortcut ? session.model.activations[shortcut]! : null;
  for (let from = 0; from < n; from += session.batch) {
    const rows = Math.min(session.batch, n - from);
    let sc: Int8Array | null = null;
    if (shortcut) {
      loadMicroBatch(session, set, all, from, rows, extra('labels'));
      session.forward(undefined, undefined, 0, session.lowered.ops.findIndex((op) => op.output === shortcut) + 1);
      const b = session.tensorBuffer(shortcut);
      sc = new Int8Array(mem(), b.offset, b.bytes).slice();
    }
    loadMicroBatch(session, set, all, from, rows, extra('labels'));
    session.forward();
    accumulateHeadGradient(session.mcu.sram, session.logits, extra('labels'), session.headInput, rows, { classes: head.classes, features: head.features, featureZero: head.featureZero }, loss, headBuffers);
    accumulateTailGradient(session.mcu.sram, rows, g, {
      delta: headBuffers.delta, classes: head.classes, headWeights: session.weights.get(head.name)!, headBits: head.weightBits,
      input: session.tensorBuffer(t.input), inputZero: t.inputZero, gate: session.tensorBuffer(t.gate), gateLo: t.gateLo, gateHi: t.gateHi,
    }, buffers);
    const xq = new Int8Array(mem(), session.tensorBuffer(t.input).offset, session.batch * g.inHeight * g.inWidth * g.inChannels);
    for (let r = 0; r < rows; r++) {
      const x = (y: number, xx: number, i: number) => (y < 0 || y >= g.inHeight || xx < 0 || xx >= g.inWidth ? 0 : (xq[((r * g.inHeight + y) * g.inWidth + xx) * g.inChannels + i]! - t.inputZero) * t.inputScale);
      const z = new Float64Array(P * g.outChannels);
      for (let oy = 0; oy < g.outHeight; oy++) for (let ox = 0; ox < g.outWidth; ox++) for (let o = 0; o < g.outChannels; o++) {
        let s = B[o]!;
        for (let ky = 0; ky < g.kernelHeight; ky++) for (let kx = 0; kx < g.kernelWidth; kx++) for (let i = 0; i < g.inChannels; i++) {
          s += W[o * K + (ky * g.kernelWidth + kx) * g.inChannels + i]! * x(oy + ky - g.padTop, ox + kx - g.padLeft, i);
        }
        const at = (oy * g.outWidth + ox) * g.outChannels + o;
        if (sc) s += (sc[r * P * g.outChannels + at]! - shortcutQ!.zeroPoint) * shortcutQ!.scale;
        z[at] = s;
      }
      const f = Array.from({ length: g.outChannels }, (_, o) => {
        let s = 0;
        for (let p = 0; p < P; p++) s += Math.max(0, z[p * g.outChannels + o]!);
        return s / P;
      });
      const logits = Array.from({ length: head.classes }, (_, c) => f.reduce((s, v, o) => s + v * Wh[c * head.features + o]!, Bh[c]!));
      const m = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - m));
      const sum = e.reduce((s, v) => s + v, 0);
      const label = set.labels[from + r]!;
      // The mean loss over the n rows: each row contributes 1/n.
      const delta = e.map((v, c) => (v / sum - (c === label ? 1 : 0)) / n);
      const df = Array.from({ length: g.outChannels }, (_, o) => delta.reduce((s, d, c) => s + d * Wh[c * head.features + o]!, 0));
      for (let oy = 0; oy < g.outHeight; oy++) for (let ox = 0; ox < g.outWidth; ox++) for (let o = 0; o < g.outChannels; o++) {
        if (z[(oy * g.outWidth + ox) * g.outChannels + o]! <= 0) continue;
        const dz = df[o]! / P;
        dB[o]! += dz;
        for (let ky = 0; ky < g.kernelHeight; ky++) for (let kx = 0; kx < g.kernelWidth; kx++) for (let i = 0; i < g.inChannels; i++) {
          dW[o * K + (ky * g.kernelWidth + kx) * g.inChannels + i]! += dz * x(oy + ky - g.padTop, ox + kx - g.padLeft, i);
        }
      }
    }
  }
  const GW = Array.from(new BigInt64Array(mem(), buffers.gradW.offset, g.outChannels * K), Number);
  const GB = Array.from(new BigInt64Array(mem(), buffers.gradB.offset, g.outChannels), Number);
  // One SGD step with the trainer's factors at full strength (q15 = 1), as applyHead makes it.
  applyTail(session, t, buffers, tailStepFactors(t, eta, n, head.weightScale), 2 ** 15);
  const movedW = Wq().map((v, j) => (v - wBefore[j]!) * sw(Math.floor(j / K)));
  const movedB = Bq().map((v, o) => (v - bBefore[o]!) * sw(o) * t.inputScale);
  const cleared = [...new BigInt64Array(mem(), buffers.gradW.offset, g.outChannels * K), ...new BigInt64Array(mem(), buffers.gradB.offset, g.outChannels)].every((v) => v === 0n);
  return {
    tail: t, cleared,
    gradW: compare(GW, dW), gradB: compare(GB, dB),
    // SGD on the real weights: ΔW = −η·dL/dW.
    stepW: compare(movedW, Array.from(dW, (v) => -eta * v)), stepB: compare(movedB, Array.from(dB, (v) => -eta * v)),
  };
}

describe('the integer tail gradient is the real gradient', () => {
  // Measured on this episode (per-tensor): gradient cosine 0.9993 (weights) / 0.9967 (bias), applied step
  // ratio ≈ 1.00 / 1.01. The bars leave room for rounding, not for a wrong sign, a missing 1/P (49),
  // 2^15 or scale.
  const expectReal = (r: ReturnType<typeof gradientCheck>) => {
    if (process.env.TAIL_NUMBERS) console.log(r.tail.name, JSON.stringify([r.gradW, r.gradB, r.stepW, r.stepB]));
    for (const c of [r.gradW, r.gradB, r.stepW, r.stepB]) expect(c.cosine).toBeGreaterThan(0.98);
    for (const c of [r.stepW, r.stepB]) {
      expect(c.ratio).toBeGreaterThan(0.9);
      expect(c.ratio).toBeLessThan(1.1);
    }
    expect(r.cleared).toBe(true);
  };

  it('per-tensor conv3 (the default plan): float64 backprop of the dequantized chain in direction, and one applied step is −η·∇L in real units', async () => {
    const session = await startSession(run, DEVICE, { build: 'simd' });
    const r = gradientCheck(session, run.trainable, 0.3);
    expect(r.tail.weightScales).toHaveLength(1);
    expectReal(r);
  });

  it('per-channel conv3 (one scale per filter, so one step factor per filter): the same', async () => {
    const ranges = await calibrate(run.proto, episode.support);
    const perChannel = quantizeModel(run.proto, ranges, { weightBits: 16, perChannel: true });
    const perTensor = quantizeModel(run.proto, ranges, { weightBits: 16, perChannel: false });
    // The head stays per-tensor (the hybrid head needs one scale); conv3 keeps one scale per filter.
    const q = { ...perChannel, params: { ...perChannel.params, logits: perTensor.params.logits! } };
    const { sessionOptions } = planSessions({ proto: run.proto, quantized: q, trainable: run.trainable, microBatch: 5, trainerConfig: CONFIG, hybrid: true, bpLayers: 2 });
    const session = new QuantizedSession(await Mcu.create({ budget: DEVICE, build: 'simd' }), q, sessionOptions);
    const r = gradientCheck(session, run.trainable, 0.3);
    expect(new Set(r.tail.weightScales).size).toBe(32);
    expectReal(r);
  });

  it('ResNet-8 (s3b through the residual add s3add and its ReLU) and the MLP (dense fc2 on a 1×1 map): the same', async () => {
    const models: [FloatModel, string][] = [
      [loadModel(readFileSync('models/resnet8-mnist-digits04.lmdl')) as FloatModel, 's3b'],
      [initFloatModel(architecturePreset('mlp'), 7), 'fc2'],
    ];
    for (const [model, name] of models) {
      const plan = await planRun({ backbone: model, support: episode.support, precision: '16w8a', selection: { kind: 'full' }, microBatch: 5, trainer: CONFIG, method: 'hybrid' });
      const r = gradientCheck(await startSession(plan, { sramBytes: 1024 * 1024, flashBytes: 2 * 1024 * 1024 }, { build: 'simd' }), plan.trainable, 0.3);
      expect(r.tail.name).toBe(name);
      expectReal(r);
    }
  });
});
