// Frozen layers run on weight panels packed once (src/kernels/packed-weights.ts, assembly/
// gemm_prepacked.ts) instead of packing on every call. These tests hold that to the per-call path
// bit for bit on every conv2d/dense shape of the bundled and MLPerf Tiny presets, in every build,
// and check that the panels are placed in flash and counted in the session plan.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt8, randomInt16, randomInt32, type Bench } from './helpers/devices.js';
import { fullyConnected, fullyConnectedScratchBytes, type FullyConnectedParams } from '../src/kernels/gemm.js';
import { conv2d, conv2dOutputShape, conv2dScratchBytes, type Conv2DParams } from '../src/kernels/conv.js';
import { packWeightPanels, packedPanelsBytes } from '../src/kernels/packed-weights.js';
import {
  depthwiseConv2d, depthwiseConv2dOutputShape, depthwiseConv2dScratchBytes, depthwisePrepack, depthwisePreparedBytes, type DepthwiseConv2DParams,
} from '../src/kernels/depthwise.js';
import { prepareRequant, type OutputQuant } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { ARCHITECTURE_PRESETS, architecturePreset } from '../src/model/presets.js';
import { resolveGraph, elementCount } from '../src/model/graph.js';
import type { Conv2DNode, DepthwiseConv2DNode } from '../src/model/layers.js';
import { initFloatModel, type QuantizedModel } from '../src/model/model.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { BudgetError, ConfigError, ShapeError } from '../src/errors.js';
import type { BuildFlavor } from '../src/device/features.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(64 * 1024 * 1024);
});

