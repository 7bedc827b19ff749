// Training against what users would pick today: TF.js (@tensorflow/tfjs with the wasm backend, 1
// thread) doing backprop with Adam on the same architecture, batch and trainable selection, against
// lastmile's QZO-FF (m = 1 and m = 3, 16w8a, simd build) and lastmile's f32 backprop (Adam) on the
// emulated MCU. Time per step, samples/s and peak memory: TF.js's tf.profile peakBytes (every live
// tensor: all weights, optimizer state, activations, gradients) against our arena high-water marks.
//
// qzo-ff-m1-prefix and qzo-ff-m3-prefix (selections with frozen layers only) are QZO-FF with the
// frozen-prefix cache (adapt's default for head-only and last-K, `--no-reuse-prefix` turns it off)
// refilled every step: each step draws a new batch of 8 from 16 samples, so the frozen layers run once
// per step instead of in all 2m passes (src/train/qzo-ff/prefix.ts).
//
// TF.js 4.22's wasm backend registers no Conv2DBackpropFilter and no depthwise backprop kernels, so a
// step that must differentiate a conv or depthwise layer throws there; that configuration falls back
// to TF.js's pure-JS cpu backend, which is what a TF.js user gets, and the table says so.
//
//   npm run bench:training [-- --quick] [-- --json DIR] [-- --filter TEXT]
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { QuantizedSession } from '../src/runtime/session.js';
import { BackpropSession } from '../src/runtime/backprop-session.js';
import { QzoFfTrainer, qzoFfSramBuffers } from '../src/train/qzo-ff.js';
import { planPrefixBoundary } from '../src/train/qzo-ff/prefix.js';
import { selectionLabel, trainableLayers, type TrainSelection } from '../src/train/selection.js';
import { parseBenchArgs, runIfEntryPoint, writeJson } from './cli.js';
import { BENCH_PRESETS, benchModels, mcuFor, OUR_BUILD, quantizedBatch, randomBatch, type BenchModels } from './models.js';
import { trainerConfig } from './overhead.bench.js';
import { kib, ms, ratio, suiteReport, textTable, type SuiteReport } from './suite.js';
import { buildTfjsModel } from './tfjs-model.js';
import { byName, measure, sig, type Case, type Timing } from './timing.js';

export type TrainingImpl = 'tfjs' | 'qzo-ff-m1' | 'qzo-ff-m3' | 'qzo-ff-m1-prefix' | 'qzo-ff-m3-prefix' | 'qzo-ff-m3-prefix-zbuf' | 'lastmile-bp';

export interface TrainingResult {
  model: string;
  selection: string;
  batch: number;
  impl: TrainingImpl;
  /** For TF.js: the backend that ran (wasm, or cpu when wasm lacks a gradient kernel). */
  backend: string;
  note?: string;
  /** Median ms per step; null when the configuration was skipped (see note). */
  stepMs: number | null;
  samplesPerSec: number | null;
  /**
   * TF.js: tf.profile peakBytes of one step minus the bytes of tensors that existed before this model
   * was built. lastmile: SRAM high-water mark + flash used.
   */
  peakBytes: number | null;
  /** lastmile only: the SRAM high-water mark alone. */
  sramBytes?: number;
}

export const TRAINING_TARGET = 2;
export const TRAINING_BATCH = 8;
export const TRAINING_SELECTIONS: TrainSelection[] = [{ kind: 'full' }, { kind: 'head' }];
// Warm-up is done here, not by measure(): TF.js's warm-up step is the one tf.profile watches.
const FULL: Timing = { minSamples: 2, minTime: 0.05, maxTime: 0.2, rounds: 3, warmupCalls: 0 };
const QUICK: Timing = { minSamples: 2, minTime: 0.01, maxTime: 0.03, rounds: 1, warmupCalls: 0 };
/**
 * --quick times TF.js's cpu fallback only on models below this many MACs per sample: on the larger
 * presets one cpu step takes 5-20 s, longer than the whole quick budget.
 */
const QUICK_CPU_FALLBACK_MAX_MACS = 1e6;
const ADAM_LR = 1e-3;

let threadsSet = false;
async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (!threadsSet) {
    setThreadsCount(1); // must precede the wasm backend's initialisation
    threadsSet = true;
  }
  if (tf.getBackend() !== name) await tf.setBackend(name);
  await tf.ready();
}

interface TfjsRunner {
  backend: string;
  note?: string;
  /** Bytes of tensors alive before this model was built (not this model's). */
  bytesBefore: number;
  step: (() => void) | null;
  dispose: () => void;
}

