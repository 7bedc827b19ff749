// 8w8a with the stochastic-rounding remedy (docs/TRAINING.md, "8w8a remedy"): on 5-way 5-shot novel
// MNIST digits (5..9, never seen by the backbone), does QZO-FF with 8-bit weights improve over the
// prototype head's zero-shot accuracy? Plain QZO-FF refuses the conv layers (εq = round(ε/Δw) = 0);
// `dither: true` trains them. Runs several episodes and prints one row per (episode, trainable set),
// with the head trained alone without dither (which 8-bit allows) as the no-remedy reference.
//   npx tsx bench/zo-8w8a.ts [episodes=5] [steps=200]
import { readFileSync } from 'node:fs';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { evaluate } from '../src/train/evaluate.js';

async function main(): Promise<void> {
  const episodes = Number(process.argv[2] ?? 5);
  const steps = Number(process.argv[3] ?? 200);
  const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  const mnist = await loadBundledMnist();
  const rows: { episode: number; set: string; zeroShot: number; after: number }[] = [];
  for (let e = 0; e < episodes; e++) {
    const episode = sampleEpisode(mnist, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 60, seed: 100 + e });
    const proto = await withPrototypeHead(backbone, episode.support);
    const quantized = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 8, perChannel: false });
    const names = Object.keys(quantized.params);
    // 'head, plain' is what 8w8a can do without the remedy: the head's Δw is fine enough for εq ≥ 1,
    // the convs' is not (plain QZO-FF refuses them).
    for (const [label, trainable, dither] of [['full', names, true], ['convs only', names.slice(0, -1), true], ['head, plain', names.slice(-1), false]] as const) {
      const config: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 4, dither };
      const mcu = await Mcu.create({ budget: { sramBytes: 256 * 1024, flashBytes: 1024 * 1024 }, build: 'simd' });
      const session = new QuantizedSession(mcu, quantized, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model: quantized, trainable, config }) });
      const trainer = new QzoFfTrainer(session, trainable, config);
      const set = trainer.prepareData(episode.support);
      const zeroShot = evaluate(session, episode.query).accuracy;
      for (let s = 0; s < steps; s++) trainer.trainStep(set);
      const after = evaluate(session, episode.query).accuracy;
      rows.push({ episode: e, set: label, zeroShot, after });
      console.log(`episode ${e}  ${label.padEnd(11)}  zero-shot ${zeroShot.toFixed(1)}%  after ${after.toFixed(1)}%  (${(after - zeroShot >= 0 ? '+' : '') + (after - zeroShot).toFixed(1)})`);
    }
  }
  for (const label of ['full', 'convs only', 'head, plain']) {
    const r = rows.filter((x) => x.set === label);
    const mean = (f: (x: (typeof r)[number]) => number) => r.reduce((s, x) => s + f(x), 0) / r.length;
    const wins = r.filter((x) => x.after > x.zeroShot).length;
    console.log(`${label}: mean zero-shot ${mean((x) => x.zeroShot).toFixed(1)}%, mean after ${mean((x) => x.after).toFixed(1)}%, improved on ${wins}/${r.length} episodes`);
  }
}

await main();
