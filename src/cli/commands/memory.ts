import type { Command } from 'commander';
import { readModelFile } from '../../model/model-file.js';
import { tflmComparison } from '../tflite.js';
import { liftModelTo16 } from '../../tflite/requantize.js';
import { ConfigError, FileError } from '../../errors.js';
import { type FloatModel, type QuantizedModel } from '../../model/model.js';
import { architecturePreset, ARCHITECTURE_PRESETS } from '../../model/presets.js';
import { resolveDevice, describeDevice, DEFAULT_DEVICE } from '../../device/presets.js';
import { memoryReport, planningModels, type Mode, type MemoryReport } from '../../report/memory.js';
import { formatPlanTable } from '../../report/plan-table.js';
import type { MemoryPlan } from '../../runtime/planner.js';
import { parseSelection } from '../../train/selection.js';
import { kib, table, wrapLongLines, wrapText } from '../format.js';
import { memoryReportHtml, writeHtmlFile } from '../../report/html.js';
import type { GlobalOptions } from '../main.js';
import { intOption } from '../options.js';
import { frontEndEstimate, inferenceEstimate } from '../cost-estimates.js';
import { FRONT_END_KINDS, type FrontEndSpec } from '../../runtime/front-end.js';
import { EXIT_DOES_NOT_FIT, requestExit } from '../exit-status.js';
import { wrapTable } from '../wrap-table.js';
import { residualOption, RESIDUAL_FLAGS, RESIDUAL_HELP } from '../residual-option.js';

export async function modelSource(spec: string, weightBits: 8 | 16): Promise<{ float: FloatModel; quantized: QuantizedModel }> {
  if (ARCHITECTURE_PRESETS.includes(spec)) return planningModels(architecturePreset(spec), weightBits);
  const { model: loaded } = await readModelFile(spec).catch((e: unknown) => {
    if (e instanceof FileError && e.reason === 'unreadable') throw new ConfigError(`'${spec}' is neither an architecture preset (${ARCHITECTURE_PRESETS.join(', ')}) nor a readable model file`);
    throw e;
  });
  // An imported int8 model trains 16w8a on its exactly lifted weights, as adapt does.
  const model = loaded.kind === 'quantized' && loaded.meta.source === 'tflite' && weightBits === 16 ? liftModelTo16(loaded) : loaded;
  // Plans depend only on shapes and widths: a stand-in with the file's architecture plans the same.
  const planned = planningModels(model.architecture, model.kind === 'quantized' ? Object.values(model.params)[0]!.weightBits : weightBits);
  return model.kind === 'float' ? { ...planned, float: model } : { ...planned, quantized: model };
}

/** The buffer plan with its timeline narrowed to fit `width`, and its summary line wrapped. */
function planText(plan: MemoryPlan, width: number): string {
  const widest = (text: string) => Math.max(...text.split('\n').map((l) => l.length));
  let text = formatPlanTable(plan);
  const over = widest(text) - width;
  if (over > 0) text = formatPlanTable(plan, { timelineWidth: Math.max(8, 64 - over) });
  return wrapLongLines(text, width);
}

