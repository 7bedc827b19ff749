// `lastmile profile`: where the time of a QZO-FF step goes. Runs steps on seeded random data (kernel
// time does not depend on the values) for an architecture preset or a model file, with a Profiler
// attached to the session: the session times every layer's kernel, the trainer times its RNG setup
// and the update; the rest of the step (integer loss, batch loading, host bookkeeping) is the
// measured step time minus the timed parts, so the shares add up to the whole step.
import type { Command } from 'commander';
import { ConfigError } from '../../errors.js';
import type { Dataset } from '../../data/dataset.js';
import { resolveGraph } from '../../model/graph.js';
import type { QuantizedModel } from '../../model/model.js';
import { ARCHITECTURE_PRESETS } from '../../model/presets.js';
import { resolveDevice, describeDevice, DEFAULT_DEVICE, type ResolvedDevice } from '../../device/presets.js';
import type { BuildFlavor } from '../../device/features.js';
import { Mcu } from '../../device/mcu.js';
import { Profiler, type ProfileRow } from '../../device/profiler.js';
import { QuantizedSession } from '../../runtime/session.js';
import { loadMicroBatch } from '../../train/batches.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../../train/qzo-ff.js';
import { parseSelection, selectionLabel, selectionTrainerOptions, trainableLayers, type TrainSelection } from '../../train/selection.js';
import { mulberry32 } from '../../util/random.js';
import { profileReportHtml, writeHtmlFile, type ProfileReport, type ProfileRowReport } from '../../report/html.js';
import { kib, table, wrapLabelled, wrapText } from '../format.js';
import { wrapTable } from '../wrap-table.js';
import { columnsFor, WIDE_HELP } from '../width.js';
import type { GlobalOptions } from '../main.js';
import { profileEstimate } from '../cost-estimates.js';
import { modelSource } from './memory.js';
import { intOption, parseBuild, positiveNumber } from '../options.js';
import { checkRunSize, seedOption } from '../limits.js';
import { totalMacs } from '../../model/graph.js';
import { checkOutputFile } from '../../io/output-path.js';

const WARMUP_STEPS = 3;
const WARMUP_MS = 150;

/** The rest of a step that no profiler row covers. */
export const HOST_ROW = 'loss, batch loading, host';

export interface ProfileOptions {
  model: QuantizedModel;
  /** How the model is named in the report (preset name or file path). */
  name: string;
  device: ResolvedDevice;
  batch: number;
  selection: TrainSelection;
  directions: number;
  /** Perturbation size ε in real units. */
  epsilon: number;
  steps: number;
  seed: number;
  build: BuildFlavor | 'auto';
}

/** Seeded uniform [0, 1) inputs and labels with the model's input shape and class count. */
function randomData(shape: readonly number[], classes: number, count: number, seed: number): Dataset {
  const random = mulberry32(seed);
  const hwc: [number, number, number] = shape.length === 3 ? [shape[0]!, shape[1]!, shape[2]!] : shape.length === 2 ? [shape[0]!, shape[1]!, 1] : [shape.reduce((a, b) => a * b, 1), 1, 1];
  const size = hwc[0] * hwc[1] * hwc[2];
  const images = new Float32Array(count * size);
  for (let i = 0; i < images.length; i++) images[i] = random();
  const labels = Int32Array.from({ length: count }, () => Math.floor(random() * classes));
  return { name: 'random', shape: hwc, images, labels, classes };
}

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function rowsWithShares(rows: readonly ProfileRow[], hostMs: number, steps: number, totalMs: number): ProfileRowReport[] {
  const all = [...rows, { name: HOST_ROW, kind: 'host', calls: steps, ms: hostMs, macs: 0 }];
  return all.map((r) => ({ name: r.name, kind: r.kind, calls: r.calls, ms: r.ms, macs: r.macs, gmacPerS: r.macs > 0 && r.ms > 0 ? r.macs / r.ms / 1e6 : null, share: (100 * r.ms) / totalMs }));
}