async function tfjsRunner(m: BenchModels, trainable: ReadonlySet<string>, batch: number, allowCpu: boolean): Promise<TfjsRunner> {
  let note: string | undefined;
  for (const backend of ['wasm', 'cpu'] as const) {
    await useBackend(backend);
    if (backend === 'cpu' && !allowCpu) return { backend, note: `${note}; skipped in --quick (a cpu step takes seconds)`, bytesBefore: 0, step: null, dispose: () => {} };
    const bytesBefore = tf.memory().numBytes;
    const { model, trainable: vars } = buildTfjsModel(m.quantized.architecture, trainable);
    const { x, labels } = randomBatch(m, batch);
    const xs = tf.tensor(x, [batch, ...m.graph.inputShape]);
    const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), m.classes);
    const optimizer = tf.train.adam(ADAM_LR);
    const step = () => {
      const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar, true, vars);
      cost!.dataSync();
      cost!.dispose();
    };
    const dispose = () => {
      optimizer.dispose();
      tf.dispose([xs, ys]);
      model.dispose();
    };
    try {
      step();
      return { backend, ...(note ? { note } : {}), bytesBefore, step, dispose };
    } catch (error) {
      dispose();
      const message = error instanceof Error ? error.message : String(error);
      const missing = /Kernel '([^']+)' not registered for backend 'wasm'/.exec(message);
      if (backend === 'wasm' && missing) note = `wasm backend has no ${missing[1]} kernel: ran on tfjs cpu`;
      else throw error;
    }
  }
  throw new Error('unreachable');
}

export async function measureTraining(model: string, selection: TrainSelection, batch: number, timing: Timing, quick = false): Promise<TrainingResult[]> {
  const bm = benchModels(model, 16);
  const trainable = trainableLayers(bm.graph, selection);
  const set = quantizedBatch(bm, batch);
  const ours: { impl: TrainingImpl; step: () => void; memory: () => { sram: number; flash: number } }[] = [];
  for (const m of [1, 3]) {
    const config = trainerConfig(m);
    const options = { batch, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(batch, { model: bm.quantized, trainable, config }) };
    const mcu = await mcuFor(QuantizedSession.plan(bm.quantized, options));
    const trainer = new QzoFfTrainer(new QuantizedSession(mcu, bm.quantized, options), trainable, config);
    ours.push({ impl: m === 1 ? 'qzo-ff-m1' : 'qzo-ff-m3', step: () => void trainer.trainStep(set), memory: () => ({ sram: mcu.sram.highWater, flash: mcu.flash.highWater }) });
  }
  const prefixSamples = planPrefixBoundary(bm.quantized, trainable) ? batch : undefined;
  if (prefixSamples) {
    const twoBatches = quantizedBatch(bm, 2 * batch);
    // The z-buffer variant (opt-in zBuffer 'step': every direction's z drawn once per step, read by both
    // passes and the update) shows what the per-weight work of a large dense head costs when z is never
    // regenerated; it needs m bytes of SRAM per trained weight.
    const variants: { impl: TrainingImpl; m: number; zBuffer: false | 'step' }[] = [
      { impl: 'qzo-ff-m1-prefix', m: 1, zBuffer: false }, { impl: 'qzo-ff-m3-prefix', m: 3, zBuffer: false }, { impl: 'qzo-ff-m3-prefix-zbuf', m: 3, zBuffer: 'step' },
    ];
    for (const v of variants) {
      const config = { ...trainerConfig(v.m), ...(v.zBuffer ? { zBuffer: v.zBuffer } : {}), batchSize: batch };
      const options = { batch, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(batch, { model: bm.quantized, trainable, config, prefixSamples }) };
      const mcu = await mcuFor(QuantizedSession.plan(bm.quantized, options));
      const trainer = new QzoFfTrainer(new QuantizedSession(mcu, bm.quantized, options), trainable, config);
      ours.push({ impl: v.impl, step: () => void trainer.trainStep(twoBatches), memory: () => ({ sram: mcu.sram.highWater, flash: mcu.flash.highWater }) });
    }
  }
  const bpOptions = { batch, trainable: new Set(trainable), optimizer: { kind: 'adam' as const, lr: ADAM_LR } };
  const bpMcu = await mcuFor(BackpropSession.plan(bm.float, bpOptions));
  const bp = new BackpropSession(bpMcu, bm.float, bpOptions);
  const { x, labels } = randomBatch(bm, batch);
  // The planner reuses the labels' bytes once the loss has read them, so every step stages its batch
  // (as trainBackprop does).
  ours.push({ impl: 'lastmile-bp', step: () => { bp.setBatch(x, labels); bp.trainStep(); }, memory: () => ({ sram: bpMcu.sram.highWater, flash: bpMcu.flash.highWater }) });

  const tfjs = await tfjsRunner(bm, new Set(trainable), batch, !quick || bm.macsPerSample < QUICK_CPU_FALLBACK_MAX_MACS);
  try {
    const tfStep = tfjs.step;
    // The second TF.js step (the first ran when the backend was chosen) is the profiled warm-up.
    const profile = tfStep ? await tf.profile(() => tfStep()) : null;
    for (const o of ours) for (let i = 0; i < 2; i++) o.step();
    const cases: Case[] = [...(tfStep ? [{ name: 'tfjs', fn: tfStep }] : []), ...ours.map((o) => ({ name: o.impl, fn: o.step }))];
    const measured = await measure(cases, timing);
    const results: TrainingResult[] = [];
    const base = { model, selection: selectionLabel(selection), batch };
    const tfMs = tfStep ? byName(measured, 'tfjs') : null;
    results.push({
      ...base, impl: 'tfjs', backend: `tfjs-${tfjs.backend}`, ...(tfjs.note ? { note: tfjs.note } : {}),
      stepMs: tfMs === null ? null : sig(tfMs), samplesPerSec: tfMs === null ? null : sig((1000 * batch) / tfMs), peakBytes: profile ? profile.peakBytes - tfjs.bytesBefore : null,
    });
    for (const o of ours) {
      const t = byName(measured, o.impl);
      const mem = o.memory();
      results.push({ ...base, impl: o.impl, backend: `lastmile-${OUR_BUILD}`, stepMs: sig(t), samplesPerSec: sig((1000 * batch) / t), peakBytes: mem.sram + mem.flash, sramBytes: mem.sram });
    }
    return results;
  } finally {
    tfjs.dispose();
  }
}