function quantFor(channels: number, perChannel: boolean, r: () => number): OutputQuant {
  const count = perChannel ? channels : 1;
  const multiplier = new Int32Array(count);
  const shift = new Int32Array(count);
  for (let c = 0; c < count; c++) {
    // Shifts from −1 to −12 so both requant epilogues (fast and staged) are exercised.
    const q = quantizeMultiplier((0.5 + r()) * 2 ** -randInt(r, 1, 12));
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  return { multiplier, shift, outZeroPoint: randInt(r, -20, 20), actMin: -128, actMax: 127 };
}

interface ConvShape {
  preset: string;
  layer: string;
  p: Omit<Conv2DParams, 'weightBits' | 'inputZeroPoint' | 'batch'>;
}
interface DenseShape {
  preset: string;
  layer: string;
  k: number;
  n: number;
}

/** Every conv2d and dense layer shape of every architecture preset (bundled and MLPerf Tiny). */
interface DepthwiseShape {
  preset: string;
  layer: string;
  p: Omit<DepthwiseConv2DParams, 'weightBits' | 'inputZeroPoint' | 'batch'>;
}

function presetShapes(): { convs: ConvShape[]; denses: DenseShape[]; depthwises: DepthwiseShape[] } {
  const convs: ConvShape[] = [];
  const denses: DenseShape[] = [];
  const depthwises: DepthwiseShape[] = [];
  for (const preset of ARCHITECTURE_PRESETS) {
    for (const n of resolveGraph(architecturePreset(preset)).nodes) {
      if (n.node.kind === 'conv2d') {
        const c = n.node as Conv2DNode;
        const [h, w, ch] = n.inShapes[0] as [number, number, number];
        convs.push({
          preset, layer: c.name,
          p: { inHeight: h, inWidth: w, inChannels: ch, outChannels: c.filters, kernelHeight: c.kernel[0], kernelWidth: c.kernel[1], strideHeight: c.stride[0], strideWidth: c.stride[1], padding: c.padding },
        });
      } else if (n.node.kind === 'depthwise') {
        const d = n.node as DepthwiseConv2DNode;
        const [h, w, ch] = n.inShapes[0] as [number, number, number];
        depthwises.push({
          preset, layer: d.name,
          p: { inHeight: h, inWidth: w, inChannels: ch, depthMultiplier: d.depthMultiplier, kernelHeight: d.kernel[0], kernelWidth: d.kernel[1], strideHeight: d.stride[0], strideWidth: d.stride[1], padding: d.padding },
        });
      } else if (n.node.kind === 'dense') {
        denses.push({ preset, layer: n.node.name, k: n.weightShape![1]!, n: n.weightShape![0]! });
      }
    }
  }
  return { convs, denses, depthwises };
}

const { convs, denses, depthwises } = presetShapes();

/** Lets the test worker answer the runner between long synchronous kernel loops. */
const yieldToRunner = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('pre-packed weight panels', { timeout: 300_000 }, () => {
  it('cover the presets: conv2d and dense shapes found', () => {
    expect(convs.length).toBeGreaterThan(10);
    expect(denses.length).toBeGreaterThan(5);
    expect(depthwises.length).toBeGreaterThan(10);
  });

  it('depthwiseConv2d on a layer prepared once equals preparing per call on every preset depthwise shape, in every build', async () => {
    const r = rng(23);
    for (const [i, s] of depthwises.entries()) {
      await yieldToRunner();
      for (const weightBits of i % 2 ? ([8] as const) : ([16] as const)) {
        const p: DepthwiseConv2DParams = { ...s.p, batch: 2, weightBits, inputZeroPoint: randInt(r, -128, 127) };
        const oc = p.inChannels * p.depthMultiplier;
        const input = randomInt8(r, 2 * p.inHeight * p.inWidth * p.inChannels);
        const weights = weightBits === 8 ? randomInt8(r, p.kernelHeight * p.kernelWidth * oc, -127, 127) : randomInt16(r, p.kernelHeight * p.kernelWidth * oc);
        const bias = randomInt32(r, oc, -5000, 5000);
        const quant = quantFor(oc, true, r);
        const { height, width } = depthwiseConv2dOutputShape(p);
        const outBytes = 2 * height * width * oc;
        const outputs: Int8Array[] = [];
        for (const b of benches) {
          b.arena.reset();
          const inBuf = b.arena.put(input, 'input');
          const wBuf = b.arena.put(weights, 'weights');
          const bBuf = b.arena.put(bias, 'bias');
          const requant = prepareRequant(b.arena, quant, oc);
          const out = b.arena.alloc(outBytes, 'out');
          const scratch = b.arena.alloc(depthwiseConv2dScratchBytes(p), 'scratch');
          depthwiseConv2d(b.arena, inBuf, wBuf, bBuf, out, p, requant, scratch);
          const perCall = b.arena.i8(out).slice();
          const dst = b.arena.alloc(depthwisePreparedBytes(p), 'prepared');
          const prepared = depthwisePrepack(b.arena, wBuf, bBuf, requant, dst, p);
          const small = b.arena.alloc(depthwiseConv2dScratchBytes({ ...p, prepacked: true }), 'small scratch');
          b.device.bytes.fill(0x5a, out.offset, out.offset + outBytes);
          depthwiseConv2d(b.arena, inBuf, wBuf, bBuf, out, { ...p, prepared }, requant, small);
          const pre = b.arena.i8(out).slice();
          expect(pre, `${s.preset}/${s.layer} w${weightBits} ${b.build}`).toEqual(perCall);
          outputs.push(pre);
        }
        for (const o of outputs.slice(1)) expect(o, `${s.preset}/${s.layer} builds`).toEqual(outputs[0]);
      }
    }
  });

  it('conv2d on pre-packed panels equals packing per call, bit for bit, on every preset conv shape, in every build', async () => {
    const r = rng(21);
    for (const [i, s] of convs.entries()) {
      await yieldToRunner();
      for (const weightBits of i % 2 ? ([8] as const) : ([16] as const)) {
        const batch = s.p.inHeight * s.p.inWidth > 1024 ? 1 : 2;
        const p: Conv2DParams = { ...s.p, batch, weightBits, inputZeroPoint: randInt(r, -128, 127) };
        const k = p.kernelHeight * p.kernelWidth * p.inChannels;
        const input = randomInt8(r, batch * p.inHeight * p.inWidth * p.inChannels);
        const weights = weightBits === 8 ? randomInt8(r, p.outChannels * k, -127, 127) : randomInt16(r, p.outChannels * k);
        const bias = randomInt32(r, p.outChannels, -5000, 5000);
        const quant = quantFor(p.outChannels, true, r);
        const { height, width } = conv2dOutputShape(p);
        const outBytes = batch * height * width * p.outChannels;
        const outputs: Int8Array[] = [];
        for (const b of benches) {
          b.arena.reset();
          const inBuf = b.arena.put(input, 'input');
          const wBuf = b.arena.put(weights, 'weights');
          const bBuf = b.arena.put(bias, 'bias');
          const requant = prepareRequant(b.arena, quant, p.outChannels);
          const out = b.arena.alloc(outBytes, 'out');
          const scratch = b.arena.alloc(conv2dScratchBytes(p), 'scratch');
          conv2d(b.arena, inBuf, wBuf, bBuf, out, p, requant, scratch);
          const perCall = b.arena.i8(out).slice();
          const panels = b.arena.alloc(packedPanelsBytes(k, p.outChannels), 'panels');
          const packed = packWeightPanels(b.arena, wBuf, bBuf, requant, panels, { k, n: p.outChannels, weightBits, inputZeroPoint: p.inputZeroPoint });
          const small = b.arena.alloc(conv2dScratchBytes({ ...p, prepacked: true }), 'small scratch');
          b.device.bytes.fill(0x5a, out.offset, out.offset + outBytes);
          conv2d(b.arena, inBuf, wBuf, bBuf, out, { ...p, packed }, requant, small);
          const prepacked = b.arena.i8(out).slice();
          expect(prepacked, `${s.preset}/${s.layer} w${weightBits} ${b.build}`).toEqual(perCall);
          outputs.push(prepacked);
        }
        for (const o of outputs.slice(1)) expect(o, `${s.preset}/${s.layer} builds`).toEqual(outputs[0]);
      }
    }
  });

  it('fullyConnected on pre-packed panels equals packing per call on every preset dense shape, batches 5 and 16, in every build', async () => {
    const r = rng(22);
    for (const s of denses) {
      await yieldToRunner();
      for (const [batch, weightBits, int32Out] of [[5, 16, false], [16, 8, true], [16, 16, false]] as const) {
        const p: FullyConnectedParams = { batch, inFeatures: s.k, outFeatures: s.n, weightBits, inputZeroPoint: randInt(r, -128, 127) };
        const input = randomInt8(r, batch * s.k);
        const weights = weightBits === 8 ? randomInt8(r, s.n * s.k, -127, 127) : randomInt16(r, s.n * s.k);
        const bias = randomInt32(r, s.n, -5000, 5000);
        const quant = quantFor(s.n, batch === 5, r);
        const outBytes = batch * s.n * (int32Out ? 4 : 1);
        const outputs: Uint8Array[] = [];
        for (const b of benches) {
          b.arena.reset();
          const inBuf = b.arena.put(input, 'input');
          const wBuf = b.arena.put(weights, 'weights');
          const bBuf = b.arena.put(bias, 'bias');
          const requant = int32Out ? null : prepareRequant(b.arena, quant, s.n);
          const out = b.arena.alloc(outBytes, 'out');
          const scratch = b.arena.alloc(fullyConnectedScratchBytes(p), 'scratch');
          fullyConnected(b.arena, inBuf, wBuf, bBuf, out, p, requant, scratch);
          const perCall = b.arena.u8(out).slice();
          const panels = b.arena.alloc(packedPanelsBytes(s.k, s.n), 'panels');
          const packed = packWeightPanels(b.arena, wBuf, bBuf, requant, panels, { k: s.k, n: s.n, weightBits, inputZeroPoint: p.inputZeroPoint });
          const small = b.arena.alloc(fullyConnectedScratchBytes({ ...p, prepacked: true }), 'small scratch');
          b.device.bytes.fill(0x5a, out.offset, out.offset + outBytes);
          fullyConnected(b.arena, inBuf, wBuf, bBuf, out, { ...p, packed }, requant, small);
          const prepacked = b.arena.u8(out).slice();
          expect(prepacked, `${s.preset}/${s.layer} batch ${batch} w${weightBits} ${b.build}`).toEqual(perCall);
          outputs.push(prepacked);
        }
        for (const o of outputs.slice(1)) expect(o).toEqual(outputs[0]);
      }
    }
  });

  it('rejects panels packed for another layer, or a perturbed call on packed panels, with a typed error', () => {
    const b = benches[1]!;
    b.arena.reset();
    const p: FullyConnectedParams = { batch: 8, inFeatures: 16, outFeatures: 8, weightBits: 8, inputZeroPoint: 3 };
    const inBuf = b.arena.put(new Int8Array(8 * 16), 'input');
    const wBuf = b.arena.put(new Int8Array(8 * 16), 'weights');
    const out = b.arena.alloc(8 * 8, 'out');
    const requant = prepareRequant(b.arena, quantFor(8, false, rng(1)), 8);
    const scratch = b.arena.alloc(fullyConnectedScratchBytes(p), 'scratch');
    const panels = b.arena.alloc(packedPanelsBytes(8, 16), 'panels');
    const packed = packWeightPanels(b.arena, wBuf, null, requant, panels, { k: 16, n: 8, weightBits: 8, inputZeroPoint: 4 });
    expect(() => fullyConnected(b.arena, inBuf, wBuf, null, out, { ...p, packed }, requant, scratch)).toThrow(ConfigError);
    const other = packWeightPanels(b.arena, wBuf, null, requant, panels, { k: 8, n: 16, weightBits: 8, inputZeroPoint: 3 });
    expect(() => fullyConnected(b.arena, inBuf, wBuf, null, out, { ...p, packed: other }, requant, scratch)).toThrow(ShapeError);
    const good = packWeightPanels(b.arena, wBuf, null, requant, panels, { k: 16, n: 8, weightBits: 8, inputZeroPoint: 3 });
    const q = quantizeMultiplier(1 / 36);
    const perturb = { key: 1, start: 0, dist: 'rademacher' as const, signedEps: 1, oneQ: 36, multiplier: q.multiplier, shift: q.shift };
    expect(() => fullyConnected(b.arena, inBuf, wBuf, null, out, { ...p, packed: good, perturb }, requant, scratch)).toThrow(/pre-packed panels hold the stored weights/);
    fullyConnected(b.arena, inBuf, wBuf, null, out, { ...p, packed: good }, requant, scratch);
  });
});

function presetModel(preset: string, weightBits: 8 | 16): QuantizedModel {
  const architecture = architecturePreset(preset);
  const graph = resolveGraph(architecture);
  const float = initFloatModel(architecture, 1);
  const ranges = Object.fromEntries(graph.nodes.map((n) => [n.node.name, { min: -4, max: 4 }]));
  return quantizeModel(float, ranges, { weightBits });
}

async function runSession(model: QuantizedModel, build: BuildFlavor, batch: number, prepackFrozen: boolean, trainable: Set<string>, input: Int8Array) {
  const options = { batch, trainable, prepackFrozen };
  const plan = QuantizedSession.plan(model, options);
  const mcu = await Mcu.create({ build, budget: { sramBytes: plan.sramBytes, flashBytes: plan.flashBytes } });
  const session = new QuantizedSession(mcu, model, options);
  session.setInput(input);
  session.forward();
  return { plan, mcu, logits: session.readLogits() };
}

describe('sessions pre-pack frozen layers into flash', () => {
  for (const preset of ARCHITECTURE_PRESETS) {
    it(`${preset}: same logits with and without pre-packing in every build; panels in plan.flash and the flash arena`, async () => {
      const model = presetModel(preset, 16);
      const graph = resolveGraph(model.architecture);
      const batch = 5;
      const input = randomInt8(rng(7), batch * elementCount(graph.inputShape));
      const paramLayers = graph.nodes.filter((n) => model.params[n.node.name]).map((n) => n.node.name);
      const trainable = new Set(paramLayers.slice(-1));
      const reference = await runSession(model, 'scalar', batch, false, trainable, input);
      expect(reference.plan.flash.some((f) => f.name.startsWith('pk:'))).toBe(false);
      for (const build of ['scalar', 'simd', 'relaxed'] as const) {
        const r = await runSession(model, build, batch, true, trainable, input);
        expect(r.logits, `${preset} ${build}`).toEqual(reference.logits);
        const packedItems = r.plan.flash.filter((f) => f.name.startsWith('pk:'));
        const prepackable = graph.nodes.filter((n) => ['conv2d', 'dense', 'depthwise'].includes(n.node.kind) && !trainable.has(n.node.name));
        expect(packedItems.map((f) => f.name).sort()).toEqual(prepackable.map((n) => `pk:${n.node.name}`).sort());
        for (const f of packedItems) {
          const n = graph.nodes.find((x) => `pk:${x.node.name}` === f.name)!;
          const w = n.weightShape!;
          if (n.node.kind === 'depthwise') {
            const d = n.node as DepthwiseConv2DNode;
            const [h, wd, c] = n.inShapes[0] as [number, number, number];
            expect(f.bytes).toBe(depthwisePreparedBytes({ batch, inHeight: h, inWidth: wd, inChannels: c, depthMultiplier: d.depthMultiplier, kernelHeight: d.kernel[0], kernelWidth: d.kernel[1], strideHeight: d.stride[0], strideWidth: d.stride[1], padding: d.padding, weightBits: 16, inputZeroPoint: 0 }));
          } else {
            expect(f.bytes).toBe(packedPanelsBytes(w.slice(1).reduce((a, b) => a * b, 1), w[0]!));
          }
        }
        // Plan equals what the arenas measured, and flash grows by exactly the panels.
        expect(r.mcu.flash.highWater).toBe(r.plan.flashBytes);
        expect(r.mcu.sram.highWater).toBe(r.plan.sramBytes);
        const aligned = packedItems.reduce((s, f) => s + Math.ceil(f.bytes / 16) * 16, 0);
        expect(r.plan.flashBytes).toBe(reference.plan.flashBytes + aligned);
        expect(r.plan.sramBytes).toBeLessThanOrEqual(reference.plan.sramBytes);
      }
    }, 120_000);
  }

  it('falls back to packing per call when the panels do not fit the device flash', async () => {
    const model = presetModel('mnist-cnn', 16);
    const packed = QuantizedSession.plan(model, { batch: 8 });
    const plain = QuantizedSession.plan(model, { batch: 8, prepackFrozen: false });
    expect(packed.flashBytes).toBeGreaterThan(plain.flashBytes);
    const budget = { sramBytes: plain.sramBytes, flashBytes: plain.flashBytes };
    expect(QuantizedSession.planFor(model, { batch: 8 }, budget).flashBytes).toBe(plain.flashBytes);
    // A budget check on the default plan accepts the per-call fallback, and reports it.
    expect(QuantizedSession.fitting(packed, budget)).toEqual(plain);
    expect(QuantizedSession.fitting(packed, { flashBytes: packed.flashBytes })).toBe(packed);
    expect(() => QuantizedSession.checkFits(packed, budget, 'mnist-cnn')).not.toThrow();
    expect(() => QuantizedSession.checkFits(packed, { ...budget, flashBytes: plain.flashBytes - 16 }, 'mnist-cnn')).toThrow(BudgetError);
    const mcu = await Mcu.create({ build: 'simd', budget });
    const session = new QuantizedSession(mcu, model, { batch: 8 });
    expect(session.plan.flash.some((f) => f.name.startsWith('pk:'))).toBe(false);
  });
});
