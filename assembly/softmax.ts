// int8 → int8 SOFTMAX with TFLite's reference arithmetic (reference_ops::Softmax for int8, which
// TFLite Micro runs and CMSIS-NN's arm_softmax_s8 matches): each row's differences to its max are
// rescaled to Q5.26 by a multiplier and left shift (prepared on the host), exponentiated with
// gemmlowp's fixed-point exp_on_negative_values, summed in Q12.19, and scaled by gemmlowp's
// fixed-point reciprocal. Output grid is TFLite's fixed 1/256, zero point −128. Scalar integer
// code only, so every build (scalar, simd, relaxed) gives the same bits.
import { rdbpot, srdhm } from './requant';

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;
const DIFF_FRACTIONAL_BITS: i32 = 31 - SCALED_DIFF_INTEGER_BITS;

/** gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent: a saturating left shift. */
// @ts-ignore: decorator
@inline function saturatingShiftLeft(x: i32, exponent: i32): i32 {
  const threshold = (1 << (31 - exponent)) - 1;
  if (x > threshold) return i32.MAX_VALUE;
  if (x < -threshold) return i32.MIN_VALUE;
  return x << exponent;
}

/** gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31 in and out. */
function expOnIntervalNegQuarterTo0(a: i32): i32 {
  const constantTerm: i32 = 1895147668;
  const oneThird: i32 = 715827883;
  const x = a + (1 << 28);
  const x2 = srdhm(x, x);
  const x3 = srdhm(x2, x);
  const x4 = srdhm(x2, x2);
  const x4Over4 = rdbpot(x4, 2);
  const poly = rdbpot(srdhm(x4Over4 + x3, oneThird) + x2, 1);
  return constantTerm + srdhm(constantTerm, x + poly);
}

/** One step of gemmlowp's exp barrel shifter. */
// @ts-ignore: decorator
@inline function barrel(result: i32, remainder: i32, exponent: i32, multiplier: i32): i32 {
  return remainder & (1 << (DIFF_FRACTIONAL_BITS + exponent)) ? srdhm(result, multiplier) : result;
}

/** gemmlowp exp_on_negative_values for a Q5.26 input ≤ 0, Q0.31 output. */
function expOnNegativeValues(a: i32): i32 {
  if (a == 0) return i32.MAX_VALUE;
  const quarter = 1 << (DIFF_FRACTIONAL_BITS - 2);
  const aModQuarterMinusQuarter = (a & (quarter - 1)) - quarter;
  let result = expOnIntervalNegQuarterTo0(saturatingShiftLeft(aModQuarterMinusQuarter, SCALED_DIFF_INTEGER_BITS));
  const remainder = aModQuarterMinusQuarter - a;
  // exp(−2^k) in Q0.31 for k = −2 … 4 (SCALED_DIFF_INTEGER_BITS = 5 > k for all of them).
  result = barrel(result, remainder, -2, 1672461947);
  result = barrel(result, remainder, -1, 1302514674);
  result = barrel(result, remainder, 0, 790015084);
  result = barrel(result, remainder, 1, 290630308);
  result = barrel(result, remainder, 2, 39332535);
  result = barrel(result, remainder, 3, 720401);
  result = barrel(result, remainder, 4, 242);
  return result;
}

/** gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out. */
function oneOverOnePlusX(a: i32): i32 {
  // RoundingHalfSum(a, One) in 64 bits.
  const sum = <i64>a + <i64>i32.MAX_VALUE;
  const halfDenominator = <i32>((sum + (sum >= 0 ? 1 : -1)) / 2);
  let x = 1515870810 + srdhm(halfDenominator, -1010580540);
  const oneQ2: i32 = 1 << 29;
  for (let i = 0; i < 3; i++) {
    const oneMinus = oneQ2 - srdhm(halfDenominator, x);
    x = x + saturatingShiftLeft(srdhm(x, oneMinus), 2);
  }
  return saturatingShiftLeft(x, 1);
}

/**
 * Softmax over `rows` rows of `classes` int8 logits at src, int8 probabilities to dst (may be
 * src). inputMultiplier/inputLeftShift/diffMin are TFLite's CalculateSoftmaxParams results.
 */
export function softmax_s8(src: usize, dst: usize, rows: i32, classes: i32, inputMultiplier: i32, inputLeftShift: i32, diffMin: i32): void {
  for (let r = 0; r < rows; r++) {
    const x = src + <usize>r * <usize>classes;
    const y = dst + <usize>r * <usize>classes;
    let rowMax: i32 = -128;
    for (let c = 0; c < classes; c++) rowMax = max<i32>(rowMax, <i32>load<i8>(x + c));
    let sumOfExps: i32 = 0;
    for (let c = 0; c < classes; c++) {
      const diff = <i32>load<i8>(x + c) - rowMax;
      if (diff >= diffMin) sumOfExps += rdbpot(expOnNegativeValues(srdhm(diff << inputLeftShift, inputMultiplier)), ACCUMULATION_INTEGER_BITS);
    }
    // GetReciprocal: the sum as 1 + x with x in [0, 1), and how many bits it has above one.
    const headroomPlusOne = <i32>clz<u32>(<u32>sumOfExps);
    const numBitsOverUnit = ACCUMULATION_INTEGER_BITS - headroomPlusOne;
    const shiftedSumMinusOne = <i32>((<u32>sumOfExps << headroomPlusOne) - (<u32>1 << 31));
    const shiftedScale = oneOverOnePlusX(shiftedSumMinusOne);
    // Element c is read before it is written and nothing after reads it, so dst may be src.
    for (let c = 0; c < classes; c++) {
      const diff = <i32>load<i8>(x + c) - rowMax;
      let out: i32 = -128;
      if (diff >= diffMin) {
        const unsat = rdbpot(srdhm(shiftedScale, expOnNegativeValues(srdhm(diff << inputLeftShift, inputMultiplier))), numBitsOverUnit + 31 - 8);
        out = min<i32>(127, max<i32>(-128, unsat - 128));
      }
      store<i8>(y + c, <i8>out);
    }
  }
}
