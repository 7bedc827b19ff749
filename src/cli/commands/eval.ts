// `lastmile eval`: top-1 accuracy of a model file on a dataset's classes. A quantized model runs as
// it would on the MCU — a QuantizedSession inside the device's SRAM/flash budget, refused before
// anything runs if it does not fit; a float model runs on the f32 reference kernels. Also prints
// the softmax of the dequantized logits for the first images, so a user can see how sure it is.
import type { Command } from 'commander';
import { BudgetError, ConfigError, FormatError } from '../../errors.js';
import { readModelFile } from '../../model/model-file.js';
import { readBounded } from '../../io/bounded-read.js';
import { episodeFromSpec, parseEpisodeSpec, type EpisodeSpec } from '../../data/episode-spec.js';
import type { InputNode } from '../../model/layers.js';
import { isGraphInput } from '../../ops/registry.js';
import { selectClasses, subset, type Dataset } from '../../data/dataset.js';
import { elementCount, resolveGraph } from '../../model/graph.js';
import { type FloatModel, type Model, type QuantizedModel } from '../../model/model.js';
import { BackpropSession } from '../../runtime/backprop-session.js';
import { resolveDevice, describeDevice, DEFAULT_DEVICE, type ResolvedDevice } from '../../device/presets.js';
import { bestBuild, type BuildFlavor } from '../../device/features.js';
import { Mcu } from '../../device/mcu.js';
import { QuantizedSession } from '../../runtime/session.js';
import { evaluateFloat } from '../../train/backprop.js';
import { loadMicroBatch, quantizeSet } from '../../train/batches.js';
import { evaluate } from '../../train/evaluate.js';
import { DATA_HELP, loadData, parseClassList } from '../../data/source.js';
import { kib, pct, table, wrapLabelled } from '../format.js';
import { columnsFor, WIDE_HELP } from '../width.js';
import { classNamesOf, listClasses } from '../../data/class-names.js';
import type { GlobalOptions } from '../main.js';
import { intOption, parseBuild } from '../options.js';

export interface SampleProbabilities {
  /** Position of the image in the evaluated selection. */
  index: number;
  /** Dataset class id of the true label and of the prediction. */
  label: number;
  predicted: number;
  /** Softmax of the dequantized logits, in head order (probabilities[i] is class classes[i]). */
  probabilities: number[];
}

export interface EvalResult {
  model: string;
  kind: 'float' | 'quantized';
  architecture: string;
  precision: string;
  data: string;
  classes: number[];
  /** The classes' names in the data source (the ids as text when it has none). */
  classNames: string[];
  classesFrom: string;
  count: number;
  accuracy: number;
  /** Mean cross-entropy of the dequantized logits, nats. */
  loss: number;
  device: { name: string; sramBytes: number; flashBytes: number; build: BuildFlavor };
  /** Inference plan at --batch: integer for a quantized model, f32 for a float one. */
  memory: { sramPeak: number; flash: number; fits: boolean; measuredSramPeak: number | null };
  samples: SampleProbabilities[];
}

export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const e = Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i]! - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

const headSize = (model: Model): number => elementCount(resolveGraph(model.architecture).outputShape);

/**
 * Which dataset classes the head predicts, in head order. --classes wins; otherwise the model's
 * own record: its class names (adapt writes the new classes' names there) or the classes it was
 * pre-trained on. Guessing would print a confident, wrong accuracy, so without either it refuses.
 */
