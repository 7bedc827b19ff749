// Where QZO-FF keeps what it does not change: requantization constants of trained layers and the
// weights of bias-only layers stay in flash, biases are perturbed in place (no panel). The plans must
// still equal the arena's measured high-water marks, and the in-place bias path must give the same
// numbers as the panel it replaces.
import { describe, it, expect, beforeAll } from 'vitest';
import { QuantizedSession } from '../src/runtime/session.js';
import { layerUnits, planBackupBlocks } from '../src/train/qzo-ff/backup-blocks.js';
import { QzoFfTrainer, qzoFfFrozenWeights, qzoFfSessionOptions, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { trainableLayers, selectionTrainerOptions, type TrainSelection } from '../src/train/selection.js';
import { makeDitherFactor, perturbBias, perturbBiasInPlace, perturbInPlace, perturbMaterialised, restoreBiasInPlace, restoreInPlace } from '../src/kernels/materialised-zo.js';
import { buildSparseMask, sparseKeepCount } from '../src/train/sparse.js';
import { fillZ, streamKey, ONE_Q } from '../src/kernels/rng.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { alignTo } from '../src/runtime/planner.js';
const alignUp = (n: number) => alignTo(n, 16);
import { DataError, ShapeError } from '../src/errors.js';
import { benchModels, mcuFor, quantizedBatch } from '../bench/models.js';
import { makeAllBenches, randomInt16, randomInt8, rng, type Bench } from './helpers/devices.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(1024 * 1024);
});

const I32_MAX = 2 ** 31 - 1;
const I32_MIN = -(2 ** 31);

describe('in-place bias perturbation', () => {
  it('writes exactly what the panel kernel writes and restores the stored bias bit for bit, on every build', () => {
    const r = rng(21);
    const count = 53;
    const bias = Int32Array.from({ length: count }, () => Math.floor((r() - 0.5) * 2 ** 31));
    // Edge values that still leave room for the largest perturbation (|z| ≤ 127, factor ≤ 3).
    bias[0] = I32_MAX - 400;
    bias[1] = I32_MIN + 400;
    bias[2] = 0;
    bias[3] = -1;
    const seen: Int32Array[] = [];
    for (const b of benches) {
      for (const z of [false, true]) {
        for (const sign of [1, -1] as const) {
          for (const f of [0.013, 2.76]) {
            const mult = quantizeMultiplier(f);
            const stored = b.arena.alloc(count * 4, 'b');
            const panel = b.arena.alloc(count * 4, 'b±');
            const zb = b.arena.alloc(count, 'z');
            b.arena.i32(stored).set(bias);
            const key = streamKey(b.device, 91, 5);
            if (z) fillZ(b.arena, zb, count, { key: streamKey(b.device, 3, 1), start: 0, dist: 'gaussian', oneQ: ONE_Q });
            const args = { z: z ? zb : null, key, dist: 'gaussian' as const, sign, ...mult };
            perturbBias(b.arena, stored, panel, count, args);
            const viaPanel = b.arena.i32(panel).slice(0, count);
            perturbBiasInPlace(b.arena, stored, count, args);
            const inPlace = b.arena.i32(stored).slice(0, count);
            expect(Array.from(inPlace)).toEqual(Array.from(viaPanel));
            expect(inPlace.some((v, i) => v !== bias[i])).toBe(true);
            restoreBiasInPlace(b.arena, stored, count, args);
            expect(Array.from(b.arena.i32(stored).slice(0, count))).toEqual(Array.from(bias));
            seen.push(inPlace);
            b.arena.reset();
          }
        }
      }
    }
    // Same perturbed values on scalar, simd and relaxed.
    const perBuild = seen.length / benches.length;
    for (let i = perBuild; i < seen.length; i++) expect(Array.from(seen[i]!)).toEqual(Array.from(seen[i % perBuild]!));
  });

  it('refuses, with the bias unchanged, an element it could not restore (saturation at the int32 limits)', () => {
    for (const b of benches) {
      const count = 40;
      const bias = Int32Array.from({ length: count }, (_, i) => i * 1000 - 7);
      bias[count - 1] = I32_MAX; // any positive step saturates here
      const stored = b.arena.alloc(count * 4, 'b');
      b.arena.i32(stored).set(bias);
      const mult = quantizeMultiplier(2.76);
      // Find a stream whose last element moves the bias up: z > 0 with sign +1.
      let key = 0;
      for (let s = 0; s < 64; s++) {
        const zb = b.arena.alloc(count, 'z');
        key = streamKey(b.device, s, 9);
        fillZ(b.arena, zb, count, { key, start: 0, dist: 'gaussian', oneQ: ONE_Q });
        const lastZ = b.arena.i8(zb)[count - 1]!;
        if (lastZ > 0) break;
      }
      expect(() => perturbBiasInPlace(b.arena, stored, count, { key, dist: 'gaussian', sign: 1, ...mult })).toThrow(DataError);
      expect(Array.from(b.arena.i32(stored).slice(0, count))).toEqual(Array.from(bias));
      b.arena.reset();
    }
  });
});

