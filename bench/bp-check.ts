// Is the backprop baseline trained properly on a given backbone? Re-trains the baseline of the few-shot
// experiment's reported episodes (docs/RESULTS.md §1: 5-way 5-shot on classes 5–9, 50 queries per
// class, seeds 1000…) with the recipe at other Adam η, and pairs each against the hybrid column that
// experiments/results/fewshot.json holds for the same episodes. The recipe's own η must reproduce that
// record's BP column exactly (checked), so the pairing is by episode.
//   nice -n 10 npx tsx bench/bp-check.ts [backbones=resnet8-mnist,resnet8-fashion] [lrs=0.01,0.003] [episodes=30]
import { readFileSync } from 'node:fs';
import { sampleEpisode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { evaluateFloat } from '../src/train/backprop.js';
import { BP_RECIPE, trainBackpropRecipe } from '../src/train/bp-recipe.js';
import { episodeSource, fmtStat, loadBackbone, stat } from '../src/experiments/common.js';
import { BACKBONES } from '../src/experiments/backbones.js';
import { resolveGraph } from '../src/model/graph.js';
import { trainableLayers } from '../src/train/selection.js';
import type { FewshotResult } from '../src/experiments/fewshot.js';

const backbones = (process.argv[2] ?? 'resnet8-mnist,resnet8-fashion').split(',');
const lrs = (process.argv[3] ?? `${BP_RECIPE.lr},0.003`).split(',').map(Number);
const episodes = Number(process.argv[4] ?? 30);
const record = JSON.parse(readFileSync('experiments/results/fewshot.json', 'utf8')) as FewshotResult;

console.log(`| backbone | episodes | hybrid | ${lrs.map((lr) => `BP η = ${lr}`).join(' | ')} | ${lrs.map((lr) => `hybrid − BP η = ${lr}`).join(' | ')} |`);
console.log(`|---|---:|---:|${lrs.map(() => '---:').join('|')}|${lrs.map(() => '---:').join('|')}|`);
for (const key of backbones) {
  const cell = record.cells.find((c) => c.backbone === key && c.shots === 5 && c.selection === 'full');
  if (!cell || cell.columns.hybrid.values.length < episodes) throw new Error(`${key}: the record has no 5-shot full cell with ${episodes} hybrid episodes`);
  const backbone = await loadBackbone(key);
  const source = await episodeSource(BACKBONES[key]!.data);
  const acc = lrs.map(() => [] as number[]);
  for (let e = 0; e < episodes; e++) {
    const seed = record.seed + e;
    const ep = sampleEpisode(source, { classPool: record.classes, ways: record.ways, shots: 5, queries: record.queries, seed });
    const proto = await withPrototypeHead(backbone, ep.support);
    const trainable = trainableLayers(resolveGraph(proto.architecture), { kind: 'full' });
    for (const [i, lr] of lrs.entries()) {
      const r = await trainBackpropRecipe(proto, ep.support, { trainable, seed, recipe: { ...BP_RECIPE, lr } });
      acc[i]!.push((await evaluateFloat(r.model, ep.query)).accuracy);
    }
    const recorded = cell.columns.bp.values[e]!;
    const own = lrs.indexOf(BP_RECIPE.lr);
    if (own >= 0 && acc[own]![e] !== recorded) throw new Error(`${key} seed ${seed}: the recipe gives ${acc[own]![e]}% here but the record's BP column holds ${recorded}%: not the same episode or code`);
    process.stderr.write(`${key} seed ${seed}: hybrid ${cell.columns.hybrid.values[e]} · ${lrs.map((lr, i) => `BP η ${lr}: ${acc[i]![e]}`).join(' · ')}\n`);
  }
  const hybrid = cell.columns.hybrid.values.slice(0, episodes);
  const diff = (i: number) => hybrid.map((h, e) => h - acc[i]![e]!);
  console.log(`| ${key} | ${episodes} | ${fmtStat(stat(hybrid))} | ${lrs.map((_, i) => fmtStat(stat(acc[i]!))).join(' | ')} | ${lrs.map((_, i) => fmtStat(stat(diff(i)))).join(' | ')} |`);
}
