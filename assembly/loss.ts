// Softmax cross-entropy in fixed point, summed over a batch, so the loss sign that drives a
// QZO-FF step is computed by the device in integers (bit-identical in every build).
//
// Per row, with integer logits x, d_c = x_c − max(x) ≤ 0 (the zero point cancels) and
// a_c = scale·d_c in Q5.26 (scale given as a TFLM multiplier/shift of scale·2^26, applied with
// one rounding in 64 bits):
//   loss = ln Σ_c exp(a_c) − a_label
// exp follows gemmlowp's exp_on_negative_values (Q5.26 → Q0.31) with a narrower Taylor interval;
// the sum is exact in 64 bits with exp(0) = 1 exactly, so it lies in [1, classes]; ln uses
// ln S = k·ln 2 + 2·atanh((m−1)/(m+1)) with S = m·2^k, m ∈ [1, 2), whose series in t² (t < 1/3)
// converges to 1e-10 in nine terms.
// Row losses are summed in Q.26 (64 bits) and written once as Q16.16 nats, saturating at 2^31−1.
// O(rows·classes): with many classes (the FC auto-encoder's 640 outputs) the exponentials cost as
// much as a small layer, so SIMD builds form them four classes at a time (expNegativeQ264).

import { srdhmUnsat4 } from './eltwise';

// @ts-ignore: decorator
@inline function srdhm(a: i32, b: i32): i32 {
  if (a == b && a == i32.MIN_VALUE) return i32.MAX_VALUE;
  return <i32>((<i64>a * <i64>b + (<i64>1 << 30)) >> 31);
}

/** gemmlowp RoundingDivideByPOT. */
// @ts-ignore: decorator
@inline function rdbpot(x: i32, e: i32): i32 {
  const mask = (1 << e) - 1;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + ((x & mask) > threshold ? 1 : 0);
}

/**
 * exp(a) for a ∈ [−1/16, 0), Q0.31 in and out: exp(−1/32)·(1 + x + x²/2 + x³/6 + x⁴/24) with
 * x = a + 1/32. gemmlowp expands around −1/8 on [−1/4, 0), whose x⁵/120 term leaves errors up
 * to 2.3e-7 (~490 LSB) near 0; around −1/32 it is 2.6e-10, so the loss is not limited by exp.
 */
// @ts-ignore: decorator
@inline function expOnSixteenthInterval(a: i32): i32 {
  const expMinusOneThirtySecond = 2081412522;
  const oneThird = 715827883;
  const x = a + (1 << 26);
  const x2 = srdhm(x, x);
  const x3 = srdhm(x2, x);
  const x4 = srdhm(x2, x2);
  const poly = rdbpot(srdhm(rdbpot(x4, 2) + x3, oneThird) + x2, 1);
  return expMinusOneThirtySecond + srdhm(expMinusOneThirtySecond, x + poly);
}

/**
 * exp(a) for a ∈ [−32, 0), a in Q5.26, result in Q0.31 (the shape of gemmlowp's
 * exp_on_negative_values: a = r − n/16 with r ∈ [−1/16, 0), then one multiply by exp(−2^k) per
 * set bit of n). Measured |error| ≤ 2.5 LSB (1.2e-9).
 */
export function expNegativeQ26(a: i32): i32 {
  const oneSixteenth = 1 << 22;
  const modSixteenthMinusSixteenth = (a & (oneSixteenth - 1)) - oneSixteenth;
  let result = expOnSixteenthInterval(modSixteenthMinusSixteenth << 5);
  const remainder = modSixteenthMinusSixteenth - a;
  if (remainder & (1 << 22)) result = srdhm(result, 2017374191); // exp(-1/16)
  if (remainder & (1 << 23)) result = srdhm(result, 1895147668); // exp(-1/8)
  if (remainder & (1 << 24)) result = srdhm(result, 1672461947); // exp(-1/4)
  if (remainder & (1 << 25)) result = srdhm(result, 1302514674); // exp(-1/2)
  if (remainder & (1 << 26)) result = srdhm(result, 790015084); // exp(-1)
  if (remainder & (1 << 27)) result = srdhm(result, 290630308); // exp(-2)
  if (remainder & (1 << 28)) result = srdhm(result, 39332535); // exp(-4)
  if (remainder & (1 << 29)) result = srdhm(result, 720401); // exp(-8)
  if (remainder & (1 << 30)) result = srdhm(result, 242); // exp(-16)
  return result;
}

