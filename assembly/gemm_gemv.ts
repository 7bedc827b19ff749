// qs8 GEMV for small batches ("2x4c8 dot16"): when every weight is used only a few times, packing
// it into panels costs more than the multiply. This path reads the stored [N][K]
// weights in place, 8 k at a time, for 4 columns × 2 rows (8 accumulators, reduced horizontally
// at the end). Activations are widened once with the zero point subtracted, x − zin in
// [−255, 255], and zero-padded to a multiple of 8: the weight loads of the last chunk may run up
// to 7 elements past a row (memory-safe by the arena's tail slack), and those products are 0.
//
// With a perturbation, each group of 4 rows is perturbed into a small int16 buffer first (the
// z of element n·K + k, as in the packed path) and the dot loop reads that buffer instead.
// Results are the same integers as the packed path, so every build agrees bit for bit.
import { requant4, requantScalar, clampI32 } from './requant';
import { zAt, zAt4, laneIndices4 } from './rng';
import { perturbValue, perturbValue4, requantUniform4 } from './perturb';
import { usesFastRequant, requantFast4, fastRequantBias } from './gemm_requant';

/** K rounded up to a multiple of 8: the GEMV's activation row length. */
// @ts-ignore: decorator
@inline export function gemvRowLength(K: i32): i32 {
  return (K + 7) & ~7;
}

/** dst[k] = x[k] − zin as int16 for k < K, 0 up to kPad. */
function widenCentered(src: usize, K: i32, kPad: i32, zin: i32, dst: usize): void {
  let k = 0;
  if (ASC_FEATURE_SIMD) {
    const z = i16x8.splat(<i16>zin);
    for (; k + 8 <= K; k += 8) {
      v128.store(dst + (<usize>k << 1), i16x8.sub(i16x8.extend_low_i8x16_s(v128.load64_zero(src + <usize>k)), z));
    }
  }
  for (; k < kPad; k++) store<i16>(dst + (<usize>k << 1), k < K ? <i16>(<i32>load<i8>(src + <usize>k) - zin) : 0);
}

/** Perturbed copies of weight rows n0..n0+count as int16 rows of length kPad (tail unwritten). */
function perturbRows(
  weights: usize, weightBits: i32, K: i32, kPad: i32, n0: i32, count: i32, dst: usize,
  key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  const hi = weightBits == 16 ? 32767 : 127;
  for (let j = 0; j < count; j++) {
    const rowIndex = <usize>(n0 + j) * <usize>K;
    const row = dst + (<usize>(j * kPad) << 1);
    let k = 0;
    if (ASC_FEATURE_SIMD) {
      const key4 = i32x4.splat(<i32>key);
      // 8 k per step: two independent z chains (hash, table gather) in flight.
      for (; k + 8 <= K; k += 8) {
        const index = rowIndex + <usize>k;
        const w8 = loadWeights8(weights + (index << (weightBits == 16 ? 1 : 0)), weightBits);
        const first = start + <u32>index;
        const rLo = perturbValue4(i32x4.extend_low_i16x8_s(w8), zAt4(key4, laneIndices4(first), dist, oneQ), signedEps, oneQ, mult, shift, -hi, hi);
        const rHi = perturbValue4(i32x4.extend_high_i16x8_s(w8), zAt4(key4, laneIndices4(first + 4), dist, oneQ), signedEps, oneQ, mult, shift, -hi, hi);
        v128.store(row + (<usize>k << 1), i16x8.narrow_i32x4_s(rLo, rHi));
      }
      for (; k + 4 <= K; k += 4) {
        const index = rowIndex + <usize>k;
        const w4 = weightBits == 16
          ? i32x4.extend_low_i16x8_s(v128.load64_zero(weights + (index << 1)))
          : i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(weights + index)));
        const z4 = zAt4(key4, laneIndices4(start + <u32>index), dist, oneQ);
        const r = perturbValue4(w4, z4, signedEps, oneQ, mult, shift, -hi, hi);
        v128.store64_lane(row + (<usize>k << 1), i16x8.narrow_i32x4_s(r, r), 0);
      }
    }
    for (; k < K; k++) {
      const index = rowIndex + <usize>k;
      const w = weightBits == 16 ? <i32>load<i16>(weights + (index << 1)) : <i32>load<i8>(weights + index);
      store<i16>(row + (<usize>k << 1), <i16>perturbValue(w, zAt(key, start + <u32>index, dist, oneQ), signedEps, oneQ, mult, shift, -hi, hi));
    }
  }
}

// @ts-ignore: decorator
@inline function loadWeights8(p: usize, weightBits: i32): v128 {
  return weightBits == 16 ? v128.load(p) : i16x8.extend_low_i8x16_s(v128.load64_zero(p));
}

