// Self-contained HTML reports: one file with inline CSS and inline SVG charts, no scripts and no
// external resources, so it opens offline, can be mailed or attached to a CI run, and shows the
// same thing in ten years. Every piece of text that came from outside (file names, model and layer
// names, the command line) is escaped; the charts' text is escaped by Vega's SVG writer.
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, FileError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { Architecture } from '../model/graph.js';
import type { WeightBits } from '../model/model.js';
import type { TrainSelection } from '../train/selection.js';
import { selectionLabel } from '../train/selection.js';
import { memoryReport, type MemoryReport, type Mode } from './memory.js';
import { accuracyChart, formatKib, lossCurveChart, memoryModesChart, perLayerChart, profileChart, type DeviceBudget } from './charts.js';
import { describeAdaptation, type McuAdaptation, type McuUnavailable } from '../cost/report.js';

export const PAPER_URL = 'https://arxiv.org/abs/2411.04036';
const PAPER = 'Feng et al., “Stepping Forward on the Last Mile”, NeurIPS 2024';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** POSIX-shell quoting, so the command shown can be pasted back into a terminal as it ran. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `lastmile <args>` for the arguments after the script (process.argv.slice(2)). */
export function commandLine(argv: readonly string[]): string {
  return ['lastmile', ...argv.map(shellQuote)].join(' ');
}

/**
 * An SVG document made ready to inline: HTML puts <svg> in the SVG namespace by itself, so the
 * namespace declarations (URLs a reader might take for external references) are dropped.
 */
export function inlineSvg(svg: string): string {
  return svg.replace(/^<svg\b([^>]*)>/, (_m, attrs: string) => `<svg${attrs.replace(/\s+xmlns(:\w+)?="[^"]*"/g, '').replace(/\s+version="[^"]*"/, '')}>`);
}