/** rdbpot with a constant exponent on four lanes. */
// @ts-ignore: decorator
@inline function rdbpotConst4(x: v128, e: i32): v128 {
  const mask = (1 << e) - 1;
  // threshold = (mask >> 1) + (x < 0); shr_s(x, 31) is -1 there, so subtract it. gt_s is -1 where
  // the remainder rounds up: subtracting it adds one.
  const threshold = i32x4.sub(i32x4.splat(mask >> 1), i32x4.shr_s(x, 31));
  return i32x4.sub(i32x4.shr_s(x, e), i32x4.gt_s(v128.and(x, i32x4.splat(mask)), threshold));
}

/** expOnSixteenthInterval on four lanes (no lane meets srdhm's saturating case: |x| ≤ 2^26). */
// @ts-ignore: decorator
@inline function expOnSixteenthInterval4(a: v128): v128 {
  const expMinusOneThirtySecond = i32x4.splat(2081412522);
  const x = i32x4.add(a, i32x4.splat(1 << 26));
  const x2 = srdhmUnsat4(x, x);
  const x3 = srdhmUnsat4(x2, x);
  const x4 = srdhmUnsat4(x2, x2);
  const poly = rdbpotConst4(i32x4.add(srdhmUnsat4(i32x4.add(rdbpotConst4(x4, 2), x3), i32x4.splat(715827883)), x2), 1);
  return i32x4.add(expMinusOneThirtySecond, srdhmUnsat4(expMinusOneThirtySecond, i32x4.add(x, poly)));
}

/** result·c where bit `bit` of the remainder is set, else result: the branch-free step of expNegativeQ264. */
// @ts-ignore: decorator
@inline function mulIfBit4(result: v128, remainder: v128, bit: i32, c: i32): v128 {
  const set = i32x4.shr_s(i32x4.shl(remainder, 31 - bit), 31);
  return v128.bitselect(srdhmUnsat4(result, i32x4.splat(c)), result, set);
}

/**
 * expNegativeQ26 on four lanes, every lane in [−32, 0) (SIMD builds only): the same operations on
 * the same integers, each conditional multiply done on every lane and kept where its bit is set,
 * so the lanes are independent chains the core can overlap instead of a mispredicted branch per bit.
 */
// @ts-ignore: decorator
@inline function expNegativeQ264(a: v128): v128 {
  const oneSixteenth = 1 << 22;
  const modSixteenthMinusSixteenth = i32x4.sub(v128.and(a, i32x4.splat(oneSixteenth - 1)), i32x4.splat(oneSixteenth));
  let result = expOnSixteenthInterval4(i32x4.shl(modSixteenthMinusSixteenth, 5));
  const remainder = i32x4.sub(modSixteenthMinusSixteenth, a);
  result = mulIfBit4(result, remainder, 22, 2017374191);
  result = mulIfBit4(result, remainder, 23, 1895147668);
  result = mulIfBit4(result, remainder, 24, 1672461947);
  result = mulIfBit4(result, remainder, 25, 1302514674);
  result = mulIfBit4(result, remainder, 26, 790015084);
  result = mulIfBit4(result, remainder, 27, 290630308);
  result = mulIfBit4(result, remainder, 28, 39332535);
  result = mulIfBit4(result, remainder, 29, 720401);
  return mulIfBit4(result, remainder, 30, 242);
}

/**
 * expNegativeQ264 on two vectors with their steps interleaved: each is a chain of 13 dependent
 * 64-bit multiplies, and interleaving lets the core run the two chains side by side.
 */
