// Perturbed weights wq± = requant(wq·1q ± εq·zq) (Feng et al. 2024), formed in 32 bits and
// brought back to the weight grid by the integer multiplier/shift of 1/1q. Stored weights are
// never written here: the result goes to a scratch panel (or straight into a GEMM pack).
import { requantScalar, clampI32, srdhm4 } from './requant';
import { requantFast4, fastRequantBias, usesFastRequant } from './gemm_requant';
import { zAt, zAt4, laneIndices4 } from './rng';

/** One perturbed weight. signedEps = ±εq; lo/hi are the weight grid's limits. */
// @ts-ignore: decorator
@inline export function perturbValue(
  w: i32, z: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32, lo: i32, hi: i32,
): i32 {
  return clampI32(requantScalar(w * oneQ + signedEps * z, mult, shift), lo, hi);
}

/**
 * srdhm4 with one multiplier for every lane. Only the low 32 bits of each 64-bit lane survive the
 * final shuffle, and a logical shift by 31 leaves the same low 32 bits as an arithmetic one, so the
 * cheap i64x2.shr_u replaces i64x2.shr_s (which Wasm engines emulate on x86). The one saturating
 * case, a = mult = INT32_MIN, needs mult = INT32_MIN and takes srdhm4.
 */
// @ts-ignore: decorator
@inline export function srdhmUniform4(a: v128, mult: i32): v128 {
  const b = i32x4.splat(mult);
  if (mult == i32.MIN_VALUE) return srdhm4(a, b);
  const nudge = i64x2.splat(<i64>1 << 30);
  const lo = i64x2.shr_u(i64x2.add(i64x2.extmul_low_i32x4_s(a, b), nudge), 31);
  const hi = i64x2.shr_u(i64x2.add(i64x2.extmul_high_i32x4_s(a, b), nudge), 31);
  return v128.shuffle<i32>(lo, hi, 0, 2, 4, 6);
}

/**
 * TFLM MultiplyByQuantizedMultiplier on four lanes with one multiplier and one shift for all of
 * them: the shifts are then plain SIMD shifts, cheaper than requant4's per-lane form. A right
 * shift (the perturbation's 1/1q, shift −5) takes requantFast4, the GEMM epilogue's exact
 * single-division form; a left shift (the update's step size) has no RoundingDivideByPOT at all.
 */
// @ts-ignore: decorator
@inline export function requantUniform4(x: v128, mult: i32, shift: i32): v128 {
  if (usesFastRequant(shift)) return requantFast4(x, i32x4.splat(mult), -shift - 1, fastRequantBias(-shift));
  return srdhmUniform4(i32x4.shl(x, shift), mult);
}

/** perturbValue on four lanes (SIMD builds only). */
// @ts-ignore: decorator
@inline export function perturbValue4(
  w: v128, z: v128, signedEps: i32, oneQ: i32, mult: i32, shift: i32, lo: i32, hi: i32,
): v128 {
  const sum = i32x4.add(i32x4.mul(w, i32x4.splat(oneQ)), i32x4.mul(z, i32x4.splat(signedEps)));
  const r = requantUniform4(sum, mult, shift);
  return i32x4.min_s(i32x4.max_s(r, i32x4.splat(lo)), i32x4.splat(hi));
}

/**
 * dst[i] = perturb(src[i], z(key, start + i)) for int16 weights.
 * Host guarantees |w·1q| + |εq·127| < 2^31.
 */
export function perturb_w16(
  src: usize, dst: usize, count: i32, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const key4 = i32x4.splat(<i32>key);
    for (; i + 8 <= count; i += 8) {
      const w = v128.load(src + (<usize>i << 1));
      const first = start + <u32>i;
      const r0 = perturbValue4(i32x4.extend_low_i16x8_s(w), zAt4(key4, laneIndices4(first), dist, oneQ),
        signedEps, oneQ, mult, shift, -32767, 32767);
      const r1 = perturbValue4(i32x4.extend_high_i16x8_s(w), zAt4(key4, laneIndices4(first + 4), dist, oneQ),
        signedEps, oneQ, mult, shift, -32767, 32767);
      v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_s(r0, r1));
    }
  }
  for (; i < count; i++) {
    const w = <i32>load<i16>(src + (<usize>i << 1));
    const z = zAt(key, start + <u32>i, dist, oneQ);
    store<i16>(dst + (<usize>i << 1), <i16>perturbValue(w, z, signedEps, oneQ, mult, shift, -32767, 32767));
  }
}

/** Same as perturb_w16 for int8 weights (8w8a). */
export function perturb_w8(
  src: usize, dst: usize, count: i32, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const key4 = i32x4.splat(<i32>key);
    for (; i + 16 <= count; i += 16) {
      const w = v128.load(src + <usize>i);
      const wLo = i16x8.extend_low_i8x16_s(w);
      const wHi = i16x8.extend_high_i8x16_s(w);
      const first = start + <u32>i;
      const r0 = perturbValue4(i32x4.extend_low_i16x8_s(wLo), zAt4(key4, laneIndices4(first), dist, oneQ),
        signedEps, oneQ, mult, shift, -127, 127);
      const r1 = perturbValue4(i32x4.extend_high_i16x8_s(wLo), zAt4(key4, laneIndices4(first + 4), dist, oneQ),
        signedEps, oneQ, mult, shift, -127, 127);
      const r2 = perturbValue4(i32x4.extend_low_i16x8_s(wHi), zAt4(key4, laneIndices4(first + 8), dist, oneQ),
        signedEps, oneQ, mult, shift, -127, 127);
      const r3 = perturbValue4(i32x4.extend_high_i16x8_s(wHi), zAt4(key4, laneIndices4(first + 12), dist, oneQ),
        signedEps, oneQ, mult, shift, -127, 127);
      v128.store(dst + <usize>i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(r0, r1), i16x8.narrow_i32x4_s(r2, r3)));
    }
  }
  for (; i < count; i++) {
    const w = <i32>load<i8>(src + <usize>i);
    const z = zAt(key, start + <u32>i, dist, oneQ);
    store<i8>(dst + <usize>i, <i8>perturbValue(w, z, signedEps, oneQ, mult, shift, -127, 127));
  }
}
