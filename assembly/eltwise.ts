// Element-wise int8 Add with TFLite Micro's quantized Add semantics (add.cc / AddFunc):
//   out = clamp(MBQM(MBQM((a − zA) << 20, mA, sA) + MBQM((b − zB) << 20, mB, sB), mOut, sOut) + zOut)
// where MBQM is MultiplyByQuantizedMultiplierSmallerThanOneExp (all shifts ≤ 0). The host
// derives the integers from the scales (src/kernels/eltwise.ts prepareAdd).
//
// This file also holds the lane helpers the depthwise and pooling kernels share: a cheaper
// SaturatingRoundingDoublingHighMul and a partial 16-byte store for channel tails.
import { requantScalar, clampI32 } from './requant';

/**
 * srdhm on i32x4 without its saturating case (a = b = INT32_MIN): callers either exclude it or
 * select it themselves. (P + 2^30) >> 31 keeps bits 31..62 of the 64-bit product P; doubling
 * first moves those bits to 32..63, so they are the odd i32 lanes. No 64-bit arithmetic shift
 * (which x64 lacks and engines emulate) is needed, and the bits are exactly the scalar ones.
 */
// @ts-ignore: decorator
@inline export function srdhmUnsat4(a: v128, b: v128): v128 {
  const nudge = i64x2.splat(<i64>1 << 31);
  const lo = i64x2.extmul_low_i32x4_s(a, b);
  const hi = i64x2.extmul_high_i32x4_s(a, b);
  return v128.shuffle<i32>(i64x2.add(i64x2.add(lo, lo), nudge), i64x2.add(i64x2.add(hi, hi), nudge), 1, 3, 5, 7);
}

/**
 * MultiplyByQuantizedMultiplierSmallerThanOneExp on four lanes with one multiplier (never
 * INT32_MIN: the host checks) and one right shift e in [0, 31]; mask = 2^e − 1 splatted.
 */
// @ts-ignore: decorator
@inline export function mulSmallerThanOne4(x: v128, mult: v128, e: i32, mask: v128): v128 {
  const y = srdhmUnsat4(x, mult);
  // gemmlowp RoundingDivideByPOT: threshold = (mask >> 1) + (y < 0); gt_s yields -1 to subtract.
  const threshold = i32x4.sub(i32x4.shr_u(mask, 1), i32x4.shr_s(y, 31));
  return i32x4.sub(i32x4.shr_s(y, e), i32x4.gt_s(v128.and(y, mask), threshold));
}