// @ts-ignore: decorator
@inline function expNegativeQ26Pair(a: v128, b: v128, out: usize): void {
  const oneSixteenth = 1 << 22;
  const ma = i32x4.sub(v128.and(a, i32x4.splat(oneSixteenth - 1)), i32x4.splat(oneSixteenth));
  const mb = i32x4.sub(v128.and(b, i32x4.splat(oneSixteenth - 1)), i32x4.splat(oneSixteenth));
  let ra = expOnSixteenthInterval4(i32x4.shl(ma, 5));
  let rb = expOnSixteenthInterval4(i32x4.shl(mb, 5));
  const qa = i32x4.sub(ma, a);
  const qb = i32x4.sub(mb, b);
  ra = mulIfBit4(ra, qa, 22, 2017374191); rb = mulIfBit4(rb, qb, 22, 2017374191);
  ra = mulIfBit4(ra, qa, 23, 1895147668); rb = mulIfBit4(rb, qb, 23, 1895147668);
  ra = mulIfBit4(ra, qa, 24, 1672461947); rb = mulIfBit4(rb, qb, 24, 1672461947);
  ra = mulIfBit4(ra, qa, 25, 1302514674); rb = mulIfBit4(rb, qb, 25, 1302514674);
  ra = mulIfBit4(ra, qa, 26, 790015084); rb = mulIfBit4(rb, qb, 26, 790015084);
  ra = mulIfBit4(ra, qa, 27, 290630308); rb = mulIfBit4(rb, qb, 27, 290630308);
  ra = mulIfBit4(ra, qa, 28, 39332535); rb = mulIfBit4(rb, qb, 28, 39332535);
  ra = mulIfBit4(ra, qa, 29, 720401); rb = mulIfBit4(rb, qb, 29, 720401);
  v128.store(out, mulIfBit4(ra, qa, 30, 242));
  v128.store(out, mulIfBit4(rb, qb, 30, 242), 16);
}

/**
 * Test hook: dst[i] = exp(src[i]) in Q0.31 for Q5.26 src[i] in [−32, 0), four lanes at a time in
 * SIMD builds and one at a time otherwise, so the builds can be compared element by element.
 */
export function exp_negative_q26(src: usize, dst: usize, count: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= count; i += 8) expNegativeQ26Pair(v128.load(src + (<usize>i << 2)), v128.load(src + (<usize>i << 2), 16), dst + (<usize>i << 2));
    for (; i + 4 <= count; i += 4) v128.store(dst + (<usize>i << 2), expNegativeQ264(v128.load(src + (<usize>i << 2))));
  }
  for (; i < count; i++) store<i32>(dst + (<usize>i << 2), expNegativeQ26(load<i32>(src + (<usize>i << 2))));
}

const ONE_Q31: i64 = <i64>1 << 31;
const LN2_Q31: i64 = 1488522236;
/** round(2^31 / (2n + 1)) for n = 0..8: the atanh series 1 + u/3 + u²/5 + … in Q.31. */
const ATANH_COEFFS = memory.data<i64>([
  2147483648, 715827883, 429496730, 306783378, 238609294, 195225786, 165191050, 143165577, 126322568,
]);

/** ln(S / 2^31) in Q.31 for S ≥ 2^31 (a 64-bit Q.31 sum of exponentials). */
function lnQ31(sum: i64): i64 {
  const top = 63 - <i32>clz(sum); // ≥ 31
  const k = top - 31;
  const m = sum >> (top - 30); // mantissa in Q1.30, [2^30, 2^31)
  const t = ((m - (<i64>1 << 30)) << 31) / (m + (<i64>1 << 30)); // (m−1)/(m+1) in Q.31, < 1/3
  const u = (t * t + (<i64>1 << 30)) >> 31;
  let p = load<i64>(ATANH_COEFFS + (8 << 3));
  for (let n = 7; n >= 0; n--) p = load<i64>(ATANH_COEFFS + (<usize>n << 3)) + ((u * p + (<i64>1 << 30)) >> 31);
  return <i64>k * LN2_Q31 + ((t * p + (<i64>1 << 29)) >> 30);
}

