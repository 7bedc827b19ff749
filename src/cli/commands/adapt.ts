import type { Command } from 'commander';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import cliProgress from 'cli-progress';
import { ConfigError, FormatError } from '../../errors.js';
import { saveModel } from '../../model/model.js';
import { episodeFromSpec, type EpisodeSpec } from '../../data/episode-spec.js';
import { CORRUPTIONS } from '../../data/corruptions.js';
import { adaptQuantized, quantizedMethodChoice, type QuantizedAdaptResult } from '../../train/adapt-int8.js';
import { chooseMethod, hybridUnsupported } from '../../train/method-choice.js';
import { resolveDevice, describeDevice, DEFAULT_DEVICE } from '../../device/presets.js';
import { readModelFile } from '../../model/model-file.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { checkOutputDir } from '../../io/output-path.js';
import { writeOrRescue } from '../../io/rescue.js';
import { resolveGraph, totalMacs } from '../../model/graph.js';
import { checkRunSize, seedOption, SHOW_BOUND_SECONDS } from '../limits.js';
import { adapt, type AdaptMethod, type AdaptOptions, type Precision } from '../../train/adapt.js';
import { FileCheckpointStore } from '../../train/checkpoint-store.js';
import type { Model } from '../../model/model.js';
import { parseSelection, selectionLabel, trainableLayers } from '../../train/selection.js';
import { resolveBpLayers } from '../../train/prepare-run.js';
import { parseSchedule } from '../../train/schedule.js';
import { shippedModel } from '../../util/package-root.js';
import { DATA_HELP, loadData, parseClassList } from '../../data/source.js';
import { createMfccFrontEnd } from '../../kernels/mfcc.js';
import { kib, pct, table, wrapLabelled, wrapText } from '../format.js';
import { columnsFor, WIDE_HELP } from '../width.js';
import { startProgress } from '../progress.js';
import { classNamesOf, listClasses } from '../../data/class-names.js';
import { numberOption as num, parseBuild } from '../options.js';
import { adaptReportHtml } from '../../report/html.js';
import type { GlobalOptions } from '../main.js';
import { adaptationEstimate, frontEndEstimate } from '../cost-estimates.js';
import type { FrontEndSpec } from '../../runtime/front-end.js';
import { isGraphInput } from '../../ops/registry.js';
import type { InputNode } from '../../model/layers.js';
import { ADAPT_DEFAULTS, defaultDirections } from '../../train/defaults.js';
import { ADAPT_METHODS } from '../../train/adapt.js';
import { HYBRID_DEFAULTS } from '../../train/hybrid.js';
import type { BpRecipe } from '../../train/bp-recipe.js';
import { residualOption, RESIDUAL_FLAGS, RESIDUAL_HELP } from '../residual-option.js';

/** The baseline's recipe in a table cell: "Adam η=0.003, to plateau: 412 steps". */
const bpRecipeLabel = (r: BpRecipe & { steps: number; batch: number | 'full' }): string =>
  r.batch === 'full' ? `Adam η=${r.lr}, to plateau: ${r.steps} steps` : `Adam η=${r.lr}, batch ${r.batch}, ${r.steps} steps`;

/** A quantized model's input quantization (what wav:DIR features are quantized with); the KWS default otherwise. */
function inputQuantOf(m: Model): { scale: number; zeroPoint: number } | undefined {
  const q = 'activations' in m ? m.activations[m.architecture.nodes[0]!.name] : undefined;
  return q ? { scale: q.scale, zeroPoint: q.zeroPoint } : undefined;
}

export const DEFAULT_BACKBONE = 'mnist-cnn-digits04.lmdl';
/**
 * Room the reports take: a 600-step run writes a 136 KB report.html and a 16 KB report.json (the
 * losses appear in both, about 40 B a step in all); a fixed part plus a per-step part, with margin.
 */
const REPORT_BYTES = 1024 * 1024;
const REPORT_BYTES_PER_STEP = 64;

interface AdaptCliOptions {
  model?: string; method?: string; data: string; corrupt?: string; split: string; epochs?: string; batchSize?: string; classes: string; ways: string; shots: string; queries: string; device: string; precision: string;
  train: string; m?: string; eps: string; lr?: string; headLr?: string; bpLayers?: string; tailLr?: string; schedule: string; steps: string; microBatch: string; dist: string; seed: string;
  baseline: boolean; out: string; head: string; build: string; profile?: boolean; wide?: boolean; reusePrefix?: boolean;
  normalize?: boolean; zBuffer?: string | boolean; momentum?: string; sharpness?: string; dither?: boolean; residual?: string | boolean; guard?: boolean; strictGuard?: boolean; spread?: boolean; warmup?: string; batchScale?: boolean;
  checkpoint?: string; checkpointEvery: string; resume?: boolean; yes?: boolean;
}


