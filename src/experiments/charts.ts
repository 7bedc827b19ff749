// Vega-Lite specs for docs/RESULTS.md, drawn to SVG by the report's renderer (src/report/charts.ts).
// Pure functions of the result JSON, so the same results give the same bytes.
import type { TopLevelSpec } from 'vega-lite';
import { renderChart, trailingMean } from '../report/charts.js';

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif',
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: 'normal', gridColor: '#e6e6e6', domainColor: '#888', tickColor: '#888' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal', labelLimit: 360 },
  header: { labelFontSize: 11, titleFontSize: 11 },
  title: { fontSize: 14, fontWeight: 'bold', anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555', offset: 10 },
};

/** A method keeps its colour in every chart. */
const PALETTE = ['#9a9a9a', '#e07b28', '#7b5ea7', '#2f6db3', '#c8423b', '#4c8a5b', '#b58900', '#17becf', '#8c564b', '#e377c2', '#1f1f1f', '#6baed6', '#fd8d3c', '#74c476'];

export interface BarRow {
  panel: string;
  setting: string;
  method: string;
  mean: number;
  ci: number;
}

/** Mean ± 95% CI bars, one colour per method, faceted by panel (rows) and setting (columns). */
export function barsSpec(title: string, subtitle: string, rows: readonly BarRow[], methods: readonly string[]): TopLevelSpec {
  const values = rows.map((r) => ({ ...r, lo: r.mean - r.ci, hi: r.mean + r.ci }));
  const color = { field: 'method', type: 'nominal', scale: { domain: methods, range: PALETTE.slice(0, methods.length) }, legend: { title: null, orient: 'bottom', columns: 3 } };
  const x = { field: 'method', type: 'nominal', sort: methods, axis: null };
  return {
    title: { text: title, subtitle },
    config: CONFIG,
    data: { values },
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: null }, column: { field: 'setting', type: 'nominal', title: null, sort: null } },
    spec: {
      width: 170,
      height: 130,
      layer: [
        { mark: { type: 'bar' }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'accuracy (%)', scale: { domain: [0, 100] } }, color } },
        { mark: { type: 'rule', color: '#222' }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      ],
    },
  } as unknown as TopLevelSpec;
}

export interface LineRow {
  panel: string;
  series: string;
  x: number;
  y: number;
}

/** Lines per series, faceted by panel (columns). */
export function linesSpec(title: string, subtitle: string, rows: readonly LineRow[], series: readonly string[], axes: { x: string; y: string; yDomain?: [number, number]; xLog?: boolean; points?: boolean }): TopLevelSpec {
  return {
    title: { text: title, subtitle },
    config: CONFIG,
    data: { values: rows },
    facet: { column: { field: 'panel', type: 'nominal', title: null, sort: null } },
    spec: {
      width: 300,
      height: 200,
      mark: { type: 'line', strokeWidth: 1.8, point: axes.points ?? false },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: axes.x, ...(axes.xLog ? { scale: { type: 'symlog' } } : {}) },
        y: { field: 'y', type: 'quantitative', title: axes.y, scale: axes.yDomain ? { domain: axes.yDomain } : { zero: false } },
        color: { field: 'series', type: 'nominal', scale: { domain: series, range: PALETTE.slice(0, series.length) }, legend: { title: null, orient: 'bottom', columns: 2 } },
      },
    },
  } as unknown as TopLevelSpec;
}

export interface HBarRow {
  label: string;
  mean: number;
  ci: number;
  group: string;
}

/** Horizontal mean ± CI bars in the given order, coloured by group. */
export function hbarsSpec(title: string, subtitle: string, rows: readonly HBarRow[], groups: readonly string[]): TopLevelSpec {
  const values = rows.map((r) => ({ ...r, lo: r.mean - r.ci, hi: r.mean + r.ci, text: r.mean.toFixed(1) }));
  const y = { field: 'label', type: 'nominal', sort: rows.map((r) => r.label), title: null, axis: { labelLimit: 480 } };
  return {
    title: { text: title, subtitle },
    config: CONFIG,
    data: { values },
    width: 380,
    height: { step: 20 },
    layer: [
      { mark: 'bar', encoding: { y, x: { field: 'mean', type: 'quantitative', title: 'query accuracy (%)', scale: { domain: [0, 100] } }, color: { field: 'group', type: 'nominal', scale: { domain: groups, range: ['#9a9a9a', '#2f6db3', '#4c8a5b'] }, legend: { title: null, orient: 'bottom' } } } },
      { mark: { type: 'rule', color: '#222' }, encoding: { y, x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } } },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 }, encoding: { y, x: { field: 'hi', type: 'quantitative' }, text: { field: 'text' } } },
    ],
  } as unknown as TopLevelSpec;
}

export interface MemBarRow {
  panel: string;
  mode: string;
  kib: number;
}

/** SRAM per mode on a log axis, one row of bars per backbone. */
export function memorySpec(title: string, subtitle: string, rows: readonly MemBarRow[], modes: readonly string[]): TopLevelSpec {
  // A log axis cannot start at 0: pin the domain to powers of two around the data.
  const lo = 2 ** Math.floor(Math.log2(Math.min(...rows.map((r) => r.kib))));
  const hi = 2 ** Math.ceil(Math.log2(Math.max(...rows.map((r) => r.kib)) * 1.6));
  const values = rows.map((r) => ({ ...r, text: r.kib >= 1024 ? `${(r.kib / 1024).toFixed(2)} MiB` : `${r.kib.toFixed(0)} KiB` }));
  const y = { field: 'mode', type: 'nominal', sort: modes, title: null, axis: { labelLimit: 220 } };
  return {
    title: { text: title, subtitle },
    config: CONFIG,
    data: { values },
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: null, header: { labelAngle: 0, labelAlign: 'left', labelLimit: 220 } } },
    spec: {
      width: 360,
      height: { step: 16 },
      layer: [
        { mark: 'bar', encoding: { y, x: { field: 'kib', type: 'quantitative', title: 'SRAM peak (KiB, log scale)', scale: { type: 'log', domain: [lo, hi] } }, color: { field: 'mode', type: 'nominal', scale: { domain: modes, range: PALETTE.slice(0, modes.length) }, legend: null } } },
        { mark: { type: 'text', align: 'left', dx: 3, fontSize: 9 }, encoding: { y, x: { field: 'kib', type: 'quantitative' }, text: { field: 'text' } } },
      ],
    },
  } as unknown as TopLevelSpec;
}

export { renderChart, trailingMean };
