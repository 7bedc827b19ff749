// The QZO-FF weight update, the only writer of stored weights:
//   gq[i] = Σ_{j<m} s_j · z_j[i]          (sign-m-SPSA, s_j = sign(L⁺_j − L⁻_j) ∈ {−1, 0, +1})
//   wq[i] ← clamp(wq[i] − requant(gq[i], c), grid)   c = η·Δz/Δw/m as a TFLM multiplier/shift
// Each z_j is regenerated from its stream key at the weight's index, exactly as the perturbing
// kernels generated it, so no direction is ever stored. An optional bitmap (bit i & 7 of byte
// i >> 3, 1 = trainable) restricts the update to a sparse subset; mask = 0 means dense (offset 0
// is the static-data page, never an arena buffer).
import { requantScalar, clampI32 } from './requant';
import { zAt, zAt4, laneIndices4 } from './rng';
import { requantUniform4 } from './perturb';

// @ts-ignore: decorator
@inline function gradientAt(index: u32, keys: usize, signs: usize, m: i32, dist: i32, oneQ: i32): i32 {
  let g = 0;
  for (let j = 0; j < m; j++) {
    const s = load<i32>(signs + (<usize>j << 2));
    if (s != 0) g += s * zAt(load<u32>(keys + (<usize>j << 2)), index, dist, oneQ);
  }
  return g;
}

// @ts-ignore: decorator
@inline function gradientAt4(first: u32, keys: usize, signs: usize, m: i32, dist: i32, oneQ: i32): v128 {
  let g = i32x4.splat(0);
  const index4 = laneIndices4(first);
  for (let j = 0; j < m; j++) {
    const s = load<i32>(signs + (<usize>j << 2));
    if (s == 0) continue;
    const z = zAt4(i32x4.splat(load<i32>(keys + (<usize>j << 2))), index4, dist, oneQ);
    g = s > 0 ? i32x4.add(g, z) : i32x4.sub(g, z);
  }
  return g;
}

/** Lanes whose bit is set in `bits` (lane k tests bit firstBit + k) become all-ones. */
// @ts-ignore: decorator
@inline function laneMask4(bits: i32, firstBit: i32): v128 {
  const probe = i32x4.shl(i32x4(1, 2, 4, 8), firstBit);
  return i32x4.eq(v128.and(i32x4.splat(bits), probe), probe);
}

// @ts-ignore: decorator
@inline function stepLanes4(w: v128, g: v128, cMult: i32, cShift: i32, lo: i32, hi: i32): v128 {
  const next = i32x4.sub(w, requantUniform4(g, cMult, cShift));
  return i32x4.min_s(i32x4.max_s(next, i32x4.splat(lo)), i32x4.splat(hi));
}

// @ts-ignore: decorator
@inline function updateOne16(p: usize, index: u32, keys: usize, signs: usize, m: i32, dist: i32, oneQ: i32, cMult: i32, cShift: i32): void {
  const g = gradientAt(index, keys, signs, m, dist, oneQ);
  store<i16>(p, <i16>clampI32(<i32>load<i16>(p) - requantScalar(g, cMult, cShift), -32767, 32767));
}

// @ts-ignore: decorator
@inline function updateOne8(p: usize, index: u32, keys: usize, signs: usize, m: i32, dist: i32, oneQ: i32, cMult: i32, cShift: i32): void {
  const g = gradientAt(index, keys, signs, m, dist, oneQ);
  store<i8>(p, <i8>clampI32(<i32>load<i8>(p) - requantScalar(g, cMult, cShift), -127, 127));
}

/**
 * A SIMD group regenerates z for every lane; with only a few trainable weights in the group,
 * regenerating z for just those is cheaper. From the measured dense costs (m = 3: ~6.6 ns per
 * weight in SIMD groups, ~22 ns per weight scalar) the break-even is between 2 and 3 of 8.
 */
const SPARSE_GROUP_LANES: i32 = 2;

// @ts-ignore: decorator
@inline function isTrainable(mask: usize, i: i32): bool {
  return mask == 0 || ((<i32>load<u8>(mask + (<usize>i >> 3)) >> (i & 7)) & 1) != 0;
}

// @ts-ignore: decorator
@inline function anyDirection(signs: usize, m: i32): bool {
  for (let j = 0; j < m; j++) if (load<i32>(signs + (<usize>j << 2)) != 0) return true;
  return false;
}

/**
 * In-place update of count int16 weights whose element 0 sits at stream index start.
 * keys/signs: m (≤ 8) u32 stream keys and i32 signs. Host guarantees cShift ≤ 16 (so
 * |gq| << cShift never wraps) and a positive multiplier.
 */
