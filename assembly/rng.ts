// Counter-based random stream for perturbation directions: z is a pure function of
// (seed, tensor id, element index), so it is regenerated instead of stored, and every build
// and platform produces the same values. See docs/KERNELS.md ("Random perturbations").
import { GAUSS_THRESHOLDS } from './gaussian_table';

export const DIST_GAUSSIAN: i32 = 0;
export const DIST_RADEMACHER: i32 = 1;

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

/** Gaussian z quantized to int8 (z_max = 3.5, Δz = 3.5/127), clipped to ±127. */
// @ts-ignore: decorator
@inline export function gaussianFromUniform(u: u32): i32 {
  const u31 = u & 0x7fffffff;
  // Branch-free binary search over 128 thresholds: magnitude = #{k : u31 >= T[k]}.
  let mag: u32 = 0;
  mag += select<u32>(64, 0, u31 >= load<u32>(GAUSS_THRESHOLDS + ((mag + 63) << 2)));
  mag += select<u32>(32, 0, u31 >= load<u32>(GAUSS_THRESHOLDS + ((mag + 31) << 2)));
  mag += select<u32>(16, 0, u31 >= load<u32>(GAUSS_THRESHOLDS + ((mag + 15) << 2)));
  mag += select<u32>(8, 0, u31 >= load<u32>(GAUSS_THRESHOLDS + ((mag + 7) << 2)));
  mag += select<u32>(4, 0, u31 >= load<u32>(GAUSS_THRESHOLDS + ((mag + 3) << 2)));
  mag += select<u32>(2, 0, u31 >= load<u32>(GAUSS_THRESHOLDS + ((mag + 1) << 2)));
  mag += select<u32>(1, 0, u31 >= load<u32>(GAUSS_THRESHOLDS + (mag << 2)));
  return (u >> 31) ? -<i32>mag : <i32>mag;
}

/** z at one element: Gaussian-quantized int8, or Rademacher ±oneQ (1.0 on the z grid). */
// @ts-ignore: decorator
@inline export function zAt(key: u32, index: u32, dist: i32, oneQ: i32): i32 {
  const u = uniformAt(key, index);
  if (dist == DIST_RADEMACHER) return (u >> 31) ? -oneQ : oneQ;
  return gaussianFromUniform(u);
}

/** Fill dst[0..count) with int8 z for elements start..start+count of a stream. */
export function rng_fill_z(dst: usize, count: i32, key: u32, start: u32, dist: i32, oneQ: i32): void {
  for (let i = 0; i < count; i++) {
    store<i8>(dst + <usize>i, <i8>zAt(key, start + <u32>i, dist, oneQ));
  }
}