describe('in-place weight perturbation (sparse mask, stored z, dither)', () => {
  it('writes exactly the panel kernel\'s values, saves only the trainable elements, and restores bit for bit, on every build', () => {
    const r = rng(5);
    const count = 301;
    const cases: { bits: 8 | 16; masked: boolean; z: boolean; dither: boolean; sign: 1 | -1 }[] = [];
    for (const bits of [16, 8] as const) for (const masked of [false, true]) for (const z of [false, true]) for (const dither of [false, true]) cases.push({ bits, masked, z, dither, sign: cases.length % 2 ? -1 : 1 });
    const w16 = randomInt16(r, count);
    w16[0] = 32767; w16[1] = -32767; w16[2] = 0; // the grid's edges clamp
    const w8 = randomInt8(r, count, -127, 127);
    w8[0] = 127; w8[1] = -127;
    const perBuild: number[][] = [];
    for (const b of benches) {
      const got: number[] = [];
      for (const c of cases) {
        const bytes = c.bits / 8;
        const weights = c.bits === 16 ? w16 : w8;
        const maskBits = c.masked ? buildSparseMask(weights, { by: 'magnitude', fraction: 0.1 }, 0) : null;
        const trained = c.masked ? sparseKeepCount(count, { by: 'magnitude', fraction: 0.1 }) : count;
        const w = b.arena.alloc(count * bytes, 'w');
        const panel = b.arena.alloc(count * bytes, 'panel');
        const backup = b.arena.alloc(trained * bytes, 'backup');
        const mask = maskBits ? b.arena.alloc(maskBits.length, 'mask') : null;
        const zb = b.arena.alloc(count, 'z');
        const view = () => (c.bits === 16 ? b.arena.i16(w) : b.arena.i8(w)).slice(0, count);
        (c.bits === 16 ? b.arena.i16(w) : b.arena.i8(w)).set(weights);
        if (mask) b.device.bytes.set(maskBits!, mask.offset);
        if (c.z) fillZ(b.arena, zb, count, { key: streamKey(b.device, 8, 2), start: 0, dist: 'gaussian', oneQ: ONE_Q });
        const mult = quantizeMultiplier(1 / ONE_Q);
        const args = {
          z: c.z ? zb : null, key: streamKey(b.device, 44, 1), dist: 'gaussian' as const, signedEps: c.sign * (c.dither ? 1 : 37), ...mult, mask,
          dither: c.dither ? { key: streamKey(b.device, 45, 1), factor: makeDitherFactor(0.37, 'test') } : null,
        };
        perturbMaterialised(b.arena, w, panel, count, c.bits, args);
        const viaPanel = (c.bits === 16 ? b.arena.i16(panel) : b.arena.i8(panel)).slice(0, count);
        perturbInPlace(b.arena, w, backup, count, trained, c.bits, args);
        const inPlace = view();
        expect(Array.from(inPlace)).toEqual(Array.from(viaPanel));
        expect(inPlace.some((v, i) => v !== weights[i])).toBe(true);
        restoreInPlace(b.arena, w, backup, count, trained, c.bits, mask);
        expect(Array.from(view())).toEqual(Array.from(weights));
        // A backup sized for fewer elements than the mask keeps is refused with w unchanged.
        if (trained > 1) {
          expect(() => perturbInPlace(b.arena, w, backup, count, trained - 1, c.bits, args)).toThrow(/trainable elements/);
          expect(Array.from(view())).toEqual(Array.from(weights));
        }
        got.push(...inPlace);
        b.arena.reset();
      }
      perBuild.push(got);
    }
    for (const g of perBuild.slice(1)) expect(g).toEqual(perBuild[0]);
  });
});