export function resolveClasses(model: Model, data: Dataset, flag: string | undefined, path: string): { classes: number[]; from: string } {
  const head = headSize(model);
  const check = (classes: number[], from: string) => {
    const bad = classes.find((c) => c >= data.classes);
    if (bad !== undefined) throw new ConfigError(`class ${bad} (${from}) is not in '${data.name}', which has classes 0–${data.classes - 1}`);
    if (classes.length !== head) {
      throw new ConfigError(`${path} has ${head} outputs but ${from} lists ${classes.length} classes (${classes.join(', ')}); pass the ${head} dataset classes the head predicts, in head order, e.g. --classes 0-${head - 1}`);
    }
    return { classes, from };
  };
  if (flag !== undefined) return check(parseClassList(flag), '--classes');
  const names = model.meta.classNames;
  if (Array.isArray(names) && names.length === head) {
    const ids = names.map((n) => {
      const byName = data.classNames?.indexOf(String(n)) ?? -1;
      if (byName >= 0) return byName;
      return !data.classNames && /^\d+$/.test(String(n)) ? Number(n) : -1;
    });
    if (ids.every((i) => i >= 0 && i < data.classes)) return check(ids, "the model's class names");
  }
  const recorded = model.meta.classes;
  if (Array.isArray(recorded) && recorded.length === head && recorded.every((c) => Number.isInteger(c))) return check(recorded as number[], "the model's recorded classes");
  throw new ConfigError(`${path} does not record which '${data.name}' classes its ${head} outputs stand for; pass them in head order, e.g. --classes 0-${head - 1}`);
}

async function evalQuantized(model: QuantizedModel, data: Dataset, device: ResolvedDevice, batch: number, show: number, build: BuildFlavor | 'auto') {
  const plan = QuantizedSession.plan(model, { batch });
  // A BudgetError here (exit 2) names the region, the bytes needed and available: the model cannot
  // run on this device at this batch, so no accuracy is reported for it.
  try {
    QuantizedSession.checkFits(plan, device, `inference of '${model.architecture.name}' (batch ${batch})`);
  } catch (e) {
    if (!(e instanceof BudgetError) || batch === 1) throw e;
    const one = QuantizedSession.plan(model, { batch: 1 });
    const fitsAtOne = one.sramBytes <= device.sramBytes && one.flashBytes <= device.flashBytes;
    throw new BudgetError(`${e.message}${fitsAtOne ? ` At --batch 1 it needs ${kib(one.sramBytes)} SRAM and fits.` : ''}`);
  }
  const mcu = await Mcu.create({ budget: device, build });
  const session = new QuantizedSession(mcu, model, { batch });
  const ev = evaluate(session, data);
  const set = quantizeSet(session, subset(data, Array.from({ length: show }, (_, i) => i)));
  const out = model.activations[session.lowered.outputName]!;
  const order = Array.from({ length: show }, (_, i) => i);
  const logits: number[][] = [];
  for (let from = 0; from < show; from += batch) {
    const rows = Math.min(batch, show - from);
    loadMicroBatch(session, set, order, from, rows);
    session.forward();
    const raw = session.readLogits();
    const k = session.classes;
    for (let r = 0; r < rows; r++) {
      const row = Array.from(raw.subarray(r * k, (r + 1) * k));
      // A dense head returns int32 accumulators (scale = input scale × weight scale); any other
      // head returns int8 activations with their own scale and zero point.
      logits.push(raw instanceof Int32Array ? row.map((v) => v * session.logitsScale) : row.map((v) => (v - out.zeroPoint) * out.scale));
    }
  }
  return {
    ev, logits, build: mcu.build,
    memory: { sramPeak: plan.sramBytes, flash: plan.flashBytes, fits: true, measuredSramPeak: mcu.sram.highWater },
    precision: `${Object.values(model.params)[0]?.weightBits ?? 8}w8a`,
  };
}

async function evalFloat(model: FloatModel, data: Dataset, device: ResolvedDevice, batch: number, show: number, build: BuildFlavor | 'auto') {
  const ev = await evaluateFloat(model, data, build);
  // The first images once more, through a session of their own (batch = show), to read their logits.
  const logits: number[][] = [];
  let usedBuild: BuildFlavor | undefined;
  if (show > 0) {
    const options = { batch: show, trainable: new Set<string>(), optimizer: { kind: 'sgd' as const, lr: 1 } };
    const plan = BackpropSession.plan(model, options);
    const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(plan.sramBytes / 16) * 16, flashBytes: Math.max(16, Math.ceil(plan.flashBytes / 16) * 16) }, build });
    const session = new BackpropSession(mcu, model, options);
    const first = subset(data, Array.from({ length: show }, (_, i) => i));
    session.setBatch(first.images, new Int32Array(show));
    session.forward();
    const raw = session.readLogits();
    const k = session.classes;
    for (let r = 0; r < show; r++) logits.push(Array.from(raw.subarray(r * k, (r + 1) * k)));
    usedBuild = mcu.build;
  }
  // What f32 inference would need on the device at --batch (reported; the f32 reference runs regardless).
  const need = BackpropSession.plan(model, { batch, trainable: new Set(), optimizer: { kind: 'sgd', lr: 1 } });
  const fits = need.sramBytes <= device.sramBytes && need.flashBytes <= device.flashBytes;
  usedBuild ??= build === 'auto' ? bestBuild() : build;
  return { ev, logits, build: usedBuild, memory: { sramPeak: need.sramBytes, flash: need.flashBytes, fits, measuredSramPeak: null }, precision: 'f32' };
}