/** One class's exp(a) in Q0.31 for a ≤ 0 in Q5.26: 2^31 at 0, nothing below −32 (exp(a) < 2^-46). */
// @ts-ignore: decorator
@inline function expTerm(a: i64): i64 {
  if (a == 0) return ONE_Q31;
  return a >= <i64>i32.MIN_VALUE ? <i64>expNegativeQ26(<i32>a) : 0;
}

/**
 * Static lanes for the SIMD loss (the device runs one kernel at a time): Q5.26 arguments of two
 * vectors at LANES and LANES + 16, their in-range masks 32 bytes further; EXPS holds two vectors of
 * exponentials.
 */
const LANES = memory.data(64, 16);
const EXPS = memory.data(32, 16);

/** Four logits widened to i32 lanes. */
// @ts-ignore: decorator
@inline function logits4<T>(row: usize, c: i32): v128 {
  return sizeof<T>() == 1
    ? i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(row + <usize>c)))
    : v128.load(row + (<usize>c << 2));
}

/**
 * a = (d·mult + half) >> totalShift for four differences d = x − max (each ≥ −2^31), stored at
 * `at`, and at at + 32 the lanes where a ≥ −2^31 (where exp is wanted). No 64-bit lane shift (which
 * x86 lacks): a comes from the product's 32-bit halves, the range test from the product itself.
 */
// @ts-ignore: decorator
@inline function argumentsQ26(d: v128, mult: i32, half: i64, totalShift: i32, at: usize): void {
  const m = i32x4.splat(mult);
  const pLo = i64x2.add(i64x2.extmul_low_i32x4_s(d, m), i64x2.splat(half));
  const pHi = i64x2.add(i64x2.extmul_high_i32x4_s(d, m), i64x2.splat(half));
  const low = v128.shuffle<i32>(pLo, pHi, 0, 2, 4, 6);
  const high = v128.shuffle<i32>(pLo, pHi, 1, 3, 5, 7);
  if (totalShift >= 32) {
    v128.store(at, i32x4.shr_s(high, totalShift - 32)); // |product| < 2^63: a always fits 32 bits
    v128.store(at, i32x4.splat(-1), 32);
  } else {
    v128.store(at, v128.or(i32x4.shr_u(low, totalShift), i32x4.shl(high, 32 - totalShift)));
    const minP = i64x2.splat(<i64>i32.MIN_VALUE << totalShift);
    v128.store(at, v128.shuffle<i32>(i64x2.ge_s(pLo, minP), i64x2.ge_s(pHi, minP), 0, 2, 4, 6), 32);
  }
}

/** Four classes' exp terms summed into two 64-bit lanes: 2^31 at a = 0, exp(a) in range, else 0. */
// @ts-ignore: decorator
@inline function termsSum(exps: v128, a: v128, inRange: v128): v128 {
  // a ≤ 0: a 32-bit zero in range is a = 0 (out of range, the low bits mean nothing). exp(0) = 1
  // is 2^31 exactly, read as unsigned; a < −32 adds 0 (exp(a) < 2^-46).
  const isZero = v128.and(i32x4.eq(a, i32x4.splat(0)), inRange);
  const terms = v128.bitselect(i32x4.splat(i32.MIN_VALUE), v128.and(exps, inRange), isZero);
  return i64x2.add(i64x2.extend_low_i32x4_u(terms), i64x2.extend_high_i32x4_u(terms));
}

/** Row losses saturate here so a batch sum can never overflow 64 bits. */
const ROW_LOSS_MAX_Q26: i64 = <i64>1 << 41;