export function registerAdapt(program: Command): void {
  program
    .command('adapt')
    .description('adapt a pre-trained model to a few samples of new classes with QZO-FF on the emulated MCU (and compare with f32 backprop)')
    .option('--model <file>', `float backbone (.lmdl); default: the shipped ${DEFAULT_BACKBONE} (MNIST digits 0–4)`)
    .option('--data <source>', DATA_HELP, 'mnist')
    .option('--classes <list>', 'pool of new classes for the episode', '5-9')
    .option('--split <s>', "few-shot (an N-way K-shot episode) or full (every image of the classes: 80% to train on, 20% held out)", 'few-shot')
    .option('--ways <n>', 'N: classes per episode', '5')
    .option('--shots <n>', 'K: labelled samples per class (the support set)', '5')
    .option('--queries <n>', 'held-out query images per class for accuracy', '100')
    .option('--corrupt <name:severity>', `out-of-distribution adaptation: corrupt support and query images (${CORRUPTIONS.join(', ')}; severity 1-5)`)
    .option('--device <preset|budget>', 'MCU preset or budget like 256k/1m', DEFAULT_DEVICE)
    .option('--method <m>', `hybrid (integer backprop for the dense head, QZO-FF for the rest), qzo-ff (the paper), or a baseline run inside the same budget: bp (f32 backprop, Adam) or ff-float (sign-m-SPSA in f32) (default: ${ADAPT_DEFAULTS.method}; where the model has no per-tensor dense head or the selection is bias or sparse, qzo-ff with a note; a hybrid default run also trains the paper's QZO-FF for comparison)`)
    .option('--bp-layers <n>', `hybrid: parameter layers learned by integer backprop: 2 = the head and the layer below it (the last conv through its pool, or the last hidden dense layer), 1 = the head only (default: ${HYBRID_DEFAULTS.bpLayers} where the model has that layer and the selection trains it, else 1)`)
    .option('--tail-lr <x>', `hybrid with --bp-layers 2: the SGD η of the layer below the head (default: ${HYBRID_DEFAULTS.tailLr})`)
    .option('--head-lr <x>', `hybrid: a fixed SGD η for the head's integer backprop (default: ${HYBRID_DEFAULTS.headStep} / mean ‖f − mean f‖² of the head's input on the first step)`)
    .option('--precision <p>', '16w8a (paper default) or 8w8a', '16w8a')
    .option('--train <selection>', 'full, head (linear probe), last:K, bias, or sparse[:fraction[:magnitude|small|random[:seed]]]', 'full')
    .option('--m <n>', `directions per step (sign-m-SPSA) (default: ${ADAPT_DEFAULTS.hybridDirections} for the hybrid, ${ADAPT_DEFAULTS.directions} for qzo-ff and ff-float, the paper's)`)
    .option('--eps <x>', 'perturbation size ε (real units)', String(ADAPT_DEFAULTS.epsilon))
    .option('--lr <x>', `learning rate η (default ${ADAPT_DEFAULTS.lr}; ${ADAPT_DEFAULTS.bpLr} for --method bp)`)
    .option('--schedule <s>', 'constant, cosine[:floor] or step[:every[:gamma]]', 'constant')
    .option('--steps <n>', 'QZO-FF steps', String(ADAPT_DEFAULTS.steps))
    .option('--epochs <n>', 'passes over the training samples (sets --steps from --batch-size)')
    .option('--batch-size <n>', 'samples per step (default: the whole support set for few-shot, 50 for --split full)')
    .option('--micro-batch <n>', 'samples per forward call on the device', String(ADAPT_DEFAULTS.microBatch))
    .option('--dist <d>', 'z distribution: gaussian or rademacher', ADAPT_DEFAULTS.dist)
    .option('--seed <n>', 'seed for the episode and the perturbations', String(ADAPT_DEFAULTS.seed))
    .option('--normalize', 'kernel-wise normalisation: scale each layer\'s ε and η by its weights\' RMS')
    .option('--momentum <alpha,beta>', 'momentum-guided sampling, e.g. 0.5,0.5 (z history kept in int8 SRAM)')
    .option('--sharpness <rho>', 'sharpness-aware perturbation with neighbour radius ρ, e.g. 0.005')
    .option('--dither', 'stochastic rounding of ε·z and of the update (lets 8w8a train; see docs/TRAINING.md)')
    .option(RESIDUAL_FLAGS, RESIDUAL_HELP)
    .option('--guard', 'guarded step: one more forward after the update; a step that raises the batch loss is undone exactly')
    .option('--strict-guard', 'guarded step against L(w) measured by one more forward before the update (implies --guard)')
    .option('--spread', 'scale each update by min(1, |L⁺−L⁻| / its running mean): a weak loss signal moves the weights less')
    .option('--warmup <n>', 'linear warm-up of the update over the first n steps (integer Q15 scale)')
    .option('--batch-scale', 'automatic η for mini-batches: scale each update by √(batch size / training-set size)')
    .option('--head <h>', 'int8 (.tflite) models: keep the model\'s own head (data classes named among its outputs), replace it with a prototype head for new classes, or auto', 'auto')
    .option('--no-baseline', "skip the comparisons: f32 backprop, and the paper's QZO-FF beside a hybrid run")
    .option('--build <b>', 'device build: auto, relaxed, simd or scalar', 'auto')
    .option('--profile', 'time every kernel during training and print the profile')
    .option('--z-buffer [which]', "draw each direction's z once per step into int8 SRAM buffers instead of regenerating it per weight in every pass: 'direction' (the default when given: n B per trained weight tensor) or 'step' (m·n B; the update reads them too). Same results, faster where layers do few MACs per weight (dense layers); the device budget must hold the buffers (docs/TRAINING.md)")
    .option('--no-reuse-prefix', 'do not cache the frozen layers\' output (by default, when the first trained layer is not the first layer and the cache fits the device, the layers before it run once per sample instead of in all 2m passes: same results; docs/TRAINING.md)')
    .option('--out <dir>', 'output folder for the adapted model and report', 'out/adapt')
    .option('--checkpoint <dir>', 'write training checkpoints (weights, optimizer and RNG state, data cursor, configuration) into this directory')
    .option('--checkpoint-every <n>', 'steps between checkpoints (one is always written after the last step)', '50')
    .option('--resume', 'continue from the newest good checkpoint in --checkpoint (an empty directory starts fresh)')
    .option('--yes', 'run even if the estimated training time is over an hour')
    .option('--wide', WIDE_HELP)
    .addHelpText('after', `
--json prints the report (also written to <out>/report.json): {zeroShot, after, bp, steps, sramPeak,
classes, classNames, losses, mcu, ...}. Progress with an ETA goes to stderr: a bar on a terminal,
otherwise a line at every tenth of the steps.

Examples:
  lastmile adapt                                   # the main job: MNIST backbone → digits 5–9
  lastmile adapt --train head --steps 500 --json   # linear probe, machine-readable result
  lastmile adapt --device 64k/1m                   # a budget too small: fails before training
  lastmile adapt --checkpoint ck --resume          # after a crash: rerun the same command
  lastmile adapt --data fashion-mnist --model my-backbone.lmdl --classes 5-9`)
    .action(async (opts: AdaptCliOptions, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const say = (line = '') => {
        if (!global.quiet && !global.json) console.log(line);
      };
      const width = columnsFor(opts.wide);
      const sayLabelled = (line: string) => say(wrapLabelled(line, width));
      const tStart = performance.now();
      const modelPath = opts.model ?? shippedModel(DEFAULT_BACKBONE);
      const { model: backbone, bytes } = await readModelFile(modelPath);
      if (backbone.kind !== 'float' && opts.method !== undefined && opts.method !== 'qzo-ff' && opts.method !== 'hybrid') throw new FormatError(`${modelPath}: --method ${opts.method} needs a float backbone; an int8 model adapts with hybrid or qzo-ff`);
      const device = resolveDevice(opts.device);
      const precision = opts.precision as Precision;
      if (precision !== '16w8a' && precision !== '8w8a') throw new ConfigError(`--precision must be 16w8a or 8w8a, got '${opts.precision}'`);
      if (opts.dist !== 'gaussian' && opts.dist !== 'rademacher') throw new ConfigError(`--dist must be gaussian or rademacher, got '${opts.dist}'`);
      // Unset, the default applies (method-choice.ts): hybrid, or qzo-ff with a note where it cannot run.
      const requested = opts.method as AdaptMethod | undefined;
      if (requested !== undefined && !ADAPT_METHODS.includes(requested)) throw new ConfigError(`--method must be ${ADAPT_METHODS.join(', ')}, got '${opts.method}'`);
      if (opts.headLr !== undefined && requested !== undefined && requested !== 'hybrid') throw new ConfigError(`--head-lr is the hybrid head's step size: use it with --method hybrid`);
      for (const [flag, v] of [['--bp-layers', opts.bpLayers], ['--tail-lr', opts.tailLr]] as const) {
        if (v !== undefined && requested !== undefined && requested !== 'hybrid') throw new ConfigError(`${flag} is a setting of the hybrid method: use it with --method hybrid`);
      }
      const bpLayersAsked = opts.bpLayers === undefined ? undefined : (num(opts.bpLayers, 'bp-layers', { integer: true, min: 1 }) as 1 | 2);
      if (bpLayersAsked !== undefined && bpLayersAsked !== 1 && bpLayersAsked !== 2) throw new ConfigError(`--bp-layers must be 1 or 2, got ${opts.bpLayers}`);
      const tailLr = opts.tailLr === undefined ? undefined : num(opts.tailLr, 'tail-lr');
      if (tailLr !== undefined && !(tailLr > 0)) throw new ConfigError(`--tail-lr must be > 0, got ${opts.tailLr}`);
      const selection = parseSelection(opts.train, { trainerOptions: true });
      // Unset, the library's default applies: η for the zeroth-order methods, Adam's rate for bp.
      const lr = opts.lr === undefined ? undefined : num(opts.lr, 'lr');
      const enhancements: AdaptOptions['enhancements'] = {};
      if (opts.normalize) enhancements.normalize = true;
      if (opts.dither) enhancements.dither = true;
      if (opts.zBuffer !== undefined) {
        if (opts.zBuffer !== true && opts.zBuffer !== 'direction' && opts.zBuffer !== 'step') throw new ConfigError(`--z-buffer takes 'direction' or 'step', got '${String(opts.zBuffer)}'`);
        enhancements.zBuffer = opts.zBuffer === 'step' ? 'step' : true;
      }
      const residual = residualOption(opts.residual, precision);
      if (residual) Object.assign(enhancements, { residual: true, residualBits: residual });
      if (opts.guard || opts.strictGuard || opts.spread || opts.warmup !== undefined || opts.batchScale) {
        enhancements.control = {
          ...(opts.guard || opts.strictGuard ? { guard: true } : {}), ...(opts.strictGuard ? { strictGuard: true } : {}), ...(opts.spread ? { spread: true } : {}), ...(opts.batchScale ? { batch: true } : {}),
          ...(opts.warmup !== undefined ? { warmup: num(opts.warmup, 'warmup', { integer: true, min: 0 }) } : {}),
        };
      }
      if (opts.sharpness !== undefined) enhancements.sharpness = { rho: num(opts.sharpness, 'sharpness', { min: 0 }) };
      if (opts.momentum !== undefined) {
        const [alpha, beta] = opts.momentum.split(',').map((x) => num(x, 'momentum', { min: 0 }));
        if (alpha === undefined || beta === undefined || alpha > 1 || beta > 1) throw new ConfigError(`--momentum takes 'alpha,beta' with both in [0, 1], got '${opts.momentum}'`);
        enhancements.momentum = { alpha, beta };
      }
      const seed = seedOption(opts.seed);
      const ways = num(opts.ways, 'ways', { integer: true, min: 2 });
      const shots = num(opts.shots, 'shots', { integer: true, min: 1 });
      const queries = num(opts.queries, 'queries', { integer: true, min: 1 });
      const build = parseBuild(opts.build);
      if (opts.resume && opts.checkpoint === undefined) throw new ConfigError('--resume needs --checkpoint DIR: the directory to resume from');
      const checkpointEvery = num(opts.checkpointEvery, 'checkpoint-every', { integer: true, min: 1 });
      const checkpoint: AdaptOptions['checkpoint'] = opts.checkpoint === undefined ? undefined : { store: new FileCheckpointStore(opts.checkpoint), every: checkpointEvery, resume: !!opts.resume };
      // Taken before the temporaries are cleared: they may belong to a run that is saving right now.
      (checkpoint?.store as FileCheckpointStore | undefined)?.lock();
      if (checkpoint && opts.resume) {
        // A writer killed mid-save leaves its temporary file; nothing reads them, so clear them away.
        const stale = (checkpoint.store as FileCheckpointStore).removeTemporaries();
        if (stale.length) say(`checkpoint: removed ${stale.length} unfinished temporary file${stale.length > 1 ? 's' : ''} from an interrupted save`);
      }
      const labelMeta = backbone.meta.classNames ?? backbone.meta.classes;
      const modelLabels = Array.isArray(labelMeta) ? labelMeta.map(String) : undefined;
      const data = await loadData(opts.data, 'test', isGraphInput(backbone.architecture.nodes[0]!) ? (backbone.architecture.nodes[0] as InputNode).shape : undefined, {
        ...(modelLabels ? { classOrder: modelLabels } : {}),
        ...(opts.data.startsWith('wav:') ? { frontEnd: await createMfccFrontEnd(inputQuantOf(backbone)) } : {}),
      });
      if (opts.split !== 'few-shot' && opts.split !== 'full') throw new ConfigError(`--split must be few-shot or full, got '${opts.split}'`);
      // The data recipe goes into report.json: `lastmile eval --query-from` rebuilds the same images from it.
      const episodeSpec: EpisodeSpec = { data: opts.data, split: opts.split, classes: parseClassList(opts.classes, data.classNames), ways, shots, queries, seed, corrupt: opts.corrupt ?? null };
      const episode = episodeFromSpec(data, episodeSpec);
      const batchSize = opts.batchSize !== undefined ? num(opts.batchSize, 'batch-size', { integer: true, min: 1 }) : opts.split === 'full' ? 50 : undefined;
      const trainCount = episode.support.labels.length;
      const choice = backbone.kind === 'float'
        ? chooseMethod(requested, () => hybridUnsupported(backbone.architecture, selection, undefined, enhancements))
        : quantizedMethodChoice({ model: backbone, support: episode.support, query: episode.query, head: opts.head as 'auto', selection, method: requested as 'qzo-ff' | 'hybrid' | undefined });
      const method: AdaptMethod = choice.method;
      const headLr = opts.headLr === undefined || method !== 'hybrid' ? undefined : num(opts.headLr, 'head-lr');
      const bpLayers = method === 'hybrid' ? resolveBpLayers(backbone.architecture, trainableLayers(resolveGraph(backbone.architecture), selection), bpLayersAsked) : null;
      if (bpLayers === 1 && tailLr !== undefined) throw new ConfigError('--tail-lr sets the η of the layer below the head, which this run does not train by backprop (--bp-layers 1)');
      const methodLabel = method === 'bp' ? 'f32 backprop (Adam) on the device' : method === 'ff-float' ? 'float ZO (FF fp32)' : method === 'hybrid' ? `hybrid ${precision} (backprop: ${bpLayers === 2 ? 'last 2 layers' : 'head'})` : `QZO-FF ${precision}${residual ? " + residual" : ""}`;
      // m: the method's own default unless asked (the paper's QZO-FF printed beside a hybrid run keeps its m = 3).
      const directions = opts.m !== undefined ? num(opts.m, 'm', { integer: true, min: 1 }) : defaultDirections(method);
      const steps = opts.epochs !== undefined ? num(opts.epochs, 'epochs', { integer: true, min: 1 }) * Math.ceil(trainCount / (batchSize ?? trainCount)) : num(opts.steps, 'steps', { integer: true, min: 0 });
      // 2m forward passes of a batch per step (QZO-FF); backprop costs about as much as m = 1.5.
      const macsPerStep = 2 * directions * (batchSize ?? trainCount) * totalMacs(resolveGraph(backbone.architecture));
      const estimate = checkRunSize({ flag: opts.epochs !== undefined ? '--epochs' : '--steps', value: opts.epochs ?? opts.steps, steps, macsPerStep, yes: !!opts.yes });
      // The outputs are checked before training: a run that cannot save must fail now, not after.
      // Room for the model (at most the backbone's size) and the reports, which list every loss.
      checkOutputDir(opts.out, '--out', bytes.length + REPORT_BYTES + REPORT_BYTES_PER_STEP * steps);
      sayLabelled(`device   ${describeDevice(device)}`);
      const shownPath = relative(process.cwd(), modelPath).startsWith('..') ? modelPath : relative(process.cwd(), modelPath);
      const classes = Array.isArray(backbone.meta.classes) ? ` classes ${backbone.meta.classes.join(', ')}` : '';
      sayLabelled(`model    ${shownPath} (${backbone.architecture.name}${backbone.meta.pretrainedOn ? `, pre-trained on ${String(backbone.meta.pretrainedOn)}${classes}` : ''})`);
      sayLabelled(`task     ${opts.split === 'full' ? `${episode.classIds.length} classes, ${trainCount} training images,` : `${ways}-way ${shots}-shot`} on ${opts.data} classes ${listClasses(data, episode.classIds)}${opts.corrupt ? ` corrupted by ${opts.corrupt}` : ''} · ${episode.query.labels.length} held-out query images · seed ${seed}`);
      sayLabelled(method === 'bp'
        ? `method   ${methodLabel}, train ${selectionLabel(selection)}, η = ${lr ?? ADAPT_DEFAULTS.bpLr}, ${steps} steps, micro-batch ${opts.microBatch}`
        : `method   ${methodLabel}, train ${selectionLabel(selection)}, m = ${directions}, ε = ${opts.eps}, η = ${lr ?? ADAPT_DEFAULTS.lr} (${opts.schedule})${method === 'hybrid' ? `, head η = ${headLr ?? `${HYBRID_DEFAULTS.headStep}/mean‖f − f̄‖²`}${bpLayers === 2 ? `, tail η = ${tailLr ?? HYBRID_DEFAULTS.tailLr}` : ''}` : ''}, ${steps} steps, micro-batch ${opts.microBatch}`);
      if (choice.note) sayLabelled(`note     ${choice.note}`);
      // The host-time bound errs long (1 GMAC/s; the simd build runs about 5): shown only for long runs (limits.ts).
      if (estimate.seconds > SHOW_BOUND_SECONDS) sayLabelled(`host     training here may take up to ${estimate.text.replace('≈ ', '')} (a bound at 1 GMAC/s)`);
      const bar = !global.quiet && !global.json && process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: 'training [{bar}] {value}/{total} · loss {loss} · acc {acc} · {rate}/s · ETA {eta_formatted}', barsize: 24, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
        : null;
      let barStarted = false;
      // Not a terminal (a log, CI): a plain line at every tenth of the steps, with the loss and an ETA.
      const lines = bar ? null : startProgress({ label: 'training', unit: 'steps', total: steps, enabled: !global.quiet && !global.json });
      const tTrain = performance.now();
      // wav:DIR clips become features on the device: the front end is planned with the session and estimated.
      const frontEnd: FrontEndSpec | undefined = opts.data.startsWith('wav:') ? { kind: 'kws-mfcc' } : undefined;
      const run = (o: Omit<AdaptOptions, 'backbone'>) => (backbone.kind === 'float' ? adapt({ ...o, backbone }) : adaptQuantized({ ...o, model: backbone, head: opts.head as 'auto', method: o.method as 'qzo-ff' | 'hybrid' | undefined }));
      // The settings both the run and the paper's QZO-FF beside it train with.
      const same = {
        batchSize, ...(frontEnd ? { frontEnd } : {}), support: episode.support, query: episode.query, device, precision, selection,
        epsilon: num(opts.eps, 'eps'), ...(opts.m !== undefined ? { directions } : {}), dist: opts.dist as 'gaussian',
        schedule: parseSchedule(opts.schedule), enhancements, steps, microBatch: num(opts.microBatch, 'micro-batch', { integer: true, min: 1 }), seed, build, reusePrefix: opts.reusePrefix !== false,
      };
      const result = await run({
        ...same, progressEvery: bar ? Math.max(1, Math.floor(steps / 25)) : 0,
        method, bpLr: method === 'bp' ? lr : undefined, lr, ...(headLr !== undefined ? { headLr } : {}), ...(bpLayers !== null ? { bpLayers } : {}), ...(tailLr !== undefined ? { tailLr } : {}),
        baseline: opts.baseline, profile: opts.profile, checkpoint,
        onCheckpoint: (e) => {
          for (const s of e.kind === 'written' ? [] : e.skipped) say(`checkpoint: skipped ${s.name}: ${s.reason}`);
          if (e.kind === 'resumed') say(`checkpoint: resuming from ${e.name} (step ${e.step} of ${steps})`);
          if (e.kind === 'fresh') say(`checkpoint: no usable checkpoint in ${opts.checkpoint}; starting from step 0`);
        },
        onPlan: (m) => {
          say('');
          say(`memory plan (micro-batch ${Math.min(num(opts.microBatch, 'micro-batch'), episode.support.labels.length)}, train ${selectionLabel(selection)}) on ${device.name}: ${kib(device.sramBytes)} SRAM, ${kib(device.flashBytes)} flash`);
          say(table([
            ['mode', 'SRAM peak', 'flash', 'fits'],
            [`inference ${precision}`, kib(m.infer.sramPeak), kib(m.infer.flash), m.infer.fits ? 'yes' : 'NO'],
            [`${method === 'hybrid' ? 'hybrid' : 'QZO-FF'} ${precision}`, kib(m.ff.sramPeak), kib(m.ff.flash), m.ff.fits ? 'yes' : 'NO'],
            ['backprop f32 (Adam)', kib(m.bp.sramPeak), kib(m.bp.flash), m.bp.fits ? 'yes' : 'NO'],
          ], ['l', 'r', 'r', 'l']));
          say(`backprop would need ${(m.bp.sramPeak / m.ff.sramPeak).toFixed(1)}× the SRAM of ${method === 'hybrid' ? 'the hybrid' : 'QZO-FF'}`);
        },
        onStep: (r, total, trainAccuracy) => {
          if (!bar) return lines?.update(r.step, `loss ${r.loss.toFixed(3)}`);
          const rate = (r.step / ((performance.now() - tTrain) / 1000)).toFixed(1);
          if (!barStarted) {
            bar.start(total, 0, { loss: '—', acc: '—', rate: '—' });
            barStarted = true;
          }
          bar.update(r.step, { loss: r.loss.toFixed(3), rate, ...(trainAccuracy === undefined ? {} : { acc: `${trainAccuracy.toFixed(1)}%` }) });
        },
      });
      bar?.stop();
      // The issue's promise: the paper's plain QZO-FF is always reported beside the default (same data,
      // settings and steps; no checkpoints, no baseline of its own).
      const paperLines = method === 'hybrid' && opts.baseline ? startProgress({ label: "QZO-FF (paper, for comparison)", unit: 'steps', total: steps, enabled: !global.quiet && !global.json }) : null;
      const paper = paperLines ? await run({ ...same, method: 'qzo-ff', lr, baseline: false, onStep: (r) => paperLines.update(r.step, `loss ${r.loss.toFixed(3)}`) }) : null;
      paperLines?.stop();
      const imported = 'afterInt8' in result ? (result as QuantizedAdaptResult) : undefined;
      const m = result.memory;
      const mcu = adaptationEstimate(result.adapted.architecture, device, { method, precision, selection, batch: batchSize ?? trainCount, microBatch: num(opts.microBatch, 'micro-batch', { integer: true, min: 1 }), directions, steps, tailLayer: result.backpropLayers && result.backpropLayers.length > 1 ? result.backpropLayers[0]! : null });
      say('');
      // The run may have settled on fewer backprop layers than planned here (the tail's sums did not fit).
      const ranLabel = method === 'hybrid' && result.backpropLayers ? `hybrid ${precision} (backprop: ${result.backpropLayers.length === 2 ? 'last 2 layers' : 'head'})` : methodLabel;
      const ranNote = result.methodNote ?? choice.note;
      if (result.methodNote && result.methodNote !== choice.note) sayLabelled(`note     ${result.methodNote}`);
      say(wrapText(`measured ${method === 'qzo-ff' ? 'QZO-FF' : ranLabel} SRAM high-water mark: ${kib(result.sramPeak)} (${result.sramPeak} B) · flash ${kib(result.flash)}`, width));
      if (result.prefixCache) {
        const c = result.prefixCache;
        say(`frozen-prefix cache: ${kib(c.bytes)} (${c.bytes} B, in the plan above) for ${c.samples} samples, ${c.across === 'set' ? 'kept across steps' : 'refilled every step'}; ops before #${c.firstTrainedOp} ran for ${c.prefixRuns} micro-batches, ${c.reused} served from the cache`);
      }
      say(`accuracy on ${episode.query.labels.length} held-out query images`);
      say(table([
        [imported ? `zero-shot (${imported.head === 'kept' ? "the model's own head, argmax over the named classes" : 'prototype head'})` : 'zero-shot (prototype head)', pct(result.zeroShot), ''],
        [`after ${ranLabel}`, pct(result.after), `${steps} steps in ${(result.wallMs.ff / 1000).toFixed(1)} s on the ${result.device.build} build`],
        ...(imported ? [[`after, re-quantized to int8`, pct(imported.afterInt8), 'what --format tflite export runs']] : []),
        ...(paper ? [[`QZO-FF (paper), same steps`, pct(paper.after), `${steps} steps in ${(paper.wallMs.ff / 1000).toFixed(1)} s${'afterInt8' in paper ? `; int8 ${pct((paper as QuantizedAdaptResult).afterInt8)}` : ''}`]] : []),
        ...(method !== 'qzo-ff' && method !== 'hybrid' ? [] : [['f32 backprop, same data', pct(result.bp), result.bp === null || !result.bpRecipe ? 'skipped' : `${bpRecipeLabel(result.bpRecipe)}; ${m.bp.fits ? 'fits' : 'does not fit'} the device`]]),
      ], ['l', 'r', 'l']));
      say(wrapText(mcu.line, width));
      const frontEndInfo = frontEnd ? frontEndEstimate(frontEnd, device) : undefined;
      if (frontEndInfo) say(wrapText(frontEndInfo.line, width));
      if (result.checkpoint) {
        const c = result.checkpoint;
        say(`checkpoints: ${c.resumedFrom === null ? 'started at step 0' : `resumed at step ${c.resumedFrom}`}, wrote ${c.written}${c.last ? `, newest ${join(opts.checkpoint!, c.last)}` : ''}`);
      }
      if (result.profiler) {
        say(`\nkernel profile (${ranLabel} training)`);
        const total = result.profiler.totalMs;
        say(table([['kernel', 'calls', 'ms', 'share', 'GMAC/s'], ...result.profiler.byKind().map((r) => [r.kind, String(r.calls), r.ms.toFixed(1), `${((100 * r.ms) / total).toFixed(1)}%`, r.macs ? (r.macs / r.ms / 1e6).toFixed(2) : ''])], ['l', 'r', 'r', 'r', 'r']));
      }
      (checkpoint?.store as FileCheckpointStore | undefined)?.unlock();
      const modelOut = join(opts.out, 'model.lmdl');
      const modelBytes = saveModel({ ...result.adapted, meta: { ...result.adapted.meta, adaptedWith: result.config } });
      const json = {
        method: result.method, ...(ranNote ? { methodNote: ranNote } : {}), ...(result.backpropLayers ? { backpropLayers: result.backpropLayers } : {}), zeroShot: result.zeroShot, after: result.after, ...(result.bpRecipe ? { bpRecipe: result.bpRecipe } : {}), ...(imported ? { afterInt8: imported.afterInt8, head: imported.head } : {}), bp: result.bp,
        ...(paper ? { paper: { method: 'qzo-ff', after: paper.after, ...('afterInt8' in paper ? { afterInt8: (paper as QuantizedAdaptResult).afterInt8 } : {}), steps: paper.steps, sramPeak: paper.sramPeak, weightsSha256: weightsDigest(paper.adapted), wallMs: paper.wallMs } } : {}),
        steps: result.steps, sramPeak: result.sramPeak, flash: result.flash,
        device: result.device, memory: result.memory, bpOverFf: m.bp.sramPeak / m.ff.sramPeak, classes: episode.classIds, classNames: classNamesOf(data, episode.classIds),
        config: result.config, losses: result.losses, bpLosses: result.bpLosses, wallMs: { ...result.wallMs, total: performance.now() - tStart }, model: modelOut,
        weightsSha256: weightsDigest(result.adapted), mcu: mcu.json, ...(frontEndInfo ? { frontEnd: frontEndInfo.json } : {}), ...(result.checkpoint ? { checkpoint: result.checkpoint } : {}), ...(result.prefixCache ? { prefixCache: result.prefixCache } : {}), episode: episodeSpec,
      };
      // Each file atomically; if any write fails, the trained model is rescued and the error says where.
      await writeOrRescue(async () => {
        writeFileAtomic(modelOut, modelBytes, 'model');
        writeFileAtomic(join(opts.out, 'report.json'), JSON.stringify(json, null, 2), 'report');
        writeFileAtomic(join(opts.out, 'report.html'), await adaptReportHtml({
          report: json, modelPath, architecture: result.adapted.architecture, backboneMeta: backbone.meta,
          task: { data: opts.data, ways, shots, queries: episode.query.labels.length }, deviceDescription: describeDevice(device), argv: process.argv.slice(2),
        }), 'report');
      }, { name: 'model.lmdl', bytes: modelBytes });
      if (global.json) console.log(JSON.stringify(json, null, 2));
      say('\n' + wrapText(`wall time ${((performance.now() - tStart) / 1000).toFixed(1)} s · wrote ${modelOut}, ${join(opts.out, 'report.json')} and ${join(opts.out, 'report.html')}`, width));
    });
}

/** SHA-256 over every parameter tensor, in layer order: equal digests mean bit-identical weights. */
function weightsDigest(model: Model): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(model.params).sort()) {
    const p = model.params[name]!;
    for (const t of [p.weights, p.bias]) hash.update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  }
  return hash.digest('hex');
}
