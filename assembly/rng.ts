// Counter-based random stream for perturbation directions: z is a pure function of
// (seed, tensor id, element index), so it is regenerated instead of stored, and every build
// and platform produces the same values. See docs/KERNELS.md ("Random perturbations").
//
// Each per-element helper has a 4-lane twin (suffix 4, SIMD builds only) that computes the same
// integers lane by lane: the hash is wrapping u32 arithmetic, and the Gaussian lookup reads the
// same tables after the same (IEEE, exactly specified) int→f32 rounding, so the SIMD stream is
// the scalar stream.
import { GAUSS_BUCKETS, GAUSS_BUCKET_SHIFT, GAUSS_BUCKET_BIAS } from './gaussian_table';

export const DIST_GAUSSIAN: i32 = 0;
export const DIST_RADEMACHER: i32 = 1;
/**
 * z already drawn into an int8 buffer (rng_fill_z with the stream's own key, start and dist): the
 * "key" argument is then the buffer's address and z at index i is the byte at key + i. Lets a step
 * generate each direction's z once and have both perturbed passes (and an m = 1 update) read it.
 */
export const DIST_BUFFER: i32 = 2;

/** lowbias32 (C. Wellons): a bijective 32-bit hash with very low avalanche bias. */
// @ts-ignore: decorator
@inline export function hash32(x: u32): u32 {
  x ^= x >> 16;
  x *= 0x7feb352d;
  x ^= x >> 15;
  x *= 0x846ca68b;
  x ^= x >> 16;
  return x;
}

/** Per-(seed, tensor) stream key. */
export function streamKey(seed: u32, tensorId: u32): u32 {
  return hash32(hash32(seed ^ 0x5bd1e995) ^ (tensorId * 0x9e3779b9 + 0x7f4a7c15));
}

/** Two keyed rounds of lowbias32 over the element counter: the uniform 32-bit draw. */
// @ts-ignore: decorator
@inline export function uniformAt(key: u32, index: u32): u32 {
  return hash32(hash32(index ^ key) + key);
}

/**
 * Gaussian z quantized to int8 (z_max = 3.5, Δz = 3.5/127), clipped to ±127: the top bit is the
 * sign, the low 31 bits u31 pick the magnitude #{k : u31 >= T[k]} from the half-normal
 * thresholds. The count is read from a guide table keyed by the f32 exponent and top mantissa
 * bits of the distance to the top, v = 2^31 - 1 - u31 (fine buckets in the tails, where the
 * thresholds crowd together); each bucket holds at most one threshold, so one compare finishes
 * the count. Two independent loads instead of a 7-step dependent binary search.
 */
// @ts-ignore: decorator
@inline export function gaussianFromUniform(u: u32): i32 {
  const u31 = u & 0x7fffffff;
  const v = <i32>(0x7fffffff - u31);
  const bits = reinterpret<i32>(<f32>v);
  const bucket = max((bits >> GAUSS_BUCKET_SHIFT) - GAUSS_BUCKET_BIAS, 0);
  const entry = load<u64>(GAUSS_BUCKETS + (<usize>bucket << 3));
  const mag = <i32>(entry >> 32) + <i32>(u31 >= <u32>entry);
  const sign = <i32>u >> 31;
  return (mag ^ sign) - sign;
}

/** z at one element: Gaussian-quantized int8, or Rademacher ±oneQ (1.0 on the z grid). */
// @ts-ignore: decorator
@inline export function zAt(key: u32, index: u32, dist: i32, oneQ: i32): i32 {
  if (dist == DIST_BUFFER) return <i32>load<i8>(<usize>key + <usize>index);
  const u = uniformAt(key, index);
  if (dist == DIST_RADEMACHER) return (u >> 31) ? -oneQ : oneQ;
  return gaussianFromUniform(u);
}

/** hash32 on four lanes (SIMD builds only). */
// @ts-ignore: decorator
@inline export function hash32x4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(<i32>0x846ca68b));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

/** uniformAt on four lanes: key splatted, index per lane (SIMD builds only). */
// @ts-ignore: decorator
@inline export function uniformAt4(key4: v128, index4: v128): v128 {
  return hash32x4(i32x4.add(hash32x4(v128.xor(index4, key4)), key4));
}

