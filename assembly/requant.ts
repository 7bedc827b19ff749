// Integer requantization with TensorFlow Lite Micro / CMSIS-NN semantics.
//
// MultiplyByQuantizedMultiplier(x, m, s) =
//   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^max(s,0), m), max(-s,0))
// i.e. TFLM's default "double rounding". Every build (scalar, simd, relaxed) must give the
// same bits, so the SIMD forms below are derived from the scalar ones, not approximations.

/** gemmlowp SaturatingRoundingDoublingHighMul. */
// @ts-ignore: decorator
@inline export function srdhm(a: i32, b: i32): i32 {
  if (a == b && a == i32.MIN_VALUE) return i32.MAX_VALUE;
  // (a*b + nudge) / 2^31 truncated toward zero equals floor((a*b + 2^30) / 2^31) for both signs
  // of a*b (nudge = 2^30 or 1 - 2^30), which is a single arithmetic shift.
  return <i32>((<i64>a * <i64>b + (<i64>1 << 30)) >> 31);
}

/** gemmlowp RoundingDivideByPOT: divide by 2^e, rounding half away from zero. e in [0, 31]. */
// @ts-ignore: decorator
@inline export function rdbpot(x: i32, e: i32): i32 {
  const mask = (<i32>((<u32>1 << e) - 1));
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/** TFLM MultiplyByQuantizedMultiplier (shift > 0 is a left shift, applied with wrapping). */
// @ts-ignore: decorator
@inline export function requantScalar(x: i32, multiplier: i32, shift: i32): i32 {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  return rdbpot(srdhm(x << left, multiplier), right);
}

// @ts-ignore: decorator
@inline export function clampI32(x: i32, lo: i32, hi: i32): i32 {
  return x < lo ? lo : x > hi ? hi : x;
}

/** Lane-wise srdhm on i32x4; multiplier may differ per lane (per-channel quantization). */
// @ts-ignore: decorator
@inline export function srdhm4(a: v128, b: v128): v128 {
  const nudge = i64x2.splat(<i64>1 << 30);
  const lo = i64x2.shr_s(i64x2.add(i64x2.extmul_low_i32x4_s(a, b), nudge), 31);
  const hi = i64x2.shr_s(i64x2.add(i64x2.extmul_high_i32x4_s(a, b), nudge), 31);
  const r = v128.shuffle<i32>(lo, hi, 0, 2, 4, 6);
  const intMin = i32x4.splat(i32.MIN_VALUE);
  const overflow = v128.and(i32x4.eq(a, intMin), i32x4.eq(b, intMin));
  return v128.bitselect(i32x4.splat(i32.MAX_VALUE), r, overflow);
}

/**
 * Lane-wise rdbpot with a per-lane exponent e in [0, 31]. Wasm SIMD shifts take one scalar
 * amount, so floor(x / 2^e) is formed as the high part of x * 2^(31-e) in 64 bits; e = 0
 * (where 2^31 does not fit an i32 lane) is selected separately.
 */
// @ts-ignore: decorator
@inline export function rdbpot4(x: v128, e: v128): v128 {
  const one = i32x4.splat(1);
  // For e = 0 the lane value 2^31 wraps to i32.MIN_VALUE; that lane is selected away below.
  const p = powerOfTwo4(i32x4.sub(i32x4.splat(31), e));
  const lo = i64x2.shr_s(i64x2.extmul_low_i32x4_s(x, p), 31);
  const hi = i64x2.shr_s(i64x2.extmul_high_i32x4_s(x, p), 31);
  const shifted = v128.bitselect(x, v128.shuffle<i32>(lo, hi, 0, 2, 4, 6), i32x4.eq(e, i32x4.splat(0)));
  const mask = i32x4.sub(powerOfTwo4(e), one);
  const remainder = v128.and(x, mask);
  // threshold = (mask >> 1) + (x < 0); lt_s yields -1 for true, so subtract it.
  const threshold = i32x4.sub(i32x4.shr_s(mask, 1), i32x4.lt_s(x, i32x4.splat(0)));
  // gt_s yields -1 where the remainder rounds up: subtracting it adds one.
  return i32x4.sub(shifted, i32x4.gt_s(remainder, threshold));
}

/**
 * 2^k per lane for k in [0, 31] (k = 31 gives i32.MIN_VALUE bit pattern), via the float
 * exponent field: exact for every k, no table.
 */
// @ts-ignore: decorator
@inline export function powerOfTwo4(k: v128): v128 {
  // f32 2^k has bits (k + 127) << 23; truncation back to int is exact up to 2^30; 2^31 saturates
  // in trunc_sat, so form k = 31 separately as the sign bit.
  const f = i32x4.shl(i32x4.add(k, i32x4.splat(127)), 23);
  const asInt = i32x4.trunc_sat_f32x4_s(f);
  return v128.bitselect(i32x4.splat(i32.MIN_VALUE), asInt, i32x4.eq(k, i32x4.splat(31)));
}

/** Lane-wise MultiplyByQuantizedMultiplier with per-lane multiplier and shift. */
// @ts-ignore: decorator
@inline export function requant4(x: v128, multiplier: v128, shift: v128): v128 {
  const zero = i32x4.splat(0);
  const left = i32x4.max_s(shift, zero);
  const right = i32x4.max_s(i32x4.sub(zero, shift), zero);
  const scaled = i32x4.mul(x, powerOfTwo4(left));
  return rdbpot4(srdhm4(scaled, multiplier), right);
}

/**
 * Requantize an int32 matrix [rows][channels] to int8 with a per-tensor (perChannel = 0) or
 * per-channel multiplier/shift, an output zero point and an activation clamp.
 * Shapes and ranges are validated by the host wrapper.
 */
export function requantize_i32_i8(
  src: usize, dst: usize, rows: i32, channels: i32,
  multPtr: usize, shiftPtr: usize, perChannel: i32,
  outZeroPoint: i32, actMin: i32, actMax: i32,
): void {
  for (let r = 0; r < rows; r++) {
    const rowSrc = src + (<usize>r * <usize>channels << 2);
    const rowDst = dst + <usize>r * <usize>channels;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const zp = i32x4.splat(outZeroPoint);
      const lo = i32x4.splat(actMin);
      const hi = i32x4.splat(actMax);
      let m = i32x4.splat(load<i32>(multPtr));
      let s = i32x4.splat(load<i32>(shiftPtr));
      for (; c + 4 <= channels; c += 4) {
        if (perChannel) {
          m = v128.load(multPtr + (<usize>c << 2));
          s = v128.load(shiftPtr + (<usize>c << 2));
        }
        let y = i32x4.add(requant4(v128.load(rowSrc + (<usize>c << 2)), m, s), zp);
        y = i32x4.min_s(i32x4.max_s(y, lo), hi);
        const n16 = i16x8.narrow_i32x4_s(y, y);
        store<i32>(rowDst + c, i32x4.extract_lane(i8x16.narrow_i16x8_s(n16, n16), 0));
      }
    }
    for (; c < channels; c++) {
      const ci = perChannel ? c : 0;
      const m = load<i32>(multPtr + (<usize>ci << 2));
      const s = load<i32>(shiftPtr + (<usize>ci << 2));
      const y = requantScalar(load<i32>(rowSrc + (<usize>c << 2)), m, s) + outZeroPoint;
      store<i8>(rowDst + c, <i8>clampI32(y, actMin, actMax));
    }
  }
}