export function update_w16(
  w: usize, count: i32, start: u32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, cMult: i32, cShift: i32, mask: usize,
): void {
  if (!anyDirection(signs, m)) return;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 8 <= count; i += 8) {
      const bits = mask == 0 ? 0xff : <i32>load<u8>(mask + (<usize>i >> 3));
      if (bits == 0) continue; // nothing trainable here: skip regenerating z
      const first = start + <u32>i;
      if (<i32>popcnt(bits) <= SPARSE_GROUP_LANES) {
        for (let rest = bits; rest != 0; rest &= rest - 1) {
          const k = <i32>ctz(rest);
          updateOne16(w + (<usize>(i + k) << 1), first + <u32>k, keys, signs, m, dist, oneQ, cMult, cShift);
        }
        continue;
      }
      const p = w + (<usize>i << 1);
      const old = v128.load(p);
      let lo = stepLanes4(i32x4.extend_low_i16x8_s(old), gradientAt4(first, keys, signs, m, dist, oneQ), cMult, cShift, -32767, 32767);
      let hi = stepLanes4(i32x4.extend_high_i16x8_s(old), gradientAt4(first + 4, keys, signs, m, dist, oneQ), cMult, cShift, -32767, 32767);
      if (bits != 0xff) {
        lo = v128.bitselect(lo, i32x4.extend_low_i16x8_s(old), laneMask4(bits, 0));
        hi = v128.bitselect(hi, i32x4.extend_high_i16x8_s(old), laneMask4(bits, 4));
      }
      v128.store(p, i16x8.narrow_i32x4_s(lo, hi));
    }
  }
  for (; i < count; i++) {
    if (isTrainable(mask, i)) updateOne16(w + (<usize>i << 1), start + <u32>i, keys, signs, m, dist, oneQ, cMult, cShift);
  }
}

/** Same as update_w16 for int8 weights (8w8a). */
export function update_w8(
  w: usize, count: i32, start: u32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, cMult: i32, cShift: i32, mask: usize,
): void {
  if (!anyDirection(signs, m)) return;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 16 <= count; i += 16) {
      const bits = mask == 0 ? 0xffff : <i32>load<u16>(mask + (<usize>i >> 3));
      if (bits == 0) continue;
      const first = start + <u32>i;
      if (<i32>popcnt(bits) <= 2 * SPARSE_GROUP_LANES) {
        for (let rest = bits; rest != 0; rest &= rest - 1) {
          const k = <i32>ctz(rest);
          updateOne8(w + <usize>(i + k), first + <u32>k, keys, signs, m, dist, oneQ, cMult, cShift);
        }
        continue;
      }
      const p = w + <usize>i;
      const old = v128.load(p);
      const oldLo = i16x8.extend_low_i8x16_s(old);
      const oldHi = i16x8.extend_high_i8x16_s(old);
      const w0 = i32x4.extend_low_i16x8_s(oldLo);
      const w1 = i32x4.extend_high_i16x8_s(oldLo);
      const w2 = i32x4.extend_low_i16x8_s(oldHi);
      const w3 = i32x4.extend_high_i16x8_s(oldHi);
      let r0 = stepLanes4(w0, gradientAt4(first, keys, signs, m, dist, oneQ), cMult, cShift, -127, 127);
      let r1 = stepLanes4(w1, gradientAt4(first + 4, keys, signs, m, dist, oneQ), cMult, cShift, -127, 127);
      let r2 = stepLanes4(w2, gradientAt4(first + 8, keys, signs, m, dist, oneQ), cMult, cShift, -127, 127);
      let r3 = stepLanes4(w3, gradientAt4(first + 12, keys, signs, m, dist, oneQ), cMult, cShift, -127, 127);
      if (bits != 0xffff) {
        r0 = v128.bitselect(r0, w0, laneMask4(bits, 0));
        r1 = v128.bitselect(r1, w1, laneMask4(bits, 4));
        r2 = v128.bitselect(r2, w2, laneMask4(bits, 8));
        r3 = v128.bitselect(r3, w3, laneMask4(bits, 12));
      }
      v128.store(p, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(r0, r1), i16x8.narrow_i32x4_s(r2, r3)));
    }
  }
  for (; i < count; i++) {
    if (isTrainable(mask, i)) updateOne8(w + <usize>i, start + <u32>i, keys, signs, m, dist, oneQ, cMult, cShift);
  }
}