/** gaussianFromUniform on four lanes; the table reads are per-lane 64-bit lane loads. */
// @ts-ignore: decorator
@inline export function gaussianFromUniform4(u: v128): v128 {
  const top = i32x4.splat(0x7fffffff);
  const u31 = v128.and(u, top);
  const bits = f32x4.convert_i32x4_s(i32x4.sub(top, u31));
  // Byte address of bucket max((bits >> SHIFT) − BIAS, 0): bits ≥ 0 (v ≥ 0), so the bucket times 8
  // is (bits >> (SHIFT − 3)) with the low 3 bits cleared, and the clamp at bucket 0 is a max with
  // the table's base address.
  const table = <i32>GAUSS_BUCKETS;
  const addr = i32x4.max_s(
    i32x4.add(v128.and(i32x4.shr_u(bits, GAUSS_BUCKET_SHIFT - 3), i32x4.splat(-8)), i32x4.splat(table - (GAUSS_BUCKET_BIAS << 3))),
    i32x4.splat(table));
  let lo = v128.load64_zero(<usize>i32x4.extract_lane(addr, 0));
  lo = v128.load64_lane(<usize>i32x4.extract_lane(addr, 1), lo, 1);
  let hi = v128.load64_zero(<usize>i32x4.extract_lane(addr, 2));
  hi = v128.load64_lane(<usize>i32x4.extract_lane(addr, 3), hi, 1);
  const threshold = v128.shuffle<i32>(lo, hi, 0, 2, 4, 6);
  const base = v128.shuffle<i32>(lo, hi, 1, 3, 5, 7);
  // ge_u is -1 where the lane passes its threshold: subtracting it adds one.
  const mag = i32x4.sub(base, i32x4.ge_u(u31, threshold));
  const sign = i32x4.shr_s(u, 31);
  return i32x4.sub(v128.xor(mag, sign), sign);
}

/** zAt for indices index4 (one per lane), as i32 lanes (SIMD builds only). */
// @ts-ignore: decorator
@inline export function zAt4(key4: v128, index4: v128, dist: i32, oneQ: i32): v128 {
  if (dist == DIST_BUFFER) {
    // Every caller passes four consecutive indices (laneIndices4): one 4-byte load, sign-extended.
    const at = <usize><u32>i32x4.extract_lane(key4, 0) + <usize><u32>i32x4.extract_lane(index4, 0);
    return i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(at)));
  }
  const u = uniformAt4(key4, index4);
  if (dist == DIST_RADEMACHER) {
    const sign = i32x4.shr_s(u, 31);
    return i32x4.sub(v128.xor(i32x4.splat(oneQ), sign), sign);
  }
  return gaussianFromUniform4(u);
}

/** Lane offsets 0..3 added to a splatted start index. */
// @ts-ignore: decorator
@inline export function laneIndices4(first: u32): v128 {
  return i32x4.add(i32x4.splat(<i32>first), i32x4(0, 1, 2, 3));
}

/** Fill dst[0..count) with int8 z for elements start..start+count of a stream. */
export function rng_fill_z(dst: usize, count: i32, key: u32, start: u32, dist: i32, oneQ: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const key4 = i32x4.splat(<i32>key);
    for (; i + 16 <= count; i += 16) {
      const first = start + <u32>i;
      const z0 = zAt4(key4, laneIndices4(first), dist, oneQ);
      const z1 = zAt4(key4, laneIndices4(first + 4), dist, oneQ);
      const z2 = zAt4(key4, laneIndices4(first + 8), dist, oneQ);
      const z3 = zAt4(key4, laneIndices4(first + 12), dist, oneQ);
      const lo = i16x8.narrow_i32x4_s(z0, z1);
      const hi = i16x8.narrow_i32x4_s(z2, z3);
      v128.store(dst + <usize>i, i8x16.narrow_i16x8_s(lo, hi));
    }
  }
  for (; i < count; i++) {
    store<i8>(dst + <usize>i, <i8>zAt(key, start + <u32>i, dist, oneQ));
  }
}
