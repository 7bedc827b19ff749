// Kernels for the trainer's optional modes (docs/TRAINING.md): perturbation into a materialised
// scratch panel (sparse masks, stored momentum z, stochastic rounding for 8-bit weights), int32 bias
// perturbation and update, momentum-guided z and its int8 history.
//
// These are deliberately one scalar loop, compiled unchanged into every build: the scalar, simd and
// relaxed builds then run the same instructions and agree bit for bit by construction. The panels
// they fill are touched once per forward pass (not once per MAC), so a SIMD twin would buy little.
//
// Conventions shared by every kernel here:
//   zbuf = 0   z is regenerated from the counter stream (key, start + i), as perturb_w16 does;
//   zbuf != 0  z is read from an int8 buffer (momentum-guided sampling materialises it);
//   mask = 0   dense; else bit i & 7 of byte i >> 3 set = element i trains (as update_w16);
//   ditherShift = 0  deterministic rounding (TFLM requant, the paper's scheme);
//   ditherShift > 0  stochastic rounding: floor((x·mult + d) / 2^ditherShift), d uniform in
//                    [0, 2^ditherShift) from the stream (ditherKey, start + i), so E[step] = x·mult/2^shift
//                    and sub-LSB perturbations and updates survive on a coarse (8-bit) grid.
import { requantScalar, clampI32 } from './requant';
import { zAt, uniformAt, gaussianFromUniform } from './rng';
import { perturbValue } from './perturb';

// @ts-ignore: decorator
@inline function zOf(zbuf: usize, i: i32, key: u32, index: u32, dist: i32, oneQ: i32): i32 {
  return zbuf != 0 ? <i32>load<i8>(zbuf + <usize>i) : zAt(key, index, dist, oneQ);
}

// @ts-ignore: decorator
@inline function trains(mask: usize, i: i32): bool {
  return mask == 0 || ((<i32>load<u8>(mask + (<usize>i >> 3)) >> (i & 7)) & 1) != 0;
}

/** floor((x·mult + d) / 2^shift), d the top `shift` bits of a 32-bit draw (shift in [1, 62]). */
// @ts-ignore: decorator
@inline function ditherScale(x: i32, mult: i32, shift: i32, ditherKey: u32, index: u32): i32 {
  const u = <u64>uniformAt(ditherKey, index);
  const d: i64 = shift >= 32 ? <i64>(u << <u64>(shift - 32)) : <i64>(u >> <u64>(32 - shift));
  return <i32>((<i64>x * <i64>mult + d) >> <i64>shift);
}

/** Σ_j s_j·z_j at element i: z_j from zbuf + j·zStride, or regenerated from keys[j]. */
// @ts-ignore: decorator
@inline function gradientAt(i: i32, index: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32, dist: i32, oneQ: i32): i32 {
  let g = 0;
  for (let j = 0; j < m; j++) {
    const s = load<i32>(signs + (<usize>j << 2));
    if (s == 0) continue;
    const z = zbuf != 0 ? <i32>load<i8>(zbuf + <usize>(j * zStride + i)) : zAt(load<u32>(keys + (<usize>j << 2)), index, dist, oneQ);
    g += s * z;
  }
  return g;
}

// @ts-ignore: decorator
@inline function perturbOne(
  w: i32, z: i32, index: u32, signedEps: i32, oneQ: i32, mult: i32, shift: i32,
  ditherKey: u32, ditherMult: i32, ditherShift: i32, lo: i32, hi: i32,
): i32 {
  if (ditherShift == 0) return perturbValue(w, z, signedEps, oneQ, mult, shift, lo, hi);
  // One δ per (direction, element), applied as +δ and −δ: the pair stays antithetic.
  const delta = ditherScale(z, ditherMult, ditherShift, ditherKey, index);
  return clampI32(w + (signedEps < 0 ? -delta : delta), lo, hi);
}

/**
 * dst[i] = perturbed src[i] for trainable elements, src[i] otherwise (int16 weights).
 * Deterministic mode is perturb_w16's formula; in dither mode signedEps only gives the sign.
 */
export function zo_perturb_w16(
  src: usize, dst: usize, count: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32, mask: usize,
  ditherKey: u32, ditherMult: i32, ditherShift: i32,
): void {
  for (let i = 0; i < count; i++) {
    const p = <usize>i << 1;
    const w = <i32>load<i16>(src + p);
    if (!trains(mask, i)) {
      store<i16>(dst + p, <i16>w);
      continue;
    }
    const index = start + <u32>i;
    const z = zOf(zbuf, i, key, index, dist, oneQ);
    store<i16>(dst + p, <i16>perturbOne(w, z, index, signedEps, oneQ, mult, shift, ditherKey, ditherMult, ditherShift, -32767, 32767));
  }
}

