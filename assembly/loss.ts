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
// Scalar in every build: O(rows·classes), negligible beside the forward pass that made the logits.

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
    for (let c = 0; c < classes; c++) {
      const a = ((<i64>load<T>(row + <usize>c * sizeof<T>()) - xMax) * <i64>mult + half) >> totalShift;
      if (a == 0) sum += ONE_Q31;
      else if (a >= <i64>i32.MIN_VALUE) sum += <i64>expNegativeQ26(<i32>a);
      // a < −32: exp(a) < 2^-46, far below the Q0.31 grid.
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
