// Mini-batch head training on the full split (classes 5–9, 80/20, batches of 50, 2 epochs): does
// training the head's bias with its weights change the decline? Paired: same split, same seed.
//   node --import tsx bench/head-bias-diag.ts [lr]
import { loadBundledMnist } from '../src/data/mnist.js';
import { fullSplit } from '../src/data/episode-spec.js';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { readFileSync } from 'node:fs';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { quantizeSet } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';

const lr = Number(process.argv[2] ?? '3e-3');
const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
const ep = fullSplit(await loadBundledMnist(), [5, 6, 7, 8, 9], 1);
const proto = await withPrototypeHead(backbone, ep.support);
const q = quantizeModel(proto, await calibrate(proto, ep.support), { weightBits: 16, perChannel: false });
const head = Object.keys(q.params).slice(-1);
const variants: [string, Partial<QzoFfConfig>][] = process.argv[3] === 'normalize'
  ? [['normalize', { normalize: true }], ['normalize + guard', { normalize: true, control: { guard: true } }]]
  : process.argv[3] === 'strict'
  ? [['strict guard', { control: { guard: true, strictGuard: true } }], ['normalize + strict guard', { normalize: true, control: { guard: true, strictGuard: true } }]]
  : [['weights', {}], ['weights+bias', { params: 'weights+bias' }], ['bias', { params: 'bias' }]];
for (const [params, extra] of variants) {
  const config: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr, seed: 1, batchSize: 50, ...extra };
  const mcu = await Mcu.create({ budget: { sramBytes: 4 << 20, flashBytes: 4 << 20 } });
  const session = new QuantizedSession(mcu, q, { batch: 5, trainable: new Set(head), extraSram: qzoFfSramBuffers(5, { model: q, trainable: head, config }) });
  const query = quantizeSet(session, ep.query);
  const zero = evaluate(session, query).accuracy;
  const trainer = new QzoFfTrainer(session, head, config);
  const set = trainer.prepareData(ep.support);
  const steps = 2 * Math.ceil(set.count / 50);
  const at: string[] = [];
  for (let s = 1; s <= steps; s++) {
    trainer.trainStep(set);
    if (s === 1 || s === 10 || s === 50 || s === steps) at.push(`${s}: ${evaluate(session, query).accuracy.toFixed(1)}`);
  }
  console.log(`params ${params}, η = ${lr}: zero-shot ${zero.toFixed(1)} → ${at.join(', ')}`);
}
