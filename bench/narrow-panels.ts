// What narrow panels cost: a QZO-FF step (m = 3) on the session's default plan (8-column panels) and
// on the plan a device with exactly the memory target's SRAM gets (inference peak + trained
// parameters + 1 KiB, as bench/memory.bench.ts): there the layers at the SRAM peak pack panels of 4
// or 2 columns (leanPacking 'narrow'), or of 2 columns everywhere it helps when even that does not
// fit. Interleaved in process CPU time, for every preset and selection where that plan differs. Both
// must train identically: the losses of every step are compared, and a difference aborts the run.
//
//   node --import tsx bench/narrow-panels.ts [--batch N] [--samples N] [--filter TEXT]
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSessionOptions } from '../src/train/qzo-ff.js';
import { selectionLabel, selectionTrainerOptions, trainableLayers } from '../src/train/selection.js';
import { BENCH_PRESETS, benchModels, mcuFor, quantizedBatch } from './models.js';
import { FF_SLACK_BYTES, MEMORY_SELECTIONS, trainedSramBytes } from './memory.bench.js';
import { trainerConfig } from './overhead.bench.js';
import { textTable } from './suite.js';
import { timeInterleavedCpu } from './timing.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : fallback);
const batch = Number(flag('--batch', '1'));
const samples = Number(flag('--samples', '7'));
const filter = flag('--filter', '');

const rows = [['model', 'train', 'batch', 'narrow layers', 'SRAM default B', 'SRAM narrow B', 'step default ms', 'step narrow ms', 'narrow / default']];
for (const model of BENCH_PRESETS) {
  for (const selection of MEMORY_SELECTIONS) {
    const label = `${model} ${selectionLabel(selection)}`;
    if (filter && !label.includes(filter)) continue;
    const bm = benchModels(model, 16);
    const trainable = trainableLayers(bm.graph, selection);
    const config = { ...trainerConfig(3), ...selectionTrainerOptions(selection) };
    const options = qzoFfSessionOptions(batch, { model: bm.quantized, trainable, config });
    const target = QuantizedSession.plan(bm.quantized, { batch }).sramBytes + trainedSramBytes(bm, trainable, selection) + FF_SLACK_BYTES;
    const plans = { default: QuantizedSession.plan(bm.quantized, options), narrow: QuantizedSession.planFor(bm.quantized, options, { sramBytes: target, flashBytes: Number.MAX_SAFE_INTEGER }) };
    if (plans.narrow.narrowPanels.length === 0) continue;
    const set = quantizedBatch(bm, batch);
    const trainers = await Promise.all(Object.values(plans).map(async (plan) => new QzoFfTrainer(new QuantizedSession(await mcuFor(plan), bm.quantized, options), trainable, config)));
    const [a, b] = trainers as [QzoFfTrainer, QzoFfTrainer];
    for (let i = 0; i < 3; i++) {
      const la = a.trainStep(set).loss;
      const lb = b.trainStep(set).loss;
      if (la !== lb) throw new Error(`${label}: step ${i} loss ${la} (default) ≠ ${lb} (narrow)`);
    }
    const t = timeInterleavedCpu({ default: () => void a.trainStep(set), narrow: () => void b.trainStep(set) }, { samples, sampleMs: 40 });
    const narrowed = plans.narrow.narrowPanels.map((n) => `${n.layer}:${n.panelColumns}`).join(' ');
    rows.push([model, selectionLabel(selection), String(batch), narrowed, String(plans.default.sramBytes), String(plans.narrow.sramBytes), (t.default! * 1000).toFixed(3), (t.narrow! * 1000).toFixed(3), `${(t.narrow! / t.default!).toFixed(2)}×`]);
    console.log(rows.at(-1)!.join('  '));
  }
}
console.log('\n' + textTable(rows));