/** Stores the first n (0..16) bytes of v at ptr, touching nothing past ptr + n. */
// @ts-ignore: decorator
@inline export function storeFirstBytes(ptr: usize, v: v128, n: i32): void {
  if (n & 8) {
    v128.store64_lane(ptr, v, 0);
    v = i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    ptr += 8;
  }
  if (n & 4) {
    v128.store32_lane(ptr, v, 0);
    v = i8x16.shuffle(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
    ptr += 4;
  }
  if (n & 2) {
    v128.store16_lane(ptr, v, 0);
    v = i8x16.shuffle(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
    ptr += 2;
  }
  if (n & 1) v128.store8_lane(ptr, v, 0);
}

// @ts-ignore: decorator
@inline function addOne(
  x: i32, y: i32, offA: i32, offB: i32, outOffset: i32, leftShift: i32,
  mA: i32, sA: i32, mB: i32, sB: i32, mOut: i32, sOut: i32, actMin: i32, actMax: i32,
): i32 {
  const scaledA = requantScalar((x + offA) << leftShift, mA, sA);
  const scaledB = requantScalar((y + offB) << leftShift, mB, sB);
  const raw = requantScalar(scaledA + scaledB, mOut, sOut) + outOffset;
  return clampI32(raw, actMin, actMax);
}

/** (v + offset) << leftShift for the four i16 lanes of half `high` of i16x8 v, as i32x4. */
// @ts-ignore: decorator
@inline function widenShifted(v16: v128, high: bool, leftShift: i32): v128 {
  return i32x4.shl(high ? i32x4.extend_high_i16x8_s(v16) : i32x4.extend_low_i16x8_s(v16), leftShift);
}

// @ts-ignore: decorator
@inline function addLanes4(
  a16: v128, b16: v128, high: bool, leftShift: i32, mA: v128, eA: i32, maskA: v128,
  mB: v128, eB: i32, maskB: v128, mOut: v128, eOut: i32, maskOut: v128, outOffset: v128,
): v128 {
  const sa = mulSmallerThanOne4(widenShifted(a16, high, leftShift), mA, eA, maskA);
  const sb = mulSmallerThanOne4(widenShifted(b16, high, leftShift), mB, eB, maskB);
  return i32x4.add(mulSmallerThanOne4(i32x4.add(sa, sb), mOut, eOut, maskOut), outOffset);
}

/**
 * out[i] = TFLM quantized add of a[i] and b[i], i < count. offA/offB are −zero points, shifts
 * are ≤ 0 (host-validated), out may be a or b exactly (in place) but must not partly overlap.
 * SIMD tails load up to 15 bytes past a and b (inside the readable slack) and store only count.
 */
export function add_s8(
  a: usize, b: usize, out: usize, count: i32,
  offA: i32, offB: i32, outOffset: i32, leftShift: i32,
  mA: i32, sA: i32, mB: i32, sB: i32, mOut: i32, sOut: i32, actMin: i32, actMax: i32,
): void {
  if (ASC_FEATURE_SIMD) {
    const eA = -sA;
    const eB = -sB;
    const eOut = -sOut;
    const maskA = i32x4.splat(<i32>((<u32>1 << eA) - 1));
    const maskB = i32x4.splat(<i32>((<u32>1 << eB) - 1));
    const maskOut = i32x4.splat(<i32>((<u32>1 << eOut) - 1));
    const vmA = i32x4.splat(mA);
    const vmB = i32x4.splat(mB);
    const vmOut = i32x4.splat(mOut);
    const vOffA = i16x8.splat(<i16>offA);
    const vOffB = i16x8.splat(<i16>offB);
    const vOut = i32x4.splat(outOffset);
    const lo = i8x16.splat(<i8>actMin);
    const hi = i8x16.splat(<i8>actMax);
    for (let i = 0; i < count; i += 16) {
      const va = v128.load(a + <usize>i);
      const vb = v128.load(b + <usize>i);
      // x − zp lies in [−255, 255]: exact in i16.
      const a0 = i16x8.add(i16x8.extend_low_i8x16_s(va), vOffA);
      const a1 = i16x8.add(i16x8.extend_high_i8x16_s(va), vOffA);
      const b0 = i16x8.add(i16x8.extend_low_i8x16_s(vb), vOffB);
      const b1 = i16x8.add(i16x8.extend_high_i8x16_s(vb), vOffB);
      const r0 = addLanes4(a0, b0, false, leftShift, vmA, eA, maskA, vmB, eB, maskB, vmOut, eOut, maskOut, vOut);
      const r1 = addLanes4(a0, b0, true, leftShift, vmA, eA, maskA, vmB, eB, maskB, vmOut, eOut, maskOut, vOut);
      const r2 = addLanes4(a1, b1, false, leftShift, vmA, eA, maskA, vmB, eB, maskB, vmOut, eOut, maskOut, vOut);
      const r3 = addLanes4(a1, b1, true, leftShift, vmA, eA, maskA, vmB, eB, maskB, vmOut, eOut, maskOut, vOut);
      // Saturating narrows keep the order, so clamping after them equals clamping the i32s.
      const r = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(r0, r1), i16x8.narrow_i32x4_s(r2, r3));
      const y = i8x16.min_s(i8x16.max_s(r, lo), hi);
      if (count - i >= 16) v128.store(out + <usize>i, y);
      else storeFirstBytes(out + <usize>i, y, count - i);
    }
  } else {
    for (let i = 0; i < count; i++) {
      const x = <i32>load<i8>(a + <usize>i);
      const y = <i32>load<i8>(b + <usize>i);
      store<i8>(out + <usize>i, <i8>addOne(x, y, offA, offB, outOffset, leftShift, mA, sA, mB, sB, mOut, sOut, actMin, actMax));
    }
  }
}
