// A trained depthwise layer may prepare its packed weights, effective bias and requant lanes a
// channel group at a time (depthwiseGroupChannels) instead of the whole layer, to keep the SRAM
// peak down. The grouped form must be the whole-layer form bit for bit: the same outputs, the
// same z at the same stream indices (so the same weights after QZO-FF steps), on every build.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, randInt, randomInt16, randomInt32, randomInt8, rng, type Bench } from './helpers/devices.js';
import { depthwiseConv2dRef, perturbWeightsRef } from './reference/layers-ref.js';
import {
  depthwiseConv2d, depthwiseConv2dOutputShape, depthwiseConv2dScratchBytes, depthwiseGroupChannels, type DepthwiseConv2DParams,
} from '../src/kernels/depthwise.js';
import { prepareRequant } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { ConfigError } from '../src/errors.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { qzoFfSessionOptions, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { trainableLayers } from '../src/train/selection.js';
import { trainedState } from './helpers/trained-state.js';
import { benchModels, mcuFor, quantizedBatch } from '../bench/models.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adaptReference, exportC, runProgram } from './metal/harness.js';
import { initFloatModel, saveModel } from '../src/model/model.js';
import type { Architecture } from '../src/model/graph.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(4 * 1024 * 1024);
});

interface Case {
  p: DepthwiseConv2DParams;
  input: Int8Array;
  weights: Int8Array | Int16Array;
  bias: Int32Array | null;
  multiplier: Int32Array;
  shift: Int32Array;
  outZeroPoint: number;
}

function randomCase(r: () => number, channels: number, stride: number, padding: 'same' | 'valid', weightBits: 8 | 16, perChannel: boolean): Case {
  const inHeight = randInt(r, 3, 9);
  const inWidth = randInt(r, 3, 9);
  const batch = randInt(r, 1, 2);
  const wMax = weightBits === 16 ? 32767 : 127;
  const n = perChannel ? channels : 1;
  const multiplier = new Int32Array(n);
  const shift = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const q = quantizeMultiplier((64 / (wMax * 128 * 3)) * Math.exp((r() - 0.5) * 3));
    multiplier[i] = q.multiplier;
    shift[i] = q.shift;
  }
  return {
    p: {
      batch, inHeight, inWidth, inChannels: channels, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 3,
      strideHeight: stride, strideWidth: stride, padding, weightBits, inputZeroPoint: randInt(r, -128, 127),
    },
    input: randomInt8(r, batch * inHeight * inWidth * channels),
    weights: weightBits === 16 ? randomInt16(r, 9 * channels, -wMax, wMax) : randomInt8(r, 9 * channels, -wMax, wMax),
    bias: r() < 0.8 ? randomInt32(r, channels, -(1 << 20), 1 << 20) : null,
    multiplier, shift, outZeroPoint: randInt(r, -128, 127),
  };
}

/** Runs the kernel with exactly its scratch, guarded on both sides; returns the output. */
function run(b: Bench, c: Case, p: DepthwiseConv2DParams): Int8Array {
  b.arena.reset();
  const { height, width } = depthwiseConv2dOutputShape(p);
  const oc = p.inChannels;
  const input = b.arena.put(c.input, 'input');
  const weights = b.arena.put(c.weights, 'weights');
  const bias = c.bias ? b.arena.put(c.bias, 'bias') : null;
  const requant = prepareRequant(b.arena, { multiplier: c.multiplier, shift: c.shift, outZeroPoint: c.outZeroPoint }, oc);
  const output = b.arena.alloc(p.batch * height * width * oc, 'output');
  const before = b.arena.alloc(64, 'guard-before');
  const scratch = b.arena.alloc(depthwiseConv2dScratchBytes(p), 'scratch');
  const after = b.arena.alloc(256, 'guard-after');
  b.arena.u8(before).fill(0xa5);
  b.arena.u8(after).fill(0xa5);
  const stored = b.arena.u8(weights).slice();
  depthwiseConv2d(b.arena, input, weights, bias, output, p, requant, scratch);
  expect(b.arena.u8(before).every((v) => v === 0xa5), 'bytes before the scratch').toBe(true);
  expect(b.arena.u8(after).every((v) => v === 0xa5), 'bytes after the scratch').toBe(true);
  expect(Buffer.compare(Buffer.from(b.arena.u8(weights)), Buffer.from(stored))).toBe(0);
  return b.arena.i8(output).slice();
}

