// The JSON envelope every end-to-end suite writes: what ran, on what, with which versions, and the
// per-configuration medians. The report generator (bench/report.ts) reads nothing else.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/util/package-root.js';
import { describeMachine, type MachineInfo } from './machine.js';
import type { Timing } from './timing.js';

export type SuiteName = 'inference' | 'overhead' | 'training' | 'memory' | 'tta';

export interface SuiteReport<R = Record<string, unknown>> {
  suite: SuiteName;
  machine: MachineInfo;
  versions: Record<string, string>;
  quick: boolean;
  /** The command that produced the file. */
  command: string;
  config: Record<string, unknown>;
  results: R[];
}

const PACKAGES = ['onnxruntime-web', 'onnxruntime-node', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'benchmark'] as const;

export function versions(): Record<string, string> {
  const root = packageRoot();
  const read = (dir: string) => {
    try {
      return String((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown');
    } catch {
      return 'unknown';
    }
  };
  const out: Record<string, string> = { lastmile: read(root), node: process.version, v8: process.versions.v8 };
  for (const p of PACKAGES) out[p] = read(path.join(root, 'node_modules', p));
  return out;
}

export function suiteReport<R>(suite: SuiteName, quick: boolean, script: string, config: Record<string, unknown>, results: R[], timing?: Timing): SuiteReport<R> {
  return {
    suite, machine: describeMachine(), versions: versions(), quick,
    command: `npm run ${script}${quick ? ' -- --quick' : ''}`,
    config: timing ? { ...config, timing } : config,
    results,
  };
}

/** Fixed-width text table: first column left-aligned, the rest right-aligned. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
export const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '-');
export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)}`;

/** Cells for the time-to-target columns: step, wall s, G MACs, nRF52840 estimate. */
export function toTargetCells(t: { step: number; wallMs: number; macs: number | null; nrf52840Ms: number | null } | null | undefined): string[] {
  if (t === undefined) return ['-', '-', '-', '-'];
  if (t === null) return ['not reached', '-', '-', '-'];
  const est = t.nrf52840Ms === null ? '-' : t.nrf52840Ms >= 60_000 ? `${(t.nrf52840Ms / 60_000).toFixed(1)} min` : `${(t.nrf52840Ms / 1000).toFixed(1)} s`;
  return [String(t.step), (t.wallMs / 1000).toFixed(2), t.macs === null ? '-' : (t.macs / 1e9).toFixed(2), est];
}
