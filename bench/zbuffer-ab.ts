// Side-by-side A/B of one QZO-FF step with z regenerated per weight and with z buffers (zBuffer: true):
// alternating calls in one process, minimum and median of many samples (the machine is shared, and the
// minimum is the least disturbed figure). Step ratios are step / (2m × plain forward) of the same session.
//
//   node --import tsx bench/zbuffer-ab.ts [MODEL ...]
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers } from '../src/train/qzo-ff.js';
import { trainableLayers, type TrainSelection } from '../src/train/selection.js';
import { benchModels, mcuFor, quantizedBatch } from './models.js';
import { trainerConfig, OVERHEAD_BATCH } from './overhead.bench.js';

const now = () => performance.now();

async function setup(model: string, selection: TrainSelection, m: number, zBuffer: boolean) {
  const bm = benchModels(model, 16);
  const trainable = trainableLayers(bm.graph, selection);
  const config = trainerConfig(m, zBuffer);
  const options = { batch: OVERHEAD_BATCH, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(OVERHEAD_BATCH, { model: bm.quantized, trainable, config }) };
  const session = new QuantizedSession(await mcuFor(QuantizedSession.plan(bm.quantized, options)), bm.quantized, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  const set = quantizedBatch(bm, OVERHEAD_BATCH);
  trainer.trainStep(set);
  return { session, step: () => trainer.trainStep(set), forward: () => session.forward() };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]! };
};

async function main(): Promise<void> {
  const models = process.argv.slice(2).length ? process.argv.slice(2) : ['fc-autoencoder', 'mnist-cnn', 'ds-cnn', 'mobilenetv1-0.25'];
  for (const model of models) {
    for (const selection of [{ kind: 'full' }, { kind: 'head' }] as TrainSelection[]) {
      for (const m of [1, 3]) {
        const a = await setup(model, selection, m, false);
        const b = await setup(model, selection, m, true);
        const t = { fwd: [] as number[], a: [] as number[], b: [] as number[] };
        const reps = model === 'fc-autoencoder' || model === 'mnist-cnn' ? 60 : 15;
        for (let i = 0; i < reps; i++) {
          let t0 = now(); a.forward(); t.fwd.push(now() - t0);
          t0 = now(); a.step(); t.a.push(now() - t0);
          t0 = now(); b.step(); t.b.push(now() - t0);
        }
        const f = stats(t.fwd);
        const sa = stats(t.a);
        const sb = stats(t.b);
        const r = (x: number) => (x / (2 * m * f.min)).toFixed(2);
        console.log(`${model.padEnd(17)} ${selection.kind.padEnd(5)} m=${m}  forward min ${f.min.toFixed(3)} ms | step regenerate min ${sa.min.toFixed(3)} (${r(sa.min)}×) med ${sa.median.toFixed(3)} | step z-buffer min ${sb.min.toFixed(3)} (${r(sb.min)}×) med ${sb.median.toFixed(3)} | buffer/regenerate ${(sb.min / sa.min).toFixed(2)}`);
      }
    }
  }
}

await main();