const ONE_Q = 36;
const spec = (start: number, dist: 'gaussian' | 'rademacher', signedEps: number): PerturbSpec =>
  ({ key: 0x9e3779b9, start, dist, signedEps, oneQ: ONE_Q, ...quantizeMultiplier(1 / ONE_Q) });

describe('depthwise conv2d in channel groups', () => {
  it('groups of 16 and 32 channels give the whole-layer output bit for bit, perturbed or not, on every build (M = 1, 20/37/64 channels, stride 1 and 2, same and valid)', () => {
    const r = rng(77);
    let groupedCalls = 0;
    for (const channels of [20, 37, 64]) {
      for (const [stride, padding] of [[2, 'same'], [1, 'same'], [2, 'valid']] as const) {
        for (const weightBits of [8, 16] as const) {
          const c = randomCase(r, channels, stride, padding, weightBits, r() < 0.6);
          for (const perturb of [undefined, spec(randInt(r, 0, 5000), 'gaussian', 40), spec(3, 'rademacher', -3)]) {
            const whole: DepthwiseConv2DParams = { ...c.p, ...(perturb ? { perturb } : {}) };
            const weights = perturb ? perturbWeightsRef(c.weights, weightBits, perturb) : c.weights;
            const expected = depthwiseConv2dRef({
              batch: c.p.batch, inH: c.p.inHeight, inW: c.p.inWidth, inC: channels, M: 1, kH: 3, kW: 3,
              strideH: stride, strideW: stride, padding, inputZeroPoint: c.p.inputZeroPoint, input: c.input, weights,
              bias: c.bias, multiplier: c.multiplier, shift: c.shift, outZeroPoint: c.outZeroPoint, actMin: -128, actMax: 127,
            }).out;
            expect(depthwiseGroupChannels(whole)).toBe(channels);
            // Budget 0: 16 channels a group; 1536 B: two 16-channel blocks (5 tap pairs: 768 B a block).
            for (const budget of [0, 1536]) {
              const grouped = { ...whole, packedWeightBudget: budget };
              const group = depthwiseGroupChannels(grouped);
              if (group === channels) continue;
              expect(group % 16).toBe(0);
              expect(depthwiseConv2dScratchBytes(grouped)).toBeLessThan(depthwiseConv2dScratchBytes(whole));
              for (const b of benches) {
                const a = run(b, c, whole);
                const g = run(b, c, grouped);
                const label = { channels, stride, padding, weightBits, perturb: perturb?.dist, budget, build: b.build };
                expect({ ...label, firstBad: g.findIndex((v, i) => v !== a[i]) }).toEqual({ ...label, firstBad: -1 });
                expect({ ...label, firstBad: a.findIndex((v, i) => v !== expected[i]) }).toEqual({ ...label, firstBad: -1 });
                groupedCalls++;
              }
            }
          }
        }
      }
    }
    expect(groupedCalls).toBeGreaterThan(100);
  });

  it('groups split evenly, depth multipliers above 1 keep the whole layer, and a bad budget is a ConfigError', () => {
    const base: DepthwiseConv2DParams = {
      batch: 1, inHeight: 8, inWidth: 8, inChannels: 64, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 1, strideWidth: 1, padding: 'same', weightBits: 16, inputZeroPoint: 0,
    };
    expect(depthwiseGroupChannels({ ...base, packedWeightBudget: 0 })).toBe(16);
    expect(depthwiseGroupChannels({ ...base, packedWeightBudget: 3 * 768 })).toBe(32); // 4 blocks in 2 even groups
    expect(depthwiseGroupChannels({ ...base, packedWeightBudget: 4 * 768 })).toBe(64);
    expect(depthwiseGroupChannels({ ...base, inChannels: 8, depthMultiplier: 4, packedWeightBudget: 0 })).toBe(8);
    expect(depthwiseConv2dScratchBytes({ ...base, inChannels: 8, depthMultiplier: 4, packedWeightBudget: 0 }))
      .toBe(depthwiseConv2dScratchBytes({ ...base, inChannels: 8, depthMultiplier: 4 }));
    // DS-CNN's 64-channel 3×3 layers: 3248 B whole, 896 B in groups of 16.
    expect(depthwiseConv2dScratchBytes(base)).toBe(3248);
    expect(depthwiseConv2dScratchBytes({ ...base, packedWeightBudget: 0 })).toBe(896);
    expect(() => depthwiseGroupChannels({ ...base, packedWeightBudget: -1 })).toThrow(ConfigError);
    expect(() => depthwiseConv2dScratchBytes({ ...base, packedWeightBudget: 1.5 })).toThrow(ConfigError);
  });
});

