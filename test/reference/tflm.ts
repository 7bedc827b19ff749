// Independent TypeScript reference of TFLM / gemmlowp integer arithmetic, written from the
// C++ with BigInt so it shares no code (and no shortcuts) with the AssemblyScript kernels.

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export function toInt32(x: bigint): number {
  return Number(BigInt.asIntN(32, x));
}

/** gemmlowp SaturatingRoundingDoublingHighMul, literally. */
export function srdhmRef(a: number, b: number): number {
  const overflow = a === b && a === INT32_MIN;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  // C++ integer division truncates toward zero; BigInt division does too.
  const high = (ab + nudge) / (1n << 31n);
  return overflow ? INT32_MAX : toInt32(high);
}

/** gemmlowp RoundingDivideByPOT, literally. */
export function rdbpotRef(x: number, exponent: number): number {
  const mask = Number((1n << BigInt(exponent)) - 1n);
  const remainder = Number(BigInt(x) & BigInt(mask));
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** TFLM MultiplyByQuantizedMultiplier (double rounding). Left shift wraps like the device. */
export function multiplyByQuantizedMultiplierRef(x: number, multiplier: number, shift: number): number {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  const shifted = toInt32(BigInt(x) * (1n << BigInt(left)));
  return rdbpotRef(srdhmRef(shifted, multiplier), right);
}

/** Requantize + zero point + clamp. The zero-point add wraps in int32, as TFLM's compiled C does. */
export function requantizeRef(acc: number, multiplier: number, shift: number, zp: number, lo: number, hi: number): number {
  const withZp = (multiplyByQuantizedMultiplierRef(acc, multiplier, shift) + zp) | 0;
  return Math.min(hi, Math.max(lo, withZp));
}