export function trainingTable(results: readonly TrainingResult[]): string {
  const rows = [['model', 'train', 'impl', 'backend', 'step ms', 'samples/s', 'peak KiB', 'SRAM KiB', 'TF.js step / this']];
  for (const r of results) {
    const tfjs = results.find((x) => x.model === r.model && x.selection === r.selection && x.impl === 'tfjs');
    const speedup = tfjs?.stepMs != null && r.stepMs != null ? ratio(tfjs.stepMs / r.stepMs) : '-';
    rows.push([r.model, r.selection, r.impl, r.backend, r.stepMs === null ? 'skipped' : ms(r.stepMs), r.samplesPerSec === null ? '-' : r.samplesPerSec.toFixed(0), r.peakBytes === null ? '-' : kib(r.peakBytes), r.sramBytes === undefined ? '-' : kib(r.sramBytes), speedup]);
  }
  return textTable(rows);
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), 'training');
  const timing = args.quick ? QUICK : FULL;
  console.log(`training step: TF.js ${tf.version.tfjs} backprop (wasm, 1 thread; cpu where wasm lacks a gradient kernel) vs lastmile QZO-FF m=1/m=3 (16w8a, ${OUR_BUILD}) and lastmile f32 backprop, batch ${TRAINING_BATCH}, Adam lr ${ADAM_LR}${args.quick ? ' (--quick)' : ''}`);
  const results: TrainingResult[] = [];
  for (const model of BENCH_PRESETS) {
    for (const selection of TRAINING_SELECTIONS) {
      const label = `${model} ${selectionLabel(selection)}`;
      if (args.filter && !label.includes(args.filter)) continue;
      const r = await measureTraining(model, selection, TRAINING_BATCH, timing, args.quick);
      results.push(...r);
      console.log(`  ${label.padEnd(24)} ${r.map((x) => `${x.impl} ${x.stepMs === null ? 'skipped' : `${ms(x.stepMs)} ms`}`).join('  ')}${r[0]!.note ? `  (${r[0]!.note})` : ''}`);
    }
  }
  console.log('\n' + trainingTable(results));
  const report: SuiteReport<TrainingResult> = suiteReport('training', args.quick, 'bench:training', {
    batch: TRAINING_BATCH, optimizer: `Adam lr ${ADAM_LR} (TF.js and lastmile backprop)`, qzoFf: trainerConfig(3), target: TRAINING_TARGET, build: OUR_BUILD,
    loss: 'softmax cross-entropy over the model output for every preset (the FC auto-encoder included, so all three train the same objective)',
    weights: 'random init (He-normal for lastmile, Glorot for TF.js layers); random inputs and labels',
    memory: 'TF.js: tf.profile peakBytes (tensor bytes tracked by the engine). lastmile: arena SRAM high-water mark + flash used',
  }, results, timing);
  if (args.json) await writeJson(args.json, report);
}

runIfEntryPoint(import.meta.url, main);
