// Bias-only QZO-FF on weights packed once into flash: a layer whose bias alone trains runs on panels
// packed without the bias (header −zin·Σw) and the kernel adds the SRAM bias, which the trainer
// perturbs in place. Wrapping int32 addition makes that the same sum the per-call packing computes,
// so weights, biases and losses must equal the per-call path's bit for bit, on every build, while the
// plan drops the per-call packing scratch and stays equal to the arena's high-water mark.
import { describe, it, expect } from 'vitest';
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSessionOptions, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { selectionTrainerOptions, trainableLayers } from '../src/train/selection.js';
import { packWeightPanels, packedPanelsBytes } from '../src/kernels/packed-weights.js';
import { conv2d, conv2dScratchBytes, type Conv2DParams } from '../src/kernels/conv.js';
import { fullyConnected, fullyConnectedScratchBytes } from '../src/kernels/gemm.js';
import { prepareRequant } from '../src/kernels/requant.js';
import { depthwiseConv2d, depthwiseConv2dScratchBytes, depthwisePrepack, depthwisePreparedBytes, type DepthwiseConv2DParams } from '../src/kernels/depthwise.js';
import { ConfigError } from '../src/errors.js';
import { Mcu } from '../src/device/mcu.js';
import { benchModels, mcuFor, quantizedBatch } from '../bench/models.js';
import type { BuildFlavor } from '../src/device/features.js';
import { makeAllBenches, randomInt16, randomInt8, rng } from './helpers/devices.js';

const BASE: QzoFfConfig = { epsilon: 1e-3, directions: 2, dist: 'gaussian', lr: 0.05, seed: 5 };

