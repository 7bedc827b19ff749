// Integer backprop for a dense classifier head (the hybrid method: the head learns by exact
// gradients, the layers before it by QZO-FF). Everything is fixed point, scalar in every build,
// so scalar/simd/relaxed give the same bits.
//
// head_grad_accumulate, per row r with int32 logits x, label y and int8 features f (zero point zf):
//   a_c  = (x_c − max x)·scale in Q5.26 (the cross-entropy kernel's multiplier, same rounding)
//   e_c  = exp(a_c) in Q0.31 (the cross-entropy kernel's exp; e = 2^31 exactly at the max)
//   p_c  = round(e_c·2^15 / Σ e)                       softmax in Q.15
//   δ_c  = p_c − 2^15·[c = y]                          dL/dlogit in Q.15, |δ| ≤ 2^15
//   gW[c][d] += δ_c·(f_d − zf),  gb[c] += δ_c          int32, saturating
// |δ·(f − zf)| < 2^23, so 256 rows accumulate without saturation; beyond that the sums saturate
// (deterministically) instead of wrapping.
// head_sgd_update: w ← clamp(w − round(g·mult / 2^totalShift)) with rounding half away from zero,
// then g ← 0, so the next step accumulates from zero without a separate clearing pass.
import { expNegativeQ26 } from './loss';

import { scaledStep, subtractClamped } from './sgd_step';

const ONE_Q31: i64 = <i64>1 << 31;

// @ts-ignore: decorator
@inline function saturatingAdd(acc: i32, v: i64): i32 {
  const s = <i64>acc + v;
  return <i32>(s > <i64>i32.MAX_VALUE ? <i64>i32.MAX_VALUE : s < <i64>i32.MIN_VALUE ? <i64>i32.MIN_VALUE : s);
}

/**
 * Accumulate the head gradient of `rows` samples. logits int32 [rows][classes], labels int32 [rows],
 * features int8 [rows][features], delta int32 [rows][classes] (written: δ in Q.15), gradW int32
 * [classes][features] (layout OI, like the weights), gradB int32 [classes]. mult/shift: TFLM
 * multiplier of the logit scale·2^26 (shift in [−31, 30]). Returns 0, or r + 1 for a row whose
 * label is outside [0, classes) (rows before it have been accumulated).
 */
export function head_grad_accumulate(
  logits: usize, rows: i32, classes: i32, labels: usize, mult: i32, shift: i32,
  features: usize, featureCount: i32, featureZero: i32, delta: usize, gradW: usize, gradB: usize,
): i32 {
  const totalShift = 31 - shift;
  const half = <i64>1 << (totalShift - 1);
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(labels + (<usize>r << 2));
    if (<u32>label >= <u32>classes) return r + 1;
    const row = logits + ((<usize>r * <usize>classes) << 2);
    const dRow = delta + ((<usize>r * <usize>classes) << 2);
    let xMax = <i64>load<i32>(row);
    for (let c = 1; c < classes; c++) xMax = max(xMax, <i64>load<i32>(row + (<usize>c << 2)));
    // e_c goes into δ's slot first; the sum needs every e before any p.
    let sum: i64 = 0;
    for (let c = 0; c < classes; c++) {
      const a = ((<i64>load<i32>(row + (<usize>c << 2)) - xMax) * <i64>mult + half) >> totalShift;
      let e: i64 = 0;
      if (a == 0) e = ONE_Q31;
      else if (a >= <i64>i32.MIN_VALUE) e = <i64>expNegativeQ26(<i32>a);
      store<u32>(dRow + (<usize>c << 2), <u32>e); // e ≤ 2^31 fits the slot as unsigned
      sum += e;
    }
    const f = features + <usize>r * <usize>featureCount;
    for (let c = 0; c < classes; c++) {
      const e = <i64>load<u32>(dRow + (<usize>c << 2));
      // sum ≥ 2^31 > 0 (the max contributes 2^31 exactly), so the division is safe.
      let d = <i32>(((e << 15) + (sum >> 1)) / sum);
      if (c == label) d -= 1 << 15;
      store<i32>(dRow + (<usize>c << 2), d);
      const gRow = gradW + ((<usize>c * <usize>featureCount) << 2);
      for (let k = 0; k < featureCount; k++) {
        const p = gRow + (<usize>k << 2);
        store<i32>(p, saturatingAdd(load<i32>(p), <i64>d * <i64>(<i32>load<i8>(f + <usize>k) - featureZero)));
      }
      const pb = gradB + (<usize>c << 2);
      store<i32>(pb, saturatingAdd(load<i32>(pb), <i64>d));
    }
  }
  return 0;
}

/**
 * SGD on one head tensor from its accumulated gradient, then clear the gradient. bits: 8 or 16
 * (weights, clamped to the symmetric grid ±(2^(bits−1) − 1)) or 32 (bias, clamped to int32).
 * totalShift in [1, 62]: the step is round(g·mult/2^totalShift).
 */
export function head_sgd_update(params: usize, bits: i32, count: i32, grad: usize, mult: i32, totalShift: i32): void {
  for (let i = 0; i < count; i++) {
    const gp = grad + (<usize>i << 2);
    const step = scaledStep(<i64>load<i32>(gp), mult, totalShift);
    store<i32>(gp, 0);
    subtractClamped(params, i, bits, step);
  }
}
