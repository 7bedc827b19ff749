// `lastmile export --format c`: the options that define a run (as adapt takes them) and the action;
// the export itself lives in src/export/c/.
import type { Command } from 'commander';
import { ConfigError, FormatError } from '../../errors.js';
import { readModelFile } from '../../model/model-file.js';
import type { InputNode } from '../../model/layers.js';
import { isGraphInput } from '../../ops/registry.js';
import { sampleEpisode } from '../../data/fewshot.js';
import { resolveDevice, DEFAULT_DEVICE } from '../../device/presets.js';
import { parseSelection } from '../../train/selection.js';
import { parseSchedule } from '../../train/schedule.js';
import { loadData, parseClassList } from '../../data/source.js';
import { numberOption as num } from '../options.js';
import { seedOption } from '../limits.js';
import { wrapText } from '../format.js';
import { TERMINAL_COLUMNS } from '../width.js';
import { exportC, checkExportMethod, CORES, EXPORT_METHODS, type ExportMethod } from '../../export/c/index.js';
import { ADAPT_DEFAULTS } from '../../train/defaults.js';
import { HYBRID_DEFAULTS } from '../../train/hybrid.js';
import { sizeReport } from '../../export/c/size.js';

export interface CExportCliOptions {
  model: string; out: string; data: string; classes: string; ways: string; shots: string; queries: string; device: string; precision: string;
  train: string; m?: string; eps: string; lr: string; schedule: string; steps: string; microBatch: string; dist: string; seed: string; batchSize?: string;
  normalize?: boolean; dither?: boolean; core: string; method: string; headLr?: string; bpLayers?: string; tailLr?: string;
}

/** The run-defining options `--format c` reads (defaults as in `lastmile adapt`). */
export function addCExportOptions(cmd: Command): Command {
  return cmd
    .option('--method <m>', `C: the exported step, ${EXPORT_METHODS.join(' or ')} (hybrid: integer backprop for the dense head, QZO-FF for the rest); default adapt's`, ADAPT_DEFAULTS.method)
    .option('--head-lr <x>', `C: hybrid: a fixed SGD η for the head's integer backprop (default: ${HYBRID_DEFAULTS.headStep} / mean ‖f − mean f‖² of the head's input, measured by the device on the first step)`)
    .option('--bp-layers <n>', `C: hybrid: parameter layers learned by integer backprop, 2 = the head and the layer below it, 1 = the head only (default: adapt's, ${HYBRID_DEFAULTS.bpLayers} where the model has that layer and the selection trains it, else 1)`)
    .option('--tail-lr <x>', `C: hybrid with --bp-layers 2: the SGD η of the layer below the head (default: ${HYBRID_DEFAULTS.tailLr})`)
    .option('--data <source>', 'C: data source of the episode (as adapt)', 'mnist')
    .option('--classes <list>', 'C: pool of new classes for the episode', '5-9')
    .option('--ways <n>', 'C: classes per episode', '5')
    .option('--shots <n>', 'C: labelled samples per class', '5')
    .option('--queries <n>', 'C: held-out query images per class baked into main.c', '100')
    .option('--device <preset|budget>', 'C: MCU preset or budget the plan must fit', DEFAULT_DEVICE)
    .option('--precision <p>', 'C: 16w8a or 8w8a', '16w8a')
    .option('--train <selection>', 'C: full, head or last:K', 'full')
    .option('--m <n>', `C: directions per step (default: adapt's, ${ADAPT_DEFAULTS.hybridDirections} for the hybrid, ${ADAPT_DEFAULTS.directions} for qzo-ff)`)
    .option('--eps <x>', 'C: perturbation size ε', '0.001')
    .option('--lr <x>', 'C: learning rate η', '0.003')
    .option('--schedule <s>', 'C: learning-rate schedule (constant only)', 'constant')
    .option('--steps <n>', 'C: QZO-FF steps main.c runs', '1000')
    .option('--batch-size <n>', 'C: samples per step (default: the whole support set)')
    .option('--micro-batch <n>', 'C: samples per forward call', '5')
    .option('--dist <d>', 'C: z distribution, gaussian or rademacher', 'gaussian')
    .option('--seed <n>', 'C: seed of the episode and the perturbations', '1')
    .option('--normalize', "C: kernel-wise normalisation of ε and η")
    .option('--dither', 'C: stochastic rounding of ε·z and of the update (lets 8w8a train)')
    .option('--core <cpu>', `C: core whose arm-none-eabi-size is reported (${CORES.join(', ')})`, 'cortex-m4');
}