export async function profileQzoFf(o: ProfileOptions): Promise<ProfileReport> {
  const model = o.model;
  const graph = resolveGraph(model.architecture);
  const trainable = trainableLayers(graph, o.selection);
  // The trainer is configured as adapt configures it, so bias-only and sparse selections get their
  // masks and panels planned and the profile times what adapt would run.
  const config: QzoFfConfig = { epsilon: o.epsilon, directions: o.directions, dist: 'gaussian', lr: 3e-3, seed: o.seed, ...selectionTrainerOptions(o.selection) };
  const options = { batch: o.batch, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(o.batch, { model, trainable, config }) };
  const plan = QuantizedSession.plan(model, options);
  const precision = `${Object.values(model.params)[0]?.weightBits ?? 16}w8a`;
  // Refused before anything is allocated, like every other command that trains (exit 2).
  QuantizedSession.checkFits(plan, o.device, `QZO-FF ${precision} training of '${model.architecture.name}' (batch ${o.batch}, ${trainable.length} trainable layers)`);
  const mcu = await Mcu.create({ budget: o.device, build: o.build });
  const session = new QuantizedSession(mcu, model, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  const set = trainer.prepareData(randomData(graph.inputShape, session.classes, o.batch, o.seed));
  const forwardMacs = graph.nodes.reduce((s, n) => s + n.macs, 0) * o.batch;

  // Warm-up: the engine compiles Wasm lazily and tiers up hot functions; the first steps are not
  // what a device running for minutes would see. At least WARMUP_STEPS steps and WARMUP_MS.
  const warm = performance.now();
  for (let i = 0; i < WARMUP_STEPS || performance.now() - warm < WARMUP_MS; i++) trainer.trainStep(set);

  // Step and forward times with the profiler detached (its per-op clock reads are not free). Each
  // step is followed by 2m plain forward passes, so both see the same machine load (the machine is
  // shared), and medians keep a stray slow iteration from moving the figures.
  const stepTimes: number[] = [];
  const forwardTimes: number[] = [];
  const sample = [...Array(o.batch).keys()];
  for (let i = 0; i < o.steps; i++) {
    let t = performance.now();
    trainer.trainStep(set);
    stepTimes.push(performance.now() - t);
    loadMicroBatch(session, set, sample, 0, o.batch);
    for (let k = 0; k < 2 * o.directions; k++) {
      t = performance.now();
      session.forward();
      forwardTimes.push(performance.now() - t);
    }
  }
  const stepMs = median(stepTimes);
  const forwardMs = median(forwardTimes);

  // The breakdown, with the profiler attached; its step time is the base of every share.
  const profiler = new Profiler();
  session.profiler = profiler;
  // One step first so the engine has compiled the profiled code path too, then start from zero.
  trainer.trainStep(set);
  profiler.reset();
  const t0 = performance.now();
  for (let i = 0; i < o.steps; i++) trainer.trainStep(set);
  const profiledMs = performance.now() - t0;
  session.profiler = undefined;
  const hostMs = Math.max(0, profiledMs - profiler.totalMs);
  const total = Math.max(profiledMs, profiler.totalMs);
  const byKind = rowsWithShares(profiler.byKind(), hostMs, o.steps, total).sort((a, b) => b.ms - a.ms);
  const byLayer = rowsWithShares(profiler.byLayer(), hostMs, o.steps, total);
  return {
    model: o.name, device: { name: o.device.name, sramBytes: o.device.sramBytes, flashBytes: o.device.flashBytes, build: mcu.build },
    batch: o.batch, selection: selectionLabel(o.selection), trainable, precision, directions: o.directions, steps: o.steps,
    memory: { sramPeak: mcu.sram.highWater, flash: mcu.flash.highWater }, forwardMacs,
    timing: { stepMs, forwardMs, overhead: stepMs / (2 * o.directions * forwardMs), profiledStepMs: profiledMs / o.steps },
    byKind, byLayer,
  };
}

/** The profile as a text table; by kind, the name is the kind, so the kind column is left out. */
function rowsTable(rows: readonly ProfileRowReport[], byKind: boolean, width: number): string {
  const figures = (r: ProfileRowReport) => [String(r.calls), r.ms.toFixed(2), r.macs ? String(r.macs) : '', r.gmacPerS === null ? '' : r.gmacPerS.toFixed(2), `${r.share.toFixed(1)}%`];
  const head = ['calls', 'total ms', 'MACs', 'GMAC/s', 'share'];
  const num = head.map(() => 'r' as const);
  return byKind
    ? wrapTable([['kind', ...head], ...rows.map((r) => [r.name, ...figures(r)])], ['l', ...num], width)
    : wrapTable([['layer or phase', 'kind', ...head], ...rows.map((r) => [r.name, r.kind, ...figures(r)])], ['l', 'l', ...num], width);
}

export function registerProfile(program: Command): void {
  program
    .command('profile')
    .description('time every kernel of QZO-FF training steps on the emulated MCU: per layer and per kernel kind, with MACs, GMAC/s and share of the step (--json: {timing, byKind, byLayer, ...})')
    .option('--model <preset|file>', `architecture preset (${ARCHITECTURE_PRESETS.join(', ')}) or a .lmdl model file`, 'mnist-cnn')
    .option('--device <preset|budget>', 'MCU preset or a budget like 256k/1m', DEFAULT_DEVICE)
    .option('--batch <n>', 'samples per forward call (one batch per step)', '1')
    .option('--train <selection>', 'trainable selection: full, head, last:K, bias or sparse[:fraction[:magnitude|small|random[:seed]]]', 'full')
    .option('--precision <p>', 'weights of a preset or float file: 16w8a or 8w8a (a quantized file keeps its own)', '16w8a')
    .option('--m <n>', 'directions per step (2m forward passes)', '3')
    .option('--eps <x>', 'perturbation size ε (real units)', '0.001')
    .option('--steps <n>', 'profiled steps', '20')
    .option('--seed <n>', 'seed of the random data and perturbations', '1')
    .option('--build <b>', 'device build: auto, relaxed, simd or scalar', 'auto')
    .option('--html <file>', 'also write the profile (tables and chart) to a self-contained HTML page')
    .option('--yes', 'run even if the estimated time is over an hour')
    .option('--wide', WIDE_HELP)
    .addHelpText('after', `
Examples:
  lastmile profile --model mnist-cnn
  lastmile profile --model resnet8 --train last:2 --steps 5 --json
  lastmile profile --model models/mnist-cnn-digits04.lmdl --batch 5 --html out/profile.html`)
    .action(async (opts: { model: string; device: string; batch: string; train: string; precision: string; m: string; eps: string; steps: string; seed: string; build: string; html?: string; yes?: boolean; wide?: boolean }, cmd: Command) => {
      const width = columnsFor(opts.wide);
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const weightBits = opts.precision === '8w8a' ? 8 : opts.precision === '16w8a' ? 16 : undefined;
      if (!weightBits) throw new ConfigError(`--precision must be 16w8a or 8w8a, got '${opts.precision}'`);
      const device = resolveDevice(opts.device);
      // A preset or a float file is profiled as its quantization with stand-in values (integer kernel
      // time does not depend on them); a quantized file runs with its own weights.
      const { quantized } = await modelSource(opts.model, weightBits);
      const batch = intOption(opts.batch, 'batch', 1);
      const directions = intOption(opts.m, 'm', 1);
      const steps = intOption(opts.steps, 'steps', 1);
      checkRunSize({ flag: '--steps', value: opts.steps, steps, macsPerStep: 2 * directions * batch * totalMacs(resolveGraph(quantized.architecture)), yes: !!opts.yes });
      if (opts.html) checkOutputFile(opts.html, '--html', 4 * 1024 * 1024);
      const report = await profileQzoFf({
        model: quantized, name: ARCHITECTURE_PRESETS.includes(opts.model) ? opts.model : `${opts.model} (${quantized.architecture.name})`, device,
        batch, selection: parseSelection(opts.train, { trainerOptions: true }), directions, epsilon: positiveNumber(opts.eps, 'eps'),
        steps, seed: seedOption(opts.seed), build: parseBuild(opts.build),
      });
      if (opts.html) await writeHtmlFile(opts.html, await profileReportHtml(report, { deviceDescription: describeDevice(device), argv: process.argv.slice(2) }));
      const mcu = profileEstimate(quantized.architecture, device, report, width);
      if (global.json) {
        console.log(JSON.stringify({ ...report, mcu: mcu.json }, null, 2));
        return;
      }
      if (global.quiet) return;
      const t = report.timing;
      console.log(wrapLabelled(`model   ${report.model} · ${report.precision} · batch ${report.batch} · train ${report.selection} (${report.trainable.join(', ')})`, width));
      console.log(wrapLabelled(`device  ${describeDevice(device)} · ${report.device.build} build · QZO-FF uses ${kib(report.memory.sramPeak)} SRAM, ${kib(report.memory.flash)} flash`, width));
      console.log(wrapLabelled(`run     ${report.steps} QZO-FF steps, m = ${report.directions} (${2 * report.directions} forward passes each), on seeded random data, after ${WARMUP_STEPS}+ warm-up steps (${WARMUP_MS} ms at least)`, width));
      console.log('');
      console.log(wrapText(`step ${t.stepMs.toFixed(3)} ms · forward pass ${t.forwardMs.toFixed(3)} ms (${report.forwardMacs} MACs) · 2m × forward ${(2 * report.directions * t.forwardMs).toFixed(3)} ms · overhead ${t.overhead.toFixed(2)}×`, width));
      console.log(`\nper kernel kind (shares of the profiled step, ${t.profiledStepMs.toFixed(3)} ms with the profiler attached)`);
      console.log(rowsTable(report.byKind, true, width));
      console.log('\nper layer and step phase');
      console.log(rowsTable(report.byLayer, false, width));
      console.log(`\n${mcu.text}`);
      console.log('\n' + wrapText(`z is regenerated and w ± εz formed inside each kernel's weight packing, so that time is in the layer rows; 'rng' is the host's per-direction setup of the z streams, 'update' the weight update, '${HOST_ROW}' the rest of the step (measured step time minus the timed rows).`, width, ''));
      if (opts.html) console.log(`\nwrote ${opts.html}`);
    });
}
