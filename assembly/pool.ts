// int8 pooling with TFLite Micro reference_integer_ops semantics (NHWC, input and output share
// quantization): MaxPool takes the max of the valid taps, AveragePool divides the sum of the n
// valid (non-padded) taps with TFLM's rounding (sum > 0 ? sum + n/2 : sum − n/2) / n, C
// division truncating; both clamp to [actMin, actMax]. GlobalAveragePool is AveragePool over
// the whole H×W map. The host guarantees every window holds at least one valid tap (true for
// TFLite's 'same' and 'valid' padding).
//
// SIMD builds work 16 channels at a time. A last partial block either slides back to end at
// channel C (when C ≥ 16; pooling is per channel, so recomputing a channel is harmless) or, for
// C < 16, loads 16 bytes (at most 15 past the map, inside the readable slack) and stores only C.
import { storeFirstBytes } from './eltwise';

// @ts-ignore: decorator
@inline function roundedDivScalar(sum: i32, n: i32): i32 {
  return sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n;
}

/**
 * TFLM's rounded division on four i32 lanes by the same n. In f64 the quotient of two integers
 * below 2^53 is never rounded across an integer, so truncating it is C's integer division.
 */
// @ts-ignore: decorator
@inline function roundedDiv4(sum: v128, half: v128, n: v128): v128 {
  const adjusted = i32x4.add(sum, v128.bitselect(half, i32x4.neg(half), i32x4.gt_s(sum, i32x4.splat(0))));
  const lo = i32x4.trunc_sat_f64x2_s_zero(f64x2.div(f64x2.convert_low_i32x4_s(adjusted), n));
  const upper = v128.shuffle<i32>(adjusted, adjusted, 2, 3, 0, 1);
  const hi = i32x4.trunc_sat_f64x2_s_zero(f64x2.div(f64x2.convert_low_i32x4_s(upper), n));
  return v128.shuffle<i32>(lo, hi, 0, 1, 4, 5);
}

/** 16 rounded averages, narrowed and clamped (narrowing saturates, so clamping after is exact). */
// @ts-ignore: decorator
@inline function averages16(s0: v128, s1: v128, s2: v128, s3: v128, n: i32, lo: v128, hi: v128): v128 {
  const half = i32x4.splat(n / 2);
  const nf = f64x2.splat(<f64>n);
  const a = i16x8.narrow_i32x4_s(roundedDiv4(s0, half, nf), roundedDiv4(s1, half, nf));
  const b = i16x8.narrow_i32x4_s(roundedDiv4(s2, half, nf), roundedDiv4(s3, half, nf));
  return i8x16.min_s(i8x16.max_s(i8x16.narrow_i16x8_s(a, b), lo), hi);
}

/** Stores a 16-channel result at channel c, or only the first `channels` bytes when C < 16. */
// @ts-ignore: decorator
@inline function storeBlock(dst: usize, v: v128, channels: i32): void {
  if (channels >= 16) v128.store(dst, v);
  else storeFirstBytes(dst, v, channels);
}

/** First channel of each 16-channel block: 0, 16, …, then C − 16 for a partial last block. */
// @ts-ignore: decorator
@inline function nextBlock(c: i32, channels: i32): i32 {
  const next = c + 16;
  return next < channels && next + 16 > channels ? channels - 16 : next;
}

// Window of output (oy, ox): input rows iy0 + [ky0, ky1), columns ix0 + [kx0, kx1).
// @ts-ignore: decorator
@inline function windowStart(o: i32, stride: i32, pad: i32): i32 {
  return o * stride - pad;
}

export function max_pool2d_s8(
  input: usize, output: usize, batch: i32, inH: i32, inW: i32, C: i32,
  fH: i32, fW: i32, strideH: i32, strideW: i32, padTop: i32, padLeft: i32, outH: i32, outW: i32,
  actMin: i32, actMax: i32,
): void {
  const rowStride = <usize>inW * <usize>C;
  let dst = output;
  for (let b = 0; b < batch; b++) {
    const image = input + <usize>b * <usize>inH * rowStride;
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = windowStart(oy, strideH, padTop);
      const ky0 = max<i32>(0, -iy0);
      const ky1 = min<i32>(fH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = windowStart(ox, strideW, padLeft);
        const kx0 = max<i32>(0, -ix0);
        const kx1 = min<i32>(fW, inW - ix0);
        const corner = image + <usize>(iy0 + ky0) * rowStride + <usize>(ix0 + kx0) * <usize>C;
        const rows = ky1 - ky0;
        const cols = kx1 - kx0;
        if (ASC_FEATURE_SIMD) {
          const lo = i8x16.splat(<i8>actMin);
          const hi = i8x16.splat(<i8>actMax);
          for (let c = 0; c < C; c = nextBlock(c, C)) {
            let m = i8x16.splat(-128);
            let row = corner + <usize>c;
            for (let ky = 0; ky < rows; ky++) {
              let p = row;
              for (let kx = 0; kx < cols; kx++) {
                m = i8x16.max_s(m, v128.load(p));
                p += <usize>C;
              }
              row += rowStride;
            }
            storeBlock(dst + <usize>c, i8x16.min_s(i8x16.max_s(m, lo), hi), C);
          }
        } else {
          for (let c = 0; c < C; c++) {
            let m: i32 = -128;
            let row = corner + <usize>c;
            for (let ky = 0; ky < rows; ky++) {
              let p = row;
              for (let kx = 0; kx < cols; kx++) {
                m = max<i32>(m, <i32>load<i8>(p));
                p += <usize>C;
              }
              row += rowStride;
            }
            store<i8>(dst + <usize>c, <i8>min<i32>(max<i32>(m, actMin), actMax));
          }
        }
        dst += <usize>C;
      }
    }
  }
}