/** [Σ lanes of a, Σ b, Σ c, Σ d]. */
// @ts-ignore: decorator
@inline function sum4x4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 2, 6), v128.shuffle<i32>(a, b, 1, 5, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 2, 6), v128.shuffle<i32>(c, d, 1, 5, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline function storeColumns(
  acc: v128, dst: usize, cols: i32, outInt32: i32, perChannel: i32, multPtr: usize, shiftPtr: usize, n0: i32,
  outZp: i32, actMin: i32, actMax: i32,
): void {
  if (outInt32) {
    if (cols == 4) {
      v128.store(dst, acc);
    } else {
      store<i32>(dst, i32x4.extract_lane(acc, 0));
      if (cols > 1) store<i32>(dst, i32x4.extract_lane(acc, 1), 4);
      if (cols > 2) store<i32>(dst, i32x4.extract_lane(acc, 2), 8);
    }
    return;
  }
  let r: v128;
  if (perChannel) {
    r = requant4(acc, v128.load(multPtr + (<usize>n0 << 2)), v128.load(shiftPtr + (<usize>n0 << 2)));
  } else {
    const m = load<i32>(multPtr);
    const s = load<i32>(shiftPtr);
    r = usesFastRequant(s) ? requantFast4(acc, i32x4.splat(m), -s - 1, fastRequantBias(-s)) : requantUniform4(acc, m, s);
  }
  const y = i32x4.min_s(i32x4.max_s(i32x4.add(r, i32x4.splat(outZp)), i32x4.splat(actMin)), i32x4.splat(actMax));
  const n16 = i16x8.narrow_i32x4_s(y, y);
  let bytes = i32x4.extract_lane(i8x16.narrow_i16x8_s(n16, n16), 0);
  if (cols == 4) {
    store<i32>(dst, bytes);
  } else {
    for (let j = 0; j < cols; j++) {
      store<i8>(dst + <usize>j, <i8>bytes);
      bytes >>= 8;
    }
  }
}

/**
 * rows (1 or 2) rows of input × all N columns. scratch holds 2 centered activation rows, then 4
 * perturbed weight rows, each gemvRowLength(K) int16.
 */
export function gemvRows(
  input: usize, rows: i32, weights: usize, weightBits: i32, K: i32, N: i32, bias: usize, zin: i32,
  output: usize, outStride: usize, scratch: usize,
  outInt32: i32, multPtr: usize, shiftPtr: usize, perChannel: i32, outZp: i32, actMin: i32, actMax: i32,
  perturbEnabled: i32, key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32,
): void {
  const kPad = gemvRowLength(K);
  const rowBytes = <usize>kPad << 1;
  const x0 = scratch;
  const x1 = scratch + rowBytes;
  const wbuf = scratch + rowBytes * 2;
  widenCentered(input, K, kPad, zin, x0);
  widenCentered(rows > 1 ? input + <usize>K : input, K, kPad, zin, x1);
  const esize: usize = weightBits == 16 ? 2 : 1;
  for (let n0 = 0; n0 < N; n0 += 4) {
    const cols = min<i32>(4, N - n0);
    let src: usize;
    let stride: usize;
    let bits = weightBits;
    if (perturbEnabled) {
      perturbRows(weights, weightBits, K, kPad, n0, cols, wbuf, key, start, dist, signedEps, oneQ, mult, shift);
      src = wbuf;
      stride = rowBytes;
      bits = 16;
    } else {
      src = weights + <usize>n0 * <usize>K * esize;
      stride = <usize>K * esize;
    }
    // Columns past N repeat the last real one (their results are not stored).
    const p0 = src;
    const p1 = src + stride * <usize>min<i32>(1, cols - 1);
    const p2 = src + stride * <usize>min<i32>(2, cols - 1);
    const p3 = src + stride * <usize>min<i32>(3, cols - 1);
    const kShift: usize = bits == 16 ? 1 : 0;
    if (ASC_FEATURE_SIMD) {
      let a0 = i32x4.splat(0);
      let a1 = a0;
      let a2 = a0;
      let a3 = a0;
      let b0 = a0;
      let b1 = a0;
      let b2 = a0;
      let b3 = a0;
      for (let k = 0; k < kPad; k += 8) {
        const xa = v128.load(x0 + (<usize>k << 1));
        const xb = v128.load(x1 + (<usize>k << 1));
        const off = <usize>k << kShift;
        let w = loadWeights8(p0 + off, bits);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xa, w));
        b0 = i32x4.add(b0, i32x4.dot_i16x8_s(xb, w));
        w = loadWeights8(p1 + off, bits);
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xa, w));
        b1 = i32x4.add(b1, i32x4.dot_i16x8_s(xb, w));
        w = loadWeights8(p2 + off, bits);
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xa, w));
        b2 = i32x4.add(b2, i32x4.dot_i16x8_s(xb, w));
        w = loadWeights8(p3 + off, bits);
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xa, w));
        b3 = i32x4.add(b3, i32x4.dot_i16x8_s(xb, w));
      }
      // Lanes past N read bias words past the buffer; they are never stored.
      const biasV = bias != 0 ? v128.load(bias + (<usize>n0 << 2)) : i32x4.splat(0);
      const dst = output + (<usize>n0 << (outInt32 ? 2 : 0));
      storeColumns(i32x4.add(sum4x4(a0, a1, a2, a3), biasV), dst, cols, outInt32, perChannel, multPtr, shiftPtr, n0, outZp, actMin, actMax);
      if (rows > 1) {
        storeColumns(i32x4.add(sum4x4(b0, b1, b2, b3), biasV), dst + outStride, cols, outInt32, perChannel, multPtr, shiftPtr, n0, outZp, actMin, actMax);
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const x = r == 0 ? x0 : x1;
        for (let j = 0; j < cols; j++) {
          const w = src + stride * <usize>j;
          let acc = bias != 0 ? load<i32>(bias + (<usize>(n0 + j) << 2)) : 0;
          for (let k = 0; k < K; k++) {
            const wk = bits == 16 ? <i32>load<i16>(w + (<usize>k << 1)) : <i32>load<i8>(w + <usize>k);
            acc += <i32>load<i16>(x + (<usize>k << 1)) * wk;
          }
          const at = output + <usize>r * outStride;
          if (outInt32) {
            store<i32>(at + (<usize>(n0 + j) << 2), acc);
          } else {
            const c: usize = perChannel ? <usize>(n0 + j) << 2 : 0;
            const y = requantScalar(acc, load<i32>(multPtr + c), load<i32>(shiftPtr + c)) + outZp;
            store<i8>(at + <usize>(n0 + j), <i8>clampI32(y, actMin, actMax));
          }
        }
      }
    }
  }
}
