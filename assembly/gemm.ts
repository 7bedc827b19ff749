// qs8 GEMM with int16 weights: acc[m][n] = bias[n] + Σ_k (x[m][k] − zin) · w[n][k], int32 wrapping,
// then TFLM requantization to int8 (or the raw accumulators). Shared by fully connected and conv.
//
// Micro-kernel "4x8c2 dot16": 4 rows × 8 columns, K consumed two at a time. A packed weight panel
// holds, for each pair of k, the 8 columns' (w[k], w[k+1]) as int16 pairs (two v128); a packed
// activation tile holds, for each pair of k, the 4 rows' (x[k], x[k+1]). One i32x4.dot_i16x8_s of
// a broadcast activation pair with a weight vector then adds x·w for 4 columns straight into the
// accumulators, so there is no horizontal reduction and the 8 accumulators, 2 weight vectors and
// one activation splat fit x86's 16 XMM registers. Both widths of weights are widened to int16
// while packing, so w8 and w16 share this one loop; K is padded to even with zero weights.
//
// The zero point is folded into the packed bias: Σ(x − zin)·w = Σx·w − zin·Σw, exact modulo 2^32,
// so activations stay raw int8 values and padded K positions need no special value.
//
// Every build computes the same integers (exact int32 arithmetic, wrapping), so scalar, simd and
// relaxed results are bit-identical; the scalar path walks the same packed layout. Batches of 1-2
// rows skip packing altogether (assembly/gemm_gemv.ts).
//
// Narrow panels: a layer that packs on every call (a trained layer) and sets the SRAM peak may pack
// panels of 4 or 2 columns instead of 8 ("4x4c2 dot16"), so the scratch holds K × 8 or K × 4 bytes of
// weights instead of K × 16. Same layout per k pair (the panel's columns as int16 pairs), a 4-lane
// header, one accumulator per row; a 2-column panel loads its 8 bytes per k pair into the low half of
// the vector, so lanes 2-3 of the dot stay zero. Same integers as the 8-column path, a quarter to half
// of its register reuse.
import { srdhm4, requantScalar, clampI32 } from './requant';
import { zAt, zAt4, laneIndices4 } from './rng';
import { perturbValue, perturbValue4, requantUniform4 } from './perturb';
import { gemvRows } from './gemm_gemv';
import { usesFastRequant, requantFast4, fastRequantBias, fastChannelShifts, requantChannelFast4 } from './gemm_requant';

export const GEMM_MR: i32 = 4;
export const GEMM_NR: i32 = 8;
/**
 * Per panel, 8 int32 lanes each (4 for a narrow panel): packed bias, requant multiplier, requant
 * shift, then the shift's lane constants staged once for the per-channel epilogues
 * (requantChannelFast4 when every shift ≤ −2, else requantStaged4). The offsets below are the
 * 8-lane header's (fields 3-5, 2^left, 2^(31 − right) and 2^right − 1, are read by
 * requantStaged4 at field · 3..5); a narrow panel's fields are half as far apart (NARROW_FIELD).
 */
export const PANEL_HEADER_BYTES: i32 = 256;
const NARROW_FIELD: i32 = 16;
const HEADER_MULT: i32 = 32;
const HEADER_SHIFT: i32 = 64;
const HEADER_ROUND_HALF: i32 = 192;
const HEADER_SCALE_POW: i32 = 224;

/** Bytes of one packed panel of nr (8, 4 or 2) columns for K = 2·kPairs (K padded to even). */
// @ts-ignore: decorator
@inline export function panelBytes(kPairs: i32, nr: i32): usize {
  return <usize>headerBytes(nr) + <usize>kPairs * <usize>(nr << 2);
}

/** Header bytes of an nr-column panel: 8 fields of 8 lanes, or of 4 lanes for a narrow panel. */
// @ts-ignore: decorator
@inline function headerBytes(nr: i32): i32 {
  return nr == GEMM_NR ? PANEL_HEADER_BYTES : NARROW_FIELD << 3;
}

/** Bytes between two header fields (one lane per column, at least 4 lanes). */
// @ts-ignore: decorator
@inline function fieldBytes(nr: i32): i32 {
  return nr == GEMM_NR ? 32 : NARROW_FIELD;
}

/** Bytes of one packed activation tile (4 rows × kPairs pairs of int16). */
// @ts-ignore: decorator
@inline export function activationTileBytes(kPairs: i32): usize {
  return <usize>kPairs << 4;
}

/** Offset of weight (column j of the panel, k) in the body of an nr-column panel. */
// @ts-ignore: decorator
@inline function bodyOffset(j: i32, k: i32, nr: i32): usize {
  return <usize>(k >> 1) * <usize>(nr << 2) + (<usize>j << 2) + (<usize>(k & 1) << 1);
}

// @ts-ignore: decorator
@inline function loadWeight(weights: usize, index: usize, weightBits: i32): i32 {
  return weightBits == 16 ? <i32>load<i16>(weights + (index << 1)) : <i32>load<i8>(weights + index);
}

