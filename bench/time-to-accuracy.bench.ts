// Time to accuracy on the main job (what `npm start` runs: src/cli/commands/adapt.ts defaults): the
// shipped backbone models/mnist-cnn-digits04.lmdl, a 5-way 5-shot episode on MNIST digits 5–9 (seed 1,
// 100 held-out query images per class), prototype head, 16w8a, full fine-tuning. QZO-FF: m = 3,
// ε = 1e-3, η = 3e-3, micro-batch 5, 1000 steps. Backprop: f32 Adam 1e-3 on the whole support set,
// 100 steps (adapt's baseline), both on the simd build. Query accuracy is recorded against the
// wall-clock time spent in training steps only (evaluation is paused out of the clock).
//
//   npm run bench:tta [-- --quick] [-- --json DIR]
import { readFile } from 'node:fs/promises';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { resolveGraph } from '../src/model/graph.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { sampleSize, type Dataset } from '../src/data/dataset.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { BackpropSession } from '../src/runtime/backprop-session.js';
import { resolveDevice } from '../src/device/presets.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { evaluate } from '../src/train/evaluate.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { trainableLayers } from '../src/train/selection.js';
import { shippedModel } from '../src/util/package-root.js';
import { parseBenchArgs, runIfEntryPoint, writeJson } from './cli.js';
import { mcuFor, OUR_BUILD } from './models.js';
import { suiteReport, textTable, type SuiteReport } from './suite.js';

export interface TtaPoint {
  step: number;
  /** Wall-clock ms spent in training steps so far. */
  wallMs: number;
  /** Query accuracy, percent. */
  accuracy: number;
}

export interface TtaResult {
  method: 'qzo-ff' | 'backprop';
  label: string;
  steps: number;
  points: TtaPoint[];
  /** Measured SRAM high-water mark of the training session (bytes). */
  sramPeak: number;
}

const BACKBONE = 'mnist-cnn-digits04.lmdl';
const SEED = 1;
const MICRO_BATCH = 5;
const PLAN = { full: { ffSteps: 1000, ffEvery: 50, bpSteps: 100, bpEvery: 5 }, quick: { ffSteps: 200, ffEvery: 25, bpSteps: 100, bpEvery: 10 } };

function argmaxAccuracy(logits: ArrayLike<number>, rows: number, classes: number, labels: ArrayLike<number>, offset: number): number {
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[r * classes + c]! > logits[r * classes + best]!) best = c;
    if (best === labels[offset + r]) correct++;
  }
  return correct;
}

/** Query accuracy of the backprop session's current weights, run on the same session's forward. */
function bpAccuracy(session: BackpropSession, query: Dataset): number {
  const size = sampleSize(query);
  const batch = session.batch;
  let correct = 0;
  for (let from = 0; from < query.labels.length; from += batch) {
    const rows = Math.min(batch, query.labels.length - from);
    const x = new Float32Array(batch * size);
    x.set(query.images.subarray(from * size, (from + rows) * size));
    session.setBatch(x, new Int32Array(batch));
    session.forward();
    correct += argmaxAccuracy(session.readLogits(), rows, session.classes, query.labels, from);
  }
  return (100 * correct) / query.labels.length;
}

async function runQzoFf(proto: FloatModel, support: Dataset, query: Dataset, steps: number, every: number): Promise<TtaResult> {
  const ranges = await calibrate(proto, support, { build: OUR_BUILD });
  const quantized = quantizeModel(proto, ranges, { weightBits: 16, perChannel: false });
  const trainable = trainableLayers(resolveGraph(quantized.architecture), { kind: 'full' });
  const config: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: SEED };
  const options = { batch: MICRO_BATCH, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(MICRO_BATCH, { model: quantized, trainable, config }) };
  const mcu = await Mcu.create({ budget: resolveDevice('nrf52840'), build: OUR_BUILD });
  const session = new QuantizedSession(mcu, quantized, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  const set = trainer.prepareData(support);
  const querySet = trainer.prepareData(query);
  const points: TtaPoint[] = [{ step: 0, wallMs: 0, accuracy: evaluate(session, querySet).accuracy }];
  let wall = 0;
  for (let s = 1; s <= steps; s++) {
    const t0 = performance.now();
    trainer.trainStep(set);
    wall += performance.now() - t0;
    if (s % every === 0 || s === steps) points.push({ step: s, wallMs: Number(wall.toFixed(1)), accuracy: evaluate(session, querySet).accuracy });
  }
  return { method: 'qzo-ff', label: 'QZO-FF 16w8a (m = 3)', steps, points, sramPeak: mcu.sram.highWater };
}

