// Vega-Lite specs for docs/BENCHMARKS.md, one pure function per chart, rendered to SVG by the
// project's helper (src/report/charts.ts renderChart). Colours follow src/report/charts.ts COLORS:
// lastmile QZO-FF blue, backprop orange; the peers get neutral greys and a green.
import type { TopLevelSpec } from 'vega-lite';
import { COLORS } from '../src/report/charts.js';
import type { BenchResults } from './targets.js';

export interface ChartSpec {
  /** File name under docs/bench/. */
  file: string;
  title: string;
  spec: TopLevelSpec;
}

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif',
  background: 'white',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'top' as const, labelLimit: 300 },
  title: { fontSize: 14, anchor: 'start' as const, subtitleFontSize: 11, subtitleColor: '#555' },
};

const PEER = { ours: COLORS.ff, bp: COLORS.bp, web: '#7f7f7f', node: '#4c8a5b', tfjs: '#b07aa1', m3: '#8fb3de' };

function groupedBars(o: { title: string; subtitle: string; rows: Record<string, unknown>[]; y: string; x: string; xTitle: string; color: string; domain: string[]; range: string[]; log?: boolean; rule?: number }): TopLevelSpec {
  // A bar on a log axis cannot start at zero: it starts at the power of ten below the smallest value.
  const values = o.rows.map((r) => Number(r[o.x])).filter((v) => v > 0);
  const floor = 10 ** Math.floor(Math.log10(Math.min(...values, o.rule ?? Infinity)));
  const bars = {
    mark: { type: 'bar' as const },
    encoding: {
      y: { field: o.y, type: 'nominal' as const, title: null, sort: null, axis: { labelLimit: 320 } },
      yOffset: { field: o.color, type: 'nominal' as const, sort: o.domain },
      x: { field: o.x, type: 'quantitative' as const, title: o.xTitle, ...(o.log ? { scale: { type: 'log' as const, domainMin: floor } } : {}) },
      ...(o.log ? { x2: { datum: floor } } : {}),
      color: { field: o.color, type: 'nominal' as const, title: null, scale: { domain: o.domain, range: o.range } },
      tooltip: [{ field: o.y, type: 'nominal' as const }, { field: o.color, type: 'nominal' as const }, { field: o.x, type: 'quantitative' as const }],
    },
  };
  const layer = o.rule === undefined ? [bars] : [bars, { data: { values: [{ v: o.rule }] }, mark: { type: 'rule' as const, color: COLORS.budget, strokeDash: [4, 3] }, encoding: { x: { field: 'v', type: 'quantitative' as const } } }];
  return { title: { text: o.title, subtitle: o.subtitle }, config: CONFIG, width: 520, data: { values: o.rows }, layer } as TopLevelSpec;
}

export function kernelsChart(r: BenchResults): ChartSpec | null {
  if (!r.kernels) return null;
  const rows = r.kernels.results.filter((x) => x.kernel.endsWith('w8a8') && (x.impl === 'simd' || x.impl === 'ort-web')).map((x) => ({ layer: `${x.kernel} ${x.shape}`, impl: x.impl === 'simd' ? 'lastmile simd' : 'onnxruntime-web', gmacs: x.gmacs }));
  return {
    file: 'kernels.svg', title: 'Kernel throughput, w8a8',
    spec: groupedBars({ title: 'Kernel throughput (w8a8)', subtitle: 'GMAC/s, median; MLPerf Tiny layer shapes; log scale', rows, y: 'layer', x: 'gmacs', xTitle: 'GMAC/s', color: 'impl', domain: ['lastmile simd', 'onnxruntime-web'], range: [PEER.ours, PEER.web], log: true }),
  };
}

const IMPL_LABEL: Record<string, string> = { 'lastmile-simd': 'lastmile simd', 'ort-web': 'onnxruntime-web (wasm)', 'ort-node': 'onnxruntime-node (native)' };

export function inferenceChart(r: BenchResults): ChartSpec | null {
  if (!r.inference) return null;
  const rows = r.inference.results.map((x) => ({ config: `${x.model}, batch ${x.batch}`, impl: IMPL_LABEL[x.impl] ?? x.impl, msPerSample: x.msPerSample }));
  return {
    file: 'inference.svg', title: 'Inference latency per sample',
    spec: groupedBars({ title: 'Inference latency per sample', subtitle: 'ms per sample (median), 1 thread each; same model as ONNX QDQ int8 for ORT; log scale', rows, y: 'config', x: 'msPerSample', xTitle: 'ms per sample', color: 'impl', domain: Object.values(IMPL_LABEL), range: [PEER.ours, PEER.web, PEER.node], log: true }),
  };
}

