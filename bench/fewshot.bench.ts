// Few-shot adaptation over several episodes: zero-shot (prototype head), QZO-FF 16w8a and f32
// backprop on the same support sets, for full fine-tuning and the linear probe; mean ± 95% CI.
//
//   npm run bench:fewshot [-- --episodes 10] [-- --steps 1000] [-- --json FILE]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { resolveDevice } from '../src/runtime/devices.js';
import { adapt } from '../src/train/adapt.js';
import type { TrainSelection } from '../src/train/selection.js';

const { values } = parseArgs({ options: { episodes: { type: 'string', default: '10' }, steps: { type: 'string', default: '1000' }, json: { type: 'string' } } });
const episodes = Number(values.episodes);
const steps = Number(values.steps);
const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
const mnist = await loadBundledMnist();
const device = resolveDevice('nrf52840');

/** Mean and the half-width of a 95% t-interval. */
function meanCi(xs: number[]): { mean: number; ci: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  const t = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09, 2.09][Math.min(n - 2, 19)] ?? 1.96;
  return { mean, ci: n > 1 ? (t * sd) / Math.sqrt(n) : 0 };
}

const selections: [string, TrainSelection][] = [['full fine-tune', { kind: 'full' }], ['linear probe', { kind: 'head' }]];
const results: Record<string, { zeroShot: number[]; after: number[]; bp: number[]; ffSram: number; bpSram: number }> = {};
const t0 = performance.now();
for (const [label, selection] of selections) {
  const r = (results[label] = { zeroShot: [] as number[], after: [] as number[], bp: [] as number[], ffSram: 0, bpSram: 0 });
  for (let e = 0; e < episodes; e++) {
    const ep = sampleEpisode(mnist, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 100, seed: 1000 + e });
    const res = await adapt({ backbone, support: ep.support, query: ep.query, device, selection, steps, seed: 1000 + e });
    r.zeroShot.push(res.zeroShot);
    r.after.push(res.after);
    r.bp.push(res.bp!);
    r.ffSram = res.memory.ff.sramPeak;
    r.bpSram = res.memory.bp.sramPeak;
    process.stderr.write(`${label} episode ${e + 1}/${episodes}: zero-shot ${res.zeroShot.toFixed(1)} → QZO-FF ${res.after.toFixed(1)} (BP ${res.bp!.toFixed(1)})\n`);
  }
}
const fmt = (xs: number[]) => {
  const { mean, ci } = meanCi(xs);
  return `${mean.toFixed(1)} ± ${ci.toFixed(1)}`;
};
console.log(`\n5-way 5-shot, novel MNIST digits 5–9, backbone mnist-cnn-digits04, ${episodes} episodes (seeds 1000…), 100 query images per class, QZO-FF ${steps} steps (m = 3, ε = 1e-3, η = 3e-3), BP Adam 1e-3 × 100 steps`);
console.log('| trainable | zero-shot | QZO-FF 16w8a | f32 backprop | SRAM QZO-FF | SRAM backprop |');
console.log('|---|---|---|---|---|---|');
for (const [label] of selections) {
  const r = results[label]!;
  console.log(`| ${label} | ${fmt(r.zeroShot)} | ${fmt(r.after)} | ${fmt(r.bp)} | ${(r.ffSram / 1024).toFixed(1)} KiB | ${(r.bpSram / 1024).toFixed(1)} KiB |`);
}
console.log(`(accuracy %, mean ± 95% CI; ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
if (values.json) writeFileSync(values.json, JSON.stringify({ episodes, steps, results }, null, 2));
