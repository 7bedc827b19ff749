// Time to accuracy on the main job (what `npm start` runs: src/cli/commands/adapt.ts defaults): the
// shipped backbone models/mnist-cnn-digits04.lmdl, a 5-way 5-shot episode on MNIST digits 5–9 (seed 1,
// 100 held-out query images per class), prototype head, 16w8a, full fine-tuning, simd build.
//   - QZO-FF plain (the paper): m = 3, ε = 1e-3, η = 3e-3, constant, micro-batch 5, 1000 steps,
//     evaluated every 50 steps of one run.
//   - backprop: f32 Adam on the whole support set (the baseline recipe's optimizer, BP_RECIPE, to its step cap).
//     Its final accuracy is the target every method is timed to.
//   - every method adapt() accepts (ADAPT_METHODS: qzo-ff with adapt's defaults, ff-float, and any
//     method added later) through adapt() itself, with its own defaults, at a grid of step counts;
//     each point is a separate run of that many steps, so a schedule over the run is honoured.
// Query accuracy is recorded against the wall-clock time spent in training steps only (evaluation is
// paused out of the clock) and against the MACs the kernels executed (the profiler's count of every
// forward — and for backprop backward — layer call, padding rows of a micro-batch included). The
// nRF52840 time for that compute comes from the cost model (src/cost): a QZO-FF step's estimate, or
// for other methods their MACs at the int8 forward's ms per MAC (a lower bound for f32 backprop).
//
//   npm run bench:tta [-- --quick] [-- --json DIR]
import { BP_RECIPE } from '../src/train/bp-recipe.js';
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
import { Profiler } from '../src/device/profiler.js';
import { adapt, type AdaptMethod, type AdaptOptions } from '../src/train/adapt.js';
import { ADAPT_DEFAULTS } from '../src/train/defaults.js';
import { ADAPT_METHODS } from '../src/train/guards.js';
import { estimateInference, estimateQzoStep } from '../src/cost/graph-estimate.js';
import { targetForPreset } from '../src/cost/model.js';
import { trainableLayers } from '../src/train/selection.js';
import { shippedModel } from '../src/util/package-root.js';
import { parseBenchArgs, runIfEntryPoint, writeJson } from './cli.js';
import { mcuFor, OUR_BUILD } from './models.js';
import { suiteReport, textTable, toTargetCells, type SuiteReport } from './suite.js';

export interface TtaPoint {
  step: number;
  /** Wall-clock ms spent in training steps so far. */
  wallMs: number;
  /** Query accuracy, percent. */
  accuracy: number;
  /** MACs the kernels executed in training so far (null: this method's path has no MAC count). */
  macs?: number | null;
}

/** The first recorded point at or above the target accuracy (resolution: the evaluation interval). */
export interface TtaToTarget {
  step: number;
  wallMs: number;
  macs: number | null;
  /** Cost-model estimate of that compute on the nRF52840 (ms); null when there is no estimate. */
  nrf52840Ms: number | null;
  /** How nrf52840Ms was derived. */
  estimate: string;
}

export interface TtaResult {
  /** 'qzo-ff' (the per-step runs), 'backprop' (the target), or an adapt() method name. */
  method: string;
  /** Stable id of the row: qzo-ff-plain, backprop, adapt:<method>. */
  key?: string;
  label: string;
  steps: number;
  points: TtaPoint[];
  /** Measured SRAM high-water mark of the training session (bytes). */
  sramPeak: number;
  /** Reaching the backprop row's final accuracy; null when never reached within `steps`. */
  toTarget?: TtaToTarget | null;
}

const BACKBONE = 'mnist-cnn-digits04.lmdl';
const SEED = 1;
const MICRO_BATCH = 5;
// Backprop runs the baseline recipe's optimizer (BP_RECIPE) for the recipe's step cap: the curve then
// covers the plateau the recipe stops at (233 steps on this episode) and its final value is at least as
// trained as the baseline adapt prints.
const bpSteps = BP_RECIPE.maxSteps;
const PLAN = {
  full: { ffSteps: 1000, ffEvery: 50, bpSteps, bpEvery: Math.max(1, Math.round(bpSteps / 20)), adaptGrid: [25, 50, 75, 100, 150, 200, 300, 400, 700, 1000] },
  quick: { ffSteps: 200, ffEvery: 25, bpSteps: 200, bpEvery: 10, adaptGrid: [50, 100, 200] },
};
const DEVICE = 'nrf52840';

const profiledMacs = (p: Profiler): number => p.byLayer().reduce((sum, r) => sum + r.macs, 0);

/**
 * A method through adapt() with its own defaults (the main job's episode and micro-batch), once per
 * step count of the grid; each point's time is that run's training wall clock (adapt's wallMs.ff) and
 * its MACs the profiler's count where that path profiles (QZO-FF), else null.
 */
