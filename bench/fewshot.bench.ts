// Few-shot adaptation, every method on the same episodes: a thin wrapper over experiment 1
// (src/experiments/fewshot.ts; `lastmile experiment fewshot` runs the full grid and writes
// docs/RESULTS.md). This prints one dataset's 5-way 5-shot table for the small CNN, or for --model.
//
//   npm run bench:fewshot -- [--data mnist|fashion-mnist] [--model FILE] [--classes 5-9]
//                            [--episodes 20] [--steps 500] [--queries 50] [--json FILE]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { parseClassList } from '../src/data/source.js';
import { fmtStat } from '../src/experiments/common.js';
import { FEWSHOT_COLUMNS, FEWSHOT_LABELS, runFewshot } from '../src/experiments/fewshot.js';

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
const data = values.data === 'fashion-mnist' ? 'fashion-mnist' : 'mnist';
const file = values.model ?? (data === 'mnist' ? 'models/mnist-cnn-digits04.lmdl' : 'models/fashion-cnn-classes04.lmdl');
const model = loadModel(readFileSync(file)) as FloatModel;
const r = await runFewshot({
  custom: { model, data, file }, shots: [5], classes: parseClassList(values.classes!), episodes: Number(values.episodes), steps: Number(values.steps), queries: Number(values.queries), seed: 1000,
  onProgress: (done, total, label) => process.stderr.write(`${done}/${total} ${label}\n`),
});
console.log(`\n5-way 5-shot on ${data} classes ${r.classes.join(', ')} (never seen by ${file}), ${values.episodes} episodes (seeds 1000…), ${r.queries} query images per class;`);
console.log(`ZO methods: ${values.steps} steps, m = 3, ε = 1e-3, η = 3e-3, micro-batch 5; BP: the recipe in src/train/bp-recipe.ts (Adam ${r.bp.lr}, full batch, to the loss plateau). Accuracy %, mean ± 95% CI.`);
console.log(`| trainable | ${FEWSHOT_COLUMNS.map((c) => FEWSHOT_LABELS[c]).join(' | ')} |`);
console.log(`|---|${FEWSHOT_COLUMNS.map(() => '---').join('|')}|`);
for (const c of r.cells) {
  const cells = FEWSHOT_COLUMNS.map((k) => (c.columns[k].values.length === 0 && c.columns[k].refused > 0 ? `refused (εq = 0) in ${c.columns[k].refused}/${c.episodes}` : fmtStat(c.columns[k].stat)));
  console.log(`| ${c.selection === 'full' ? 'full fine-tune' : 'linear probe'} | ${cells.join(' | ')} |`);
}
console.log(`(${r.seconds.toFixed(0)} s)`);
if (values.json) writeFileSync(values.json, JSON.stringify({ data, model: file, ...r }, null, 2));