/**
 * 16 averaged channels of a window (SIMD builds only). i16 partial sums hold 256 int8 values
 * exactly (256·−128 = −32768), so they are widened into the i32 sums every 256 taps.
 */
// @ts-ignore: decorator
@inline function averageWindow16(p0: usize, rows: i32, cols: i32, pixelStride: usize, rowStride: usize, lo: v128, hi: v128): v128 {
  let s0 = i32x4.splat(0);
  let s1 = s0;
  let s2 = s0;
  let s3 = s0;
  let lo16 = s0;
  let hi16 = s0;
  let pending = 0;
  let row = p0;
  for (let ky = 0; ky < rows; ky++) {
    let p = row;
    for (let kx = 0; kx < cols; kx++) {
      const v = v128.load(p);
      lo16 = i16x8.add(lo16, i16x8.extend_low_i8x16_s(v));
      hi16 = i16x8.add(hi16, i16x8.extend_high_i8x16_s(v));
      p += pixelStride;
      if (++pending == 256) {
        s0 = i32x4.add(s0, i32x4.extend_low_i16x8_s(lo16));
        s1 = i32x4.add(s1, i32x4.extend_high_i16x8_s(lo16));
        s2 = i32x4.add(s2, i32x4.extend_low_i16x8_s(hi16));
        s3 = i32x4.add(s3, i32x4.extend_high_i16x8_s(hi16));
        lo16 = i32x4.splat(0);
        hi16 = lo16;
        pending = 0;
      }
    }
    row += rowStride;
  }
  s0 = i32x4.add(s0, i32x4.extend_low_i16x8_s(lo16));
  s1 = i32x4.add(s1, i32x4.extend_high_i16x8_s(lo16));
  s2 = i32x4.add(s2, i32x4.extend_low_i16x8_s(hi16));
  s3 = i32x4.add(s3, i32x4.extend_high_i16x8_s(hi16));
  return averages16(s0, s1, s2, s3, rows * cols, lo, hi);
}

/** Rounded average of one channel over a window (scalar path). */
// @ts-ignore: decorator
@inline function averageWindow1(p0: usize, rows: i32, cols: i32, pixelStride: usize, rowStride: usize, actMin: i32, actMax: i32): i32 {
  let sum = 0;
  let row = p0;
  for (let ky = 0; ky < rows; ky++) {
    let p = row;
    for (let kx = 0; kx < cols; kx++) {
      sum += <i32>load<i8>(p);
      p += pixelStride;
    }
    row += rowStride;
  }
  return min<i32>(max<i32>(roundedDivScalar(sum, rows * cols), actMin), actMax);
}

export function avg_pool2d_s8(
  input: usize, output: usize, batch: i32, inH: i32, inW: i32, C: i32,
  fH: i32, fW: i32, strideH: i32, strideW: i32, padTop: i32, padLeft: i32, outH: i32, outW: i32,
  actMin: i32, actMax: i32,
): void {
  const pixelStride = <usize>C;
  const rowStride = <usize>inW * pixelStride;
  let dst = output;
  for (let b = 0; b < batch; b++) {
    const image = input + <usize>b * <usize>inH * rowStride;
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = windowStart(oy, strideH, padTop);
      const ky0 = max<i32>(0, -iy0);
      const ky1 = min<i32>(fH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = windowStart(ox, strideW, padLeft);
        const kx0 = max<i32>(0, -ix0);
        const kx1 = min<i32>(fW, inW - ix0);
        const corner = image + <usize>(iy0 + ky0) * rowStride + <usize>(ix0 + kx0) * pixelStride;
        if (ASC_FEATURE_SIMD) {
          const lo = i8x16.splat(<i8>actMin);
          const hi = i8x16.splat(<i8>actMax);
          for (let c = 0; c < C; c = nextBlock(c, C)) {
            const v = averageWindow16(corner + <usize>c, ky1 - ky0, kx1 - kx0, pixelStride, rowStride, lo, hi);
            storeBlock(dst + <usize>c, v, C);
          }
        } else {
          for (let c = 0; c < C; c++) {
            const v = averageWindow1(corner + <usize>c, ky1 - ky0, kx1 - kx0, pixelStride, rowStride, actMin, actMax);
            store<i8>(dst + <usize>c, <i8>v);
          }
        }
        dst += <usize>C;
      }
    }
  }
}

/** Mean over H×W per channel and image, TFLM AveragePool rounding; H·W ≤ 2^24 (host-checked). */
export function global_avg_pool_s8(
  input: usize, output: usize, batch: i32, H: i32, W: i32, C: i32, actMin: i32, actMax: i32,
): void {
  const pixelStride = <usize>C;
  // The map is one row of H·W pixels: the window loops then have a single long inner loop.
  const pixels = H * W;
  const imageBytes = <usize>pixels * pixelStride;
  for (let b = 0; b < batch; b++) {
    const image = input + <usize>b * imageBytes;
    const dst = output + <usize>b * pixelStride;
    if (ASC_FEATURE_SIMD) {
      const lo = i8x16.splat(<i8>actMin);
      const hi = i8x16.splat(<i8>actMax);
      for (let c = 0; c < C; c = nextBlock(c, C)) {
        storeBlock(dst + <usize>c, averageWindow16(image + <usize>c, 1, pixels, pixelStride, imageBytes, lo, hi), C);
      }
    } else {
      for (let c = 0; c < C; c++) {
        store<i8>(dst + <usize>c, <i8>averageWindow1(image + <usize>c, 1, pixels, pixelStride, imageBytes, actMin, actMax));
      }
    }
  }
}
