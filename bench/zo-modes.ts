// The trainer's optional modes side by side (docs/TRAINING.md): for 5-way 5-shot novel MNIST digits
// (5..9, unseen by the backbone), 16w8a, full fine-tuning unless noted, the mean query accuracy
// before and after, the planned SRAM peak, forward passes per step and wall time per step.
//   npx tsx bench/zo-modes.ts [episodes=5] [steps=200]
import { readFileSync } from 'node:fs';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { BackpropSession } from '../src/runtime/backprop-session.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { FloatZoTrainer } from '../src/train/float-zo.js';
import { evaluate } from '../src/train/evaluate.js';
import { evaluateFloat } from '../src/train/backprop.js';

const BASE: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4 };
const MODES: [string, Partial<QzoFfConfig>, 'head' | 'full'][] = [
  ['plain (head)', {}, 'head'],
  ['plain', {}, 'full'],
  ['bias', { params: 'bias' }, 'full'],
  ['bias η=0.05', { params: 'bias', lr: 0.05 }, 'full'],
  ['sparse 10% magnitude', { sparse: { by: 'magnitude' } }, 'full'],
  ['sparse 10% random', { sparse: { by: 'random', seed: 1 } }, 'full'],
  ['sparse, unmasked perturbation', { sparse: { by: 'magnitude', maskPerturbation: false } }, 'full'],
  ['momentum α=0.5 β=0.5', { momentum: { alpha: 0.5, beta: 0.5 } }, 'full'],
  ['sharpness ρ=5e-3', { sharpness: { rho: 5e-3 } }, 'full'],
  ['dither', { dither: true }, 'full'],
];

async function main(): Promise<void> {
  const episodes = Number(process.argv[2] ?? 5);
  const steps = Number(process.argv[3] ?? 200);
  const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  const mnist = await loadBundledMnist();
  const acc = new Map<string, { zero: number[]; after: number[]; sram: number; forwards: number; ms: number[] }>();
  const add = (label: string, zero: number, after: number, sram: number, forwards: number, ms: number) => {
    const a = acc.get(label) ?? { zero: [], after: [], sram, forwards, ms: [] };
    a.zero.push(zero);
    a.after.push(after);
    a.ms.push(ms);
    acc.set(label, a);
  };
  for (let e = 0; e < episodes; e++) {
    const episode = sampleEpisode(mnist, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 60, seed: 100 + e });
    const proto = await withPrototypeHead(backbone, episode.support);
    const quantized = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 16, perChannel: false });
    const names = Object.keys(quantized.params);
    for (const [label, extra, which] of MODES) {
      const trainable = which === 'head' ? names.slice(-1) : names;
      const config = { ...BASE, ...extra };
      const mcu = await Mcu.create({ budget: { sramBytes: 256 * 1024, flashBytes: 1024 * 1024 }, build: 'simd' });
      const session = new QuantizedSession(mcu, quantized, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model: quantized, trainable, config }) });
      const trainer = new QzoFfTrainer(session, trainable, config);
      const set = trainer.prepareData(episode.support);
      const zero = evaluate(session, episode.query).accuracy;
      let forwards = 0;
      const forward = session.forward.bind(session);
      session.forward = (...args) => {
        forwards++;
        forward(...args);
      };
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) trainer.trainStep(set);
      const ms = (performance.now() - t0) / steps;
      session.forward = forward;
      // Forward passes per step, in units of one pass over the 25-sample batch (5 micro-batches).
      add(label, zero, evaluate(session, episode.query).accuracy, session.plan.sramBytes, forwards / steps / 5, ms);
    }
    // FF fp: the same algorithm in f32 (its session also plans gradients; the FF-only SRAM is the
    // forward-only plan plus the trainer's copy and z, reported here).
    const trainable = names;
    const opts = { batch: 25, trainable: new Set(trainable), optimizer: { kind: 'sgd' as const, lr: 1 } };
    const plan = BackpropSession.plan(proto, opts);
    const ffPlan = BackpropSession.plan(proto, { ...opts, batch: 5, forwardOnly: true });
    const count = trainable.reduce((s, n) => s + proto.params[n]!.weights.length, 0);
    const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil((plan.sramBytes + 5 * count) / 16) * 16 + 1024, flashBytes: 1024 * 1024 }, build: 'simd' });
    const session = new BackpropSession(mcu, proto, opts);
    const fz = new FloatZoTrainer(session, trainable, { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4 });
    const zero = (await evaluateFloat(proto, episode.query)).accuracy;
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) fz.trainStep(episode.support);
    const ms = (performance.now() - t0) / steps;
    add('FF fp (f32)', zero, (await evaluateFloat(session.exportModel(), episode.query)).accuracy, ffPlan.sramBytes + 5 * count, 6, ms);
    console.error(`episode ${e} done`);
  }
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  console.log(`${episodes} episodes × ${steps} steps, m = 3, ε = 1e-3, η = 3e-3 unless noted`);
  console.log('| mode | zero-shot % | after % | improved | SRAM plan (B) | forward passes / step | ms / step |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [label, a] of acc) {
    const wins = a.after.filter((v, i) => v > a.zero[i]!).length;
    console.log(`| ${label} | ${mean(a.zero).toFixed(1)} | ${mean(a.after).toFixed(1)} | ${wins}/${a.after.length} | ${a.sram} | ${a.forwards} | ${mean(a.ms).toFixed(1)} |`);
  }
}

await main();