async function runAdaptMethod(method: string, backbone: FloatModel, support: Dataset, query: Dataset, grid: readonly number[], variant?: HybridVariant): Promise<TtaResult> {
  const points: TtaPoint[] = [];
  let sramPeak = 0;
  for (const steps of [0, ...grid]) {
    const r = await adapt({ method: method as AdaptMethod, backbone, support, query, device: resolveDevice(DEVICE), steps, seed: SEED, baseline: false, build: OUR_BUILD, profile: true, ...variant?.options });
    const macs = r.profiler ? profiledMacs(r.profiler) : null;
    points.push({ step: steps, wallMs: Number((steps === 0 ? 0 : r.wallMs.ff).toFixed(1)), accuracy: r.after, macs: steps === 0 ? 0 : macs });
    sramPeak = Math.max(sramPeak, r.sramPeak);
  }
  const label = variant ? `adapt --method ${method} ${variant.flags}` : method === 'qzo-ff' ? 'QZO-FF 16w8a, the paper (adapt --method qzo-ff)' : `adapt --method ${method} (its defaults)`;
  return { method, key: variant ? `adapt:${method}:${variant.key}` : `adapt:${method}`, label, steps: grid.at(-1) ?? 0, points, sramPeak };
}

interface HybridVariant {
  key: string;
  flags: string;
  options: Partial<AdaptOptions>;
}

// Other settings of the default method, timed the same way: the paper's three directions for the body
// (6 forwards per step instead of the default's 2), and training only the two layers it learns by backprop (the frozen conv
// layers' features are computed once and cached, so a step is one pass through the last conv and the head).
const HYBRID_VARIANTS: HybridVariant[] = [
  { key: 'm3', flags: '--m 3', options: { directions: 3 } },
  { key: 'last2', flags: '--train last:2', options: { selection: { kind: 'last', layers: 2 } } },
];

/** Where a run first reaches `target` %, with the cost model's nRF52840 estimate of that compute. */
function toTarget(r: TtaResult, target: number, proto: FloatModel): TtaToTarget | null {
  const hit = r.points.find((p) => p.accuracy >= target);
  if (!hit) return null;
  const graph = resolveGraph(proto.architecture);
  const device = targetForPreset(DEVICE);
  const macs = hit.macs ?? null;
  if (r.method === 'qzo-ff') {
    const trainable = trainableLayers(graph, { kind: 'full' });
    const e = estimateQzoStep(graph, device, { directions: ADAPT_DEFAULTS.directions, batch: 25, microBatch: MICRO_BATCH, steps: hit.step, bits: 16, trainable });
    return { step: hit.step, wallMs: hit.wallMs, macs, nrf52840Ms: Math.round(e.totalMs), estimate: `cost model ${e.model}: ${hit.step} QZO-FF steps (${e.counts})` };
  }
  if (macs === null) return { step: hit.step, wallMs: hit.wallMs, macs, nrf52840Ms: null, estimate: 'no MAC count on this path' };
  // The hybrid runs 16-bit weights: its MACs at the 16w8a forward's time per MAC. Backprop and float
  // ZO run f32, for which the C export has no kernels: the int8 forward, the cheapest, is a lower bound.
  const bits = r.method === 'hybrid' ? 16 : 8;
  const inf = estimateInference(graph, device, bits);
  const msPerMac = inf.mcu.msPerInference / inf.macs;
  const what = bits === 8 ? `the int8 forward's ${(msPerMac * 1e6).toFixed(2)} ns per MAC (f32 is slower: a lower bound)` : `the 16w8a forward's ${(msPerMac * 1e6).toFixed(2)} ns per MAC`;
  return { step: hit.step, wallMs: hit.wallMs, macs, nrf52840Ms: Math.round(macs * msPerMac), estimate: `cost model ${inf.mcu.model}: the executed MACs at ${what}` };
}

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
  const points: TtaPoint[] = [{ step: 0, wallMs: 0, accuracy: evaluate(session, querySet).accuracy, macs: 0 }];
  const profiler = new Profiler();
  let wall = 0;
  for (let s = 1; s <= steps; s++) {
    const t0 = performance.now();
    session.profiler = profiler;
    trainer.trainStep(set);
    session.profiler = undefined;
    wall += performance.now() - t0;
    if (s % every === 0 || s === steps) points.push({ step: s, wallMs: Number(wall.toFixed(1)), accuracy: evaluate(session, querySet).accuracy, macs: profiledMacs(profiler) });
  }
  return { method: 'qzo-ff', key: 'qzo-ff-plain', label: 'QZO-FF 16w8a plain (paper: m = 3, ε = 1e-3, η = 3e-3)', steps, points, sramPeak: mcu.sram.highWater };
}

