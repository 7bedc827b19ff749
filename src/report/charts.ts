// Charts for reports, rendered in Node without a browser: each chart is a Vega-Lite spec (built by a
// pure function from report data), compiled to Vega and drawn to an SVG string by Vega's headless
// View. The SVGs carry no timestamps, and the ids Vega numbers from a process-wide counter (clip
// paths, gradients) are renamed per chart, so the same data gives the same bytes in any process and
// several charts can be inlined in one HTML page without their ids colliding.
//
// Vega and Vega-Lite are imported on first render, not at module load: every `lastmile` command
// loads this module through the CLI, and most never draw a chart (the import costs ~0.2 s).
import type { Config, TopLevelSpec } from 'vega-lite';
import type { Field, PositionFieldDef } from 'vega-lite/types_unstable/channeldef.js';
import type { LayerSpec } from 'vega-lite/types_unstable/spec/index.js';
import { importOptional, MissingPackageError } from '../util/optional-package.js';
import type { LayerMemory } from './memory.js';

/** Colours used across charts, so a method keeps its colour from one chart to the next. */
export const COLORS = {
  zeroShot: '#9a9a9a',
  ff: '#2f6db3',
  bp: '#e07b28',
  fits: '#4c8a5b',
  over: '#c8423b',
  budget: '#b3261e',
  peak: '#333333',
} as const;

const WITHIN = 'within budget';
const OVER = 'over budget';

type Position = PositionFieldDef<Field>;
type Panel = LayerSpec<Field>;

const CONFIG: Config = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif',
  background: 'white',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6', domainColor: '#888', tickColor: '#888' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
  title: { fontSize: 14, fontWeight: 'bold', anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555', offset: 10 },
  concat: { spacing: 28 },
};

const kibOf = (bytes: number): number => bytes / 1024;
/** "50.4 KiB" / "1.00 MiB": the CLI's units, so a chart and the table beside it read the same. */
export const formatKib = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

// ---------------------------------------------------------------------------------------------
// (a) Loss curves

export interface LossCurveData {
  /** QZO-FF loss per step (nats per sample). */
  ff: readonly number[];
  /** Backprop loss per step; empty when the baseline was skipped. */
  bp: readonly number[];
  ffLabel?: string;
  bpLabel?: string;
}

