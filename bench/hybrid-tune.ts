// Hybrid variants on the same few-shot episodes, with the query accuracy after every logged step (the
// early-damage curve) and the final accuracy paired against the backprop recipe. Hyperparameters of
// the hybrid's defaults are chosen with this script on tuning episodes (seeds 9000+) only.
//   nice -n 15 npx tsx bench/hybrid-tune.ts --episodes 8 --seed 9000 --steps 1,5,20,50,100,200,300,500 \
//        --variants default,lr1e-3,hf100 [--backbones cnn-mnist,cnn-fashion] [--train full|head] [--ways 5]
// A variant is '+'-joined tokens: default (HYBRID_DEFAULTS), lrX (body η), hX (fixed head η), kX (head step κ: η = κ/mean‖f‖²), hfN (head-first
// steps), mN (directions m), bN (samples per step), bpN (layers learned by backprop, 1 or 2), tlrX (tail η), hwN (head and body warm-up), wN (body warm-up only), center0 (uncentred head steps), spread, guard, sEVERY:GAMMA (body step schedule).
import { sampleEpisode } from '../src/data/fewshot.js';
import { BACKBONES } from '../src/experiments/backbones.js';
import { deviceFor, episodeSource, fmtStat, loadBackbone, stat } from '../src/experiments/common.js';
import { planRun, startSession } from '../src/train/prepare-run.js';
import { quantizeSet } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import { evaluateFloat } from '../src/train/backprop.js';
import { trainBackpropRecipe } from '../src/train/bp-recipe.js';
import { HYBRID_DEFAULTS, HybridTrainer, type HybridConfig } from '../src/train/hybrid.js';
import { ADAPT_DEFAULTS } from '../src/train/defaults.js';
import { parseSelection } from '../src/train/selection.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const episodes = Number(arg('episodes', '8'));
const seed0 = Number(arg('seed', '9000'));
const logged = arg('steps', '1,5,20,50,100,200,300,500').split(',').map(Number);
const variants = arg('variants', 'default').split(',');
const backbones = arg('backbones', 'cnn-mnist,cnn-fashion').split(',');
const train = arg('train', 'full');
const ways = Number(arg('ways', '5'));
const last = Math.max(...logged);

function variantConfig(v: string): Partial<HybridConfig> & { bpLayers?: 1 | 2 } {
  const out: Partial<HybridConfig> & { bpLayers?: 1 | 2 } = {};
  const control: NonNullable<HybridConfig['control']> = {};
  for (const t of v.split('+')) {
    if (t === 'default') continue;
    else if (t === 'spread') control.spread = true;
    else if (t === 'center0') out.center = false;
    else if (t === 'guard') control.guard = true;
    else if (t.startsWith('lr')) out.lr = Number(t.slice(2));
    else if (/^m\d+$/.test(t)) out.directions = Number(t.slice(1));
    else if (/^b\d+$/.test(t)) out.batchSize = Number(t.slice(1));
    else if (t.startsWith('bp')) out.bpLayers = Number(t.slice(2)) as 1 | 2;
    else if (t.startsWith('tlr')) out.tailLr = Number(t.slice(3));
    else if (t.startsWith('hw')) out.warmup = Number(t.slice(2));
    else if (t.startsWith('k')) out.headStep = Number(t.slice(1));
    else if (t.startsWith('hf')) out.headFirstSteps = Number(t.slice(2));
    else if (t.startsWith('h')) out.headLr = Number(t.slice(1));
    else if (t.startsWith('w')) control.warmup = Number(t.slice(1));
    else if (t.startsWith('s')) {
      const [every, gamma] = t.slice(1).split(':').map(Number);
      out.schedule = { kind: 'step', every: every!, gamma: gamma! };
    } else throw new Error(`unknown variant token '${t}'`);
  }
  if (Object.keys(control).length) out.control = control;
  return out;
}

console.log(`${episodes} episodes (seeds ${seed0}…), ${ways}-way 5-shot, train ${train}, logged steps ${logged.join(',')}`);
for (const key of backbones) {
  const backbone = await loadBackbone(key);
  const source = await episodeSource(BACKBONES[key]!.data);
  const device = deviceFor(key);
  const pool = ways > 5 ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] : [5, 6, 7, 8, 9];
  const zero: number[] = [];
  const bp: number[] = [];
  const curves = new Map(variants.map((v) => [v, [] as number[][]]));
  for (let e = 0; e < episodes; e++) {
    const seed = seed0 + e;
    const ep = sampleEpisode(source, { classPool: pool, ways, shots: 5, queries: 50, seed });
    const selection = parseSelection(train);
    for (const v of variants) {
      const cfg = variantConfig(v);
      const run = await planRun({
        backbone, support: ep.support, precision: '16w8a', selection, microBatch: ADAPT_DEFAULTS.microBatch, method: 'hybrid', ...(cfg.bpLayers ? { bpLayers: cfg.bpLayers } : {}),
        trainer: { epsilon: ADAPT_DEFAULTS.epsilon, directions: ADAPT_DEFAULTS.hybridDirections, dist: ADAPT_DEFAULTS.dist, lr: ADAPT_DEFAULTS.lr, seed },
        enhancements: cfg.control ? { control: cfg.control } : {},
      });
      const session = await startSession(run, device);
      const query = quantizeSet(session, ep.query);
      if (v === variants[0]) {
        zero.push(evaluate(session, query).accuracy);
        const r = await trainBackpropRecipe(run.proto, ep.support, { trainable: run.trainable, seed });
        bp.push((await evaluateFloat(r.model, ep.query)).accuracy);
      }
      const trainer = new HybridTrainer(session, run.trainable, { ...run.trainerConfig, ...cfg });
      const set = trainer.prepareData(ep.support);
      const row: number[] = [];
      for (let s = 1; s <= last; s++) {
        trainer.trainStep(set);
        if (logged.includes(s)) row.push(evaluate(session, query).accuracy);
      }
      curves.get(v)!.push(row);
      process.stderr.write(`${key} ep ${seed} ${v}: zero ${zero[e]!.toFixed(1)} bp ${bp[e]!.toFixed(1)} → ${row.map((x) => x.toFixed(1)).join(' ')}\n`);
    }
  }
  console.log(`\n${key}: zero-shot ${fmtStat(stat(zero))}, BP recipe ${fmtStat(stat(bp))}`);
  console.log(`| variant | ${logged.map((s) => `step ${s}`).join(' | ')} | min − zero | final − BP |`);
  console.log(`|---|${logged.map(() => '---:').join('|')}|---:|---:|`);
  for (const v of variants) {
    const rows = curves.get(v)!;
    const at = (i: number) => rows.map((r) => r[i]!);
    const means = logged.map((_, i) => at(i).reduce((a, b) => a + b, 0) / rows.length);
    const zm = zero.reduce((a, b) => a + b, 0) / zero.length;
    const fin = at(logged.length - 1);
    console.log(`| ${v} | ${means.map((x) => x.toFixed(1)).join(' | ')} | ${(Math.min(...means) - zm).toFixed(1)} | ${fmtStat(stat(fin.map((x, i) => x - bp[i]!)))} |`);
  }
}
void HYBRID_DEFAULTS;