export async function runCExport(opts: CExportCliOptions, say: (line?: string) => void): Promise<void> {
  if (!CORES.includes(opts.core)) throw new ConfigError(`--core must be one of ${CORES.join(', ')}, got '${opts.core}'`);
  const { model: backbone } = await readModelFile(opts.model);
  if (backbone.kind !== 'float') throw new FormatError(`${opts.model}: the C export starts from a float backbone, as adapt does; got a ${backbone.kind} model`);
  // A method the C cannot run (bp, ff-float) gets the export's typed refusal, before any work.
  const method = opts.method as ExportMethod;
  checkExportMethod(method, opts.headLr !== undefined, { bpLayers: opts.bpLayers !== undefined, tailLr: opts.tailLr !== undefined });
  const headLr = opts.headLr === undefined ? undefined : num(opts.headLr, 'head-lr');
  const bpLayers = opts.bpLayers === undefined ? undefined : num(opts.bpLayers, 'bp-layers', { integer: true, min: 1 });
  if (bpLayers !== undefined && bpLayers !== 1 && bpLayers !== 2) throw new ConfigError(`--bp-layers must be 1 or 2, got ${opts.bpLayers}`);
  const tailLr = opts.tailLr === undefined ? undefined : num(opts.tailLr, 'tail-lr');
  if (opts.dist !== 'gaussian' && opts.dist !== 'rademacher') throw new ConfigError(`--dist must be gaussian or rademacher, got '${opts.dist}'`);
  const precision = opts.precision;
  if (precision !== '16w8a' && precision !== '8w8a') throw new ConfigError(`--precision must be 16w8a or 8w8a, got '${precision}'`);
  const selection = parseSelection(opts.train, { trainerOptions: true });
  const seed = seedOption(opts.seed);
  const input = backbone.architecture.nodes[0]!;
  const data = await loadData(opts.data, 'test', isGraphInput(input) ? (input as InputNode).shape : undefined);
  const episode = sampleEpisode(data, {
    classPool: parseClassList(opts.classes), ways: num(opts.ways, 'ways', { integer: true, min: 2 }),
    shots: num(opts.shots, 'shots', { integer: true, min: 1 }), queries: num(opts.queries, 'queries', { integer: true, min: 1 }), seed,
  });
  const result = await exportC({
    out: opts.out, modelLabel: opts.model, backbone, support: episode.support, query: episode.query, device: resolveDevice(opts.device),
    precision, selection, epsilon: num(opts.eps, 'eps'), ...(opts.m !== undefined ? { directions: num(opts.m, 'm', { integer: true, min: 1 }) } : {}), dist: opts.dist, lr: num(opts.lr, 'lr'),
    schedule: parseSchedule(opts.schedule), steps: num(opts.steps, 'steps', { integer: true, min: 1 }), microBatch: num(opts.microBatch, 'micro-batch', { integer: true, min: 1 }),
    seed, ...(opts.batchSize ? { batchSize: num(opts.batchSize, 'batch-size', { integer: true, min: 1 }) } : {}),
    method, ...(headLr !== undefined ? { headLr } : {}), ...(bpLayers !== undefined ? { bpLayers: bpLayers as 1 | 2 } : {}), ...(tailLr !== undefined ? { tailLr } : {}),
    enhancements: { ...(opts.normalize ? { normalize: true } : {}), ...(opts.dither ? { dither: true } : {}) },
  });
  say(wrapText(`wrote ${result.out}: ${result.files.length} files (${result.run.quantized.architecture.name}, ${result.run.config.method}${result.run.config.bpLayers ? ` (backprop: ${result.run.config.bpLayers === 2 ? `head and tail '${result.run.tail?.layer}'` : 'head'})` : ''}, ${result.run.config.precision}, train ${result.run.config.selection}, ${result.run.steps} steps)`, TERMINAL_COLUMNS));
  say(result.arenaMap);
  say(`planned SRAM ${result.plannedSramBytes} B = arena ${result.arenaBytes} B · planned flash ${result.plannedFlashBytes} B`);
  say(wrapText(sizeReport(result.out, opts.core) ?? `(arm-none-eabi-gcc not found: no section sizes; run 'make size CPU=${opts.core}' in ${result.out})`, TERMINAL_COLUMNS));
}