/** zo_perturb_w16 for int8 weights (8w8a). */
export function zo_perturb_w8(
  src: usize, dst: usize, count: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32, mask: usize,
  ditherKey: u32, ditherMult: i32, ditherShift: i32,
): void {
  for (let i = 0; i < count; i++) {
    const w = <i32>load<i8>(src + <usize>i);
    if (!trains(mask, i)) {
      store<i8>(dst + <usize>i, <i8>w);
      continue;
    }
    const index = start + <u32>i;
    const z = zOf(zbuf, i, key, index, dist, oneQ);
    store<i8>(dst + <usize>i, <i8>perturbOne(w, z, index, signedEps, oneQ, mult, shift, ditherKey, ditherMult, ditherShift, -127, 127));
  }
}

/** Number of trainable elements among [0, count): popcount of the mask, or count when dense. */
function trainableCount(mask: usize, count: i32): i32 {
  if (mask == 0) return count;
  let n = 0;
  const full = count >> 3;
  for (let i = 0; i < full; i++) n += <i32>popcnt(<u32>load<u8>(mask + <usize>i));
  for (let i = full << 3; i < count; i++) n += <i32>trains(mask, i);
  return n;
}

/**
 * In place, for one layer at a time: each trainable w[i] is copied to backup (in order) and replaced
 * by exactly the value zo_perturb_w16/w8 would write into a panel (same z, mask and dither), so the
 * forward reads the perturbed layer from its stored buffer and no panel the size of the tensor is
 * needed. wide = 1 for int16 weights, 0 for int8. Returns the number of elements saved, or -1 with
 * nothing written if more than `capacity` elements train.
 */
export function zo_perturb_inplace(
  w: usize, count: i32, wide: i32, backup: usize, capacity: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32, mask: usize,
  ditherKey: u32, ditherMult: i32, ditherShift: i32,
): i32 {
  if (trainableCount(mask, count) > capacity) return -1;
  let k = 0;
  for (let i = 0; i < count; i++) {
    if (!trains(mask, i)) continue;
    const index = start + <u32>i;
    const z = zOf(zbuf, i, key, index, dist, oneQ);
    if (wide) {
      const p = w + (<usize>i << 1);
      const v = <i32>load<i16>(p);
      store<i16>(backup + (<usize>k << 1), <i16>v);
      store<i16>(p, <i16>perturbOne(v, z, index, signedEps, oneQ, mult, shift, ditherKey, ditherMult, ditherShift, -32767, 32767));
    } else {
      const p = w + <usize>i;
      const v = <i32>load<i8>(p);
      store<i8>(backup + <usize>k, <i8>v);
      store<i8>(p, <i8>perturbOne(v, z, index, signedEps, oneQ, mult, shift, ditherKey, ditherMult, ditherShift, -127, 127));
    }
    k++;
  }
  return k;
}

/** Puts back what zo_perturb_inplace saved: trainable w[i] ← backup[k], in the same order. */
export function zo_restore_inplace(w: usize, count: i32, wide: i32, backup: usize, mask: usize): void {
  let k = 0;
  for (let i = 0; i < count; i++) {
    if (!trains(mask, i)) continue;
    if (wide) store<i16>(w + (<usize>i << 1), load<i16>(backup + (<usize>k << 1)));
    else store<i8>(w + <usize>i, load<i8>(backup + <usize>k));
    k++;
  }
}

// @ts-ignore: decorator
@inline function stepOf(g: i32, index: u32, mult: i32, shift: i32, ditherKey: u32, ditherShift: i32): i32 {
  return ditherShift == 0 ? requantScalar(g, mult, shift) : ditherScale(g, mult, ditherShift, ditherKey, index);
}

/**
 * In place: w[i] ← clamp(w[i] − step(Σ_j s_j·z_j[i])) for trainable i (int16 weights). With
 * zbuf = 0, mask = 0 and ditherShift = 0 this is update_w16 exactly.
 */
export function zo_update_w16(
  w: usize, count: i32, start: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, mult: i32, shift: i32, mask: usize, ditherKey: u32, ditherShift: i32,
): void {
  for (let i = 0; i < count; i++) {
    if (!trains(mask, i)) continue;
    const index = start + <u32>i;
    const g = gradientAt(i, index, zbuf, zStride, keys, signs, m, dist, oneQ);
    if (g == 0) continue;
    const p = w + (<usize>i << 1);
    store<i16>(p, <i16>clampI32(<i32>load<i16>(p) - stepOf(g, index, mult, shift, ditherKey, ditherShift), -32767, 32767));
  }
}

/** zo_update_w16 for int8 weights. */
export function zo_update_w8(
  w: usize, count: i32, start: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, mult: i32, shift: i32, mask: usize, ditherKey: u32, ditherShift: i32,
): void {
  for (let i = 0; i < count; i++) {
    if (!trains(mask, i)) continue;
    const index = start + <u32>i;
    const g = gradientAt(i, index, zbuf, zStride, keys, signs, m, dist, oneQ);
    if (g == 0) continue;
    const p = w + <usize>i;
    store<i8>(p, <i8>clampI32(<i32>load<i8>(p) - stepOf(g, index, mult, shift, ditherKey, ditherShift), -127, 127));
  }
}