describe('DS-CNN trained in full with its depthwise layers in channel groups', () => {
  const CONFIG: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 0.05, seed: 1 };

  it('trains to the same weights and losses as whole-layer depthwise, on the scalar and simd builds; plan = measured', async () => {
    const bm = benchModels('ds-cnn', 16);
    const trainable = trainableLayers(bm.graph, { kind: 'full' });
    const set = quantizedBatch(bm, 1);
    const options = qzoFfSessionOptions(1, { model: bm.quantized, trainable, config: CONFIG });
    const lean = QuantizedSession.plan(bm.quantized, options);
    const fast = QuantizedSession.plan(bm.quantized, { ...options, leanPacking: false });
    const scratchOf = (plan: typeof lean, layer: string) => plan.sram.buffers.find((b) => b.name === `scratch:${layer}`)!.bytes;
    expect(lean.sramBytes).toBeLessThan(fast.sramBytes);
    // The layer at the peak (dw1) prepares 16 channels at a time; its whole-layer form is larger.
    expect(scratchOf(lean, 'dw1')).toBeLessThan(scratchOf(fast, 'dw1'));
    const results = [];
    for (const build of ['scalar', 'simd'] as const) {
      for (const plan of [lean, fast]) {
        const planOptions = plan === lean ? options : { ...options, leanPacking: false };
        const session = new QuantizedSession(await mcuFor(plan, build), bm.quantized, planOptions);
        expect(session.plan.sramBytes).toBe(plan.sramBytes);
        results.push(trainedState(session, trainable, CONFIG, set, 2));
      }
    }
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    const dw1 = trainable.indexOf('dw1');
    expect(results[0]!.weights[dw1]!.some((v, j) => v !== bm.quantized.params.dw1!.weights[j])).toBe(true);
  });
});

describe('the C export with a trained depthwise layer given a channel group\'s scratch', () => {
  // 52-channel depthwise layers (the emulator's groups: 16, 16, 16, 4) with padding, at strides 1 and
  // 2; dw1 is at the SRAM peak. The exported kernel stages as many perturbed channels as the planned
  // scratch holds: 49 of dw1's 52, then 3.
  const dw = (name: string, s: number): Architecture['nodes'][number] => ({ kind: 'depthwise', name, depthMultiplier: 1, kernel: [3, 3], stride: [s, s], padding: 'same', activation: 'relu' });
  const NET: Architecture = {
    name: 'wide-depthwise',
    nodes: [
      { kind: 'input', name: 'input', shape: [28, 28, 1] },
      { kind: 'conv2d', name: 'stem', filters: 52, kernel: [3, 3], stride: [2, 2], padding: 'same', activation: 'relu' },
      dw('dw1', 1), dw('dw2', 2),
      { kind: 'conv2d', name: 'pw', filters: 6, kernel: [1, 1], stride: [1, 1], padding: 'same', activation: 'relu' },
      { kind: 'globalavgpool', name: 'gap' }, { kind: 'dense', name: 'logits', units: 10, activation: 'none' },
    ],
  };

  it('full QZO-FF, 3 steps on the host cc: the same weights sha256 and losses as adapt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-dw-groups-'));
    const model = join(dir, 'seeded.lmdl');
    await writeFile(model, saveModel(initFloatModel(NET, 7)));
    const runArgs = ['--method', 'qzo-ff', '--train', 'full', '--steps', '3', '--batch-size', '5', '--queries', '4'];
    const [ref, exported] = await Promise.all([
      adaptReference(['--model', model, ...runArgs], join(dir, 'adapt')),
      exportC(runArgs, ['--model', model], join(dir, 'c')),
    ]);
    // The arena map: dw1's scratch is one 16-channel group's, less than its 52 channels' perturbed int16 weights need.
    const scratch = Number(new RegExp(String.raw`^\s+\d+\s+\d+\s+(\d+)\s+\S+\s+scratch:dw1$`, 'm').exec(exported.stdout)?.[1]);
    const p = { batch: 1, inHeight: 14, inWidth: 14, inChannels: 52, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same' as const, weightBits: 16 as const, inputZeroPoint: 0 };
    expect(scratch).toBe(depthwiseConv2dScratchBytes({ ...p, packedWeightBudget: 0 }));
    expect(scratch).toBeLessThan(9 * 52 * 2);
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
    expect(out.steps.length).toBe(ref.losses.length);
  }, 300_000);
});