/** The data recipe an adapt run recorded in its report.json (read with a size bound). */
async function readEpisodeSpec(path: string): Promise<EpisodeSpec> {
  const bytes = await readBounded(path, { maxBytes: MAX_REPORT_BYTES, what: 'adapt report' });
  let report: unknown;
  try {
    report = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(`${path} is not JSON (${(e as Error).message}); pass the report.json an adapt run wrote`);
  }
  return parseEpisodeSpec((report as { episode?: unknown } | null)?.episode, path);
}

const MAX_REPORT_BYTES = 64 * 1024 * 1024;

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description("top-1 accuracy of a float or quantized model on a dataset's classes (a quantized model runs on the emulated MCU within the device budget; --json: {accuracy, count, classes, classNames, samples, ...})")
    .requiredOption('--model <file>', 'model file (.lmdl), float or quantized')
    .option('--data <source>', DATA_HELP, 'mnist')
    .option('--classes <list>', "dataset classes the model's head predicts, in head order, like 5-9 (default: from the model's class names)")
    .option('--device <preset|budget>', 'MCU preset or budget like 256k/1m (a quantized model must fit it)', DEFAULT_DEVICE)
    .option('--batch <n>', 'samples per forward call', '8')
    .option('--limit <n>', 'evaluate only the first N images of those classes (the bundled MNIST is interleaved, so any prefix is class-balanced)')
    .option('--show <n>', 'print the softmax probabilities of the first N images', '5')
    .option('--build <b>', 'device build: auto, relaxed, simd or scalar', 'auto')
    .option('--query-from <report.json>', "evaluate on exactly the held-out query images of an adapt run (its report.json); prints adapt's 'after' accuracy")
    .option('--wide', WIDE_HELP)
    .addHelpText('after', `
Examples:
  lastmile eval --model out/adapt/model.lmdl                    # the adapted model, its new classes
  lastmile eval --model out/adapt/model.lmdl --query-from out/adapt/report.json  # its query images
  lastmile eval --model models/mnist-cnn-digits04.lmdl --classes 0-4 --json
  lastmile eval --model out/adapt/model.lmdl --device 32k/1m    # does not fit: a budget error`)
    .action(async (opts: { model: string; data: string; classes?: string; device: string; batch: string; limit?: string; show: string; build: string; queryFrom?: string; wide?: boolean }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const width = columnsFor(opts.wide);
      const say = (line = '') => {
        if (!global.quiet && !global.json) console.log(line);
      };
      const sayLabelled = (line: string) => say(wrapLabelled(line, width));
      const batch = intOption(opts.batch, 'batch', 1);
      const limit = opts.limit === undefined ? Infinity : intOption(opts.limit, 'limit', 1);
      const build = parseBuild(opts.build);
      const device = resolveDevice(opts.device);
      const { model } = await readModelFile(opts.model);
      let classes: number[];
      let from: string;
      let data: Dataset;
      let dataName = opts.data;
      let named: { classNames?: readonly string[] } = {};
      if (opts.queryFrom !== undefined) {
        if (opts.classes !== undefined || opts.limit !== undefined) throw new ConfigError('--query-from takes the classes and images from the adapt report: drop --classes and --limit');
        const spec = await readEpisodeSpec(opts.queryFrom);
        const input = model.architecture.nodes[0]!;
        const source = await loadData(spec.data, 'test', isGraphInput(input) ? (input as InputNode).shape : undefined);
        const episode = episodeFromSpec(source, spec);
        named = source;
        if (episode.classIds.length !== headSize(model)) throw new ConfigError(`${opts.queryFrom} describes ${episode.classIds.length} classes but ${opts.model} has ${headSize(model)} outputs: use the model that adapt run wrote`);
        ({ classIds: classes, query: data } = episode);
        from = `the query images of ${opts.queryFrom}`;
        dataName = spec.data;
      } else {
        const source = await loadData(opts.data, 'test');
        named = source;
        ({ classes, from } = resolveClasses(model, source, opts.classes, opts.model));
        data = selectClasses(source, classes);
        if (data.labels.length > limit) data = subset(data, Array.from({ length: limit }, (_, i) => i));
        if (data.labels.length === 0) throw new ConfigError(`'${source.name}' has no images of classes ${classes.join(', ')}`);
      }
      const show = Math.min(intOption(opts.show, 'show', 0), data.labels.length);
      const r = model.kind === 'quantized' ? await evalQuantized(model, data, device, batch, show, build) : await evalFloat(model, data, device, batch, show, build);
      const samples: SampleProbabilities[] = r.logits.map((row, i) => {
        const probabilities = softmax(row);
        const best = probabilities.indexOf(Math.max(...probabilities));
        return { index: i, label: classes[data.labels[i]!]!, predicted: classes[best]!, probabilities };
      });
      const result: EvalResult = {
        model: opts.model, kind: model.kind, architecture: model.architecture.name, precision: r.precision, data: dataName, classes, classNames: classNamesOf(named, classes), classesFrom: from,
        count: r.ev.count, accuracy: r.ev.accuracy, loss: r.ev.loss,
        device: { name: device.name, sramBytes: device.sramBytes, flashBytes: device.flashBytes, build: r.build }, memory: r.memory, samples,
      };
      if (global.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      sayLabelled(`model    ${opts.model} (${model.architecture.name}, ${model.kind} ${r.precision})`);
      sayLabelled(`data     ${dataName} classes ${listClasses(named, classes)} (from ${from}) · ${r.ev.count} images`);
      sayLabelled(`device   ${describeDevice(device)} · ${r.build} build`);
      sayLabelled(model.kind === 'quantized'
        ? `memory   inference at batch ${batch}: ${kib(r.memory.sramPeak)} SRAM, ${kib(r.memory.flash)} flash — fits (measured SRAM high-water mark ${kib(r.memory.measuredSramPeak ?? 0)})`
        : `memory   f32 inference at batch ${batch} would need ${kib(r.memory.sramPeak)} SRAM, ${kib(r.memory.flash)} flash — ${r.memory.fits
          ? 'fits the device; run on the f32 reference kernels'
          : 'DOES NOT FIT the device; run on the f32 reference kernels regardless (lastmile quantize makes a model that runs within the budget)'}`);
      say(`accuracy ${pct(r.ev.accuracy)} top-1 · mean cross-entropy ${r.ev.loss.toFixed(3)} nats`);
      if (model.meta.adaptedWith && opts.queryFrom === undefined) sayLabelled('note     these images include the few support images the model was adapted on; adapt itself reports accuracy on held-out images only');
      if (samples.length) {
        say(`\nsoftmax of the ${model.kind === 'quantized' ? 'dequantized ' : ''}logits, first ${samples.length} images`);
        const top = (p: number[]) => p.map((v, i) => ({ v, c: classes[i]! })).sort((a, b) => b.v - a.v).slice(0, 3).map((x) => `${x.c}: ${x.v.toFixed(3)}`).join('  ');
        say(table([
          ['image', 'class', 'predicted', 'p(class)', 'top 3'],
          ...samples.map((s) => [String(s.index), String(s.label), String(s.predicted), s.probabilities[classes.indexOf(s.label)]!.toFixed(3), top(s.probabilities)]),
        ], ['r', 'r', 'r', 'r', 'l']));
      }
    });
}