// @ts-ignore: decorator
@inline function saturate32(x: i64): i32 {
  return x < <i64>i32.MIN_VALUE ? i32.MIN_VALUE : x > <i64>i32.MAX_VALUE ? i32.MAX_VALUE : <i32>x;
}

/**
 * dst[i] = sat32(src[i] + sign·requant(z_i, mult, shift)) for int32 biases: (mult, shift) is
 * ε·Δz/Δb, the perturbation of one z step in bias LSBs. Host guarantees |127 << shift| < 2^31.
 */
export function zo_perturb_bias_i32(
  src: usize, dst: usize, count: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  sign: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  for (let i = 0; i < count; i++) {
    const p = <usize>i << 2;
    const z = zOf(zbuf, i, key, start + <u32>i, dist, oneQ);
    const delta = requantScalar(z, mult, shift);
    store<i32>(dst + p, saturate32(<i64>load<i32>(src + p) + <i64>(sign < 0 ? -delta : delta)));
  }
}

/**
 * In place: b[i] ← b[i] + sign·requant(z_i, mult, shift), the same values zo_perturb_bias_i32 writes
 * into a panel, without the panel. Restorable exactly (zo_restore_bias_i32) because nothing
 * saturates: if some element would, every element written so far is put back and i + 1 is returned
 * (0 = done), so the stored bias is never left perturbed.
 */
export function zo_perturb_bias_inplace_i32(
  b: usize, count: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  sign: i32, oneQ: i32, mult: i32, shift: i32,
): i32 {
  for (let i = 0; i < count; i++) {
    const p = b + (<usize>i << 2);
    const delta = requantScalar(zOf(zbuf, i, key, start + <u32>i, dist, oneQ), mult, shift);
    const next = <i64>load<i32>(p) + <i64>(sign < 0 ? -delta : delta);
    if (next < <i64>i32.MIN_VALUE || next > <i64>i32.MAX_VALUE) {
      zo_restore_bias_i32(b, i, zbuf, key, start, dist, sign, oneQ, mult, shift);
      return i + 1;
    }
    store<i32>(p, <i32>next);
  }
  return 0;
}

/** Undoes zo_perturb_bias_inplace_i32 on elements [0, count): b[i] ← b[i] − sign·requant(z_i). */
export function zo_restore_bias_i32(
  b: usize, count: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  sign: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  for (let i = 0; i < count; i++) {
    const p = b + (<usize>i << 2);
    const delta = requantScalar(zOf(zbuf, i, key, start + <u32>i, dist, oneQ), mult, shift);
    store<i32>(p, load<i32>(p) - (sign < 0 ? -delta : delta));
  }
}

/** In place: b[i] ← sat32(b[i] − requant(Σ_j s_j·z_j[i], c)), c = η·Δz/Δb/m. Host: |8·127 << shift| < 2^31. */
export function zo_update_bias_i32(
  b: usize, count: i32, start: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  for (let i = 0; i < count; i++) {
    const g = gradientAt(i, start + <u32>i, zbuf, zStride, keys, signs, m, dist, oneQ);
    if (g == 0) continue;
    const p = b + (<usize>i << 2);
    store<i32>(p, saturate32(<i64>load<i32>(p) - <i64>requantScalar(g, mult, shift)));
  }
}

/**
 * Momentum-guided z (Feng et al. 2024): z = β·z1 + (1−β)·z2, z1 = √α·n1, z2 = h + √(1−α)·n2, with
 * n1, n2 independent int8 Gaussians from streams key1, key2 and h the int8 history. The host passes
 * c1 = β√α, c2 = 1−β, c3 = (1−β)√(1−α) in Q15; the sum rounds half up and clips to ±127.
 */
export function zo_momentum_z(
  dst: usize, hist: usize, count: i32, key1: u32, key2: u32, start: u32, c1: i32, c2: i32, c3: i32,
): void {
  for (let i = 0; i < count; i++) {
    const index = start + <u32>i;
    const n1 = gaussianFromUniform(uniformAt(key1, index));
    const n2 = gaussianFromUniform(uniformAt(key2, index));
    const h = <i32>load<i8>(hist + <usize>i);
    const z = (c1 * n1 + c2 * h + c3 * n2 + (1 << 14)) >> 15;
    store<i8>(dst + <usize>i, <i8>clampI32(z, -127, 127));
  }
}

/**
 * The next history: h[i] = clip(round(Σ_j s_j·z_j[i] / m)), the step's estimated gradient on the
 * z grid (ĝ of the paper), rounded half away from zero.
 */
export function zo_history(hist: usize, count: i32, zbuf: usize, zStride: i32, signs: usize, m: i32): void {
  for (let i = 0; i < count; i++) {
    const g = gradientAt(i, 0, zbuf, zStride, 0, signs, m, 0, 0);
    const half = m >> 1;
    const r = g >= 0 ? (g + half) / m : -((-g + half) / m);
    store<i8>(hist + <usize>i, <i8>clampI32(r, -127, 127));
  }
}