async function runBackprop(proto: FloatModel, support: Dataset, query: Dataset, steps: number, every: number): Promise<TtaResult> {
  const trainable = trainableLayers(resolveGraph(proto.architecture), { kind: 'full' });
  const options = { batch: support.labels.length, trainable: new Set(trainable), optimizer: { kind: 'adam' as const, lr: 1e-3 } };
  const mcu = await mcuFor(BackpropSession.plan(proto, options));
  const session = new BackpropSession(mcu, proto, options);
  const points: TtaPoint[] = [{ step: 0, wallMs: 0, accuracy: bpAccuracy(session, query) }];
  let wall = 0;
  for (let s = 1; s <= steps; s++) {
    const t0 = performance.now();
    // Whole support set per step, as adapt's baseline does (its shuffle only reorders the same 25).
    session.setBatch(support.images, support.labels);
    session.trainStep();
    wall += performance.now() - t0;
    if (s % every === 0 || s === steps) points.push({ step: s, wallMs: Number(wall.toFixed(1)), accuracy: bpAccuracy(session, query) });
  }
  return { method: 'backprop', label: 'f32 backprop (Adam)', steps, points, sramPeak: mcu.sram.highWater };
}

export function ttaTable(results: readonly TtaResult[]): string {
  const rows = [['method', 'steps', 'train s', 'zero-shot %', 'final %', 'best %', 'SRAM KiB']];
  for (const r of results) {
    const last = r.points[r.points.length - 1]!;
    rows.push([r.label, String(r.steps), (last.wallMs / 1000).toFixed(2), r.points[0]!.accuracy.toFixed(1), last.accuracy.toFixed(1), Math.max(...r.points.map((p) => p.accuracy)).toFixed(1), (r.sramPeak / 1024).toFixed(1)]);
  }
  return textTable(rows);
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), 'tta');
  const plan = args.quick ? PLAN.quick : PLAN.full;
  const backbone = loadModel(new Uint8Array(await readFile(shippedModel(BACKBONE))), BACKBONE);
  if (backbone.kind !== 'float') throw new Error(`${BACKBONE} is not a float backbone`);
  const episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 100, seed: SEED });
  console.log(`time to accuracy: ${BACKBONE}, 5-way 5-shot MNIST digits ${episode.classIds.join(', ')}, ${episode.query.labels.length} query images, seed ${SEED}, ${OUR_BUILD} build${args.quick ? ' (--quick)' : ''}`);
  const tSetup = performance.now();
  const proto = await withPrototypeHead(backbone, episode.support, OUR_BUILD);
  const setupMs = performance.now() - tSetup;
  const results = [
    await runQzoFf(proto, episode.support, episode.query, plan.ffSteps, plan.ffEvery),
    await runBackprop(proto, episode.support, episode.query, plan.bpSteps, plan.bpEvery),
  ];
  console.log('\n' + ttaTable(results));
  const report: SuiteReport<TtaResult> = suiteReport('tta', args.quick, 'bench:tta', {
    backbone: `models/${BACKBONE}`, task: '5-way 5-shot, MNIST classes 5-9, 100 queries per class', seed: SEED, build: OUR_BUILD, prototypeHeadMs: Number(setupMs.toFixed(0)),
    qzoFf: { precision: '16w8a', selection: 'full', m: 3, epsilon: 1e-3, lr: 3e-3, microBatch: MICRO_BATCH, steps: plan.ffSteps, evalEvery: plan.ffEvery },
    backprop: { precision: 'f32', selection: 'full', optimizer: 'Adam 1e-3', batch: 25, steps: plan.bpSteps, evalEvery: plan.bpEvery },
    clock: 'wall ms inside training steps only; evaluation excluded',
  }, results);
  if (args.json) await writeJson(args.json, report);
}

runIfEntryPoint(import.meta.url, main);
