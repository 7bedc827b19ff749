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
import { QzoFfTrainer, qzoFfSramBuffers } from '../src/train/qzo-ff.js';
import { evaluate } from '../src/train/evaluate.js';
import { trainBackprop, evaluateFloat } from '../src/train/backprop.js';
import { memoryReport } from '../src/report/memory.js';
import { architecturePreset, MLPERF_TINY_PRESETS } from '../src/model/presets.js';
import { resolveDevice } from '../src/device/presets.js';
import { BudgetError } from '../src/errors.js';
import type { BuildFlavor } from '../src/device/features.js';

const DEVICE = { sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };
let backbone: FloatModel;
let episode: Episode;
let proto: FloatModel;
let quantized: QuantizedModel;

beforeAll(async () => {
  backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 60, seed: 11 });
  proto = await withPrototypeHead(backbone, episode.support);
  quantized = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 16, perChannel: false });
});

const names = () => Object.keys(quantized.params);

async function qzoRun(build: BuildFlavor, steps: number, trainable: string[]) {
  const mcu = await Mcu.create({ budget: DEVICE, build });
  const session = new QuantizedSession(mcu, quantized, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5) });
  const trainer = new QzoFfTrainer(session, trainable, { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4 });
  const set = trainer.prepareData(episode.support);
  const zeroShot = evaluate(session, episode.query).accuracy;
  for (let s = 0; s < steps; s++) trainer.trainStep(set);
  const hash = createHash('sha256');
  for (const name of trainable) {
    const w = session.weights.get(name)!;
    hash.update(new Uint8Array(mcu.device.memory.buffer, w.offset, w.bytes));
  }
  return { mcu, session, zeroShot, after: evaluate(session, episode.query).accuracy, hash: hash.digest('hex') };
}

describe('quantized session on the emulated MCU', () => {
  it('measured SRAM high-water mark equals the plan, for inference and for QZO-FF training', async () => {
    for (const trainable of [[], names()]) {
      const mcu = await Mcu.create({ budget: DEVICE, build: 'simd' });
      const opts = { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5) };
      const plan = QuantizedSession.plan(quantized, opts);
      const session = new QuantizedSession(mcu, quantized, opts);
      evaluate(session, episode.query);
      expect(mcu.sram.highWater).toBe(plan.sramBytes);
      expect(plan.sramBytes).toBeGreaterThanOrEqual(plan.sram.lowerBoundBytes);
      expect(mcu.flash.highWater).toBe(plan.flashBytes);
    }
  });

  it('a budget too small fails with a BudgetError naming SRAM, before anything is allocated', async () => {
    const opts = { batch: 5, trainable: new Set(names()), extraSram: qzoFfSramBuffers(5) };
    const need = QuantizedSession.plan(quantized, opts).sramBytes;
    const mcu = await Mcu.create({ budget: { sramBytes: Math.floor(need / 32) * 16, flashBytes: DEVICE.flashBytes }, build: 'scalar' });
    const before = new Uint8Array(mcu.device.memory.buffer).slice();
    expect(() => new QuantizedSession(mcu, quantized, opts)).toThrow(BudgetError);
    expect(() => new QuantizedSession(mcu, quantized, opts)).toThrow(new RegExp(`SRAM needs ${need} B`));
    expect(mcu.sram.used).toBe(0);
    expect(mcu.flash.used).toBe(0);
    expect(Buffer.compare(Buffer.from(before), Buffer.from(new Uint8Array(mcu.device.memory.buffer)))).toBe(0);
  });

  it('scalar, simd and relaxed builds train to bit-identical weights (same seed, same data)', async () => {
    const runs = await Promise.all((['scalar', 'simd', 'relaxed'] as const).map((b) => qzoRun(b, 8, names())));
    expect(runs[1]!.hash).toBe(runs[0]!.hash);
    expect(runs[2]!.hash).toBe(runs[0]!.hash);
    expect(runs[0]!.after).toBe(runs[1]!.after);
  });

  it('QZO-FF 16w8a linear probe beats the prototype zero-shot baseline on novel digits, within reach of f32 backprop', async () => {
    const head = names().slice(-1);
    const ff = await qzoRun('simd', 200, head);
    const bp = await trainBackprop(proto, episode.support, { trainable: head, optimizer: { kind: 'adam', lr: 1e-3 }, batch: 25, steps: 100, seed: 1 });
    const bpAcc = (await evaluateFloat(bp.model, episode.query)).accuracy;
    expect(ff.after).toBeGreaterThan(ff.zeroShot + 5);
    expect(ff.after).toBeGreaterThan(bpAcc - 10);
  });

  it('QZO-FF 16w8a full fine-tuning beats the prototype zero-shot baseline on novel digits, within reach of f32 backprop', async () => {
    const ff = await qzoRun('simd', 300, names());
    const bp = await trainBackprop(proto, episode.support, { trainable: names(), optimizer: { kind: 'adam', lr: 1e-3 }, batch: 25, steps: 100, seed: 1 });
    const bpAcc = (await evaluateFloat(bp.model, episode.query)).accuracy;
    expect(ff.after).toBeGreaterThan(ff.zeroShot + 5);
    expect(ff.after).toBeGreaterThan(bpAcc - 15);
  });

  it('frozen weights in flash are never written during training', async () => {
    const head = names().slice(-1);
    const mcu = await Mcu.create({ budget: DEVICE, build: 'simd' });
    const session = new QuantizedSession(mcu, quantized, { batch: 5, trainable: new Set(head), extraSram: qzoFfSramBuffers(5) });
    const flash = () => new Uint8Array(mcu.device.memory.buffer, mcu.flash.base, mcu.flash.used).slice();
    const before = flash();
    const trainer = new QzoFfTrainer(session, head, { epsilon: 1e-3, directions: 2, dist: 'rademacher', lr: 3e-3, seed: 9 });
    const set = trainer.prepareData(episode.support);
    for (let s = 0; s < 5; s++) trainer.trainStep(set);
    expect(Buffer.compare(Buffer.from(before), Buffer.from(flash()))).toBe(0);
  });
});