export function printMemoryReport(r: MemoryReport, showPlan = false, width = Infinity): void {
  const rows = [['mode', 'SRAM peak', 'flash', `fits ${kib(r.device.sramBytes)} / ${kib(r.device.flashBytes)}`]];
  for (const m of Object.values(r.modes)) rows.push([m.label, kib(m.sramPeak), kib(m.flash), m.fits ? 'yes' : 'NO']);
  console.log(table(rows, ['l', 'r', 'r', 'l']));
  if (r.bpOverFf) console.log(`${r.modes.bp!.label} needs ${r.bpOverFf.toFixed(2)}× the SRAM of ${r.modes.ff!.label} (${r.selection}, batch ${r.batch})`);
  if (r.prefixCache) console.log(`frozen-prefix cache in the ${r.modes.ff?.label ?? 'QZO-FF'} plan: ${kib(r.prefixCache.bytes)} (${r.prefixCache.bytes} B) for ${r.prefixCache.samples} training samples (adapt --no-reuse-prefix drops it)`);
  for (const m of Object.values(r.modes)) {
    console.log(`\n${m.label} — per layer, bytes\n(act = output activation, w/b/rq = parameters, dw/db = gradients)`);
    const kinds = [...new Set(m.perLayer.flatMap((l) => Object.keys(l.sram)))];
    const layerRows = [['layer', ...kinds.map((k) => `SRAM ${k}`), 'flash']];
    for (const l of m.perLayer) layerRows.push([l.layer, ...kinds.map((k) => (l.sram[k] ? String(l.sram[k]) : '')), l.flash ? String(l.flash) : '']);
    console.log(wrapTable(layerRows, ['l', ...kinds.map(() => 'r' as const), 'r'], width));
    if (showPlan) console.log('\n' + planText(m.plan.sram, width));
  }
}