/**
 * Create the missing folders of `dir` one level at a time. Not mkdir(…, { recursive: true }): on
 * Node 20 that spins forever under a path such as /proc/x whose parent refuses new entries.
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (await stat(d).then(() => true, () => false)) break;
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    await mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}

/** Write a page, creating its folder; a path that cannot be written is the user's to fix (exit 2). */
export async function writeHtmlFile(file: string, html: string): Promise<void> {
  try {
    await makeDirs(dirname(file));
    writeFileAtomic(file, html, 'HTML report');
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new ConfigError(`cannot write the HTML report '${file}': ${(e as Error).message}; pass a writable path to --html`);
  }
}

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f; margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #e3e3e3; }
p.lede { color: #555; margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 12px 4px 0; text-align: left; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; color: #444; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 190px; }
.yes { color: #2e7d32; font-weight: 600; }
.no { color: #b3261e; font-weight: 700; }
figure { margin: 16px 0 28px; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 13px; margin-top: 4px; }
pre { background: #f4f4f4; padding: 10px 12px; border-radius: 4px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
footer { margin-top: 36px; color: #666; font-size: 13px; }
`;

/** Table cells are given as escaped-on-the-way text unless wrapped with raw(). */
type Cell = string | number | { html: string; cls?: string };
const raw = (html: string, cls?: string): { html: string; cls?: string } => (cls ? { html, cls } : { html });
const cell = (c: Cell, tag: 'td' | 'th'): string => {
  if (typeof c === 'number') return `<${tag} class="num">${escapeHtml(String(c))}</${tag}>`;
  if (typeof c === 'string') return `<${tag}>${escapeHtml(c)}</${tag}>`;
  return `<${tag}${c.cls ? ` class="${c.cls}"` : ''}>${c.html}</${tag}>`;
};

function table(header: readonly Cell[], rows: readonly (readonly Cell[])[], cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${header.map((h) => cell(h, 'th')).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => cell(c, 'td')).join('')}</tr>`).join('')}</tbody></table>`;
}

function keyValues(rows: readonly [string, Cell][]): string {
  // Values read as prose here, so numbers are not right-aligned like a numeric column.
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr>${cell(k, 'th')}${cell(typeof v === 'number' ? String(v) : v, 'td')}</tr>`).join('')}</tbody></table>`;
}

const fits = (ok: boolean): Cell => (ok ? raw('yes', 'yes') : raw('NO', 'no'));
const numCell = (text: string): Cell => raw(escapeHtml(text), 'num');
const pct = (x: number | null): string => (x === null ? '—' : `${x.toFixed(1)}%`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function figure(svg: string, caption: string): string {
  return `<figure>${inlineSvg(svg)}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

interface PageParts {
  title: string;
  lede: string;
  sections: { title: string; html: string }[];
  argv: readonly string[];
}

function page(p: PageParts): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(p.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${escapeHtml(p.title)}</h1>
<p class="lede">${escapeHtml(p.lede)}</p>
${p.sections.map((s) => `<section>\n<h2>${escapeHtml(s.title)}</h2>\n${s.html}\n</section>`).join('\n')}
<section>
<h2>Command</h2>
<p>Every figure on this page came from this command; run it again to reproduce them.</p>
<pre><code>${escapeHtml(commandLine(p.argv))}</code></pre>
</section>
<footer>lastmile — QZO-FF, quantized zeroth-order forward-gradient training on an emulated microcontroller (<a href="${PAPER_URL}">${escapeHtml(PAPER)}</a>). The emulator models memory and integer arithmetic, not time: wall times are this machine's WebAssembly engine, not a Cortex-M.</footer>
</main>
</body>
</html>
`;
}

const budgetOf = (d: { name: string; sramBytes: number; flashBytes: number }): DeviceBudget => ({ name: d.name, sramBytes: d.sramBytes, flashBytes: d.flashBytes });

function perLayerModes(report: MemoryReport) {
  return Object.values(report.modes).map((m) => ({ label: m.label, sramPeak: m.sramPeak, perLayer: m.perLayer }));
}

// ---------------------------------------------------------------------------------------------
// adapt

interface ModeFigures {
  sramPeak: number;
  flash: number;
  fits: boolean;
}

/** What `lastmile adapt` writes to report.json (the fields this page reads). */
export interface AdaptReportJson {
  zeroShot: number;
  after: number;
  bp: number | null;
  steps: number;
  sramPeak: number;
  flash: number;
  device: { name: string; sramBytes: number; flashBytes: number; build: string };
  memory: { infer: ModeFigures; ff: ModeFigures; bp: ModeFigures };
  bpOverFf: number;
  classes: number[];
  /** The classes' names in the data source (the ids as text when it has none); older reports lack it. */
  classNames?: string[];
  config: Record<string, unknown>;
  losses: number[];
  bpLosses: number[];
  wallMs: { ff: number; bp: number; total: number };
  model: string;
  /** Estimated on-device time and energy (src/cost), when the command computed it. */
  mcu?: McuAdaptation | McuUnavailable;
}

export interface AdaptHtmlInput {
  report: AdaptReportJson;
  /** The float backbone file. */
  modelPath: string;
  /** The adapted model's architecture (the backbone with the new head): plans the per-layer memory. */
  architecture: Architecture;
  backboneMeta: Record<string, unknown>;
  task: { data: string; ways: number; shots: number; queries: number };
  deviceDescription: string;
  /** process.argv.slice(2) of the run. */
  argv: readonly string[];
}

/** The trainer enhancements adapt records ({ normalize: true, momentum: {…} } …) as one line. */
function describeEnhancements(e: unknown): string {
  if (typeof e !== 'object' || e === null) return 'none';
  const parts = Object.entries(e as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? k : `${k} ${typeof v === 'object' && v !== null ? Object.entries(v).map(([a, b]) => `${a} = ${String(b)}`).join(', ') : String(v)}`));
  return parts.length ? parts.join('; ') : 'none';
}

/** adapt writes its TrainSelection into the config; trainableLayers() validates the details. */
function isSelection(x: unknown): x is TrainSelection {
  return typeof x === 'object' && x !== null && typeof (x as { kind?: unknown }).kind === 'string';
}

export async function adaptReportHtml(input: AdaptHtmlInput): Promise<string> {
  const { report: r, task } = input;
  const c = r.config;
  const precision = String(c.precision ?? '16w8a');
  // The f32 baselines (adapt --method bp | ff-float) share this page; only their labels differ.
  const methodLabel = c.method === 'bp' ? 'f32 backprop on the device' : c.method === 'ff-float' ? 'float ZO (FF fp32)' : `QZO-FF ${precision}`;
  const weightBits: WeightBits = precision === '8w8a' ? 8 : 16;
  if (!isSelection(c.selection)) throw new Error(`internal: adapt report config has no trainable selection (${JSON.stringify(c.selection)})`);
  const selection = c.selection;
  const microBatch = Number(c.microBatch);
  const trainable = Array.isArray(c.trainable) ? c.trainable.map(String) : [];
  const budget = budgetOf(r.device);
  // The same plans adapt checked (same architecture, micro-batch, selection and widths), with the
  // per-layer breakdown adapt does not keep.
  const planned = memoryReport(input.architecture, { device: budget, batch: microBatch, selection, weightBits });
  const labels = { infer: `inference ${precision}`, ff: `QZO-FF ${precision}`, bp: 'backprop f32 (Adam)' };
  const modes = (['infer', 'ff', 'bp'] as const).map((k) => ({ key: k, label: labels[k], ...r.memory[k] }));
  const meta = input.backboneMeta;
  const pretrained = meta.pretrainedOn ? `pre-trained on ${String(meta.pretrainedOn)} classes ${JSON.stringify(meta.classes)}` : 'no pre-training recorded in the file';

  const [accuracySvg, lossSvg, memorySvg, layersSvg] = await Promise.all([
    accuracyChart({ zeroShot: r.zeroShot, after: r.after, bp: r.bp, afterLabel: `after ${methodLabel}`, bpLabel: 'f32 backprop', count: task.queries }),
    lossCurveChart({ ff: r.losses, bp: r.bpLosses, ffLabel: methodLabel, bpLabel: 'f32 backprop (Adam)' }),
    memoryModesChart(modes, budget),
    perLayerChart(perLayerModes(planned), budget),
  ]);

  // The per-layer plan is the memory report's; trainer enhancements (momentum, sharpness-aware
  // probes) add buffers that it does not plan, so say so when its QZO-FF peak differs from the run's.
  const plannedFf = planned.modes.ff!.sramPeak;
  const layerNote = plannedFf === r.memory.ff.sramPeak ? '' : ` The QZO-FF panel is planned without the run’s trainer enhancements: ${formatKib(plannedFf)} there vs ${formatKib(r.memory.ff.sramPeak)} for the run (the table above).`;
  const setup = keyValues([
    ['device', input.deviceDescription],
    ['budget', `${formatKib(r.device.sramBytes)} SRAM (${r.device.sramBytes} B) · ${formatKib(r.device.flashBytes)} flash (${r.device.flashBytes} B)`],
    ['device build', `${r.device.build} (WebAssembly)`],
    ['model', `${input.modelPath} — ${input.architecture.name}, ${pretrained}`],
    ['task', `${task.ways}-way ${task.shots}-shot on ${task.data} classes ${(r.classNames ?? r.classes).join(', ')} · ${task.queries} held-out query images`],
    ['adapted model', r.model],
  ]);
  const method = keyValues([
    ['method', c.method === 'bp' || c.method === 'ff-float' ? methodLabel : `QZO-FF ${precision} (sign-m-SPSA forward gradients, integer-only on the device)`],
    ['trainable', `${selectionLabel(selection)}: ${trainable.join(', ') || '—'}`],
    ['steps', r.steps],
    ['directions per step m', String(c.directions)],
    ['perturbation ε', String(c.epsilon)],
    ['learning rate η', String(c.lr)],
    ['z distribution', String(c.dist)],
    ['enhancements', describeEnhancements(c.enhancements)],
    ['micro-batch', String(c.microBatch)],
    ['seed', String(c.seed)],
  ]);
  const gain = r.after - r.zeroShot;
  const accuracy = table(
    ['', 'top-1', 'note'],
    [
      ['zero-shot (prototype head)', numCell(pct(r.zeroShot)), 'the pre-trained backbone with a nearest-class-mean head, before any training'],
      [`after ${methodLabel}`, numCell(pct(r.after)), `${gain >= 0 ? '+' : ''}${gain.toFixed(1)} points in ${r.steps} steps on the device`],
      ['f32 backprop, same data', numCell(pct(r.bp)), r.bp === null ? 'skipped (--no-baseline)' : `Adam, ${r.bpLosses.length} steps; ${r.memory.bp.fits ? 'fits' : 'does not fit'} the device`],
    ],
  );
  const memory = table(
    ['mode', 'SRAM peak', 'flash', `fits ${formatKib(r.device.sramBytes)} / ${formatKib(r.device.flashBytes)}`],
    modes.map((m) => [m.label, numCell(formatKib(m.sramPeak)), numCell(formatKib(m.flash)), fits(m.fits)]),
  ) + `<p>Measured QZO-FF SRAM high-water mark: <strong>${escapeHtml(formatKib(r.sramPeak))}</strong> (${r.sramPeak} B) · flash ${escapeHtml(formatKib(r.flash))}. Backprop would need <strong>${escapeHtml(r.bpOverFf.toFixed(1))}×</strong> the SRAM of QZO-FF (micro-batch ${microBatch}, train ${escapeHtml(selectionLabel(selection))}).</p>`;
  const times = table(
    ['phase', 'wall time', ''],
    [
      ['QZO-FF training', numCell(seconds(r.wallMs.ff)), r.steps > 0 ? `${(r.steps / (r.wallMs.ff / 1000)).toFixed(1)} steps/s on the ${r.device.build} build` : 'no steps'],
      ['f32 backprop baseline', numCell(seconds(r.wallMs.bp)), r.bp === null ? 'skipped' : `${r.bpLosses.length} steps, training and evaluation`],
      ['whole command', numCell(seconds(r.wallMs.total)), 'loading, prototype head, calibration, both methods, evaluation'],
    ],
  ) + (r.mcu ? `<p>${escapeHtml(describeAdaptation(r.mcu, r.device.name))} (docs/COST-MODEL.md).</p>` : '');
  const charts = [
    figure(accuracySvg, `Top-1 accuracy on ${task.queries} held-out query images.`),
    r.losses.length + r.bpLosses.length > 0
      ? figure(lossSvg, 'Training loss. The two methods run different numbers of steps, so each is drawn against its own progress.')
      : '<p>No training steps were run, so there is no loss curve.</p>',
    figure(memorySvg, 'Planned SRAM peak and flash of each mode; the dashed line is the device budget.'),
    figure(layersSvg, `SRAM owned by each layer’s buffers, by kind, for each mode.${layerNote}`),
  ].join('\n');
  return page({
    title: `QZO-FF adaptation: ${input.architecture.name} on ${r.device.name}`,
    lede: `${task.ways}-way ${task.shots}-shot adaptation to ${task.data} classes ${(r.classNames ?? r.classes).join(', ')}: ${pct(r.zeroShot)} zero-shot → ${pct(r.after)} after ${methodLabel}${r.bp === null ? '' : ` (f32 backprop: ${pct(r.bp)})`}, in ${formatKib(r.sramPeak)} of SRAM.`,
    sections: [
      { title: 'Setup', html: setup },
      { title: 'Method', html: method },
      { title: 'Accuracy', html: accuracy },
      { title: 'Memory', html: memory },
      { title: 'Charts', html: charts },
      { title: 'Wall times', html: times },
    ],
    argv: input.argv,
  });
}

// ---------------------------------------------------------------------------------------------
// memory

export interface MemoryHtmlInput {
  report: MemoryReport;
  precision: string;
  compare: string;
  deviceDescription: string;
  argv: readonly string[];
}

export async function memoryReportHtml(input: MemoryHtmlInput): Promise<string> {
  const r = input.report;
  const budget = budgetOf(r.device);
  const modes = (Object.entries(r.modes) as [Mode, NonNullable<MemoryReport['modes'][Mode]>][]).map(([, m]) => m);
  const [memorySvg, layersSvg] = await Promise.all([memoryModesChart(modes, budget), perLayerChart(perLayerModes(r), budget)]);
  const setup = keyValues([
    ['device', input.deviceDescription],
    ['budget', `${formatKib(r.device.sramBytes)} SRAM (${r.device.sramBytes} B) · ${formatKib(r.device.flashBytes)} flash (${r.device.flashBytes} B)`],
    ['model', r.model],
    ['samples per forward call', r.batch],
    ['trainable', r.selection],
    ['precision', input.compare === 'fp16' ? 'fp16 weights and activations in every mode' : input.precision],
    ['comparison', input.compare === 'fp16' ? 'fp16 for all three modes (the paper’s same-precision comparison)' : 'integer inference and QZO-FF vs f32 backprop (what each method would run)'],
  ]);
  const memory = table(
    ['mode', 'SRAM peak', 'flash', `fits ${formatKib(r.device.sramBytes)} / ${formatKib(r.device.flashBytes)}`],
    modes.map((m) => [m.label, numCell(formatKib(m.sramPeak)), numCell(formatKib(m.flash)), fits(m.fits)]),
  ) + (r.bpOverFf ? `<p>${escapeHtml(r.modes.bp!.label)} needs <strong>${escapeHtml(r.bpOverFf.toFixed(2))}×</strong> the SRAM of ${escapeHtml(r.modes.ff!.label)}.</p>` : '');
  const allFit = modes.every((m) => m.fits);
  return page({
    title: `Memory: ${r.model} on ${r.device.name}`,
    lede: `${modes.map((m) => `${m.label} ${formatKib(m.sramPeak)} SRAM`).join(' · ')} — ${allFit ? 'every mode fits' : `${modes.filter((m) => !m.fits).map((m) => m.label).join(', ')} does not fit`} the ${r.device.name} budget.`,
    sections: [
      { title: 'Setup', html: setup },
      { title: 'Memory per mode', html: memory },
      {
        title: 'Charts',
        html: [figure(memorySvg, 'Planned SRAM peak and flash of each mode; the dashed line is the device budget.'), figure(layersSvg, 'SRAM owned by each layer’s buffers, by kind, for each mode.')].join('\n'),
      },
    ],
    argv: input.argv,
  });
}

// ---------------------------------------------------------------------------------------------
// profile

export interface ProfileRowReport {
  name: string;
  kind: string;
  calls: number;
  ms: number;
  macs: number;
  /** Multiply-accumulates per second, in billions; null for rows that do no MACs. */
  gmacPerS: number | null;
  /** Percent of the measured step time. */
  share: number;
}

/** What `lastmile profile` measures (also its --json output). */
export interface ProfileReport {
  model: string;
  device: { name: string; sramBytes: number; flashBytes: number; build: string };
  batch: number;
  selection: string;
  trainable: string[];
  precision: string;
  directions: number;
  steps: number;
  memory: { sramPeak: number; flash: number };
  /** MACs of one forward pass over one session batch. */
  forwardMacs: number;
  timing: {
    /** Median wall time of one QZO-FF step, profiler detached. */
    stepMs: number;
    /** Median wall time of one plain (unperturbed) forward pass, profiler detached. */
    forwardMs: number;
    /** stepMs / (2m × forwardMs): what the step costs beyond its 2m forward passes. */
    overhead: number;
    /** Mean wall time of one step with the profiler attached (the base of the shares). */
    profiledStepMs: number;
  };
  byKind: ProfileRowReport[];
  byLayer: ProfileRowReport[];
}

export async function profileReportHtml(p: ProfileReport, input: { deviceDescription: string; argv: readonly string[] }): Promise<string> {
  const bar = (r: ProfileRowReport) => ({ name: r.name, ms: r.ms, share: r.share });
  const svg = await profileChart(p.byKind.map(bar), p.byLayer.map(bar), `${p.steps} steps of ${p.model}, batch ${p.batch}, m = ${p.directions}, train ${p.selection}, ${p.device.build} build`);
  const figures = (r: ProfileRowReport): Cell[] => [r.calls, numCell(r.ms.toFixed(2)), numCell(r.macs ? String(r.macs) : ''), numCell(r.gmacPerS === null ? '' : r.gmacPerS.toFixed(2)), numCell(`${r.share.toFixed(1)}%`)];
  const columns = ['calls', 'total ms', 'MACs', 'GMAC/s', 'share of step'].map((h) => raw(escapeHtml(h), 'num'));
  const setup = keyValues([
    ['device', input.deviceDescription],
    ['device build', `${p.device.build} (WebAssembly)`],
    ['model', p.model],
    ['precision', p.precision],
    ['samples per forward call', p.batch],
    ['trainable', `${p.selection}: ${p.trainable.join(', ')}`],
    ['directions per step m', p.directions],
    ['profiled steps', p.steps],
    ['SRAM / flash', `${formatKib(p.memory.sramPeak)} / ${formatKib(p.memory.flash)}`],
  ]);
  const t = p.timing;
  const timing = keyValues([
    ['QZO-FF step', `${t.stepMs.toFixed(3)} ms`],
    ['one forward pass', `${t.forwardMs.toFixed(3)} ms (${p.forwardMacs} MACs)`],
    ['2m × forward', `${(2 * p.directions * t.forwardMs).toFixed(3)} ms`],
    ['overhead ratio', `${t.overhead.toFixed(2)}× (step / 2m forward passes)`],
  ]);
  return page({
    title: `Kernel profile: QZO-FF on ${p.model}`,
    lede: `One QZO-FF step takes ${t.stepMs.toFixed(2)} ms on the ${p.device.build} build, ${t.overhead.toFixed(2)}× its ${2 * p.directions} forward passes.`,
    sections: [
      { title: 'Setup', html: setup },
      { title: 'Step time', html: timing },
      { title: 'By kernel kind', html: table(['kind', ...columns], p.byKind.map((r) => [r.name, ...figures(r)])) },
      { title: 'By layer and step phase', html: table(['layer or phase', 'kind', ...columns], p.byLayer.map((r) => [r.name, r.kind, ...figures(r)])) },
      { title: 'Chart', html: figure(svg, 'Share of the profiled step time.') },
    ],
    argv: input.argv,
  });
}