// @ts-ignore: decorator
@inline function crossEntropy<T>(
  logits: usize, rows: i32, classes: i32, labels: usize, mult: i32, shift: i32, out: usize,
): i32 {
  const totalShift = 31 - shift; // host keeps shift in [-31, 30]: 1..62
  const half = <i64>1 << (totalShift - 1);
  const stride = <usize>classes * sizeof<T>();
  let total: i64 = 0;
  for (let r = 0; r < rows; r++) {
    const label = load<i32>(labels + (<usize>r << 2));
    if (<u32>label >= <u32>classes) return r + 1;
    const row = logits + <usize>r * stride;
    let xMax = <i64>load<T>(row);
    for (let c = 1; c < classes; c++) xMax = max(xMax, <i64>load<T>(row + <usize>c * sizeof<T>()));
    let sum: i64 = 0;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = i64x2.splat(0);
      const xMax4 = i32x4.splat(<i32>xMax);
      // Eight classes per step: two vectors' exponentials interleaved (expNegativeQ26Pair).
      for (; c + 8 <= classes; c += 8) {
        const d0 = i32x4.sub(logits4<T>(row, c), xMax4);
        const d1 = i32x4.sub(logits4<T>(row, c + 4), xMax4);
        // x − max below −2^31 wrapped to a positive lane (int32 logits spanning more than 2^31):
        // those classes take the scalar path, which forms the difference in 64 bits.
        if (sizeof<T>() == 4 && v128.any_true(v128.or(i32x4.gt_s(d0, i32x4.splat(0)), i32x4.gt_s(d1, i32x4.splat(0))))) {
          for (let k = c; k < c + 8; k++) sum += expTerm(((<i64>load<T>(row + <usize>k * sizeof<T>()) - xMax) * <i64>mult + half) >> totalShift);
          continue;
        }
        argumentsQ26(d0, mult, half, totalShift, LANES);
        argumentsQ26(d1, mult, half, totalShift, LANES + 16);
        expNegativeQ26Pair(v128.load(LANES), v128.load(LANES, 16), EXPS);
        acc = i64x2.add(acc, termsSum(v128.load(EXPS), v128.load(LANES), v128.load(LANES, 32)));
        acc = i64x2.add(acc, termsSum(v128.load(EXPS, 16), v128.load(LANES, 16), v128.load(LANES, 48)));
      }
      for (; c + 4 <= classes; c += 4) {
        const d = i32x4.sub(logits4<T>(row, c), xMax4);
        if (sizeof<T>() == 4 && v128.any_true(i32x4.gt_s(d, i32x4.splat(0)))) {
          for (let k = c; k < c + 4; k++) sum += expTerm(((<i64>load<T>(row + <usize>k * sizeof<T>()) - xMax) * <i64>mult + half) >> totalShift);
          continue;
        }
        argumentsQ26(d, mult, half, totalShift, LANES);
        acc = i64x2.add(acc, termsSum(expNegativeQ264(v128.load(LANES)), v128.load(LANES), v128.load(LANES, 32)));
      }
      sum += i64x2.extract_lane(acc, 0) + i64x2.extract_lane(acc, 1);
    }
    for (; c < classes; c++) {
      sum += expTerm(((<i64>load<T>(row + <usize>c * sizeof<T>()) - xMax) * <i64>mult + half) >> totalShift);
    }
    const aLabel = ((<i64>load<T>(row + <usize>label * sizeof<T>()) - xMax) * <i64>mult + half) >> totalShift;
    const lnSumQ26 = (lnQ31(sum) + 16) >> 5;
    total += min(lnSumQ26 - aLabel, ROW_LOSS_MAX_Q26);
  }
  const q16 = (total + 512) >> 10;
  store<i32>(out, <i32>min(q16, <i64>i32.MAX_VALUE));
  return 0;
}

/**
 * Summed softmax cross-entropy of int8 logits [rows][classes] with int32 labels, written to
 * out as Q16.16 nats. mult/shift: TFLM multiplier of scale·2^26. Returns 0, or r + 1 when row
 * r's label is outside [0, classes) (then nothing is written).
 */
export function cross_entropy_i8(
  logits: usize, rows: i32, classes: i32, labels: usize, mult: i32, shift: i32, out: usize,
): i32 {
  return crossEntropy<i8>(logits, rows, classes, labels, mult, shift, out);
}

/** Same as cross_entropy_i8 for int32 logits (differences are formed in 64 bits). */
export function cross_entropy_i32(
  logits: usize, rows: i32, classes: i32, labels: usize, mult: i32, shift: i32, out: usize,
): i32 {
  return crossEntropy<i32>(logits, rows, classes, labels, mult, shift, out);
}
