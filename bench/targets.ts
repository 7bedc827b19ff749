// Issue #7's targets, evaluated from the suites' JSON. Every verdict carries the measured figure it
// was decided on; the target values themselves come from the JSON (each suite records the target it
// printed against), so the report and the suite output can never disagree.
import type { BenchReport as KernelsReport } from './kernels.bench.js';
import type { InferenceResult } from './inference.bench.js';
import type { MemoryResult } from './memory.bench.js';
import type { OverheadResult } from './overhead.bench.js';
import type { SuiteReport } from './suite.js';
import type { TrainingResult } from './training.bench.js';
import type { TtaResult } from './time-to-accuracy.bench.js';

export interface BenchResults {
  kernels?: KernelsReport;
  inference?: SuiteReport<InferenceResult>;
  overhead?: SuiteReport<OverheadResult>;
  training?: SuiteReport<TrainingResult>;
  memory?: SuiteReport<MemoryResult>;
  tta?: SuiteReport<TtaResult>;
}

export interface Verdict {
  id: 'kernels' | 'overhead' | 'training-speed' | 'ff-memory' | 'bp-over-ff';
  target: string;
  /** The headline figure (worst case over the configurations, and the median). */
  measured: string;
  met: boolean;
  passed: number;
  total: number;
  /** Configurations that miss, with their figure. */
  misses: string[];
}

/**
 * The kernel suite's own targets (docs/KERNELS.md, issue 21): simd ≥ 1.5× ort-web per shape, ≥ 42 GMAC/s on 256³. The dot16 loop
 * alone peaks near 44–46 GMAC/s on this machine (`bench/gemm-tune.ts --only limit`), so 42 leaves 5–8% for widening, requantization
 * and per-tile work; report.ts's kernels note gives the measured split.
 */
export const KERNEL_TARGET_VS_ORT = 1.5;
export const KERNEL_TARGET_GEMM_256 = 42;

const x2 = (v: number) => `${v.toFixed(2)}×`;
const med = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function verdict(id: Verdict['id'], target: string, rows: { label: string; value: number; ok: boolean; text: string }[], headline: (values: number[]) => string): Verdict {
  const misses = rows.filter((r) => !r.ok).map((r) => `${r.label}: ${r.text}`);
  return { id, target, measured: rows.length ? headline(rows.map((r) => r.value)) : 'not measured', met: rows.length > 0 && misses.length === 0, passed: rows.length - misses.length, total: rows.length, misses };
}

export function kernelVerdict(k: KernelsReport): Verdict {
  const rows = [];
  for (const r of k.results.filter((x) => x.impl === 'simd')) {
    const op = r.kernel.split('-')[0]!;
    const ort = k.results.find((x) => x.impl === 'ort-web' && x.shape === r.shape && x.kernel === `${op}-w8a8`);
    if (!ort) continue;
    const vs = r.gmacs / ort.gmacs;
    const gemm256 = r.kernel.startsWith('gemm') && r.shape === '256x256x256';
    const ok = vs >= KERNEL_TARGET_VS_ORT && (!gemm256 || r.gmacs >= KERNEL_TARGET_GEMM_256);
    rows.push({ label: `${r.kernel} ${r.shape}`, value: vs, ok, text: `${x2(vs)} ort-web${gemm256 ? `, ${r.gmacs} GMAC/s` : ''}` });
  }
  const g = k.results.find((x) => x.impl === 'simd' && x.kernel === 'gemm-w8a8' && x.shape === '256x256x256');
  return verdict('kernels', `kernels: simd ≥ ${KERNEL_TARGET_VS_ORT}× onnxruntime-web on every shape, ≥ ${KERNEL_TARGET_GEMM_256} GMAC/s on the 256³ w8a8 GEMM`, rows,
    (v) => `worst ${x2(Math.min(...v))}, median ${x2(med(v))} vs ort-web${g ? `; 256³ GEMM ${g.gmacs} GMAC/s` : ''}`);
}

export function overheadVerdict(o: SuiteReport<OverheadResult>): Verdict {
  const target = Number(o.config.target);
  const rows = o.results.map((r) => ({ label: `${r.model} ${r.selection} m=${r.m}`, value: r.ratio, ok: r.ratio <= target, text: x2(r.ratio) }));
  return verdict('overhead', `QZO-FF step ≤ ${target.toFixed(2)} × 2m × inference (same batch and selection)`, rows, (v) => `worst ${x2(Math.max(...v))}, median ${x2(med(v))}`);
}

export function trainingVerdict(t: SuiteReport<TrainingResult>): Verdict {
  const target = Number(t.config.target);
  const rows = [];
  for (const tf of t.results.filter((r) => r.impl === 'tfjs')) {
    // adapt's default configuration: the frozen prefix reused across the 2m passes wherever the
    // selection has frozen layers (the -prefix rows), the plain step elsewhere.
    const same = (impl: string) => t.results.find((r) => r.impl === impl && r.model === tf.model && r.selection === tf.selection);
    const ff = same('qzo-ff-m1-prefix') ?? same('qzo-ff-m1');
    if (!ff || tf.stepMs === null || ff.stepMs === null) continue;
    const speedup = tf.stepMs / ff.stepMs;
    rows.push({ label: `${tf.model} ${tf.selection} (${tf.backend})`, value: speedup, ok: speedup >= target, text: `${x2(speedup)} faster` });
  }
  return verdict('training-speed', `QZO-FF m = 1 step (adapt's default: frozen prefix reused) ≥ ${target}× faster than TF.js backprop`, rows, (v) => `worst ${x2(Math.min(...v))}, median ${x2(med(v))} faster`);
}

export function ffMemoryVerdict(m: SuiteReport<MemoryResult>): Verdict {
  const slack = Number(m.config.ffSlackBytes);
  const rows = m.results.map((r) => {
    const over = r.ff - r.ffLimit;
    return { label: `${r.model} ${r.selection}`, value: over, ok: over <= slack, text: `${over >= 0 ? '+' : ''}${over} B over the limit` };
  });
  return verdict('ff-memory', `QZO-FF peak SRAM ≤ inference peak + trainable parameters + ${slack} B, every preset and selection`, rows,
    (v) => `worst +${Math.max(...v)} B, median +${med(v)} B over the limit`);
}

export function bpOverFfVerdict(m: SuiteReport<MemoryResult>): Verdict {
  const target = Number(m.config.bpOverFfTarget);
  const rows = m.results.filter((r) => r.selection === 'full').map((r) => ({ label: r.model, value: r.bpOverFf, ok: r.bpOverFf >= target, text: x2(r.bpOverFf) }));
  return verdict('bp-over-ff', `backprop SRAM ≥ ${target}× QZO-FF SRAM for full fine-tuning`, rows, (v) => `worst ${x2(Math.min(...v))}, median ${x2(med(v))}`);
}

export function evaluateTargets(r: BenchResults): Verdict[] {
  const out: Verdict[] = [];
  if (r.overhead) out.push(overheadVerdict(r.overhead));
  if (r.training) out.push(trainingVerdict(r.training));
  if (r.memory) out.push(ffMemoryVerdict(r.memory), bpOverFfVerdict(r.memory));
  if (r.kernels) out.push(kernelVerdict(r.kernels));
  return out;
}