async function runBackprop(proto: FloatModel, support: Dataset, query: Dataset, steps: number, every: number): Promise<TtaResult> {
  const trainable = trainableLayers(resolveGraph(proto.architecture), { kind: 'full' });
  const lr = ADAPT_DEFAULTS.bpLr;
  const options = { batch: support.labels.length, trainable: new Set(trainable), optimizer: { kind: 'adam' as const, lr } };
  const mcu = await mcuFor(BackpropSession.plan(proto, options));
  const session = new BackpropSession(mcu, proto, options);
  const points: TtaPoint[] = [{ step: 0, wallMs: 0, accuracy: bpAccuracy(session, query), macs: 0 }];
  const profiler = new Profiler();
  let wall = 0;
  for (let s = 1; s <= steps; s++) {
    const t0 = performance.now();
    // Whole support set per step, as adapt's baseline does (its shuffle only reorders the same 25).
    session.setBatch(support.images, support.labels);
    session.profiler = profiler;
    session.trainStep();
    session.profiler = undefined;
    wall += performance.now() - t0;
    if (s % every === 0 || s === steps) points.push({ step: s, wallMs: Number(wall.toFixed(1)), accuracy: bpAccuracy(session, query), macs: profiledMacs(profiler) });
  }
  return { method: 'backprop', key: 'backprop', label: `f32 backprop (Adam ${lr}, whole support set)`, steps, points, sramPeak: mcu.sram.highWater };
}

export function ttaTable(results: readonly TtaResult[]): string {
  const rows = [['method', 'steps', 'train s', 'zero-shot %', 'final %', 'best %', 'SRAM KiB', 'step to BP', 's to BP', 'GMAC to BP', 'nRF52840 est.']];
  for (const r of results) {
    const last = r.points[r.points.length - 1]!;
    rows.push([r.label, String(r.steps), (last.wallMs / 1000).toFixed(2), r.points[0]!.accuracy.toFixed(1), last.accuracy.toFixed(1), Math.max(...r.points.map((p) => p.accuracy)).toFixed(1), (r.sramPeak / 1024).toFixed(1), ...toTargetCells(r.toTarget)]);
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
  const bp = await runBackprop(proto, episode.support, episode.query, plan.bpSteps, plan.bpEvery);
  const target = bp.points.at(-1)!.accuracy;
  console.log(`  backprop: ${target.toFixed(1)}% after ${bp.steps} steps (the target)`);
  const results = [await runQzoFf(proto, episode.support, episode.query, plan.ffSteps, plan.ffEvery), bp];
  console.log(`  ${results[0]!.label}: done`);
  // Every method adapt() knows, read from the code (a method added later is timed too); backprop is the target row above.
  for (const method of ADAPT_METHODS.filter((m) => m !== 'bp')) {
    results.push(await runAdaptMethod(method, backbone, episode.support, episode.query, plan.adaptGrid));
    console.log(`  ${results.at(-1)!.label}: done`);
  }
  for (const variant of HYBRID_VARIANTS) {
    results.push(await runAdaptMethod('hybrid', backbone, episode.support, episode.query, plan.adaptGrid, variant));
    console.log(`  ${results.at(-1)!.label}: done`);
  }
  for (const r of results) r.toTarget = toTarget(r, target, proto);
  console.log('\n' + ttaTable(results));
  const report: SuiteReport<TtaResult> = suiteReport('tta', args.quick, 'bench:tta', {
    backbone: `models/${BACKBONE}`, task: '5-way 5-shot, MNIST classes 5-9, 100 queries per class', seed: SEED, build: OUR_BUILD, prototypeHeadMs: Number(setupMs.toFixed(0)),
    qzoFf: { precision: '16w8a', selection: 'full', m: 3, epsilon: 1e-3, lr: 3e-3, microBatch: MICRO_BATCH, steps: plan.ffSteps, evalEvery: plan.ffEvery },
    backprop: { precision: 'f32', selection: 'full', optimizer: `Adam ${ADAPT_DEFAULTS.bpLr}`, batch: 25, steps: plan.bpSteps, evalEvery: plan.bpEvery },
    adaptMethods: { methods: ADAPT_METHODS.filter((m) => m !== 'bp'), stepGrid: plan.adaptGrid, note: "each point a separate adapt() run of that many steps with the method's defaults" },
    target: { accuracy: target, from: 'backprop final accuracy', device: DEVICE },
    macs: 'executed kernel MACs from the profiler (forward passes; backprop adds its backward layers at 2× the forward MACs); null where the path has no profiler',
    clock: 'wall ms inside training steps only; evaluation excluded',
  }, results);
  if (args.json) await writeJson(args.json, report);
}

runIfEntryPoint(import.meta.url, main);