const CONFIG: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 1 };

async function ffSession(model: string, selection: TrainSelection) {
  const bm = benchModels(model, 16);
  const trainable = trainableLayers(bm.graph, selection);
  const config = { ...CONFIG, ...selectionTrainerOptions(selection) };
  const options = qzoFfSessionOptions(1, { model: bm.quantized, trainable, config });
  const plan = QuantizedSession.plan(bm.quantized, options);
  const session = new QuantizedSession(await mcuFor(plan), bm.quantized, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  // Inference packing weights per call, as trained layers must (their weights change every pass): the
  // placement this file checks. Pre-packed frozen panels (the default) cut inference's scratch further,
  // which bench/memory.bench.ts reports against the target.
  const infer = QuantizedSession.plan(bm.quantized, { batch: 1, prepackFrozen: false });
  return { bm, trainable, config, plan, session, trainer, infer };
}

describe('what stays in flash', () => {
  for (const model of ['mnist-cnn', 'ds-cnn', 'fc-autoencoder']) {
    it(`${model}: requantization constants of trained layers live in flash; plan = measured high-water mark`, async () => {
      const { plan, session, infer, trainable, bm } = await ffSession(model, { kind: 'full' });
      expect(plan.sram.buffers.filter((b) => b.name.startsWith('rq:'))).toEqual([]);
      expect(plan.flash.filter((f) => f.name.startsWith('rq:')).length).toBeGreaterThan(0);
      expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
      const trainedBytes = trainable.reduce((s, n) => s + alignUp(bm.quantized.params[n]!.weights.byteLength) + alignUp(bm.quantized.params[n]!.bias.byteLength), 0);
      expect(plan.sramBytes).toBeLessThanOrEqual(infer.sramBytes + trainedBytes + 1024);
    });

    it(`${model}: bias-only keeps the weights in flash and no bias panel; only biases take SRAM; plan = measured`, async () => {
      const { plan, session, infer, trainable, bm, trainer } = await ffSession(model, { kind: 'bias' });
      const sramNames = new Set(plan.sram.buffers.map((b) => b.name));
      for (const n of trainable) {
        expect(sramNames.has(`w:${n}`)).toBe(false);
        expect(sramNames.has(`b:${n}`)).toBe(true);
        expect(session.weights.get(n)!.offset).toBeLessThan(session.mcu.sram.base);
      }
      expect([...sramNames].filter((n) => n.startsWith('extra:zo-panel'))).toEqual([]);
      expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
      const biasBytes = trainable.reduce((s, n) => s + alignUp(bm.quantized.params[n]!.bias.byteLength), 0);
      expect(plan.sramBytes).toBeLessThanOrEqual(infer.sramBytes + biasBytes + 1024);
      // A step really trains the biases with the weights in flash, and the arena never grows.
      const set = quantizedBatch(bm, 1);
      const b0 = trainable.map((n) => session.exportModel().params[n]!.bias.slice());
      for (let s = 0; s < 3; s++) trainer.trainStep(set);
      const after = session.exportModel();
      expect(trainable.some((n, i) => after.params[n]!.bias.some((v, j) => v !== b0[i]![j]))).toBe(true);
      for (const n of trainable) expect(Array.from(after.params[n]!.weights)).toEqual(Array.from(bm.quantized.params[n]!.weights));
      expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
    });
  }

  for (const model of ['mnist-cnn', 'ds-cnn', 'resnet8', 'fc-autoencoder']) {
    it(`${model}: sparse perturbs in place from the mask with a backup per layer (a dense or conv layer's: one block of output units), live only at its layer's op (no panel per tensor); plan = measured, also after steps`, async () => {
      const selection: TrainSelection = { kind: 'sparse', fraction: 0.1, by: 'magnitude', seed: 0 };
      const { plan, session, trainable, bm, trainer } = await ffSession(model, selection);
      const extras = plan.sram.buffers.filter((b) => b.name.startsWith('extra:zo-'));
      expect(extras.filter((b) => b.name.startsWith('extra:zo-panel'))).toEqual([]);
      expect(extras.some((b) => b.name === 'extra:zo-backup')).toBe(false);
      const opOf = (layer: string) => session.lowered.ops.findIndex((o) => o.node.node.name === layer) + 1;
      for (const n of trainable) {
        const backup = extras.find((b) => b.name === `extra:zo-backup:${n}`)!;
        const p = bm.quantized.params[n]!;
        const blocks = planBackupBlocks(layerUnits(session.lowered, n), p.weights.length, 16, session.mcu.device.bytes.slice(session.flashData.get(`zo-mask:${n}`)!.offset, session.flashData.get(`zo-mask:${n}`)!.offset + Math.ceil(p.weights.length / 8)));
        expect(backup.bytes).toBe(blocks ? blocks.backupBytes : sparseKeepCount(p.weights.length, selection as never) * 2);
        if (!['dense', 'conv2d'].includes(session.lowered.ops.find((o) => o.node.node.name === n)!.node.node.kind)) expect(blocks).toBeNull();
        expect([backup.firstUse, backup.lastUse]).toEqual([opOf(n), opOf(n)]);
      }
      // The masks are fixed before training: flash, not SRAM.
      expect(extras.filter((b) => b.name.startsWith('extra:zo-mask'))).toEqual([]);
      for (const n of trainable) expect(session.flashData.get(`zo-mask:${n}`)!.offset).toBeLessThan(session.mcu.sram.base);
      expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
      const set = quantizedBatch(bm, 1);
      for (let s = 0; s < 2; s++) trainer.trainStep(set);
      expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
    });
  }

  it('sparse with the masks in flash trains bit-identically to the masks in SRAM (qzoFfSramBuffers alone)', async () => {
    const bm = benchModels('mnist-cnn', 16);
    const selection: TrainSelection = { kind: 'sparse', fraction: 0.1, by: 'random', seed: 3 };
    const trainable = trainableLayers(bm.graph, selection);
    const config = { ...CONFIG, ...selectionTrainerOptions(selection), lr: 0.05 };
    const set = quantizedBatch(bm, 4);
    const run = async (flash: boolean) => {
      const options = flash ? qzoFfSessionOptions(4, { model: bm.quantized, trainable, config }) : { batch: 4, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(4, { model: bm.quantized, trainable, config }) };
      const plan = QuantizedSession.plan(bm.quantized, options);
      expect(plan.sram.buffers.some((b) => b.name.startsWith('extra:zo-mask'))).toBe(!flash);
      const session = new QuantizedSession(await mcuFor(plan), bm.quantized, options);
      const trainer = new QzoFfTrainer(session, trainable, config);
      for (let s = 0; s < 5; s++) trainer.trainStep(set);
      const m = session.exportModel();
      return trainable.map((n) => Array.from(m.params[n]!.weights));
    };
    const inFlash = await run(true);
    expect(inFlash).toEqual(await run(false));
    expect(inFlash.some((w, i) => w.some((v, j) => v !== bm.quantized.params[trainable[i]!]!.weights[j]))).toBe(true);
  });

  it('a session whose flash mask is not the configuration\'s is refused before training', async () => {
    const bm = benchModels('mnist-cnn', 16);
    const selection: TrainSelection = { kind: 'sparse', fraction: 0.1, by: 'magnitude', seed: 0 };
    const trainable = trainableLayers(bm.graph, selection);
    const config = { ...CONFIG, ...selectionTrainerOptions(selection) };
    const options = qzoFfSessionOptions(1, { model: bm.quantized, trainable, config: { ...config, sparse: { by: 'random', fraction: 0.1, seed: 9 } } });
    const session = new QuantizedSession(await mcuFor(QuantizedSession.plan(bm.quantized, options)), bm.quantized, options);
    expect(() => new QzoFfTrainer(session, trainable, config)).toThrow(/sparse mask .* is not the one/);
  });

  for (const [model, selection] of [['mnist-cnn', { kind: 'full' }], ['mnist-cnn', { kind: 'last', layers: 2 }], ['mnist-cnn', { kind: 'bias' }], ['mobilenetv1-0.25', { kind: 'full' }], ['mobilenetv1-0.25', { kind: 'bias' }]] as [string, TrainSelection][]) {
    it(`${model} ${selection.kind}: trained layers pack one panel at a time at the peak (bias-only ones run on flash panels), so FF ≤ inference on pre-packed flash panels + trained parameters + 1 KiB; plan = measured`, async () => {
      const { plan, session, trainable, bm, config } = await ffSession(model, selection);
      const prepacked = QuantizedSession.plan(bm.quantized, { batch: 1 });
      const biasOnly = selection.kind === 'bias';
      const trainedBytes = trainable.reduce((s, n) => s + alignUp(bm.quantized.params[n]!.bias.byteLength) + (biasOnly ? 0 : alignUp(bm.quantized.params[n]!.weights.byteLength)), 0);
      expect(plan.sramBytes).toBeLessThanOrEqual(prepacked.sramBytes + trainedBytes + 1024);
      expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
      // Without one-panel packing the same session needs more SRAM than the target allows.
      const options = qzoFfSessionOptions(1, { model: bm.quantized, trainable, config });
      const fast = QuantizedSession.plan(bm.quantized, { ...options, leanPacking: false });
      if (!biasOnly) {
        expect(fast.sramBytes).toBeGreaterThan(plan.sramBytes);
        return;
      }
      // Bias-only layers run on their flash panels (the SRAM bias added per call): nothing packs per
      // call, so lean packing changes nothing; packing them per call, fast, needs more.
      expect(fast.sramBytes).toBe(plan.sramBytes);
      expect(plan.flash.some((f) => f.name.startsWith('pk:') && trainable.includes(f.name.slice(3)))).toBe(true);
      expect(QuantizedSession.plan(bm.quantized, { ...options, leanPacking: false, prepackBiasTrained: false }).sramBytes).toBeGreaterThan(plan.sramBytes);
    });
  }

  it('a layer-scoped SRAM buffer for a layer the model does not have is refused with a ShapeError', () => {
    const bm = benchModels('mnist-cnn', 16);
    expect(() => QuantizedSession.plan(bm.quantized, { batch: 1, layerSram: [{ name: 'zo-backup:nope', bytes: 16, layer: 'nope' }] })).toThrow(ShapeError);
  });

  it('one-panel packing of trained layers trains to the same weights and losses as packing whole layers', async () => {
    const bm = benchModels('mnist-cnn', 16);
    const trainable = trainableLayers(bm.graph, { kind: 'full' });
    const config = { ...CONFIG, lr: 0.05 };
    const set = quantizedBatch(bm, 1);
    const run = async (leanPacking: boolean) => {
      const options = { ...qzoFfSessionOptions(1, { model: bm.quantized, trainable, config }), leanPacking };
      const plan = QuantizedSession.plan(bm.quantized, options);
      const session = new QuantizedSession(await mcuFor(plan), bm.quantized, options);
      const trainer = new QzoFfTrainer(session, trainable, config);
      const losses: number[] = [];
      for (let s = 0; s < 4; s++) losses.push(trainer.trainStep(set).loss);
      expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
      const m = session.exportModel();
      return { plan: plan.sramBytes, losses, weights: trainable.map((n) => Array.from(m.params[n]!.weights)) };
    };
    const lean = await run(true);
    const fast = await run(false);
    expect(lean.plan).toBeLessThan(fast.plan);
    expect(lean.losses).toEqual(fast.losses);
    expect(lean.weights).toEqual(fast.weights);
    expect(lean.weights.some((w, i) => w.some((v, j) => v !== bm.quantized.params[trainable[i]!]!.weights[j]))).toBe(true);
  });

  it('bias-only on flash-resident weights trains bit-identically to the same run with weights in SRAM', async () => {
    const bm = benchModels('mnist-cnn', 16);
    const trainable = trainableLayers(bm.graph, { kind: 'bias' });
    const config = { ...CONFIG, ...selectionTrainerOptions({ kind: 'bias' }), lr: 0.05 };
    const set = quantizedBatch(bm, 4);
    const run = async (frozen: boolean) => {
      const options = { batch: 4, trainable: new Set(trainable), frozenWeights: frozen ? qzoFfFrozenWeights(trainable, config) : new Set<string>(), extraSram: qzoFfSramBuffers(4, { model: bm.quantized, trainable, config }) };
      const session = new QuantizedSession(await mcuFor(QuantizedSession.plan(bm.quantized, options)), bm.quantized, options);
      const trainer = new QzoFfTrainer(session, trainable, config);
      for (let s = 0; s < 5; s++) trainer.trainStep(set);
      const m = session.exportModel();
      return trainable.map((n) => Array.from(m.params[n]!.bias));
    };
    expect(await run(true)).toEqual(await run(false));
  });
});