export function registerMemory(program: Command): void {
  program
    .command('memory')
    .description('plan SRAM and flash for inference, QZO-FF and backprop training, per layer, against a device budget (--json: {model, device, modes: {infer|ff|bp: {sramPeak, flash, fits}}, prefixCache?: {samples, bytes}})')
    .option('--model <preset|file>', `architecture preset (${ARCHITECTURE_PRESETS.join(', ')}) or a .lmdl model file`, 'mnist-cnn')
    .option('--device <preset|budget>', 'MCU preset (see lastmile devices) or a budget like 256k/1m', DEFAULT_DEVICE)
    .option('--mode <mode>', 'infer, ff or bp (default: all three)')
    .option('--train <selection>', 'trainable selection: full, head, last:K, bias or sparse[:fraction]', 'full')
    .option('--batch <n>', 'samples per forward call', '1')
    .option('--prefix-samples <n>', 'training samples the QZO-FF frozen-prefix cache holds when something is frozen before the first trained layer, as adapt plans it (0: no cache)', '25')
    .option('--precision <p>', 'QZO-FF/inference precision: 16w8a or 8w8a', '16w8a')
    .option(RESIDUAL_FLAGS, RESIDUAL_HELP)
    .option('--compare <c>', "mixed (integer inference/QZO-FF vs f32 backprop) or fp16 (all three in fp16, the paper's comparison)", 'mixed')
    .option('--plan', 'also print each mode\'s buffer plan (lifetimes and offsets)')
    .option('--html <file>', 'also write the memory charts (per mode and per layer, against the budget) to a self-contained HTML page')
    .option('--wide', 'print the per-layer tables in one piece instead of wrapping them at 100 columns')
    .option('--front-end <kind>', 'plan a front end the device runs before each forward: kws-mfcc (1 s of 16 kHz audio → 49 × 10 MFCC, what adapt --data wav:DIR runs); adds its time per clip')
    .addHelpText('after', `\nExit status: 0 when the plan fits; ${EXIT_DOES_NOT_FIT} when the chosen --mode does not fit the device\n(without --mode: when none of the three fits); 2 on bad input.\n` + '\nExamples:\n  lastmile memory --model resnet8 --device nrf52840\n  lastmile memory --model ds-cnn --train head --json\n  lastmile memory --model models/mnist-cnn-digits04.lmdl --mode ff --plan\n  lastmile memory --model resnet8 --html out/resnet8-memory.html')
    .action(async (opts: { model: string; device: string; mode?: string; train: string; batch: string; precision: string; compare: string; plan?: boolean; html?: string; wide?: boolean; frontEnd?: string; prefixSamples: string; residual?: string | boolean }, cmd: Command) => {
      const json = (cmd.optsWithGlobals() as GlobalOptions).json;
      const weightBits = opts.precision === '8w8a' ? 8 : opts.precision === '16w8a' ? 16 : undefined;
      if (!weightBits) throw new ConfigError(`--precision must be 16w8a or 8w8a, got '${opts.precision}'`);
      const modes = opts.mode ? [opts.mode as Mode] : undefined;
      if (modes && !['infer', 'ff', 'bp'].includes(modes[0]!)) throw new ConfigError(`--mode must be infer, ff or bp, got '${opts.mode}'`);
      const batch = intOption(opts.batch, 'batch', 1);
      if (opts.compare !== 'mixed' && opts.compare !== 'fp16') throw new ConfigError(`--compare must be mixed or fp16, got '${opts.compare}'`);
      const residual = residualOption(opts.residual, opts.precision);
      if (residual && opts.compare === 'fp16') throw new ConfigError('--residual plans the integer QZO-FF session; it cannot be combined with --compare fp16');
      const device = resolveDevice(opts.device);
      const models = await modelSource(opts.model, weightBits);
      const prefixSamples = intOption(opts.prefixSamples, 'prefix-samples', 0);
      if (opts.frontEnd !== undefined && !(FRONT_END_KINDS as readonly string[]).includes(opts.frontEnd)) throw new ConfigError(`--front-end must be one of ${FRONT_END_KINDS.join(', ')}, got '${opts.frontEnd}'`);
      const frontEnd = opts.frontEnd ? ({ kind: opts.frontEnd } as FrontEndSpec) : undefined;
      if (frontEnd && opts.compare === 'fp16') throw new ConfigError('--front-end plans the integer sessions; it cannot be combined with --compare fp16');
      const report = memoryReport(models, { device, batch, selection: parseSelection(opts.train, { trainerOptions: true }), weightBits, modes, compare: opts.compare, prefixSamples, ...(frontEnd ? { frontEnd } : {}), ...(residual ? { residual } : {}) });
      const frontEndInfo = frontEnd ? frontEndEstimate(frontEnd, device) : undefined;
      const mcu = inferenceEstimate(models.quantized.architecture, device, weightBits);
      const planned = Object.values(report.modes);
      if (modes ? planned.some((m) => !m.fits) : planned.every((m) => !m.fits)) requestExit(EXIT_DOES_NOT_FIT);
      if (opts.html) await writeHtmlFile(opts.html, await memoryReportHtml({ report, precision: opts.precision, compare: opts.compare, deviceDescription: describeDevice(device), argv: process.argv.slice(2) }));
      if (json) {
        const modesJson = Object.fromEntries(Object.entries(report.modes).map(([k, m]) => [k, { sramPeak: m.sramPeak, flash: m.flash, fits: m.fits, label: m.label, sramByCategory: m.sramByCategory, perLayer: m.perLayer }]));
        const tflm = await tflmComparison(opts.model);
        console.log(JSON.stringify({ model: report.model, device: report.device, batch: report.batch, selection: report.selection, weightBits: report.weightBits, modes: modesJson, bpOverFf: report.bpOverFf, ...(report.prefixCache ? { prefixCache: report.prefixCache } : {}), ...(tflm ? { tflm } : {}), mcu: mcu.json, ...(frontEndInfo ? { frontEnd: frontEndInfo.json } : {}) }, null, 2));
        return;
      }
      console.log(`model  ${report.model} · batch ${batch} · train ${report.selection} · ${opts.precision}`);
      console.log(`device ${describeDevice(device)}\n`);
      printMemoryReport(report, opts.plan, opts.wide ? Infinity : 100);
      const tflm = await tflmComparison(opts.model);
      if (tflm) console.log('\n' + wrapText(`inference SRAM at batch 1: lastmile ${kib(tflm.lastmileInfer)} (activations and I/O alone ${kib(tflm.lastmileActivations)}) · TFLM tensor arena by its greedy planner ${kib(tflm.tflmArena)} (tensors only, reference kernels, no persistent data)`, opts.wide ? Infinity : 100));
      console.log(`\n${wrapText(mcu.line, opts.wide ? Infinity : 100)}`);
      if (frontEndInfo) console.log(wrapText(frontEndInfo.line, opts.wide ? Infinity : 100));
      if (opts.html) console.log(`\nwrote ${opts.html}`);
    });
}