/** Trailing mean over `window` points: QZO-FF's per-step loss is noisy, the trend is what matters. */
export function trailingMean(values: readonly number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    if (i >= window) sum -= values[i - window]!;
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

/** The two methods take different numbers of steps, so x is each run's own progress (% of its steps). */
export function lossCurveSpec(d: LossCurveData): TopLevelSpec {
  const ffLabel = d.ffLabel ?? 'QZO-FF';
  const bpLabel = d.bpLabel ?? 'f32 backprop';
  const rows: { method: string; step: number; progress: number; loss: number; trend: number }[] = [];
  const windows: string[] = [];
  const series: [string, readonly number[]][] = [[ffLabel, d.ff], [bpLabel, d.bp]];
  const domain: string[] = [];
  const range: string[] = [];
  for (const [i, [label, raw]] of series.entries()) {
    // Non-finite losses (a diverged run) cannot be drawn; they are dropped, not faked.
    const values = raw.filter((v) => Number.isFinite(v));
    if (values.length === 0) continue;
    const window = Math.max(1, Math.ceil(values.length / 40));
    const trend = trailingMean(values, window);
    const name = `${label} (${values.length} steps)`;
    domain.push(name);
    range.push(i === 0 ? COLORS.ff : COLORS.bp);
    if (window > 1) windows.push(`${label}: mean of last ${window} steps`);
    values.forEach((loss, s) => rows.push({ method: name, step: s + 1, progress: (100 * (s + 1)) / values.length, loss, trend: trend[s]! }));
  }
  const x: Position = { field: 'progress', type: 'quantitative', scale: { domain: [0, 100] }, title: "training progress (% of each method's own steps)" };
  return {
    description: 'Training loss per step for QZO-FF and f32 backprop',
    title: { text: 'Training loss', subtitle: windows.length ? `faint: loss at every step; bold: trailing mean (${windows.join('; ')})` : 'loss at every step' },
    config: CONFIG,
    width: 560,
    height: 240,
    data: { values: rows },
    layer: [
      {
        name: 'loss_raw',
        mark: { type: 'line', strokeWidth: 1, opacity: 0.35 },
        encoding: { x, y: { field: 'loss', type: 'quantitative', scale: { zero: false }, title: 'loss (nats per sample)' }, color: { field: 'method', type: 'nominal', scale: { domain, range }, legend: { title: null, orient: 'top', direction: 'vertical', labelLimit: 400, symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2.5 } } },
      },
      { name: 'loss_trend', mark: { type: 'line', strokeWidth: 2.2 }, encoding: { x, y: { field: 'trend', type: 'quantitative' }, color: { field: 'method', type: 'nominal' } } },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// (b) Accuracy bars

export interface AccuracyData {
  zeroShot: number;
  after: number;
  /** f32 backprop accuracy, or null when the baseline was skipped. */
  bp: number | null;
  afterLabel?: string;
  bpLabel?: string;
  /** Images the accuracies were measured on (for the subtitle). */
  count?: number;
}

export function accuracySpec(d: AccuracyData): TopLevelSpec {
  const bars = [
    { what: 'zero-shot', accuracy: d.zeroShot, color: COLORS.zeroShot },
    { what: d.afterLabel ?? 'after QZO-FF', accuracy: d.after, color: COLORS.ff },
    ...(d.bp === null ? [] : [{ what: d.bpLabel ?? 'f32 backprop', accuracy: d.bp, color: COLORS.bp }]),
  ].map((b) => ({ ...b, text: `${b.accuracy.toFixed(1)}%` }));
  const x: Position = { field: 'what', type: 'nominal', sort: null, title: null, axis: { labelAngle: 0, labelLimit: 170 } };
  const subtitle = [
    d.count === undefined ? 'top-1' : `top-1 on ${d.count} held-out query images`,
    'zero-shot = prototype head on the pre-trained backbone',
    d.bp === null ? 'f32 backprop baseline skipped' : null,
  ].filter((s) => s !== null).join(' · ');
  return {
    description: 'Top-1 accuracy before adaptation, after QZO-FF and with f32 backprop',
    title: { text: 'Accuracy', subtitle },
    config: CONFIG,
    width: { step: 170 },
    height: 220,
    data: { values: bars },
    layer: [
      {
        name: 'accuracy_bars',
        mark: { type: 'bar', width: { band: 0.6 } },
        encoding: { x, y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 100] }, title: 'top-1 accuracy (%)' }, color: { field: 'color', type: 'nominal', scale: null, legend: null } },
      },
      { name: 'accuracy_labels', mark: { type: 'text', dy: -7, fontSize: 12 }, encoding: { x, y: { field: 'accuracy', type: 'quantitative' }, text: { field: 'text' } } },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// (c) Memory per mode against the device budget

export interface ModeMemoryBar {
  label: string;
  sramPeak: number;
  flash: number;
}

export interface DeviceBudget {
  name: string;
  sramBytes: number;
  flashBytes: number;
}

function regionPanel(region: 'sram' | 'flash', modes: readonly ModeMemoryBar[], budgetBytes: number, deviceName: string): Panel {
  const title = region === 'sram' ? 'SRAM peak' : 'flash';
  const rows = modes.map((m) => {
    const bytes = region === 'sram' ? m.sramPeak : m.flash;
    return { mode: m.label, kib: kibOf(bytes), text: formatKib(bytes), status: bytes <= budgetBytes ? WITHIN : OVER };
  });
  const top = Math.max(kibOf(budgetBytes), ...rows.map((r) => r.kib)) * 1.15;
  const y: Position = { field: 'kib', type: 'quantitative', scale: { domain: [0, top], nice: false }, title: `${title} (KiB)` };
  const x: Position = { field: 'mode', type: 'nominal', sort: null, title: null, axis: { labelAngle: 0, labelLimit: 200 } };
  return {
    title: { text: title, subtitle: `budget ${formatKib(budgetBytes)}` },
    width: { step: 150 },
    height: 220,
    layer: [
      {
        name: `${region}_bars`,
        data: { values: rows },
        mark: { type: 'bar', width: { band: 0.6 } },
        encoding: { x, y, color: { field: 'status', type: 'nominal', scale: { domain: [WITHIN, OVER], range: [COLORS.fits, COLORS.over] }, legend: { title: null, orient: 'top' } } },
      },
      { name: `${region}_labels`, data: { values: rows }, mark: { type: 'text', dy: -7, fontSize: 11 }, encoding: { x, y, text: { field: 'text' } } },
      {
        data: { values: [{ kib: kibOf(budgetBytes), text: `${deviceName} ${region === 'sram' ? 'SRAM' : 'flash'} budget ${formatKib(budgetBytes)}` }] },
        layer: [
          { name: `${region}_budget_rule`, mark: { type: 'rule', color: COLORS.budget, strokeWidth: 2, strokeDash: [6, 3] }, encoding: { y: { field: 'kib', type: 'quantitative' } } },
          { name: `${region}_budget_label`, mark: { type: 'text', color: COLORS.budget, align: 'left', x: 2, dy: -7, fontSize: 10 }, encoding: { y: { field: 'kib', type: 'quantitative' }, text: { field: 'text' } } },
        ],
      },
    ],
  };
}

/** One bar per mode for SRAM peak and for flash, each with the device's budget drawn as a rule. */
export function memoryModesSpec(modes: readonly ModeMemoryBar[], budget: DeviceBudget): TopLevelSpec {
  return {
    description: `SRAM peak and flash per mode against the ${budget.name} budget`,
    title: { text: `Memory per mode on ${budget.name}`, subtitle: 'planned peak bytes (the arena high-water mark equals the plan); dashed line: device budget' },
    config: CONFIG,
    hconcat: [regionPanel('sram', modes, budget.sramBytes, budget.name), regionPanel('flash', modes, budget.flashBytes, budget.name)],
    resolve: { scale: { color: 'shared', y: 'independent' } },
  };
}

// ---------------------------------------------------------------------------------------------
// (d) SRAM per layer, stacked by buffer kind

export interface ModeLayers {
  label: string;
  sramPeak: number;
  perLayer: readonly LayerMemory[];
}

/** Buffer-kind prefixes of the planner's names (see report/memory.ts), in words. */
const KIND_LABELS: Record<string, string> = {
  act: 'activations',
  io: 'input / logits',
  w: 'weights',
  b: 'bias',
  rq: 'requant constants',
  scratch: 'kernel scratch',
  'scratch-fwd': 'kernel scratch',
  'scratch-bwd': 'kernel scratch (backward)',
  extra: 'trainer buffers',
  grad: 'activation gradients',
  dw: 'weight gradients',
  db: 'bias gradients',
  state0: 'optimizer state',
  state1: 'optimizer state',
};

/** A fixed colour per buffer kind, so 'weights' looks the same in every panel and every report. */
const KIND_COLORS: Record<string, string> = {
  activations: '#f28e2b',
  'input / logits': '#59a14f',
  'kernel scratch': '#edc948',
  'kernel scratch (backward)': '#b07aa1',
  weights: '#4e79a7',
  bias: '#76b7b2',
  'requant constants': '#9c755f',
  'trainer buffers': '#bab0ac',
  'activation gradients': '#e15759',
  'weight gradients': '#ff9da7',
  'bias gradients': '#d4a6c8',
  'optimizer state': '#499894',
};
const SPARE_COLORS = ['#86bcb6', '#f1ce63', '#d37295', '#a0cbe8', '#ffbe7d', '#8cd17d'];

/**
 * Rows of the per-layer chart. Buffers named with more than one prefix ('state0:w:conv1' for
 * optimizer state, 'extra:zo-panel:w:conv1' for a trainer panel) are filed by the memory report
 * under 'w:conv1' or 'zo-panel:w:conv1'; they are folded back into conv1 here, where a reader looks.
 */
export function perLayerRows(perLayer: readonly LayerMemory[]): { layer: string; kind: string; bytes: number }[] {
  const known = new Set(perLayer.map((l) => l.layer));
  const owner = (name: string): string => {
    for (let i = name.indexOf(':'); i >= 0; i = name.indexOf(':', i + 1)) if (known.has(name.slice(i + 1))) return name.slice(i + 1);
    return name;
  };
  const sums = new Map<string, { layer: string; kind: string; bytes: number }>();
  for (const l of perLayer) {
    const layer = owner(l.layer);
    for (const [kind, bytes] of Object.entries(l.sram)) {
      if (!(bytes > 0)) continue;
      const label = KIND_LABELS[kind] ?? kind;
      const key = `${layer}\u0000${label}`;
      const e = sums.get(key) ?? { layer, kind: label, bytes: 0 };
      e.bytes += bytes;
      sums.set(key, e);
    }
  }
  return [...sums.values()];
}

/** One panel per mode: SRAM bytes owned by each layer's buffers, the device budget and the planned peak. */
export function perLayerSpec(modes: readonly ModeLayers[], budget: DeviceBudget): TopLevelSpec {
  const rowsByMode = modes.map((m) => perLayerRows(m.perLayer).map((r) => ({ ...r, kib: kibOf(r.bytes) })));
  // Only the kinds present get a legend entry; their colours come from the fixed table.
  const kinds = [...new Set(rowsByMode.flat().map((r) => r.kind))];
  const range = kinds.map((k, i) => KIND_COLORS[k] ?? SPARE_COLORS[i % SPARE_COLORS.length]!);
  const panels = modes.map((m, i): Panel => {
    const rows = rowsByMode[i]!;
    const order = [...new Set(rows.map((r) => r.layer))];
    const widest = Math.max(0, ...order.map((layer) => rows.filter((r) => r.layer === layer).reduce((s, r) => s + r.kib, 0)));
    const top = Math.max(kibOf(budget.sramBytes), kibOf(m.sramPeak), widest) * 1.04;
    const x: Position = { field: 'kib', type: 'quantitative', scale: { domain: [0, top], nice: false }, title: 'SRAM (KiB)' };
    return {
      title: { text: m.label, subtitle: `planned peak ${formatKib(m.sramPeak)} of ${formatKib(budget.sramBytes)}; buffers with disjoint lifetimes share bytes, so the bars can add up to more than the peak` },
      width: 560,
      height: { step: 16 },
      layer: [
        {
          name: `mode${i}_layers`,
          data: { values: rows },
          mark: { type: 'bar', height: { band: 0.75 } },
          encoding: {
            y: { field: 'layer', type: 'nominal', sort: order, title: null, axis: { labelLimit: 160 } },
            x: { ...x, stack: 'zero' },
            color: { field: 'kind', type: 'nominal', scale: { domain: kinds, range }, legend: { title: 'buffer kind', orient: 'top', columns: 4, labelLimit: 220 } },
            order: { field: 'kind', type: 'ordinal' },
          },
        },
        {
          data: { values: [{ kib: kibOf(budget.sramBytes), text: `${budget.name} SRAM budget ${formatKib(budget.sramBytes)}` }] },
          layer: [
            { name: `mode${i}_budget_rule`, mark: { type: 'rule', color: COLORS.budget, strokeWidth: 2, strokeDash: [6, 3] }, encoding: { x } },
            { name: `mode${i}_budget_label`, mark: { type: 'text', color: COLORS.budget, align: 'right', baseline: 'top', dx: -3, y: 2, fontSize: 10 }, encoding: { x, text: { field: 'text' } } },
          ],
        },
        {
          data: { values: [{ kib: kibOf(m.sramPeak), text: `peak ${formatKib(m.sramPeak)}` }] },
          layer: [
            { name: `mode${i}_peak_rule`, mark: { type: 'rule', color: COLORS.peak, strokeWidth: 1.5, strokeDash: [2, 2] }, encoding: { x } },
            { name: `mode${i}_peak_label`, mark: { type: 'text', color: COLORS.peak, align: 'left', baseline: 'bottom', dx: 3, y: { expr: 'height' }, dy: -2, fontSize: 10 }, encoding: { x, text: { field: 'text' } } },
          ],
        },
      ],
    };
  });
  return {
    description: `SRAM per layer and buffer kind against the ${budget.name} budget`,
    title: { text: `SRAM per layer on ${budget.name}`, subtitle: 'bytes of each layer\u2019s buffers by kind; red dashed: device budget; black dotted: planned peak' },
    config: CONFIG,
    vconcat: panels,
    resolve: { scale: { color: 'shared', x: 'independent', y: 'independent' } },
  };
}

// ---------------------------------------------------------------------------------------------
// Kernel profile

export interface ProfileBar {
  name: string;
  ms: number;
  /** Percent of the measured step time. */
  share: number;
}

/** Share of the QZO-FF step by kernel kind and by layer (or host-side step such as the update). */
export function profileSpec(byKind: readonly ProfileBar[], byLayer: readonly ProfileBar[], subtitle = ''): TopLevelSpec {
  const panel = (name: string, title: string, bars: readonly ProfileBar[]): Panel => {
    const rows = bars.map((b) => ({ ...b, text: `${b.share.toFixed(1)}% \u00b7 ${b.ms.toFixed(1)} ms` }));
    const top = Math.max(1, ...rows.map((r) => r.share)) * 1.3;
    const y: Position = { field: 'name', type: 'nominal', sort: rows.map((r) => r.name), title: null, axis: { labelLimit: 180 } };
    const x: Position = { field: 'share', type: 'quantitative', scale: { domain: [0, top], nice: false }, title: '% of the step' };
    return {
      title: { text: title },
      width: 460,
      height: { step: 18 },
      data: { values: rows },
      layer: [
        { name: `${name}_bars`, mark: { type: 'bar', color: COLORS.ff, height: { band: 0.75 } }, encoding: { x, y } },
        { name: `${name}_labels`, mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 }, encoding: { x, y, text: { field: 'text' } } },
      ],
    };
  };
  return {
    description: 'Share of the QZO-FF step time by kernel kind and by layer',
    title: { text: 'Where a QZO-FF step goes', subtitle },
    config: CONFIG,
    vconcat: [panel('kind', 'by kernel kind', byKind), panel('layer', 'by layer and step phase', byLayer)],
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering

type Engine = { vega: typeof import('vega'); vegaLite: typeof import('vega-lite') };
let engine: Promise<Engine> | undefined;

function loadEngine(): Promise<Engine> {
  engine ??= Promise.all([
    importOptional('vega', 'Drawing charts', () => import('vega')),
    importOptional('vega-lite', 'Drawing charts', () => import('vega-lite')),
  ]).then(([vega, vegaLite]) => ({ vega, vegaLite }));
  engine.catch(() => (engine = undefined));
  return engine;
}

/**
 * Rename every id the SVG defines (and each reference to it) to `${prefix}-${n}` in order of first
 * appearance, replacing Vega's process-wide counters (clip1, clip7, …) by names fixed by the chart.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, '-') || 'chart';
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!ids.has(m[1]!)) ids.set(m[1]!, `${safe}-${ids.size + 1}`);
  if (ids.size === 0) return svg;
  return svg.replace(/(\sid="|url\(#|href="#)([^")]+)/g, (whole, lead: string, id: string) => {
    const to = ids.get(id);
    return to === undefined ? whole : `${lead}${to}`;
  });
}

export interface RenderedChart {
  /** A standalone SVG document. */
  svg: string;
  /** Warnings Vega-Lite and Vega raised while compiling and drawing (tests hold these empty). */
  warnings: string[];
}

/**
 * Compile a Vega-Lite spec and draw it to an SVG string (no browser, no canvas). Warnings are
 * collected rather than printed: the specs are ours, so a warning is a chart bug for the tests to
 * catch, not something to put in the middle of a command's output.
 */
export async function renderChart(spec: TopLevelSpec, idPrefix: string): Promise<RenderedChart> {
  const { vega, vegaLite } = await loadEngine();
  const warnings: string[] = [];
  const logger = vega.logger(vega.Warn, undefined, (_method, level, args) => {
    warnings.push(`${level} ${args.map(String).join(' ')}`);
  });
  const view = new vega.View(vega.parse(vegaLite.compile(spec, { logger }).spec), { renderer: 'none', logger });
  try {
    return { svg: scopeSvgIds(await view.toSVG(), idPrefix), warnings };
  } finally {
    view.finalize();
  }
}

/**
 * renderChart's SVG; without the optional chart packages, a small SVG that says which to install,
 * so a report page is still written (its tables carry every number the charts show).
 */
export async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  try {
    return (await renderChart(spec, idPrefix)).svg;
  } catch (e) {
    if (!(e instanceof MissingPackageError)) throw e;
    const text = `Chart not drawn: install the optional packages vega and vega-lite (npm install vega vega-lite).`;
    return `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="40" role="img"><text x="8" y="24" font-family="sans-serif" font-size="13">${text}</text></svg>`;
  }
}

export const lossCurveChart = (d: LossCurveData): Promise<string> => renderSvg(lossCurveSpec(d), 'loss');
export const accuracyChart = (d: AccuracyData): Promise<string> => renderSvg(accuracySpec(d), 'accuracy');
export const memoryModesChart = (modes: readonly ModeMemoryBar[], budget: DeviceBudget): Promise<string> => renderSvg(memoryModesSpec(modes, budget), 'memory');
export const perLayerChart = (modes: readonly ModeLayers[], budget: DeviceBudget): Promise<string> => renderSvg(perLayerSpec(modes, budget), 'layers');
export const profileChart = (byKind: readonly ProfileBar[], byLayer: readonly ProfileBar[], subtitle?: string): Promise<string> =>
  renderSvg(profileSpec(byKind, byLayer, subtitle), 'profile');