async function biasRun(model: string, build: BuildFlavor, prepackBiasTrained: boolean, steps = 3) {
  const bm = benchModels(model, 8);
  const selection = { kind: 'bias' } as const;
  const trainable = trainableLayers(bm.graph, selection);
  const config = { ...BASE, ...selectionTrainerOptions(selection) };
  const options = { ...qzoFfSessionOptions(4, { model: bm.quantized, trainable, config }), prepackBiasTrained };
  const plan = QuantizedSession.plan(bm.quantized, options);
  const session = new QuantizedSession(await mcuFor(plan, build), bm.quantized, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  const set = quantizedBatch(bm, 4);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(trainer.trainStep(set).loss);
  expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
  const m = session.exportModel();
  return { params: trainable.map((n) => [Array.from(m.params[n]!.weights), Array.from(m.params[n]!.bias)]), losses, plan, trainable, bm };
}

describe('bias-only QZO-FF on flash-packed weights', () => {
  for (const model of ['mnist-cnn', 'ds-cnn', 'resnet8']) {
    it(`${model}: same weights, biases and losses as packing per call (scalar and simd); panels in flash, less SRAM`, async () => {
      const perCall = await biasRun(model, 'simd', false);
      const flash = await biasRun(model, 'simd', true);
      expect(flash.losses).toEqual(perCall.losses);
      expect(flash.params).toEqual(perCall.params);
      expect(flash.losses.every(Number.isFinite)).toBe(true);
      // Training moved some bias (the comparison is not between two untouched models).
      const start = flash.trainable.map((n) => Array.from(flash.bm.quantized.params[n]!.bias));
      expect(flash.params.some(([, b], i) => b!.some((v, j) => v !== start[i]![j]))).toBe(true);
      // Every GEMM/conv layer's weights are packed in flash now; before, bias-trained layers packed per call.
      const packed = (plan: typeof flash.plan) => plan.flash.filter((f) => f.name.startsWith('pk:')).map((f) => f.name);
      const gemmLike = flash.bm.graph.nodes.filter((n) => n.node.kind === 'conv2d' || n.node.kind === 'depthwise').map((n) => `pk:${n.node.name}`);
      expect(gemmLike.length).toBeGreaterThan(0);
      for (const name of gemmLike) expect(packed(flash.plan)).toContain(name);
      for (const name of gemmLike) expect(packed(perCall.plan)).not.toContain(name);
      // Where a bias-trained GEMM/conv layer's packing scratch set the peak, the peak drops.
      if (model === 'mnist-cnn') expect(flash.plan.sramBytes).toBeLessThanOrEqual(perCall.plan.sramBytes);
      else expect(flash.plan.sramBytes).toBeLessThan(perCall.plan.sramBytes);
      const scalar = await biasRun(model, 'scalar', true, 2);
      expect(scalar.losses).toEqual(perCall.losses.slice(0, 2));
      if (model === 'mnist-cnn') {
        const relaxed = await biasRun(model, 'relaxed', true);
        expect(relaxed.params).toEqual(perCall.params);
        expect(relaxed.losses).toEqual(perCall.losses);
      }
    }, 120_000);
  }
});

describe('flash budget', () => {
  it('a device whose flash cannot hold the bias-trained layers\' panels gets them packed per call (same plan as prepackBiasTrained: false), and fitting() agrees', async () => {
    const bm = benchModels('ds-cnn', 8);
    const selection = { kind: 'bias' } as const;
    const trainable = trainableLayers(bm.graph, selection);
    const config = { ...BASE, ...selectionTrainerOptions(selection) };
    const options = qzoFfSessionOptions(2, { model: bm.quantized, trainable, config });
    const onPanels = QuantizedSession.plan(bm.quantized, options);
    const perCall = QuantizedSession.plan(bm.quantized, { ...options, prepackBiasTrained: false });
    expect(onPanels.flashBytes).toBeGreaterThan(perCall.flashBytes);
    const budget = { sramBytes: Math.max(onPanels.sramBytes, perCall.sramBytes) + 4096, flashBytes: perCall.flashBytes };
    expect(QuantizedSession.fitting(onPanels, budget).sramBytes).toBe(perCall.sramBytes);
    const session = new QuantizedSession(await Mcu.create({ budget, build: 'simd' }), bm.quantized, options);
    expect(session.plan.flashBytes).toBe(perCall.flashBytes);
    expect(session.plan.sramBytes).toBe(perCall.sramBytes);
    const trainer = new QzoFfTrainer(session, trainable, config);
    expect(Number.isFinite(trainer.trainStep(quantizedBatch(bm, 2)).loss)).toBe(true);
  });
});

describe('kernels on panels packed without the bias', () => {
  it('conv2d and fullyConnected add the call\'s bias: the same bytes as panels holding it, on every build (partial panels included)', async () => {
    const r = rng(3);
    for (const b of await makeAllBenches(2 * 1024 * 1024)) {
      for (const [outC, perChannel] of [[13, false], [16, true], [5, true]] as const) {
        const inC = 6;
        const p: Conv2DParams = { batch: 2, inHeight: 5, inWidth: 5, inChannels: inC, outChannels: outC, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same', weightBits: 8, inputZeroPoint: -3 };
        const k = 9 * inC;
        const input = b.arena.alloc(2 * 25 * inC, 'x');
        b.arena.i8(input).set(randomInt8(r, 2 * 25 * inC));
        const w = b.arena.alloc(outC * k, 'w');
        b.arena.i8(w).set(randomInt8(r, outC * k, -127, 127));
        const bias = b.arena.alloc(outC * 4, 'b');
        b.arena.i32(bias).set(Array.from(randomInt16(r, outC), (v) => v * 2));
        const requant = prepareRequant(b.arena, { multiplier: Int32Array.from({ length: perChannel ? outC : 1 }, (_, i) => 1_200_000_000 + i * 1000), shift: Int32Array.from({ length: perChannel ? outC : 1 }, (_, i) => -7 - (i % 3)), outZeroPoint: 4, actMin: -128, actMax: 127 }, outC);
        const baked = b.arena.alloc(packedPanelsBytes(k, outC), 'pk1');
        const separate = b.arena.alloc(packedPanelsBytes(k, outC), 'pk2');
        const withBias = { ...p, packed: packWeightPanels(b.arena, w, bias, requant, baked, { k, n: outC, weightBits: 8, inputZeroPoint: -3 }) };
        const biasApart = { ...p, packed: packWeightPanels(b.arena, w, null, requant, separate, { k, n: outC, weightBits: 8, inputZeroPoint: -3, separateBias: true }) };
        const scratch = b.arena.alloc(conv2dScratchBytes({ ...p, prepacked: true }), 's');
        const y1 = b.arena.alloc(2 * 25 * outC, 'y1');
        const y2 = b.arena.alloc(2 * 25 * outC, 'y2');
        conv2d(b.arena, input, w, bias, y1, withBias, requant, scratch);
        conv2d(b.arena, input, w, bias, y2, biasApart, requant, scratch);
        expect(Array.from(b.arena.i8(y2))).toEqual(Array.from(b.arena.i8(y1)));
        expect(new Set(b.arena.i8(y1)).size).toBeGreaterThan(3);
        expect(() => conv2d(b.arena, input, w, null, y2, biasApart, requant, scratch)).toThrow(ConfigError);
        expect(() => packWeightPanels(b.arena, w, bias, requant, separate, { k, n: outC, weightBits: 8, inputZeroPoint: -3, separateBias: true })).toThrow(ConfigError);
        // Fully connected, int32 output (a head): M = 8 rows of k features.
        const fp = { batch: 8, inFeatures: k, outFeatures: outC, weightBits: 8 as const, inputZeroPoint: 2 };
        const fx = b.arena.alloc(8 * k, 'fx');
        b.arena.i8(fx).set(randomInt8(r, 8 * k));
        const fb = b.arena.alloc(packedPanelsBytes(k, outC), 'fpk1');
        const fs = b.arena.alloc(packedPanelsBytes(k, outC), 'fpk2');
        const fScratch = b.arena.alloc(fullyConnectedScratchBytes({ ...fp, prepacked: true }), 'fs');
        const o1 = b.arena.alloc(8 * outC * 4, 'o1');
        const o2 = b.arena.alloc(8 * outC * 4, 'o2');
        fullyConnected(b.arena, fx, w, bias, o1, { ...fp, packed: packWeightPanels(b.arena, w, bias, null, fb, { k, n: outC, weightBits: 8, inputZeroPoint: 2 }) }, null, fScratch);
        fullyConnected(b.arena, fx, w, bias, o2, { ...fp, packed: packWeightPanels(b.arena, w, null, null, fs, { k, n: outC, weightBits: 8, inputZeroPoint: 2, separateBias: true }) }, null, fScratch);
        expect(Array.from(b.arena.i32(o2))).toEqual(Array.from(b.arena.i32(o1)));
        b.arena.reset();
      }
    }
  });

  it('depthwiseConv2d on a layer prepared without the bias adds the call\'s bias: the same bytes, on every build (partial 16-channel blocks, multiplier 2)', async () => {
    const r = rng(8);
    for (const b of await makeAllBenches(2 * 1024 * 1024)) {
      for (const [channels, multiplier, perChannel] of [[21, 1, true], [16, 1, false], [5, 2, true], [12, 1, true]] as const) {
        const oc = channels * multiplier;
        const p: DepthwiseConv2DParams = { batch: 2, inHeight: 6, inWidth: 5, inChannels: channels, depthMultiplier: multiplier, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same', weightBits: 8, inputZeroPoint: 5 };
        const input = b.arena.alloc(2 * 30 * channels, 'x');
        b.arena.i8(input).set(randomInt8(r, 2 * 30 * channels));
        const w = b.arena.alloc(9 * oc, 'w');
        b.arena.i8(w).set(randomInt8(r, 9 * oc, -127, 127));
        const bias = b.arena.alloc(oc * 4, 'b');
        b.arena.i32(bias).set(Array.from(randomInt16(r, oc), (v) => v));
        const n = perChannel ? oc : 1;
        const requant = prepareRequant(b.arena, { multiplier: Int32Array.from({ length: n }, (_, i) => 1_100_000_000 + i * 777), shift: Int32Array.from({ length: n }, (_, i) => -6 - (i % 3)), outZeroPoint: -2, actMin: -128, actMax: 127 }, oc);
        const baked = b.arena.alloc(depthwisePreparedBytes(p), 'dp1');
        const separate = b.arena.alloc(depthwisePreparedBytes(p), 'dp2');
        const withBias = { ...p, prepared: depthwisePrepack(b.arena, w, bias, requant, baked, p) };
        const biasApart = { ...p, prepared: depthwisePrepack(b.arena, w, null, requant, separate, p, { separateBias: true }) };
        const scratch = b.arena.alloc(depthwiseConv2dScratchBytes({ ...p, prepacked: true }), 's');
        const y1 = b.arena.alloc(2 * 30 * oc, 'y1');
        const y2 = b.arena.alloc(2 * 30 * oc, 'y2');
        depthwiseConv2d(b.arena, input, w, bias, y1, withBias, requant, scratch);
        depthwiseConv2d(b.arena, input, w, bias, y2, biasApart, requant, scratch);
        expect(Array.from(b.arena.i8(y2))).toEqual(Array.from(b.arena.i8(y1)));
        expect(new Set(b.arena.i8(y1)).size).toBeGreaterThan(3);
        expect(() => depthwiseConv2d(b.arena, input, w, null, y2, biasApart, requant, scratch)).toThrow(ConfigError);
        expect(() => depthwisePrepack(b.arena, w, bias, requant, separate, p, { separateBias: true })).toThrow(ConfigError);
        b.arena.reset();
      }
    }
  });
});