export function overheadChart(r: BenchResults): ChartSpec | null {
  if (!r.overhead) return null;
  const rows = r.overhead.results.map((x) => ({ config: `${x.model} ${x.selection}`, m: `m = ${x.m}`, ratio: x.ratio }));
  return {
    file: 'overhead.svg', title: 'QZO-FF step overhead',
    spec: groupedBars({ title: 'QZO-FF step time / (2m × inference)', subtitle: `batch ${String(r.overhead.config.batch)}; 1.0 is the limit, dashed line the ${String(r.overhead.config.target)} target; log scale`, rows, y: 'config', x: 'ratio', xTitle: 'step / (2m × forward)', color: 'm', domain: ['m = 1', 'm = 3'], range: [PEER.ours, PEER.m3], log: true, rule: Number(r.overhead.config.target) }),
  };
}

const TRAIN_LABEL: Record<string, string> = { tfjs: 'TF.js backprop', 'qzo-ff-m1': 'QZO-FF m = 1', 'qzo-ff-m3': 'QZO-FF m = 3', 'qzo-ff-m1-prefix': 'QZO-FF m = 1, prefix reused', 'qzo-ff-m3-prefix': 'QZO-FF m = 3, prefix reused', 'qzo-ff-m3-prefix-zbuf': 'QZO-FF m = 3, prefix reused, z buffers', 'lastmile-bp': 'lastmile f32 backprop' };

export function trainingChart(r: BenchResults): ChartSpec | null {
  if (!r.training) return null;
  const rows = r.training.results.filter((x) => x.stepMs !== null).map((x) => ({ config: `${x.model} ${x.selection}${x.impl === 'tfjs' && x.backend === 'tfjs-cpu' ? ' (TF.js cpu)' : ''}`, impl: TRAIN_LABEL[x.impl] ?? x.impl, stepMs: x.stepMs }));
  // Keep one y label per configuration: the TF.js cpu marker goes on every row of that configuration.
  const cpu = new Set(r.training.results.filter((x) => x.backend === 'tfjs-cpu').map((x) => `${x.model} ${x.selection}`));
  for (const row of rows) {
    const base = String(row.config).replace(' (TF.js cpu)', '');
    row.config = cpu.has(base) ? `${base} (TF.js cpu)` : base;
  }
  return {
    file: 'training.svg', title: 'Training step time',
    spec: groupedBars({ title: 'Training step time', subtitle: `batch ${String(r.training.config.batch)}, ms per step (median); TF.js on wasm unless marked cpu; log scale`, rows, y: 'config', x: 'stepMs', xTitle: 'ms per step', color: 'impl', domain: Object.values(TRAIN_LABEL), range: [PEER.tfjs, PEER.ours, PEER.m3, PEER.bp], log: true }),
  };
}

export function memoryChart(r: BenchResults): ChartSpec | null {
  if (!r.memory) return null;
  const rows = r.memory.results.flatMap((x) => [
    { config: `${x.model} ${x.selection}`, mode: 'inference', kib: x.infer / 1024 },
    { config: `${x.model} ${x.selection}`, mode: 'QZO-FF', kib: x.ff / 1024 },
    { config: `${x.model} ${x.selection}`, mode: 'backprop f32', kib: x.bp / 1024 },
  ]);
  const device = r.memory.config.device as { name: string; sramBytes: number };
  const spec = groupedBars({ title: 'Peak SRAM by mode', subtitle: `batch ${String(r.memory.config.batch)}; dashed line: ${device.name} SRAM (${device.sramBytes / 1024} KiB); log scale`, rows, y: 'config', x: 'kib', xTitle: 'peak SRAM (KiB)', color: 'mode', domain: ['inference', 'QZO-FF', 'backprop f32'], range: ['#9a9a9a', PEER.ours, PEER.bp], log: true, rule: device.sramBytes / 1024 });
  return { file: 'memory.svg', title: 'Peak SRAM', spec };
}

export function ttaChart(r: BenchResults): ChartSpec | null {
  if (!r.tta) return null;
  const rows = r.tta.results.flatMap((x) => x.points.map((p) => ({ method: x.label, seconds: p.wallMs / 1000, accuracy: p.accuracy, step: p.step })));
  const spec = {
    title: { text: 'Time to accuracy (npm start task)', subtitle: 'query accuracy vs wall-clock seconds spent in training steps' },
    config: CONFIG, width: 520, height: 260, data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'seconds', type: 'quantitative', title: 'training wall-clock (s)' },
      y: { field: 'accuracy', type: 'quantitative', title: 'query accuracy (%)', scale: { zero: false } },
      color: { field: 'method', type: 'nominal', title: null, scale: { range: [PEER.ours, PEER.bp] } },
      tooltip: [{ field: 'method', type: 'nominal' }, { field: 'step', type: 'quantitative' }, { field: 'seconds', type: 'quantitative' }, { field: 'accuracy', type: 'quantitative' }],
    },
  } as TopLevelSpec;
  return { file: 'time-to-accuracy.svg', title: 'Time to accuracy', spec };
}

export function chartSpecs(r: BenchResults): ChartSpec[] {
  return [kernelsChart(r), inferenceChart(r), overheadChart(r), trainingChart(r), memoryChart(r), ttaChart(r)].filter((c): c is ChartSpec => c !== null);
}
