// 8w8a with a sub-LSB residual (error feedback, as in Quantized Evolution Strategies): each trained
// int8 weight w keeps a small fixed-point residual r with R fraction bits (R = 8: int8, R = 16: int16),
// so the pair is one fixed-point value v = w·2^R + r. The step in those finer units is
//   v ← clamp(v − requant(Σ_j s_j·z_j, c·2^R), ±127·2^R)      (c = η·Δz/Δw/m, as update_w8's)
// and it is split back by round-to-nearest: w = (v + 2^(R−1)) >> R, r = v − w·2^R ∈ [−2^(R−1), 2^(R−1)).
// The weight thus moves by the whole-LSB part of the accumulated updates and r keeps the rest, so
// updates far below one int8 LSB add up instead of rounding to 0 every step; the forward pass reads
// only the int8 w.
//
// One scalar loop compiled unchanged into every build (as materialised_zo.ts), so the scalar, simd and
// relaxed builds run the same integer instructions and agree bit for bit.
import { requantScalar } from './requant';
import { zAt } from './rng';

// @ts-ignore: decorator
@inline function trains(mask: usize, i: i32): bool {
  return mask == 0 || ((<i32>load<u8>(mask + (<usize>i >> 3)) >> (i & 7)) & 1) != 0;
}

/**
 * In place on count int8 weights w and their residuals r (int8 when fracBits ≤ 8, else int16), element 0
 * at stream index start. keys/signs: m u32 stream keys and i32 signs. (mult, shift) is c·2^fracBits.
 * Host guarantees fracBits in [1, 16], shift ≤ 16 and a positive multiplier.
 */
export function zo_update_residual_w8(
  w: usize, r: usize, count: i32, start: u32, keys: usize, signs: usize, m: i32,
  dist: i32, oneQ: i32, mult: i32, shift: i32, mask: usize, fracBits: i32,
): void {
  const wideResidual = fracBits > 8;
  const half = 1 << (fracBits - 1);
  const limit = 127 << fracBits;
  for (let i = 0; i < count; i++) {
    if (!trains(mask, i)) continue;
    const index = start + <u32>i;
    let g = 0;
    for (let j = 0; j < m; j++) {
      const s = load<i32>(signs + (<usize>j << 2));
      if (s != 0) g += s * zAt(load<u32>(keys + (<usize>j << 2)), index, dist, oneQ);
    }
    if (g == 0) continue;
    const rp = wideResidual ? r + (<usize>i << 1) : r + <usize>i;
    const rOld = wideResidual ? <i32>load<i16>(rp) : <i32>load<i8>(rp);
    let v = (<i32>load<i8>(w + <usize>i) << fracBits) + rOld - requantScalar(g, mult, shift);
    v = v < -limit ? -limit : v > limit ? limit : v;
    const wNew = (v + half) >> fracBits;
    const rNew = v - (wNew << fracBits);
    store<i8>(w + <usize>i, <i8>wNew);
    if (wideResidual) store<i16>(rp, <i16>rNew);
    else store<i8>(rp, <i8>rNew);
  }
}
