// Plain QZO-FF, the hybrid (integer backprop head + QZO-FF body) and the backprop baseline recipe on
// the same 5-way 5-shot episodes (novel classes 5–9, 50 queries per class), full fine-tuning or head
// only, small CNN on MNIST and Fashion-MNIST. Prints per-cell means, paired differences against BP
// with 95% CIs, and the MACs each method spent (docs/TRAINING.md "The hybrid method").
//   nice -n 10 npx tsx bench/hybrid-compare.ts [episodes=10] [steps=500] [full|head] [seed=1000]
import { sampleEpisode } from '../src/data/fewshot.js';
import { adapt } from '../src/train/adapt.js';
import { BACKBONES } from '../src/experiments/backbones.js';
import { deviceFor, episodeSource, fmtStat, loadBackbone, stat } from '../src/experiments/common.js';
import { resolveGraph, totalMacs } from '../src/model/graph.js';
import { hybridHead } from '../src/train/hybrid.js';
import { ADAPT_DEFAULTS } from '../src/train/defaults.js';

const episodes = Number(process.argv[2] ?? 10);
const steps = Number(process.argv[3] ?? 500);
const selection = (process.argv[4] ?? 'full') as 'full' | 'head';
const seed0 = Number(process.argv[5] ?? 1000);
const m = ADAPT_DEFAULTS.directions;

console.log(`${episodes} episodes (seeds ${seed0}…), ${steps} steps, train ${selection}, m = ${m}`);
console.log('| backbone | zero-shot | BP recipe (steps) | QZO-FF | hybrid | QZO-FF − BP | hybrid − BP | hybrid − QZO-FF | G MACs BP / QZO-FF / hybrid |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const key of ['cnn-mnist', 'cnn-fashion']) {
  const backbone = await loadBackbone(key);
  const source = await episodeSource(BACKBONES[key]!.data);
  const device = deviceFor(key);
  const col = { zero: [] as number[], bp: [] as number[], bpSteps: [] as number[], zo: [] as number[], hy: [] as number[] };
  let macsBp = 0, macsZo = 0, macsHy = 0;
  for (let e = 0; e < episodes; e++) {
    const seed = seed0 + e;
    const ep = sampleEpisode(source, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 50, seed });
    const base = { backbone, support: ep.support, query: ep.query, device, selection: { kind: selection }, steps, seed };
    const zo = await adapt({ ...base, method: 'qzo-ff' });
    const hy = await adapt({ ...base, method: 'hybrid', baseline: false });
    col.zero.push(zo.zeroShot);
    col.zo.push(zo.after);
    col.bp.push(zo.bp!);
    col.bpSteps.push(zo.bpLosses.length);
    col.hy.push(hy.after);
    const n = ep.support.labels.length;
    const arch = (zo.adapted as { architecture: Parameters<typeof resolveGraph>[0] }).architecture;
    const fwd = totalMacs(resolveGraph(arch));
    const head = hybridHead(zo.adapted as never);
    // Backprop ≈ 3 forward passes per sample per step (forward, input and weight gradients); QZO-FF 2m forwards;
    // the hybrid: the same 2m forwards with the body trained (1 when only the head trains) plus the head gradient.
    const trainsBody = selection === 'full';
    macsBp += 3 * fwd * n * zo.bpLosses.length;
    macsZo += 2 * m * fwd * n * steps;
    macsHy += ((trainsBody ? 2 * m : 1) * (fwd + head.classes * head.features) * n) * steps;
    process.stderr.write(`${key} ${e + 1}/${episodes}: zero ${zo.zeroShot.toFixed(1)} bp ${zo.bp!.toFixed(1)} (${zo.bpLosses.length} steps) qzo ${zo.after.toFixed(1)} hybrid ${hy.after.toFixed(1)}\n`);
  }
  const diff = (a: number[], b: number[]) => stat(a.map((x, i) => x - b[i]!));
  const mean = (xs: number[]) => Math.round(xs.reduce((s, x) => s + x, 0) / xs.length);
  const g = (x: number) => (x / episodes / 1e9).toFixed(2);
  console.log(`| ${key} | ${fmtStat(stat(col.zero))} | ${fmtStat(stat(col.bp))} (${mean(col.bpSteps)}) | ${fmtStat(stat(col.zo))} | ${fmtStat(stat(col.hy))} | ${fmtStat(diff(col.zo, col.bp))} | ${fmtStat(diff(col.hy, col.bp))} | ${fmtStat(diff(col.hy, col.zo))} | ${g(macsBp)} / ${g(macsZo)} / ${g(macsHy)} |`);
}
