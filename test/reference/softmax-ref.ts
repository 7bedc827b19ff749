// Independent TypeScript reference of TFLite's int8 → int8 SOFTMAX (reference_ops::Softmax with
// gemmlowp fixed point, which TFLite Micro runs and CMSIS-NN's arm_softmax_s8 matches), written from
// the C++ with BigInt products so it shares no code with the device kernel (assembly/softmax.ts).
// Its parameters are TFLite's CalculateSoftmaxParams (src/kernels/softmax.ts prepareSoftmaxI8).
import type { PreparedSoftmax } from '../../src/kernels/softmax.js';

const SCALED_DIFF_INTEGER_BITS = 5;
const ACCUMULATION_INTEGER_BITS = 12;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const wrap = (x: number): number => x | 0;

/** gemmlowp SaturatingRoundingDoublingHighMul. */
function srdhm(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((ab + nudge) / (1n << 31n));
}

/** gemmlowp RoundingDivideByPOT. */
function rdbpot(x: number, exponent: number): number {
  const mask = exponent >= 31 ? INT32_MAX : (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent (a saturating left shift). */
function saturatingShiftLeft(x: number, exponent: number): number {
  const threshold = (1 << (31 - exponent)) - 1;
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return wrap(x << exponent);
}

/** exp(a) for a in [−1/4, 0), Q0.31 in and out. */
function expOnIntervalNegQuarterTo0(a: number): number {
  const constantTerm = 1895147668;
  const oneThird = 715827883;
  const x = wrap(a + (1 << 28));
  const x2 = srdhm(x, x);
  const x3 = srdhm(x2, x);
  const x4 = srdhm(x2, x2);
  const x4Over4 = rdbpot(x4, 2);
  const poly = rdbpot(wrap(srdhm(wrap(x4Over4 + x3), oneThird) + x2), 1);
  return wrap(constantTerm + srdhm(constantTerm, wrap(x + poly)));
}

/** gemmlowp exp_on_negative_values for a Q5.26 input, Q0.31 output. */
function expOnNegativeValues(a: number): number {
  const fractionalBits = 31 - SCALED_DIFF_INTEGER_BITS;
  const quarter = 1 << (fractionalBits - 2);
  const mask = quarter - 1;
  const aModQuarterMinusQuarter = wrap((a & mask) - quarter);
  let result = expOnIntervalNegQuarterTo0(saturatingShiftLeft(aModQuarterMinusQuarter, SCALED_DIFF_INTEGER_BITS));
  const remainder = wrap(aModQuarterMinusQuarter - a);
  const barrel: [number, number][] = [[-2, 1672461947], [-1, 1302514674], [0, 790015084], [1, 290630308], [2, 39332535], [3, 720401], [4, 242]];
  for (const [exponent, multiplier] of barrel) {
    if (SCALED_DIFF_INTEGER_BITS > exponent && remainder & (1 << (fractionalBits + exponent))) result = srdhm(result, multiplier);
  }
  return a === 0 ? INT32_MAX : result;
}

/** gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out. */
function oneOverOnePlusX(a: number): number {
  const sum = a + INT32_MAX;
  const halfDenominator = Math.trunc((sum + (sum >= 0 ? 1 : -1)) / 2);
  const c48over17 = 1515870810;
  const cNeg32over17 = -1010580540;
  let x = wrap(c48over17 + srdhm(halfDenominator, cNeg32over17));
  const oneQ2 = 1 << 29;
  for (let i = 0; i < 3; i++) {
    const hdx = srdhm(halfDenominator, x);
    const oneMinus = wrap(oneQ2 - hdx);
    x = wrap(x + saturatingShiftLeft(srdhm(x, oneMinus), 2));
  }
  return saturatingShiftLeft(x, 1);
}

const clz32 = (x: number): number => Math.clz32(x >>> 0);

/** One row of int8 logits → int8 probabilities, exactly as TFLite computes them. */
export function softmaxRef(input: Int8Array, p: PreparedSoftmax): Int8Array {
  let max = -128;
  for (const v of input) max = Math.max(max, v);
  const rescaled = (v: number) => srdhm(wrap((v - max) * 2 ** p.inputLeftShift), p.inputMultiplier);
  let sumOfExps = 0;
  for (const v of input) {
    if (v - max >= p.diffMin) sumOfExps = wrap(sumOfExps + rdbpot(expOnNegativeValues(rescaled(v)), ACCUMULATION_INTEGER_BITS));
  }
  const headroomPlusOne = clz32(sumOfExps);
  const numBitsOverUnit = ACCUMULATION_INTEGER_BITS - headroomPlusOne;
  const shiftedSumMinusOne = wrap(((sumOfExps >>> 0) * 2 ** headroomPlusOne - 2 ** 31) % 2 ** 32);
  const shiftedScale = oneOverOnePlusX(shiftedSumMinusOne);
  const out = new Int8Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const v = input[i]!;
    if (v - max < p.diffMin) {
      out[i] = -128;
      continue;
    }
    const unsat = rdbpot(srdhm(shiftedScale, expOnNegativeValues(rescaled(v))), numBitsOverUnit + 31 - 8);
    out[i] = Math.max(-128, Math.min(127, unsat - 128));
  }
  return out;
}