describe('backprop session', () => {
  it('measured SRAM high-water mark equals the plan', async () => {
    const opts = { batch: 5, trainable: new Set(Object.keys(proto.params)), optimizer: { kind: 'adam' as const, lr: 1e-3 } };
    const plan = BackpropSession.plan(proto, opts);
    const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(plan.sramBytes / 16) * 16, flashBytes: 16 }, build: 'simd' });
    const s = new BackpropSession(mcu, proto, opts);
    s.setBatch(episode.support.images.subarray(0, 5 * 784), episode.support.labels.subarray(0, 5));
    const loss = s.trainStep();
    expect(Number.isFinite(loss)).toBe(true);
    expect(mcu.sram.highWater).toBe(plan.sramBytes);
  });

  it('a linear probe keeps only the head input: far less SRAM than full fine-tuning', () => {
    const all = BackpropSession.plan(proto, { batch: 5, trainable: new Set(Object.keys(proto.params)), optimizer: { kind: 'sgd', lr: 1 } });
    const head = BackpropSession.plan(proto, { batch: 5, trainable: new Set(['logits']), optimizer: { kind: 'sgd', lr: 1 } });
    expect(head.sramBytes).toBeLessThan(all.sramBytes / 2);
  });
});

describe('memory report', () => {
  it('plans inference, QZO-FF and backprop full fine-tuning of the four MLPerf Tiny presets on the 256 KB device', () => {
    const device = resolveDevice('nrf52840');
    for (const name of MLPERF_TINY_PRESETS) {
      const r = memoryReport(architecturePreset(name), { device, batch: 1 });
      const { infer, ff, bp } = r.modes;
      expect(infer!.sramPeak).toBeGreaterThan(0);
      // QZO-FF needs inference memory plus the trainable weights and a few small buffers, never more.
      expect(ff!.sramPeak).toBeGreaterThanOrEqual(infer!.sramPeak);
      expect(bp!.sramPeak).toBeGreaterThan(ff!.sramPeak);
      expect(r.bpOverFf).toBeGreaterThan(1.5);
    }
  });
});
