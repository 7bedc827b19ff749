// Step-size control, paired over episodes: query accuracy after steps 1, 5, 20, 100, … of each variant
// on the same episodes (5-way 5-shot, classes 5–9, the small CNN). Numbers in docs/TRAINING.md
// "Step-size control" come from this script:
//   node --import tsx bench/step-control.bench.ts --backbone cnn-mnist --episodes 10 --steps 1,5,20,100 \
//        --variants plain,guard,spread,warmup20,guard+spread+warmup20 [--train full|head] [--precision 16w8a|8w8a] [--ways 5]
import { sampleEpisode } from '../src/data/fewshot.js';
import { resolveGraph } from '../src/model/graph.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { quantizeSet } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { parseSelection, selectionTrainerOptions, trainableLayers } from '../src/train/selection.js';
import { BACKBONES } from '../src/experiments/backbones.js';
import { NRF52840, ROOMY, episodeSource, loadBackbone } from '../src/experiments/common.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const backboneKey = arg('backbone', 'cnn-mnist');
const episodes = Number(arg('episodes', '10'));
const logged = arg('steps', '1,5,20,100').split(',').map(Number);
const variants = arg('variants', 'plain,default').split(',');
const selection = parseSelection(arg('train', 'full'), { trainerOptions: true });
const bits = arg('precision', '16w8a') === '8w8a' ? 8 : 16;
const ways = Number(arg('ways', '5'));
const seed0 = Number(arg('seed', '1'));
const lr = Number(arg('lr', '3e-3'));

/** A variant is '+'-joined tokens: plain, guard, strict (guard against L(w)), spread, batch, warmupN (N steps), dither, lrX (η). */
function variantConfig(v: string): Partial<QzoFfConfig> {
  const out: Partial<QzoFfConfig> = {};
  const control: NonNullable<QzoFfConfig['control']> = {};
  for (const t of v.split('+')) {
    if (t === 'plain') continue;
    else if (t === 'guard') control.guard = true;
    else if (t === 'strict') Object.assign(control, { guard: true, strictGuard: true });
    else if (t === 'spread') control.spread = true;
    else if (t === 'batch') control.batch = true;
    else if (t === 'dither') out.dither = true;
    else if (t.startsWith('warmup')) control.warmup = Number(t.slice(6));
    else if (t.startsWith('lr')) out.lr = Number(t.slice(2));
    else throw new Error(`unknown variant token '${t}'`);
  }
  if (Object.keys(control).length) out.control = control;
  return out;
}

const spec = BACKBONES[backboneKey]!;
const backbone = await loadBackbone(backboneKey);
const source = await episodeSource(spec.data);
const device = backboneKey.startsWith('resnet8') ? ROOMY : NRF52840;
const pool = ways > 5 ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] : [5, 6, 7, 8, 9];
const acc = new Map(variants.map((v) => [v, [] as number[][]]));
const zero: number[] = [];
const rejected = new Map(variants.map((v) => [v, 0]));
const last = Math.max(...logged);
for (let e = 0; e < episodes; e++) {
  const seed = seed0 + e;
  const ep = sampleEpisode(source, { classPool: pool, ways, shots: 5, queries: 50, seed });
  const proto = await withPrototypeHead(backbone, ep.support);
  const quantized = quantizeModel(proto, await calibrate(proto, ep.support), { weightBits: bits as 8 | 16, perChannel: false });
  const trainable = trainableLayers(resolveGraph(quantized.architecture), selection);
  for (const v of variants) {
    const config: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr, seed, ...selectionTrainerOptions(selection), ...variantConfig(v) };
    const mcu = await Mcu.create({ budget: device });
    const session = new QuantizedSession(mcu, quantized, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model: quantized, trainable, config }) });
    const query = quantizeSet(session, ep.query);
    if (v === variants[0]) zero.push(evaluate(session, query).accuracy);
    const trainer = new QzoFfTrainer(session, trainable, config);
    const set = trainer.prepareData(ep.support);
    const row: number[] = [];
    for (let s = 1; s <= last; s++) {
      if (trainer.trainStep(set).rejected) rejected.set(v, rejected.get(v)! + 1);
      if (logged.includes(s)) row.push(evaluate(session, query).accuracy);
    }
    acc.get(v)!.push(row);
  }
  process.stderr.write(`episode ${e + 1}/${episodes}\n`);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ci = (xs: number[]) => {
  const m = mean(xs);
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return (1.96 * sd) / Math.sqrt(xs.length);
};
const pct = (x: number) => x.toFixed(1);
console.log(`${backboneKey} ${arg('train', 'full')} ${bits === 8 ? '8w8a' : '16w8a'} ${ways}-way, ${episodes} episodes (seeds ${seed0}..${seed0 + episodes - 1}), η = ${lr}`);
console.log(`zero-shot ${pct(mean(zero))}`);
console.log(['variant', ...logged.map((s) => `step ${s}`), 'min Δ vs zero-shot', `Δ at ${last} (95% CI)`, 'rejected'].join(' | '));
for (const v of variants) {
  const rows = acc.get(v)!;
  const means = logged.map((_, i) => mean(rows.map((r) => r[i]!)));
  const finalDelta = rows.map((r, e) => r.at(-1)! - zero[e]!);
  const scale = 1;
  console.log([v, ...means.map(pct), (scale * (Math.min(...means) - mean(zero))).toFixed(1), `${(scale * mean(finalDelta)).toFixed(1)} ± ${(scale * ci(finalDelta)).toFixed(1)}`, rejected.get(v)].join(' | '));
}
