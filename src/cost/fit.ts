// Least-squares fit of instructions per kernel call: for each (core, kernel) the count is linear in
// the kernel's loop counts (shape.ts REGRESSORS). Residuals are relative (each row divided by its
// measured count) because the target is a per-call percentage error, and a plain fit would let the
// biggest shapes dominate the small ones.
import { ConfigError } from '../errors.js';
import { FEATURE_LOOP, kernelFeatures, REGRESSORS, type CostKernel, type FeatureName, type KernelShape } from './shape.js';
import type { CalibrationFile, CalibrationRecord } from './calibration.js';

export interface KernelFit {
  /** Instructions per unit of each regressor. */
  coefficients: Partial<Record<FeatureName, number>>;
  fitShapes: number;
  heldOutShapes: number;
  /** Largest |predicted − measured| / measured over the fit shapes and over the held-back shapes. */
  maxFitError: number;
  maxHeldOutError: number;
}

export type CoreFit = Partial<Record<CostKernel, KernelFit>>;

export function predictInstructions(fit: KernelFit, shape: KernelShape): number {
  const f = kernelFeatures(shape);
  let sum = 0;
  for (const [name, c] of Object.entries(fit.coefficients) as Array<[FeatureName, number]>) sum += c * f[name];
  return sum;
}

/** Predicted instructions split by the loop class they run in. */
export function predictByLoop(fit: KernelFit, shape: KernelShape): Record<'smlad' | 'byteLoop' | 'control', number> {
  const f = kernelFeatures(shape);
  const out = { smlad: 0, byteLoop: 0, control: 0 };
  for (const [name, c] of Object.entries(fit.coefficients) as Array<[FeatureName, number]>) out[FEATURE_LOOP[name]] += c * f[name];
  return out;
}

/** Solves the normal equations AᵀA x = Aᵀb by Gaussian elimination with partial pivoting. */
export function leastSquares(rows: number[][], targets: number[]): number[] {
  const n = rows[0]?.length ?? 0;
  if (rows.length < n || n === 0) throw new ConfigError(`least squares: ${rows.length} rows cannot determine ${n} coefficients`);
  const m: number[][] = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  rows.forEach((row, r) => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) m[i]![j]! += row[i]! * row[j]!;
      m[i]![n]! += row[i]! * targets[r]!;
    }
  });
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    const p = m[col]![col]!;
    if (Math.abs(p) < 1e-9) throw new ConfigError(`least squares: the shapes do not determine coefficient ${col} (singular system); add shapes that vary it`);
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const factor = m[r]![col]! / p;
      for (let j = col; j <= n; j++) m[r]![j]! -= factor * m[col]![j]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

export function relativeError(predicted: number, measured: number): number {
  return Math.abs(predicted - measured) / measured;
}

export function fitKernel(kernel: CostKernel, records: CalibrationRecord[]): KernelFit {
  const names = REGRESSORS[kernel];
  const fitSet = records.filter((r) => !r.heldOut && r.shape.kernel === kernel);
  const held = records.filter((r) => r.heldOut && r.shape.kernel === kernel);
  // Columns are scaled to unit size before solving so MACs (10⁶) and calls (1) sit in one system.
  const raw = fitSet.map((r) => {
    const f = kernelFeatures(r.shape);
    return names.map((n) => f[n] / r.instructions);
  });
  const scale = names.map((_, j) => Math.max(...raw.map((row) => Math.abs(row[j]!)), 1e-30));
  let x: number[];
  try {
    x = leastSquares(raw.map((row) => row.map((v, j) => v / scale[j]!)), fitSet.map(() => 1));
  } catch (e) {
    throw new ConfigError(`fit of ${kernel} over ${fitSet.length} shapes (${names.join(', ')}): ${(e as Error).message}`);
  }
  const coefficients: Partial<Record<FeatureName, number>> = {};
  names.forEach((n, j) => (coefficients[n] = x[j]! / scale[j]!));
  const partial: KernelFit = { coefficients, fitShapes: fitSet.length, heldOutShapes: held.length, maxFitError: 0, maxHeldOutError: 0 };
  partial.maxFitError = Math.max(0, ...fitSet.map((r) => relativeError(predictInstructions(partial, r.shape), r.instructions)));
  partial.maxHeldOutError = Math.max(0, ...held.map((r) => relativeError(predictInstructions(partial, r.shape), r.instructions)));
  return partial;
}

/** Fits every kernel of every core in a calibration file. */
export function fitCalibration(file: CalibrationFile): Record<string, CoreFit> {
  const out: Record<string, CoreFit> = {};
  for (const [core, c] of Object.entries(file.cores)) {
    const kernels = [...new Set(c.records.map((r) => r.shape.kernel))];
    const fit: CoreFit = {};
    for (const k of kernels) fit[k] = fitKernel(k, c.records);
    out[core] = fit;
  }
  return out;
}
