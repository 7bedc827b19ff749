// How the backprop baseline's η was chosen (src/train/bp-recipe.ts, docs/TRAINING.md "The backprop
// baseline"): f32 Adam, full batch, trained to the recipe's loss plateau, for each η of a small grid
// on tuning episodes whose seeds (9000 + e) no reported experiment uses (those start at 1000–5000).
// 5-way 5-shot on the novel classes 5–9, 50 query images per class, full fine-tuning and head only,
// both small CNN backbones. Prints a markdown table (mean query accuracy ± 95% CI, mean steps).
//   nice -n 10 npx tsx bench/bp-recipe.ts [episodes=4] [backbones=cnn-mnist,cnn-fashion] [selections=full,head]
import { sampleEpisode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { evaluateFloat } from '../src/train/backprop.js';
import { BP_RECIPE, trainBackpropRecipe } from '../src/train/bp-recipe.js';
import { episodeSource, loadBackbone, stat, fmtStat } from '../src/experiments/common.js';
import { BACKBONES } from '../src/experiments/backbones.js';
import { resolveGraph } from '../src/model/graph.js';
import { trainableLayers } from '../src/train/selection.js';

const GRID = [1e-3, 3e-3, 1e-2];
const SEED0 = 9000;
const episodes = Number(process.argv[2] ?? 4);
const backbones = (process.argv[3] ?? 'cnn-mnist,cnn-fashion').split(',');
const kinds = (process.argv[4] ?? 'full,head').split(',') as ('full' | 'head')[];

const rows: string[] = ['| backbone | train | ' + GRID.map((lr) => `η = ${lr}`).join(' | ') + ' |', '|---|---|' + GRID.map(() => '---:').join('|') + '|'];
for (const key of backbones) {
  const backbone = await loadBackbone(key);
  const source = await episodeSource(BACKBONES[key]!.data);
  for (const kind of kinds) {
    const acc = GRID.map(() => [] as number[]);
    const steps = GRID.map(() => [] as number[]);
    for (let e = 0; e < episodes; e++) {
      const seed = SEED0 + e;
      const ep = sampleEpisode(source, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 50, seed });
      const proto = await withPrototypeHead(backbone, ep.support);
      const trainable = trainableLayers(resolveGraph(proto.architecture), { kind });
      for (const [i, lr] of GRID.entries()) {
        const r = await trainBackpropRecipe(proto, ep.support, { trainable, seed, recipe: { ...BP_RECIPE, lr } });
        acc[i]!.push((await evaluateFloat(r.model, ep.query)).accuracy);
        steps[i]!.push(r.losses.length);
      }
      process.stderr.write(`${key} ${kind} episode ${e + 1}/${episodes}: ${GRID.map((lr, i) => `η ${lr}: ${acc[i]!.at(-1)!.toFixed(1)}% in ${steps[i]!.at(-1)} steps`).join(', ')}\n`);
    }
    const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
    rows.push(`| ${key} | ${kind} | ` + GRID.map((_, i) => `${fmtStat(stat(acc[i]!))} (${mean(steps[i]!)} steps)`).join(' | ') + ' |');
    process.stderr.write(rows.at(-1)! + '\n');
  }
}
console.log(`seeds ${SEED0}…${SEED0 + episodes - 1}, plateau rule: patience ${BP_RECIPE.patience}, relative gain ${BP_RECIPE.minRelativeGain} + ${BP_RECIPE.minAbsoluteGain} nats, cap ${BP_RECIPE.maxSteps}`);
console.log(rows.join('\n'));
