// Head-only QZO-FF with the prototype head's bias frozen (params 'weights', the default) or trained
// beside the weights ('weights+bias'), on tuning episodes (seeds 9000+), 5-way 5-shot MNIST 5–9.
//   nice -n 10 npx tsx bench/head-bias.ts [episodes=3] [steps=300]
import { sampleEpisode } from '../src/data/fewshot.js';
import { prepareRun } from '../src/train/prepare-run.js';
import { QzoFfTrainer, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { evaluate } from '../src/train/evaluate.js';
import { episodeSource, loadBackbone, stat, fmtStat } from '../src/experiments/common.js';
import { NRF52840 } from '../src/experiments/common.js';

const episodes = Number(process.argv[2] ?? 3);
const steps = Number(process.argv[3] ?? 300);
const backbone = await loadBackbone('cnn-mnist');
const source = await episodeSource('mnist');
const out: Record<string, number[]> = { zero: [], weights: [], 'weights+bias': [] };
for (let e = 0; e < episodes; e++) {
  const seed = 9000 + e;
  const ep = sampleEpisode(source, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 50, seed });
  for (const params of ['weights', 'weights+bias'] as const) {
    const trainer: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed, params };
    const { run, session } = await prepareRun({ backbone, support: ep.support, precision: '16w8a', selection: { kind: 'head' }, microBatch: 5, trainer, device: NRF52840 });
    const t = new QzoFfTrainer(session, run.trainable, run.trainerConfig);
    const set = t.prepareData(ep.support);
    if (params === 'weights') out.zero!.push(evaluate(session, ep.query).accuracy);
    for (let s = 0; s < steps; s++) t.trainStep(set);
    out[params]!.push(evaluate(session, ep.query).accuracy);
  }
  process.stderr.write(`episode ${seed}: ${Object.entries(out).map(([k, v]) => `${k} ${v.at(-1)}`).join(', ')}\n`);
}
const diff = stat(out['weights+bias']!.map((x, i) => x - out.weights![i]!));
console.log(`${episodes} episodes, ${steps} steps: zero-shot ${fmtStat(stat(out.zero!))}, bias frozen ${fmtStat(stat(out.weights!))}, bias trained ${fmtStat(stat(out['weights+bias']!))}, paired gain ${fmtStat(diff)}`);
