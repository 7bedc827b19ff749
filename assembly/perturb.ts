// Perturbed weights wq± = requant(wq·1q ± εq·zq) (Feng et al. 2024), formed in 32 bits and
// brought back to the weight grid by the integer multiplier/shift of 1/1q. Stored weights are
// never written here: the result goes to a scratch panel (or straight into a GEMM pack).
import { requantScalar, clampI32 } from './requant';
import { zAt } from './rng';

/** One perturbed weight. signedEps = ±εq; lo/hi are the weight grid's limits. */
// @ts-ignore: decorator
@inline export function perturbValue(
  w: i32, z: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32, lo: i32, hi: i32,
): i32 {
  return clampI32(requantScalar(w * oneQ + signedEps * z, mult, shift), lo, hi);
}

/**
 * dst[i] = perturb(src[i], z(key, start + i)) for int16 weights.
 * Host guarantees |w·1q| + |εq·127| < 2^31.
 */
export function perturb_w16(
  src: usize, dst: usize, count: i32, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  for (let i = 0; i < count; i++) {
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
  for (let i = 0; i < count; i++) {
    const w = <i32>load<i8>(src + <usize>i);
    const z = zAt(key, start + <u32>i, dist, oneQ);
    store<i8>(dst + <usize>i, <i8>perturbValue(w, z, signedEps, oneQ, mult, shift, -127, 127));
  }
}