/** 4×4 transpose of 32-bit lanes: row j of the transpose goes to dst + j·stride. */
// @ts-ignore: decorator
@inline export function storeTransposed4x4(v0: v128, v1: v128, v2: v128, v3: v128, dst: usize, stride: usize): void {
  const t0 = v128.shuffle<i32>(v0, v1, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(v2, v3, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(v0, v1, 2, 6, 3, 7);
  const t3 = v128.shuffle<i32>(v2, v3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride, v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + stride * 2, v128.shuffle<i32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + stride * 3, v128.shuffle<i32>(t2, t3, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline function loadWidened8(src: usize, weightBits: i32): v128 {
  return weightBits == 16 ? v128.load(src) : i16x8.extend_low_i8x16_s(v128.load64_zero(src));
}

/**
 * Body of a full panel (nr real columns), unperturbed: SIMD transpose of 8 weights per row at a
 * time for 8 or 4 columns (a 2-column panel is packed by the scalar loop).
 */
function packPanelBodySimd(weights: usize, weightBits: i32, K: i32, n0: i32, body: usize, nr: i32): void {
  const esize: usize = weightBits == 16 ? 2 : 1;
  const rowBytes = <usize>K * esize;
  const row0 = weights + <usize>n0 * rowBytes;
  const pairBytes = <usize>(nr << 2);
  let k = 0;
  if (ASC_FEATURE_SIMD && nr >= 4) {
    for (; k + 8 <= K; k += 8) {
      const src = row0 + <usize>k * esize;
      const dst = body + <usize>(k >> 1) * pairBytes;
      storeTransposed4x4(
        loadWidened8(src, weightBits), loadWidened8(src + rowBytes, weightBits),
        loadWidened8(src + rowBytes * 2, weightBits), loadWidened8(src + rowBytes * 3, weightBits), dst, pairBytes,
      );
      if (nr == GEMM_NR) {
        storeTransposed4x4(
          loadWidened8(src + rowBytes * 4, weightBits), loadWidened8(src + rowBytes * 5, weightBits),
          loadWidened8(src + rowBytes * 6, weightBits), loadWidened8(src + rowBytes * 7, weightBits), dst + 16, pairBytes,
        );
      }
    }
  }
  packPanelBodyScalar(weights, weightBits, K, n0 + nr, n0, k, body, nr);
}

/** Body of an nr-column panel from k0 on; columns ≥ N and k ≥ K are zero. */
function packPanelBodyScalar(weights: usize, weightBits: i32, K: i32, N: i32, n0: i32, k0: i32, body: usize, nr: i32): void {
  const kPadded = K + (K & 1);
  for (let j = 0; j < nr; j++) {
    const n = n0 + j;
    const rowIndex = <usize>n * <usize>K;
    for (let k = k0; k < kPadded; k++) {
      const w = n < N && k < K ? loadWeight(weights, rowIndex + <usize>k, weightBits) : 0;
      store<i16>(body + bodyOffset(j, k, nr), <i16>w);
    }
  }
}

/**
 * Body of a panel with every weight perturbed on the fly: the stored element with flat index
 * i = n·K + k becomes perturbValue(w, z(key, start + i)). Stored weights are only read. The SIMD
 * build perturbs 4 consecutive k of a row at once and stores them as two int16 pairs.
 */
function packPanelBodyPerturbed(
  weights: usize, weightBits: i32, K: i32, N: i32, n0: i32, body: usize,
  key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32, nr: i32,
): void {
  const hi = weightBits == 16 ? 32767 : 127;
  const kPadded = K + (K & 1);
  const pairBytes = <usize>(nr << 2);
  for (let j = 0; j < nr; j++) {
    const n = n0 + j;
    const rowIndex = <usize>n * <usize>K;
    if (n >= N) {
      for (let k = 0; k < kPadded; k++) store<i16>(body + bodyOffset(j, k, nr), 0);
      continue;
    }
    let k = 0;
    if (ASC_FEATURE_SIMD) {
      const key4 = i32x4.splat(<i32>key);
      // 8 k per step: two independent z chains (hash, table gather) in flight, four pair stores.
      for (; k + 8 <= K; k += 8) {
        const index = rowIndex + <usize>k;
        const w8 = weightBits == 16 ? v128.load(weights + (index << 1)) : i16x8.extend_low_i8x16_s(v128.load64_zero(weights + index));
        const wLo = i32x4.extend_low_i16x8_s(w8);
        const wHi = i32x4.extend_high_i16x8_s(w8);
        const first = start + <u32>index;
        const zLo = zAt4(key4, laneIndices4(first), dist, oneQ);
        const zHi = zAt4(key4, laneIndices4(first + 4), dist, oneQ);
        const packed = i16x8.narrow_i32x4_s(
          perturbValue4(wLo, zLo, signedEps, oneQ, mult, shift, -hi, hi), perturbValue4(wHi, zHi, signedEps, oneQ, mult, shift, -hi, hi),
        );
        const at = body + bodyOffset(j, k, nr);
        v128.store32_lane(at, packed, 0);
        v128.store32_lane(at + pairBytes, packed, 1);
        v128.store32_lane(at + pairBytes * 2, packed, 2);
        v128.store32_lane(at + pairBytes * 3, packed, 3);
      }
      for (; k + 4 <= K; k += 4) {
        const index = rowIndex + <usize>k;
        const w4 = weightBits == 16
          ? i32x4.extend_low_i16x8_s(v128.load64_zero(weights + (index << 1)))
          : i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(weights + index)));
        const z4 = zAt4(key4, laneIndices4(start + <u32>index), dist, oneQ);
        const packed = i16x8.narrow_i32x4_s(perturbValue4(w4, z4, signedEps, oneQ, mult, shift, -hi, hi), w4);
        const at = body + bodyOffset(j, k, nr);
        v128.store32_lane(at, packed, 0);
        v128.store32_lane(at + pairBytes, packed, 1);
      }
    }
    for (; k < K; k++) {
      const index = rowIndex + <usize>k;
      const z = zAt(key, start + <u32>index, dist, oneQ);
      const w = perturbValue(loadWeight(weights, index, weightBits), z, signedEps, oneQ, mult, shift, -hi, hi);
      store<i16>(body + bodyOffset(j, k, nr), <i16>w);
    }
    if (K & 1) store<i16>(body + bodyOffset(j, K, nr), 0);
  }
}

/**
 * Panel header: bias − zin·Σw per column (Σ over the packed, possibly perturbed, weights), and
 * the column's requant multiplier/shift so the epilogue needs one pointer. Padding columns get 0.
 */
function packPanelHeader(
  panel: usize, kPairs: i32, cols: i32, n0: i32, bias: usize, zin: i32,
  multPtr: usize, shiftPtr: usize, hasRequant: i32, perChannel: i32, nr: i32,
): void {
  const body = panel + <usize>headerBytes(nr);
  const pairBytes = <usize>(nr << 2);
  let j = 0;
  if (ASC_FEATURE_SIMD && nr == GEMM_NR) {
    let sumLo = i32x4.splat(0);
    let sumHi = i32x4.splat(0);
    for (let kp = 0; kp < kPairs; kp++) {
      const p = body + (<usize>kp << 5);
      sumLo = i32x4.add(sumLo, i32x4.extadd_pairwise_i16x8_s(v128.load(p)));
      sumHi = i32x4.add(sumHi, i32x4.extadd_pairwise_i16x8_s(v128.load(p, 16)));
    }
    v128.store(panel, sumLo);
    v128.store(panel, sumHi, 16);
    j = GEMM_NR;
  }
  for (; j < nr; j++) {
    let sum = 0;
    for (let kp = 0; kp < kPairs; kp++) {
      const p = body + <usize>kp * pairBytes + (<usize>j << 2);
      sum += <i32>load<i16>(p) + <i32>load<i16>(p, 2);
    }
    store<i32>(panel + (<usize>j << 2), sum);
  }
  // A 2-column panel's header still has 4 lanes (the epilogue reads whole vectors); lanes past nr
  // are padding like the lanes past cols.
  const field = <usize>fieldBytes(nr);
  const lanes = field >> 2;
  for (j = 0; j < <i32>lanes; j++) {
    const lane = panel + (<usize>j << 2);
    const real = j < cols;
    const b = real && bias != 0 ? load<i32>(bias + (<usize>(n0 + j) << 2)) : 0;
    store<i32>(lane, real ? b - zin * load<i32>(lane) : 0);
    // Padding lanes repeat the last real column's parameters, so they never force a slow path.
    const q: usize = perChannel ? <usize>(n0 + min<i32>(j, cols - 1)) << 2 : 0;
    const m = hasRequant ? load<i32>(multPtr + q) : 0;
    const s = hasRequant ? load<i32>(shiftPtr + q) : 0;
    const left = s > 0 ? s : 0;
    const right = s > 0 ? 0 : -s;
    store<i32>(lane + field, m);
    store<i32>(lane + field * 2, s);
    store<i32>(lane + field * 3, 1 << left);
    // 2^(31 − right) wraps to i32.MIN_VALUE for right = 0; requantStaged4 selects that lane away.
    store<i32>(lane + field * 4, <i32>(<u32>1 << <u32>(31 - right)));
    store<i32>(lane + field * 5, <i32>((<u32>1 << <u32>right) - 1));
    store<i32>(lane + field * 6, right >= 2 ? 1 << (right - 2) : 0);
    store<i32>(lane + field * 7, right >= 2 ? 1 << (32 - right) : 0);
  }
}

/**
 * Packs panels [panel0, panel0 + count) of the weight matrix [N][K] into dst, perturbing each
 * weight when perturbEnabled (see src/kernels/perturb-spec.ts for the argument order).
 */
export function packWeightPanels(
  weights: usize, weightBits: i32, K: i32, N: i32, panel0: i32, count: i32, dst: usize,
  bias: usize, zin: i32, multPtr: usize, shiftPtr: usize, hasRequant: i32, perChannel: i32,
  perturbEnabled: i32, key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32, nr: i32,
): void {
  const kPairs = (K + 1) >> 1;
  const stride = panelBytes(kPairs, nr);
  for (let p = 0; p < count; p++) {
    const n0 = (panel0 + p) * nr;
    const panel = dst + <usize>p * stride;
    const body = panel + <usize>headerBytes(nr);
    const cols = min<i32>(nr, N - n0);
    if (perturbEnabled) {
      packPanelBodyPerturbed(weights, weightBits, K, N, n0, body, key, start, dist, signedEps, oneQ, mult, shift, nr);
    } else if (cols == nr) {
      packPanelBodySimd(weights, weightBits, K, n0, body, nr);
    } else {
      packPanelBodyScalar(weights, weightBits, K, N, n0, 0, body, nr);
    }
    packPanelHeader(panel, kPairs, cols, n0, bias, zin, multPtr, shiftPtr, hasRequant, perChannel, nr);
  }
}

/**
 * Widens 4 int8 rows (row pointers; a missing row may repeat another) of length K into the
 * activation tile [kPairs][4 rows][2] int16, zero past K.
 */
export function packActivationTile(r0: usize, r1: usize, r2: usize, r3: usize, K: i32, dst: usize): void {
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    for (; k + 8 <= K; k += 8) {
      storeTransposed4x4(
        i16x8.extend_low_i8x16_s(v128.load64_zero(r0 + <usize>k)),
        i16x8.extend_low_i8x16_s(v128.load64_zero(r1 + <usize>k)),
        i16x8.extend_low_i8x16_s(v128.load64_zero(r2 + <usize>k)),
        i16x8.extend_low_i8x16_s(v128.load64_zero(r3 + <usize>k)),
        dst + (<usize>(k >> 1) << 4), 16,
      );
    }
  }
  const kPadded = K + (K & 1);
  for (; k < kPadded; k++) {
    const at = dst + (<usize>(k >> 1) << 4) + (<usize>(k & 1) << 1);
    const inside = k < K;
    store<i16>(at, inside ? <i16>load<i8>(r0 + <usize>k) : 0);
    store<i16>(at, inside ? <i16>load<i8>(r1 + <usize>k) : 0, 4);
    store<i16>(at, inside ? <i16>load<i8>(r2 + <usize>k) : 0, 8);
    store<i16>(at, inside ? <i16>load<i8>(r3 + <usize>k) : 0, 12);
  }
}

/**
 * requant4 (TFLM MultiplyByQuantizedMultiplier per lane) with the lane powers it would derive
 * from the shift, 2^left, 2^(31 − right) and 2^right − 1, read from the panel header instead:
 * the same srdhm4 and the same RoundingDivideByPOT steps as rdbpot4, so the same bits.
 */
// @ts-ignore: decorator
@inline function requantStaged4(x: v128, lanes: usize, field: usize): v128 {
  const high = srdhm4(i32x4.mul(x, v128.load(lanes + field * 3)), v128.load(lanes + field));
  const p = v128.load(lanes + field * 4);
  const mask = v128.load(lanes + field * 5);
  const lo = i64x2.shr_s(i64x2.extmul_low_i32x4_s(high, p), 31);
  const hi = i64x2.shr_s(i64x2.extmul_high_i32x4_s(high, p), 31);
  // right = 0 exactly where the mask is 0: those lanes are not shifted at all.
  const shifted = v128.bitselect(high, v128.shuffle<i32>(lo, hi, 0, 2, 4, 6), i32x4.eq(mask, i32x4.splat(0)));
  const remainder = v128.and(high, mask);
  const threshold = i32x4.sub(i32x4.shr_s(mask, 1), i32x4.lt_s(high, i32x4.splat(0)));
  return i32x4.sub(shifted, i32x4.gt_s(remainder, threshold));
}

/**
 * Output of one row of 8 columns held in two accumulators: int32 as is, or requantized to int8.
 * A per-tensor multiplier/shift takes requantFast4 (requantUniform4 for a
 * shift ≥ 0); per-channel ones take requantChannelFast4 when every shift ≤ −2, else requant4's
 * per-lane form with staged powers. All are TFLM-exact.
 *
 * The output step is TFLM's clamp(r + zp, actMin, actMax) with r + zp in wrapping int32. After the
 * two fast forms |r| < 1.5·2^30, so r + zp cannot wrap, and then
 *   clamp(sat16(sat16(r) + zp), actMin, actMax) = clamp(r + zp, actMin, actMax)
 * because sat16 is monotone and the identity wherever r + zp lies in [actMin, actMax] ⊂ int8:
 * the zero point and clamp then run on 8 int16 lanes (one saturating add, one max, one min)
 * instead of 2 × 3 int32 ops. The other forms can return any int32 and keep the int32 steps.
 */
// @ts-ignore: decorator
@inline function storeRowSimd(
  c0: v128, c1: v128, dst: usize, cols: i32, outInt32: i32, perChannel: i32, fastChannels: bool, panel: usize,
  zp: v128, lo: v128, hi: v128, zp16: v128, lo16: v128, hi16: v128,
): void {
  if (outInt32) {
    if (cols == GEMM_NR) {
      v128.store(dst, c0);
      v128.store(dst, c1, 16);
    } else {
      storeLanesI32(c0, dst, cols);
      storeLanesI32(c1, dst + 16, cols - 4);
    }
    return;
  }
  let r0: v128;
  let r1: v128;
  let bounded = false;
  if (perChannel) {
    if (fastChannels) {
      r0 = requantChannelFast4(c0, v128.load(panel, HEADER_MULT), v128.load(panel, HEADER_ROUND_HALF), v128.load(panel, HEADER_SCALE_POW));
      r1 = requantChannelFast4(c1, v128.load(panel, HEADER_MULT + 16), v128.load(panel, HEADER_ROUND_HALF + 16), v128.load(panel, HEADER_SCALE_POW + 16));
      bounded = true;
    } else {
      r0 = requantStaged4(c0, panel, 32);
      r1 = requantStaged4(c1, panel + 16, 32);
    }
  } else {
    const m = load<i32>(panel, HEADER_MULT);
    const s = load<i32>(panel, HEADER_SHIFT);
    if (usesFastRequant(s)) {
      const m4 = i32x4.splat(m);
      const bias64 = fastRequantBias(-s);
      r0 = requantFast4(c0, m4, -s - 1, bias64);
      r1 = requantFast4(c1, m4, -s - 1, bias64);
      bounded = true;
    } else {
      r0 = requantUniform4(c0, m, s);
      r1 = requantUniform4(c1, m, s);
    }
  }
  let n16: v128;
  if (bounded) {
    n16 = i16x8.min_s(i16x8.max_s(i16x8.add_sat_s(i16x8.narrow_i32x4_s(r0, r1), zp16), lo16), hi16);
  } else {
    const y0 = i32x4.min_s(i32x4.max_s(i32x4.add(r0, zp), lo), hi);
    const y1 = i32x4.min_s(i32x4.max_s(i32x4.add(r1, zp), lo), hi);
    n16 = i16x8.narrow_i32x4_s(y0, y1);
  }
  const bytes = i8x16.narrow_i16x8_s(n16, n16);
  if (cols == GEMM_NR) {
    store<i64>(dst, i64x2.extract_lane(bytes, 0));
  } else {
    storeLanesI8(bytes, dst, cols);
  }
}

/**
 * storeRowSimd for a narrow panel: one accumulator of 4 lanes (cols ≤ 4 real), the header's fields
 * NARROW_FIELD bytes apart. The same requantization forms, so the same bits.
 */
// @ts-ignore: decorator
@inline function storeRowNarrowSimd(
  c: v128, dst: usize, cols: i32, outInt32: i32, perChannel: i32, fastChannels: bool, panel: usize,
  zp: v128, lo: v128, hi: v128, zp16: v128, lo16: v128, hi16: v128,
): void {
  if (outInt32) {
    if (cols == 4) v128.store(dst, c);
    else storeLanesI32(c, dst, cols);
    return;
  }
  let r: v128;
  let bounded = false;
  if (perChannel) {
    if (fastChannels) {
      r = requantChannelFast4(c, v128.load(panel, NARROW_FIELD), v128.load(panel, NARROW_FIELD * 6), v128.load(panel, NARROW_FIELD * 7));
      bounded = true;
    } else {
      r = requantStaged4(c, panel, NARROW_FIELD);
    }
  } else {
    const m = load<i32>(panel, NARROW_FIELD);
    const s = load<i32>(panel, NARROW_FIELD * 2);
    if (usesFastRequant(s)) {
      r = requantFast4(c, i32x4.splat(m), -s - 1, fastRequantBias(-s));
      bounded = true;
    } else {
      r = requantUniform4(c, m, s);
    }
  }
  let n16: v128;
  if (bounded) {
    n16 = i16x8.min_s(i16x8.max_s(i16x8.add_sat_s(i16x8.narrow_i32x4_s(r, r), zp16), lo16), hi16);
  } else {
    const y = i32x4.min_s(i32x4.max_s(i32x4.add(r, zp), lo), hi);
    n16 = i16x8.narrow_i32x4_s(y, y);
  }
  const bytes = i8x16.narrow_i16x8_s(n16, n16);
  if (cols == 4) store<i32>(dst, i32x4.extract_lane(bytes, 0));
  else storeLanesI8(bytes, dst, cols);
}

// @ts-ignore: decorator
@inline function storeLanesI32(v: v128, dst: usize, count: i32): void {
  if (count > 0) store<i32>(dst, i32x4.extract_lane(v, 0));
  if (count > 1) store<i32>(dst, i32x4.extract_lane(v, 1), 4);
  if (count > 2) store<i32>(dst, i32x4.extract_lane(v, 2), 8);
  if (count > 3) store<i32>(dst, i32x4.extract_lane(v, 3), 12);
}

// @ts-ignore: decorator
@inline function storeLanesI8(v: v128, dst: usize, count: i32): void {
  let lanes = i64x2.extract_lane(v, 0);
  for (let j = 0; j < count; j++) {
    store<i8>(dst + <usize>j, <i8>lanes);
    lanes >>= 8;
  }
}

/**
 * Bias of `count` real columns (≤ 0: none) as 4 lanes, 0 past them: a partial panel must not read
 * past the end of the bias vector.
 */
export function biasLanes4(bias: usize, count: i32): v128 {
  let v = i32x4.splat(0);
  if (count > 0) v = i32x4.replace_lane(v, 0, load<i32>(bias));
  if (count > 1) v = i32x4.replace_lane(v, 1, load<i32>(bias, 4));
  if (count > 2) v = i32x4.replace_lane(v, 2, load<i32>(bias, 8));
  if (count > 3) v = i32x4.replace_lane(v, 3, load<i32>(bias, 12));
  return v;
}

// @ts-ignore: decorator
@inline function columnBias(bias: usize, col: i32, cols: i32): i32 {
  return bias != 0 && col < cols ? load<i32>(bias + (<usize>col << 2)) : 0;
}

/**
 * The hot loop (qs8-gemm 4x8c2 dot16): 4 rows of the activation tile × one 8-column panel.
 * rows/cols say how many of the 4×8 results are real and get stored.
 */
function tile4x8Simd(
  aTile: usize, panel: usize, kPairs: i32, dst: usize, dstStride: usize, rows: i32, cols: i32,
  outInt32: i32, perChannel: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize,
): void {
  let c00 = v128.load(panel);
  let c01 = v128.load(panel, 16);
  if (bias != 0) {
    c00 = i32x4.add(c00, cols == GEMM_NR ? v128.load(bias) : biasLanes4(bias, cols));
    c01 = i32x4.add(c01, cols == GEMM_NR ? v128.load(bias, 16) : biasLanes4(bias + 16, cols - 4));
  }
  let c10 = c00;
  let c11 = c01;
  let c20 = c00;
  let c21 = c01;
  let c30 = c00;
  let c31 = c01;
  let a = aTile;
  let w = panel + <usize>PANEL_HEADER_BYTES;
  const aEnd = aTile + (<usize>kPairs << 4);
  while (a < aEnd) {
    const w0 = v128.load(w);
    const w1 = v128.load(w, 16);
    const x0 = v128.load32_splat(a);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, w0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, w1));
    const x1 = v128.load32_splat(a, 4);
    c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, w0));
    c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, w1));
    const x2 = v128.load32_splat(a, 8);
    c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, w0));
    c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, w1));
    const x3 = v128.load32_splat(a, 12);
    c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, w0));
    c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, w1));
    a += 16;
    w += 32;
  }
  const zp = i32x4.splat(outZp);
  const lo = i32x4.splat(actMin);
  const hi = i32x4.splat(actMax);
  // Host-validated: zp, actMin and actMax are int8 values, so they fit int16 lanes.
  const zp16 = i16x8.splat(<i16>outZp);
  const lo16 = i16x8.splat(<i16>actMin);
  const hi16 = i16x8.splat(<i16>actMax);
  const fast = perChannel != 0 && fastChannelShifts(v128.load(panel, HEADER_SHIFT), v128.load(panel, HEADER_SHIFT + 16));
  storeRowSimd(c00, c01, dst, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
  if (rows > 1) storeRowSimd(c10, c11, dst + dstStride, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
  if (rows > 2) storeRowSimd(c20, c21, dst + dstStride * 2, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
  if (rows > 3) storeRowSimd(c30, c31, dst + dstStride * 3, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
}

/**
 * The narrow micro-kernel (qs8-gemm 4x4c2 dot16): 4 rows × one panel of nr = 4 or 2 columns, one
 * accumulator per row. A 2-column panel's k pair is 8 bytes, loaded into the low half of the
 * weight vector: lanes 2-3 multiply zeros and are never stored.
 */
function tileNarrowSimd(
  aTile: usize, panel: usize, kPairs: i32, dst: usize, dstStride: usize, rows: i32, cols: i32,
  outInt32: i32, perChannel: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize, nr: i32,
): void {
  let c0 = v128.load(panel);
  if (bias != 0) c0 = i32x4.add(c0, cols == 4 ? v128.load(bias) : biasLanes4(bias, cols));
  let c1 = c0;
  let c2 = c0;
  let c3 = c0;
  let a = aTile;
  let w = panel + <usize>(NARROW_FIELD << 3);
  const aEnd = aTile + (<usize>kPairs << 4);
  // One loop per width: a single loop choosing the weight load per step ran the 2-column case
  // 1.47-1.51x the default plan's step instead of 1.32x (bench/narrow-panels.ts, ResNet-8 full).
  if (nr == 4) {
    while (a < aEnd) {
      const w0 = v128.load(w);
      c0 = i32x4.add(c0, i32x4.dot_i16x8_s(v128.load32_splat(a), w0));
      c1 = i32x4.add(c1, i32x4.dot_i16x8_s(v128.load32_splat(a, 4), w0));
      c2 = i32x4.add(c2, i32x4.dot_i16x8_s(v128.load32_splat(a, 8), w0));
      c3 = i32x4.add(c3, i32x4.dot_i16x8_s(v128.load32_splat(a, 12), w0));
      a += 16;
      w += 16;
    }
  } else {
    while (a < aEnd) {
      const w0 = v128.load64_zero(w);
      c0 = i32x4.add(c0, i32x4.dot_i16x8_s(v128.load32_splat(a), w0));
      c1 = i32x4.add(c1, i32x4.dot_i16x8_s(v128.load32_splat(a, 4), w0));
      c2 = i32x4.add(c2, i32x4.dot_i16x8_s(v128.load32_splat(a, 8), w0));
      c3 = i32x4.add(c3, i32x4.dot_i16x8_s(v128.load32_splat(a, 12), w0));
      a += 16;
      w += 8;
    }
  }
  const zp = i32x4.splat(outZp);
  const lo = i32x4.splat(actMin);
  const hi = i32x4.splat(actMax);
  const zp16 = i16x8.splat(<i16>outZp);
  const lo16 = i16x8.splat(<i16>actMin);
  const hi16 = i16x8.splat(<i16>actMax);
  const shifts = v128.load(panel, NARROW_FIELD * 2);
  const fast = perChannel != 0 && fastChannelShifts(shifts, shifts);
  storeRowNarrowSimd(c0, dst, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
  if (rows > 1) storeRowNarrowSimd(c1, dst + dstStride, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
  if (rows > 2) storeRowNarrowSimd(c2, dst + dstStride * 2, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
  if (rows > 3) storeRowNarrowSimd(c3, dst + dstStride * 3, cols, outInt32, perChannel, fast, panel, zp, lo, hi, zp16, lo16, hi16);
}

// @ts-ignore: decorator
@inline function storeScalar(
  acc: i32, dst: usize, row: i32, col: i32, rows: i32, cols: i32, dstStride: usize, panel: usize,
  outInt32: i32, outZp: i32, actMin: i32, actMax: i32, field: usize,
): void {
  if (row >= rows || col >= cols) return;
  const at = dst + <usize>row * dstStride;
  if (outInt32) {
    store<i32>(at + (<usize>col << 2), acc);
  } else {
    const m = load<i32>(panel + (<usize>col << 2) + field);
    const s = load<i32>(panel + (<usize>col << 2) + field * 2);
    store<i8>(at + <usize>col, <i8>clampI32(requantScalar(acc, m, s) + outZp, actMin, actMax));
  }
}

/** Scalar build: the same tile from the same packed layout, in 2-row × 4-column register blocks. */
function tile4x8Scalar(
  aTile: usize, panel: usize, kPairs: i32, dst: usize, dstStride: usize, rows: i32, cols: i32,
  outInt32: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize,
): void {
  const body = panel + <usize>PANEL_HEADER_BYTES;
  for (let r = 0; r < rows; r += 2) {
    for (let g = 0; g < 2; g++) {
      const col = g << 2;
      const biasAt = panel + (<usize>col << 2);
      let a0 = load<i32>(biasAt) + columnBias(bias, col, cols);
      let a1 = load<i32>(biasAt, 4) + columnBias(bias, col + 1, cols);
      let a2 = load<i32>(biasAt, 8) + columnBias(bias, col + 2, cols);
      let a3 = load<i32>(biasAt, 12) + columnBias(bias, col + 3, cols);
      let b0 = a0;
      let b1 = a1;
      let b2 = a2;
      let b3 = a3;
      let x = aTile + (<usize>r << 2);
      let w = body + (<usize>col << 2);
      for (let kp = 0; kp < kPairs; kp++) {
        const x0 = <i32>load<i16>(x);
        const x1 = <i32>load<i16>(x, 2);
        const y0 = <i32>load<i16>(x, 4);
        const y1 = <i32>load<i16>(x, 6);
        let w0 = <i32>load<i16>(w);
        let w1 = <i32>load<i16>(w, 2);
        a0 += x0 * w0 + x1 * w1;
        b0 += y0 * w0 + y1 * w1;
        w0 = <i32>load<i16>(w, 4);
        w1 = <i32>load<i16>(w, 6);
        a1 += x0 * w0 + x1 * w1;
        b1 += y0 * w0 + y1 * w1;
        w0 = <i32>load<i16>(w, 8);
        w1 = <i32>load<i16>(w, 10);
        a2 += x0 * w0 + x1 * w1;
        b2 += y0 * w0 + y1 * w1;
        w0 = <i32>load<i16>(w, 12);
        w1 = <i32>load<i16>(w, 14);
        a3 += x0 * w0 + x1 * w1;
        b3 += y0 * w0 + y1 * w1;
        x += 16;
        w += 32;
      }
      storeScalar(a0, dst, r, col, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
      storeScalar(a1, dst, r, col + 1, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
      storeScalar(a2, dst, r, col + 2, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
      storeScalar(a3, dst, r, col + 3, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
      storeScalar(b0, dst, r + 1, col, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
      storeScalar(b1, dst, r + 1, col + 1, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
      storeScalar(b2, dst, r + 1, col + 2, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
      storeScalar(b3, dst, r + 1, col + 3, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, 32);
    }
  }
}

/** Scalar build, narrow panel: the same tile from the same layout, 2 rows × one column at a time. */
function tileNarrowScalar(
  aTile: usize, panel: usize, kPairs: i32, dst: usize, dstStride: usize, rows: i32, cols: i32,
  outInt32: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize, nr: i32,
): void {
  const body = panel + <usize>(NARROW_FIELD << 3);
  const pairBytes = <usize>(nr << 2);
  for (let r = 0; r < rows; r += 2) {
    for (let col = 0; col < cols; col++) {
      let a = load<i32>(panel + (<usize>col << 2)) + columnBias(bias, col, cols);
      let b = a;
      let x = aTile + (<usize>r << 2);
      let w = body + (<usize>col << 2);
      for (let kp = 0; kp < kPairs; kp++) {
        const w0 = <i32>load<i16>(w);
        const w1 = <i32>load<i16>(w, 2);
        a += <i32>load<i16>(x) * w0 + <i32>load<i16>(x, 2) * w1;
        b += <i32>load<i16>(x, 4) * w0 + <i32>load<i16>(x, 6) * w1;
        x += 16;
        w += pairBytes;
      }
      storeScalar(a, dst, r, col, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, NARROW_FIELD);
      storeScalar(b, dst, r + 1, col, rows, cols, dstStride, panel, outInt32, outZp, actMin, actMax, NARROW_FIELD);
    }
  }
}

/**
 * One activation tile (≤ 4 rows) against `count` packed panels starting at column n0; writes
 * the rows' outputs for those columns. dst points at (row 0, column n0). bias (0: none) is an
 * int32 vector of all N columns added to the accumulators, for panels packed without the bias
 * (a bias-trained layer whose weights stay packed in flash): adding it here or in the header is
 * the same wrapping int32 sum.
 */
export function gemmTileAcrossPanels(
  aTile: usize, panels: usize, count: i32, kPairs: i32, N: i32, n0: i32,
  dst: usize, dstStride: usize, rows: i32, outInt32: i32, perChannel: i32, outZp: i32, actMin: i32, actMax: i32,
  bias: usize, nr: i32,
): void {
  const stride = panelBytes(kPairs, nr);
  const elemShift: usize = outInt32 ? 2 : 0;
  for (let p = 0; p < count; p++) {
    const n = n0 + p * nr;
    const cols = min<i32>(nr, N - n);
    const panel = panels + <usize>p * stride;
    const out = dst + (<usize>(p * nr) << elemShift);
    const panelBias: usize = bias != 0 ? bias + (<usize>n << 2) : 0;
    if (nr == GEMM_NR) {
      if (ASC_FEATURE_SIMD) {
        tile4x8Simd(aTile, panel, kPairs, out, dstStride, rows, cols, outInt32, perChannel, outZp, actMin, actMax, panelBias);
      } else {
        tile4x8Scalar(aTile, panel, kPairs, out, dstStride, rows, cols, outInt32, outZp, actMin, actMax, panelBias);
      }
    } else if (ASC_FEATURE_SIMD) {
      tileNarrowSimd(aTile, panel, kPairs, out, dstStride, rows, cols, outInt32, perChannel, outZp, actMin, actMax, panelBias, nr);
    } else {
      tileNarrowScalar(aTile, panel, kPairs, out, dstStride, rows, cols, outInt32, outZp, actMin, actMax, panelBias, nr);
    }
  }
}

/**
 * Fully connected: output[M][N] = requant(bias + Σ_k (input[m][k] − zin)·w[n][k]) as int8, or the
 * int32 accumulators when outInt32. Weights [N][K] int8/int16 are packed (and perturbed) into
 * scratch `chunkPanels` panels at a time; every chunk is packed once and reused for all M rows.
 * Scratch layout: chunkPanels packed panels, then one activation tile. With gemv set (the host
 * sets it for small batches) rows are processed in pairs straight from the stored weights
 * (assembly/gemm_gemv.ts) and scratch holds that path's rows instead. Host validates everything.
 * outRow is the output's row length in elements (N, or more when the call computes a block of
 * columns of a wider output: weights, bias, output and per-channel requant then point at the
 * block's first column, and every column's result is the one the whole-width call gives).
 */
export function fully_connected_qs8(
  input: usize, weights: usize, bias: usize, output: usize, scratch: usize,
  M: i32, K: i32, N: i32, weightBits: i32, zin: i32, chunkPanels: i32, gemv: i32,
  outInt32: i32, multPtr: usize, shiftPtr: usize, perChannel: i32, outZp: i32, actMin: i32, actMax: i32,
  perturbEnabled: i32, key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32,
  outRow: i32, panelCols: i32,
): void {
  const outStride = <usize>outRow << (outInt32 ? 2 : 0);
  if (gemv) {
    for (let m0 = 0; m0 < M; m0 += 2) {
      gemvRows(
        input + <usize>m0 * <usize>K, min<i32>(2, M - m0), weights, weightBits, K, N, bias, zin,
        output + <usize>m0 * outStride, outStride, scratch, outInt32, multPtr, shiftPtr, perChannel, outZp, actMin, actMax,
        perturbEnabled, key, start, dist, signedEps, oneQ, mult, shift,
      );
    }
    return;
  }
  const kPairs = (K + 1) >> 1;
  const totalPanels = (N + panelCols - 1) / panelCols;
  const aTile = scratch + <usize>chunkPanels * panelBytes(kPairs, panelCols);
  for (let panel0 = 0; panel0 < totalPanels; panel0 += chunkPanels) {
    const count = min<i32>(chunkPanels, totalPanels - panel0);
    packWeightPanels(
      weights, weightBits, K, N, panel0, count, scratch, bias, zin, multPtr, shiftPtr, outInt32 ? 0 : 1, perChannel,
      perturbEnabled, key, start, dist, signedEps, oneQ, mult, shift, panelCols,
    );
    gemmRowsAcrossPanels(input, scratch, aTile, M, K, N, panel0, count, output, outStride, outInt32, perChannel, outZp, actMin, actMax, 0, panelCols);
  }
}

/**
 * Every row of input [M][K] against `count` packed panels from panel0 on: each 4-row activation
 * tile is widened once into aTile and run across all of them. bias: see gemmTileAcrossPanels.
 */
export function gemmRowsAcrossPanels(
  input: usize, panels: usize, aTile: usize, M: i32, K: i32, N: i32, panel0: i32, count: i32,
  output: usize, dstStride: usize, outInt32: i32, perChannel: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize, nr: i32,
): void {
  const kPairs = (K + 1) >> 1;
  const elemShift: usize = outInt32 ? 2 : 0;
  const rowBytes = <usize>K;
  const n0 = panel0 * nr;
  for (let m0 = 0; m0 < M; m0 += GEMM_MR) {
    const rows = min<i32>(GEMM_MR, M - m0);
    const r0 = input + <usize>m0 * rowBytes;
    const r1 = rows > 1 ? r0 + rowBytes : r0;
    const r2 = rows > 2 ? r0 + rowBytes * 2 : r0;
    const r3 = rows > 3 ? r0 + rowBytes * 3 : r0;
    packActivationTile(r0, r1, r2, r3, K, aTile);
    const dst = output + <usize>m0 * dstStride + (<usize>n0 << elemShift);
    gemmTileAcrossPanels(aTile, panels, count, kPairs, N, n0, dst, dstStride, rows, outInt32, perChannel, outZp, actMin, actMax, bias, nr);
  }
}
