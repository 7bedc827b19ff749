// Centred head updates for the hybrid method, all integer so the exported C computes the same.
//
// The head's logits are W·(f − z_f) + b. Post-ReLU features share a large mean μ, so the loss curves
// far more steeply along "W_c·μ" (a per-class offset, curvature ∝ ‖μ‖²) than along the directions that
// separate classes (curvature ∝ the features' variance): plain SGD must take steps small enough for
// the steep direction and then crawls along the others. Stepping in the centred parametrisation
//   logits = W·(f − z_f − m) + b̃,  b̃ = b + W·m
// removes that: the weight gradient becomes Σδ·(f − z_f − m) = G_W − m ⊗ G_b, and after the weights move
// by ΔW the stored bias takes b ← b − round(c_b·G_b) − ΔW·m, so the logits the device computes are
// exactly those of the centred step. m is the features' mean in int8 units (relative to z_f), measured
// on the first step's forwards and fixed from then on.
//
// Integer arithmetic (the device's, C: int64 accumulators, saturating to int32 where stored):
//   S_d = Σ_rows (f_d − z_f), SS = Σ_rows Σ_d (f_d − z_f)², R = rows         (first step only)
//   m_d = round(S_d / R), half away from zero
//   V   = max(1, ⌊(SS − 2·Σ_d m_d·S_d + R·Σ_d m_d²) / R⌋)                  (mean ‖f − z_f − m‖², int8 units²)
//   G_W[c][d] ← sat32(G_W[c][d] − m_d·G_b[c])                              (before the weight update)
//   b[c]      ← sat32(b[c] − round(c_b·G_b[c]) − Σ_d ΔW[c][d]·m_d)         (ΔW: the stored weights' actual change)

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const sat32 = (x: number): number => Math.max(INT32_MIN, Math.min(INT32_MAX, x));

/** The first step's feature statistics, accumulated over its forwards. */
export interface FeatureStats {
  rows: number;
  /** Σ (f_d − z_f) per feature. */
  sums: Float64Array;
  /** Σ Σ (f_d − z_f)². */
  squares: number;
}

export const emptyFeatureStats = (features: number): FeatureStats => ({ rows: 0, sums: new Float64Array(features), squares: 0 });

/** Add `rows` rows of int8 features (at `offset`, row-major [rows][features]) to the statistics. Exact below 2^53. */
export function addFeatureStats(stats: FeatureStats, bytes: Uint8Array, offset: number, rows: number, features: number, zero: number): void {
  const f = new Int8Array(bytes.buffer, bytes.byteOffset + offset, rows * features);
  let sq = 0;
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < features; d++) {
      const v = f[r * features + d]! - zero;
      stats.sums[d]! += v;
      sq += v * v;
    }
  }
  stats.squares += sq;
  stats.rows += rows;
}

/** round(a / b) half away from zero, for integers a and b > 0. */
export function divRound(a: number, b: number): number {
  const q = Math.floor((2 * Math.abs(a) + b) / (2 * b));
  return a < 0 ? -q : q;
}

/** m_d = round(S_d / R). */
export function featureMean(stats: FeatureStats): Int32Array {
  const m = new Int32Array(stats.sums.length);
  for (let d = 0; d < m.length; d++) m[d] = divRound(stats.sums[d]!, Math.max(1, stats.rows));
  return m;
}

/** Mean ‖f − z_f − m‖² in int8 units² (at least 1); with m = 0 the uncentred mean ‖f − z_f‖². */
export function meanSquare(stats: FeatureStats, m: Int32Array): number {
  const r = Math.max(1, stats.rows);
  let cross = 0;
  let mm = 0;
  for (let d = 0; d < m.length; d++) {
    cross += m[d]! * stats.sums[d]!;
    mm += m[d]! * m[d]!;
  }
  return Math.max(1, Math.floor((stats.squares - 2 * cross + r * mm) / r));
}

/** G_W[c][d] ← sat32(G_W[c][d] − m_d·G_b[c]) in place (int32 sums, layout [classes][features]). */
export function centerWeightGradient(gradW: Int32Array, gradB: Int32Array, m: Int32Array): void {
  const features = m.length;
  for (let c = 0; c < gradB.length; c++) {
    const gb = gradB[c]!;
    for (let d = 0; d < features; d++) gradW[c * features + d] = sat32(gradW[c * features + d]! - m[d]! * gb);
  }
}

/** b[c] ← sat32(b[c] − Σ_d (W_after − W_before)[c][d]·m_d): keeps b + W·m where the centred step put it. */
export function correctBias(bias: Int32Array, before: ArrayLike<number>, after: ArrayLike<number>, m: Int32Array): void {
  const features = m.length;
  for (let c = 0; c < bias.length; c++) {
    let shift = 0;
    for (let d = 0; d < features; d++) shift += (after[c * features + d]! - before[c * features + d]!) * m[d]!;
    bias[c] = sat32(bias[c]! - shift);
  }
}
