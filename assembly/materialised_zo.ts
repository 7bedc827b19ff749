// Kernels for the trainer's optional modes (docs/TRAINING.md): perturbation into a materialised
// scratch panel (sparse masks, stored momentum z, stochastic rounding for 8-bit weights), int32 bias
// perturbation and update, momentum-guided z and its int8 history.
//
// The weight kernels (perturbation into a panel, in place, and the update) have a 4-lane SIMD path
// for deterministic rounding in the simd and relaxed builds: the same integers lane by lane (z from
// zAt4, requantUniform4 = requantScalar), so every build agrees bit for bit (test/zo-simd.test.ts).
// Stochastic rounding, the int32 bias kernels and the momentum kernels stay one scalar loop in every
// build: their data is small (biases, one history per step) or they are opt-in remedies.
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
import { zAt, zAt4, laneIndices4, uniformAt, gaussianFromUniform } from './rng';
import { perturbValue, perturbValue4, requantUniform4 } from './perturb';

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

// Weight element access for both widths: `wide` is a literal at every exported call site (or a
// loop-invariant flag), so each width compiles to its own straight loop.
// @ts-ignore: decorator
@inline function loadW(base: usize, i: i32, wide: bool): i32 {
  return wide ? <i32>load<i16>(base + (<usize>i << 1)) : <i32>load<i8>(base + <usize>i);
}

// @ts-ignore: decorator
@inline function storeW(base: usize, i: i32, v: i32, wide: bool): void {
  if (wide) store<i16>(base + (<usize>i << 1), <i16>v);
  else store<i8>(base + <usize>i, <i8>v);
}

/** Elements i..i+3 sign-extended to i32 lanes (SIMD builds only). */
// @ts-ignore: decorator
@inline function loadW4(base: usize, i: i32, wide: bool): v128 {
  return wide
    ? i32x4.extend_low_i16x8_s(v128.load64_zero(base + (<usize>i << 1)))
    : i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(base + <usize>i)));
}

/** Stores four i32 lanes already inside the weight grid as elements i..i+3 (SIMD builds only). */
// @ts-ignore: decorator
@inline function storeW4(base: usize, i: i32, v: v128, wide: bool): void {
  const narrow = i16x8.narrow_i32x4_s(v, v);
  if (wide) v128.store64_lane(base + (<usize>i << 1), narrow, 0);
  else v128.store32_lane(base + <usize>i, i8x16.narrow_i16x8_s(narrow, narrow), 0);
}

/** The mask bits of elements i..i+3 (i a multiple of 4), 0xf when dense. */
// @ts-ignore: decorator
@inline function maskBits4(mask: usize, i: i32): i32 {
  return mask == 0 ? 0xf : (<i32>load<u8>(mask + (<usize>i >> 3)) >> (i & 4)) & 0xf;
}

/** Lanes whose mask bit is clear become all-ones (the lanes to keep unchanged). */
// @ts-ignore: decorator
@inline function frozenLanes4(bits: i32): v128 {
  const probe = i32x4(1, 2, 4, 8);
  return i32x4.ne(v128.and(i32x4.splat(bits), probe), probe);
}

/** z for elements i..i+3 (stream indices index..index+3): the int8 buffer or the stream. */
// @ts-ignore: decorator
@inline function zOf4(zbuf: usize, i: i32, key4: v128, index: u32, dist: i32, oneQ: i32): v128 {
  return zbuf != 0
    ? i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(zbuf + <usize>i)))
    : zAt4(key4, laneIndices4(index), dist, oneQ);
}

/**
 * dst[i] = perturbed src[i] for trainable i, src[i] otherwise, in either width. dst may equal src
 * (each element is read before it is written). Returns nothing; the scalar tail and the dither
 * mode run the per-element form.
 */
// @ts-ignore: decorator
@inline function perturbWeights(
  src: usize, dst: usize, count: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32, mask: usize,
  ditherKey: u32, ditherMult: i32, ditherShift: i32, wide: bool,
): void {
  const hi = wide ? 32767 : 127;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (ditherShift == 0) {
      const key4 = i32x4.splat(<i32>key);
      for (; i + 4 <= count; i += 4) {
        const bits = maskBits4(mask, i);
        const w = loadW4(src, i, wide);
        let r = w;
        if (bits != 0) {
          r = perturbValue4(w, zOf4(zbuf, i, key4, start + <u32>i, dist, oneQ), signedEps, oneQ, mult, shift, -hi, hi);
          if (bits != 0xf) r = v128.bitselect(w, r, frozenLanes4(bits));
        }
        storeW4(dst, i, r, wide);
      }
    }
  }
  for (; i < count; i++) {
    const w = loadW(src, i, wide);
    if (!trains(mask, i)) {
      storeW(dst, i, w, wide);
      continue;
    }
    const index = start + <u32>i;
    const z = zOf(zbuf, i, key, index, dist, oneQ);
    storeW(dst, i, perturbOne(w, z, index, signedEps, oneQ, mult, shift, ditherKey, ditherMult, ditherShift, -hi, hi), wide);
  }
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
  perturbWeights(src, dst, count, zbuf, key, start, dist, signedEps, oneQ, mult, shift, mask, ditherKey, ditherMult, ditherShift, true);
}

