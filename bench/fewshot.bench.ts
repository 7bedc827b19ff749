// Few-shot adaptation over many episodes, every method on the same support sets: zero-shot
// (prototype head), f32 backprop, float ZO (FF fp32), QZO-FF 16w8a, QZO-FF 8w8a (plain: refused where
// εq rounds to 0) and 8w8a with the dithering remedy; for full fine-tuning and the linear probe.
// Accuracy on held-out query images, mean ± 95% CI.
//
//   npm run bench:fewshot -- [--data mnist|fashion-mnist] [--model FILE] [--classes 5-9]
//                            [--episodes 20] [--steps 500] [--queries 50] [--json FILE]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LastmileError } from '../src/errors.js';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { resolveDevice } from '../src/runtime/devices.js';
import { adapt, type AdaptOptions } from '../src/train/adapt.js';
import type { TrainSelection } from '../src/train/selection.js';
import { loadData, parseClassList } from '../src/cli/data-source.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: 'mnist' },
    model: { type: 'string' },
    classes: { type: 'string', default: '5-9' },
    episodes: { type: 'string', default: '20' },
    steps: { type: 'string', default: '500' },
    queries: { type: 'string', default: '50' },
    json: { type: 'string' },
  },
});
const data = values.data!;
const modelPath = values.model ?? (data === 'mnist' ? 'models/mnist-cnn-digits04.lmdl' : 'models/fashion-cnn-classes04.lmdl');
const episodes = Number(values.episodes);
const steps = Number(values.steps);
const queries = Number(values.queries);
const backbone = loadModel(readFileSync(modelPath)) as FloatModel;
const source = await loadData(data, 'test');
const classPool = parseClassList(values.classes!);
const device = resolveDevice('nrf52840');

function meanCi(xs: number[]): string {
  if (xs.length === 0) return '—';
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  const t = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06][n - 2] ?? 1.96;
  return `${mean.toFixed(1)} ± ${(n > 1 ? (t * sd) / Math.sqrt(n) : 0).toFixed(1)}`;
}

type Column = 'zeroShot' | 'bp' | 'ffFloat' | 'qzo16' | 'qzo8' | 'qzo8dither';
const COLUMNS: [Column, string][] = [['zeroShot', 'zero-shot'], ['bp', 'BP f32'], ['ffFloat', 'FF f32'], ['qzo16', 'QZO-FF 16w8a'], ['qzo8', 'QZO-FF 8w8a'], ['qzo8dither', '8w8a + dither']];
const selections: [string, TrainSelection][] = [['full fine-tune', { kind: 'full' }], ['linear probe', { kind: 'head' }]];
const results: Record<string, Record<Column, number[]> & { refused8w8a: number }> = {};
const t0 = performance.now();

/** An adapt() whose plain 8w8a refusal (εq rounding to 0) is a result, not a crash. */
async function accuracy(o: AdaptOptions): Promise<number | null> {
  try {
    return (await adapt(o)).after;
  } catch (e) {
    if (e instanceof LastmileError && /below half a weight LSB/.test(e.message)) return null;
    throw e;
  }
}

for (const [label, selection] of selections) {
  const r = (results[label] = { zeroShot: [], bp: [], ffFloat: [], qzo16: [], qzo8: [], qzo8dither: [], refused8w8a: 0 });
  for (let e = 0; e < episodes; e++) {
    const seed = 1000 + e;
    const ep = sampleEpisode(source, { classPool, ways: 5, shots: 5, queries, seed });
    const base: AdaptOptions = { backbone, support: ep.support, query: ep.query, device, selection, steps, seed };
    const q16 = await adapt(base);
    r.zeroShot.push(q16.zeroShot);
    r.qzo16.push(q16.after);
    r.bp.push(q16.bp!);
    r.ffFloat.push((await adapt({ ...base, method: 'ff-float', baseline: false })).after);
    const plain8 = await accuracy({ ...base, precision: '8w8a', baseline: false });
    if (plain8 === null) r.refused8w8a++;
    else r.qzo8.push(plain8);
    r.qzo8dither.push((await adapt({ ...base, precision: '8w8a', enhancements: { dither: true }, baseline: false })).after);
    process.stderr.write(`${data} ${label} ${e + 1}/${episodes}: zs ${q16.zeroShot.toFixed(1)} bp ${q16.bp!.toFixed(1)} ff32 ${r.ffFloat.at(-1)!.toFixed(1)} q16 ${q16.after.toFixed(1)} q8 ${plain8 === null ? 'refused' : plain8.toFixed(1)} q8d ${r.qzo8dither.at(-1)!.toFixed(1)}\n`);
  }
}
console.log(`\n5-way 5-shot on ${data} classes ${classPool.join(', ')} (never seen by ${modelPath}), ${episodes} episodes (seeds 1000…), ${queries} query images per class;`);
console.log(`ZO methods: ${steps} steps, m = 3, ε = 1e-3, η = 3e-3, micro-batch 5; BP: Adam 1e-3, 100 full-batch steps. Accuracy %, mean ± 95% CI.`);
console.log(`| trainable | ${COLUMNS.map(([, h]) => h).join(' | ')} |`);
console.log(`|---|${COLUMNS.map(() => '---').join('|')}|`);
for (const [label] of selections) {
  const r = results[label]!;
  const cells = COLUMNS.map(([k]) => (k === 'qzo8' && r.qzo8.length === 0 ? `refused (εq = 0) in ${r.refused8w8a}/${episodes}` : meanCi(r[k])));
  console.log(`| ${label} | ${cells.join(' | ')} |`);
}
console.log(`(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
if (values.json) writeFileSync(values.json, JSON.stringify({ data, model: modelPath, classes: classPool, episodes, steps, queries, results }, null, 2));
