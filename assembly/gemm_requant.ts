// A cheaper, still exact, form of TFLM's per-tensor requantization for the GEMM epilogue, where
// it runs on every output (about 17% of a 256³ layer with requantUniform4).
//
// TFLM: y = RDBPOT(SRDHM(x·2^left, m), r). With a negative shift (left = 0, r = −shift ≥ 1, the
// usual case for layer outputs) and P = x·m exact in 64 bits:
//   SRDHM(a, m) = v = floor((P + 2^30) / 2^31)
//   RDBPOT(v, r) = floor((v + 2^(r−1) − [v < 0]) / 2^r)                 for r ≥ 1
// The second line is gemmlowp's remainder/threshold rule: with v = q·2^r + rem, it adds 1 to q
// exactly when rem ≥ 2^(r−1) + [v < 0]. Because floor((floor(Y) + c) / n) = floor((Y + c) / n) for
// integers c, n > 0, the two roundings collapse into one division of a 64-bit sum:
//   y = floor(t / 2^(31+r)),  t = P + 2^30 + 2^(30+r) − 2^31·[P < −2^30]
// ([v < 0] ⟺ P + 2^30 < 0). |t| < 2^63, and floor(t / 2^(31+r)) = (high 32 bits of t) >> (r − 1),
// an arithmetic shift by one scalar amount. That is 2 extmuls, one i64 compare and a handful of
// adds per 4 lanes instead of requantUniform4's 64-bit shifts, overflow check and remainder test.
// SRDHM's one saturating case, a = m = INT32_MIN (v = 2^31 − 1 instead of 2^31), rounds to the
// same y = 2^(31−r) for every r ≥ 1, so it needs no check. A shift ≥ 0 (r = 0, left > 0) falls
// back to requantUniform4 (callers check usesFastRequant). test/gemm.test.ts compares every
// build against the BigInt TFLM reference: random accumulators, exact ties, the int32 limits.

/** Whether the per-tensor shift can take requantFast4. */
// @ts-ignore: decorator
@inline export function usesFastRequant(shift: i32): bool {
  return shift < 0;
}

/**
 * TFLM MultiplyByQuantizedMultiplier on 4 lanes for one (mult, shift) with shift < 0;
 * shiftRightMinus1 = −shift − 1, bias64 = fastRequantBias(−shift).
 */
// @ts-ignore: decorator
@inline export function requantFast4(x: v128, mult4: v128, shiftRightMinus1: i32, bias64: v128): v128 {
  const p0 = i64x2.extmul_low_i32x4_s(x, mult4);
  const p1 = i64x2.extmul_high_i32x4_s(x, mult4);
  const limit = i64x2.splat(-(<i64>1 << 30));
  const half = i64x2.splat(<i64>1 << 31);
  const t0 = i64x2.sub(i64x2.add(p0, bias64), v128.and(i64x2.lt_s(p0, limit), half));
  const t1 = i64x2.sub(i64x2.add(p1, bias64), v128.and(i64x2.lt_s(p1, limit), half));
  return i32x4.shr_s(v128.shuffle<i32>(t0, t1, 1, 3, 5, 7), shiftRightMinus1);
}

/** bias64 for requantFast4 given r = −shift in [1, 31]. */
// @ts-ignore: decorator
@inline export function fastRequantBias(right: i32): v128 {
  return i64x2.splat((<i64>1 << 30) + (<i64>1 << (30 + right)));
}

/** Whether both halves of a panel's shifts allow requantChannelFast4 (every shift ≤ −2). */
// @ts-ignore: decorator
@inline export function fastChannelShifts(shiftLo: v128, shiftHi: v128): bool {
  const limit = i32x4.splat(-2);
  return i32x4.all_true(v128.and(i32x4.le_s(shiftLo, limit), i32x4.le_s(shiftHi, limit)));
}

/**
 * Per-channel form of the same identity, for lanes with r = −shift ≥ 2. The lane-dependent
 * part of t, 2^(30+r) = 2^(r−2)·2^32, is a whole multiple of 2^32, so
 *   y = floor((h + 2^(r−2)) / 2^(r−1)),   h = high 32 bits of P + 2^30 − 2^31·[P < −2^30],
 * and the per-lane division is h'·2^(32−r) / 2^31 (2^(32−r) ≤ 2^30 fits a lane; the product's
 * bits 31..62 are the quotient). roundHalf = 2^(r−2), scalePow = 2^(32−r), per lane.
 */
// @ts-ignore: decorator
@inline export function requantChannelFast4(x: v128, mult: v128, roundHalf: v128, scalePow: v128): v128 {
  const p0 = i64x2.extmul_low_i32x4_s(x, mult);
  const p1 = i64x2.extmul_high_i32x4_s(x, mult);
  const limit = i64x2.splat(-(<i64>1 << 30));
  const nudge = i64x2.splat(<i64>1 << 30);
  const half = i64x2.splat(<i64>1 << 31);
  const u0 = i64x2.sub(i64x2.add(p0, nudge), v128.and(i64x2.lt_s(p0, limit), half));
  const u1 = i64x2.sub(i64x2.add(p1, nudge), v128.and(i64x2.lt_s(p1, limit), half));
  const h = i32x4.add(v128.shuffle<i32>(u0, u1, 1, 3, 5, 7), roundHalf);
  const q0 = i64x2.shr_u(i64x2.extmul_low_i32x4_s(h, scalePow), 31);
  const q1 = i64x2.shr_u(i64x2.extmul_high_i32x4_s(h, scalePow), 31);
  return v128.shuffle<i32>(q0, q1, 0, 2, 4, 6);
}