/** zo_perturb_w16 for int8 weights (8w8a). */
export function zo_perturb_w8(
  src: usize, dst: usize, count: i32, zbuf: usize, key: u32, start: u32, dist: i32,
  signedEps: i32, oneQ: i32, mult: i32, shift: i32, mask: usize,
  ditherKey: u32, ditherMult: i32, ditherShift: i32,
): void {
  perturbWeights(src, dst, count, zbuf, key, start, dist, signedEps, oneQ, mult, shift, mask, ditherKey, ditherMult, ditherShift, false);
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
  const isWide = wide != 0;
  if (mask == 0) {
    // Dense: the backup is the whole tensor in order, and the perturbation runs in place.
    memory.copy(backup, w, <usize>count << <usize>(isWide ? 1 : 0));
    if (isWide) perturbWeights(w, w, count, zbuf, key, start, dist, signedEps, oneQ, mult, shift, 0, ditherKey, ditherMult, ditherShift, true);
    else perturbWeights(w, w, count, zbuf, key, start, dist, signedEps, oneQ, mult, shift, 0, ditherKey, ditherMult, ditherShift, false);
    return count;
  }
  const hi = isWide ? 32767 : 127;
  let k = 0;
  for (let i = 0; i < count; i++) {
    if (!trains(mask, i)) continue;
    const index = start + <u32>i;
    const z = zOf(zbuf, i, key, index, dist, oneQ);
    const v = loadW(w, i, isWide);
    storeW(backup, k, v, isWide);
    storeW(w, i, perturbOne(v, z, index, signedEps, oneQ, mult, shift, ditherKey, ditherMult, ditherShift, -hi, hi), isWide);
    k++;
  }
  return k;
}

/** Puts back what zo_perturb_inplace saved: trainable w[i] ← backup[k], in the same order. */
export function zo_restore_inplace(w: usize, count: i32, wide: i32, backup: usize, mask: usize): void {
  const isWide = wide != 0;
  if (mask == 0) {
    memory.copy(w, backup, <usize>count << <usize>(isWide ? 1 : 0));
    return;
  }
  let k = 0;
  for (let i = 0; i < count; i++) {
    if (!trains(mask, i)) continue;
    storeW(w, i, loadW(backup, k, isWide), isWide);
    k++;
  }
}

// @ts-ignore: decorator
@inline function stepOf(g: i32, index: u32, mult: i32, shift: i32, ditherKey: u32, ditherShift: i32): i32 {
  return ditherShift == 0 ? requantScalar(g, mult, shift) : ditherScale(g, mult, ditherShift, ditherKey, index);
}

/** Σ_j s_j·z_j for elements i..i+3 (SIMD builds only), z_j as gradientAt reads it. */
// @ts-ignore: decorator
@inline function gradientAt4(i: i32, index: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32, dist: i32, oneQ: i32): v128 {
  let g = i32x4.splat(0);
  const index4 = laneIndices4(index);
  for (let j = 0; j < m; j++) {
    const s = load<i32>(signs + (<usize>j << 2));
    if (s == 0) continue;
    const z = zbuf != 0
      ? i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(zbuf + <usize>(j * zStride + i))))
      : zAt4(i32x4.splat(load<i32>(keys + (<usize>j << 2))), index4, dist, oneQ);
    g = s > 0 ? i32x4.add(g, z) : i32x4.sub(g, z);
  }
  return g;
}

/** In place, either width: w[i] ← clamp(w[i] − step(g_i)) for trainable i with g_i ≠ 0. */
// @ts-ignore: decorator
@inline function updateWeights(
  w: usize, count: i32, start: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, mult: i32, shift: i32, mask: usize, ditherKey: u32, ditherShift: i32, wide: bool,
): void {
  const hi = wide ? 32767 : 127;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (ditherShift == 0) {
      const zero = i32x4.splat(0);
      for (; i + 4 <= count; i += 4) {
        const bits = maskBits4(mask, i);
        if (bits == 0) continue;
        const g = gradientAt4(i, start + <u32>i, zbuf, zStride, keys, signs, m, dist, oneQ);
        const old = loadW4(w, i, wide);
        const next = i32x4.min_s(i32x4.max_s(i32x4.sub(old, requantUniform4(g, mult, shift)), i32x4.splat(-hi)), i32x4.splat(hi));
        // Lanes with g = 0 (and frozen lanes) keep their stored value untouched, as the scalar loop does.
        let keep = i32x4.eq(g, zero);
        if (bits != 0xf) keep = v128.or(keep, frozenLanes4(bits));
        storeW4(w, i, v128.bitselect(old, next, keep), wide);
      }
    }
  }
  for (; i < count; i++) {
    if (!trains(mask, i)) continue;
    const index = start + <u32>i;
    const g = gradientAt(i, index, zbuf, zStride, keys, signs, m, dist, oneQ);
    if (g == 0) continue;
    storeW(w, i, clampI32(loadW(w, i, wide) - stepOf(g, index, mult, shift, ditherKey, ditherShift), -hi, hi), wide);
  }
}

/**
 * In place: w[i] ← clamp(w[i] − step(Σ_j s_j·z_j[i])) for trainable i (int16 weights). With
 * zbuf = 0, mask = 0 and ditherShift = 0 this is update_w16 exactly.
 */
export function zo_update_w16(
  w: usize, count: i32, start: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, mult: i32, shift: i32, mask: usize, ditherKey: u32, ditherShift: i32,
): void {
  updateWeights(w, count, start, zbuf, zStride, keys, signs, m, dist, oneQ, mult, shift, mask, ditherKey, ditherShift, true);
}

/** zo_update_w16 for int8 weights. */
export function zo_update_w8(
  w: usize, count: i32, start: u32, zbuf: usize, zStride: i32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, mult: i32, shift: i32, mask: usize, ditherKey: u32, ditherShift: i32,
): void {
  updateWeights(w, count, start, zbuf, zStride, keys, signs, m, dist, oneQ, mult, shift, mask, ditherKey, ditherShift, false);
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
