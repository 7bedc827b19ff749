// qs8 Conv2D (NHWC int8 input, OHWI int8/int16 weights, no dilation) as a GEMM: each output
// pixel is a row of K = kH·kW·inC values, and OHWI weights already are the [outC][K] matrix the
// GEMM packs, so the flat OHWI index is the GEMM's n·K + k (which is what perturbation keys on).
//
// Rows are gathered 4 output pixels at a time (one activation tile): a 1×1 kernel reads its
// pixels straight from the input (a 1×1 window never pads, at any stride); larger kernels copy
// the window into a 4-row im2col tile first, filling padded taps with the input zero point so
// they contribute exactly 0. When inC is a multiple of 8 the SIMD build skips that int8 copy and
// widens each tap's channels straight from the input into the int16 activation tile (4 rows at
// once, the same transpose packActivationTile does), so the tile holds the same values in one pass.
// Scratch therefore stays bounded by the packed weight chunk plus
// 4 rows, independent of the image size and batch.
import {
  GEMM_MR, GEMM_NR, panelBytes, activationTileBytes, packWeightPanels, packActivationTile, gemmTileAcrossPanels,
  storeTransposed4x4,
} from './gemm';

/** im2col row stride: K rounded up to 16 plus 16 bytes that absorb the SIMD copy overrun. */
// @ts-ignore: decorator
@inline export function im2colRowStride(K: i32): usize {
  return ((<usize>K + 15) & ~(<usize>15)) + 16;
}

/** Copies n bytes; the SIMD build may write up to 15 bytes past dst + n and read past src + n. */
// @ts-ignore: decorator
@inline function copyWithOverrun(dst: usize, src: usize, n: i32): void {
  if (ASC_FEATURE_SIMD) {
    for (let i = 0; i < n; i += 16) v128.store(dst + <usize>i, v128.load(src + <usize>i));
  } else {
    memory.copy(dst, src, <usize>n);
  }
}

/** Fills n bytes with value; the SIMD build may write up to 15 bytes past dst + n. */
// @ts-ignore: decorator
@inline function fillWithOverrun(dst: usize, value: i32, n: i32): void {
  if (ASC_FEATURE_SIMD) {
    const v = i8x16.splat(<i8>value);
    for (let i = 0; i < n; i += 16) v128.store(dst + <usize>i, v);
  } else {
    memory.fill(dst, <u8>value, <usize>n);
  }
}

/**
 * Writes the K = kH·kW·inC window of output pixel (b, oy, ox) to dst in (ky, kx, c) order.
 * Segments are written left to right, so each overrun is overwritten by the next segment and
 * the last one lands in the row's slack.
 */
function im2colRow(
  input: usize, dst: usize, b: i32, oy: i32, ox: i32,
  inH: i32, inW: i32, inC: i32, kH: i32, kW: i32, strideH: i32, strideW: i32, padTop: i32, padLeft: i32, zin: i32,
): void {
  const iy0 = oy * strideH - padTop;
  const ix0 = ox * strideW - padLeft;
  const kxBegin = max<i32>(0, -ix0);
  const kxEnd = min<i32>(kW, inW - ix0);
  const tapRow = kW * inC;
  for (let ky = 0; ky < kH; ky++) {
    const iy = iy0 + ky;
    const at = dst + <usize>(ky * tapRow);
    if (iy < 0 || iy >= inH || kxBegin >= kxEnd) {
      fillWithOverrun(at, zin, tapRow);
      continue;
    }
    const before = kxBegin * inC;
    const inside = (kxEnd - kxBegin) * inC;
    if (before > 0) fillWithOverrun(at, zin, before);
    const src = input + <usize>(((b * inH + iy) * inW + ix0 + kxBegin) * inC);
    copyWithOverrun(at + <usize>before, src, inside);
    const after = tapRow - before - inside;
    if (after > 0) fillWithOverrun(at + <usize>(before + inside), zin, after);
  }
}

// @ts-ignore: decorator
@inline function widened8(src: usize): v128 {
  return i16x8.extend_low_i8x16_s(v128.load64_zero(src));
}

/** Address of input pixel (iy, ix) of the image at `image`, or the zero-point row when padded. */
// @ts-ignore: decorator
@inline function tapPointer(image: usize, iy: i32, ix: i32, inH: i32, inW: i32, inC: i32, zinRow: usize): usize {
  return iy >= 0 && iy < inH && ix >= 0 && ix < inW ? image + <usize>((iy * inW + ix) * inC) : zinRow;
}

/**
 * SIMD build, inC % 8 == 0: the activation tile of 4 output pixels (image pointer and top-left
 * input coordinate of each window) gathered and widened in one pass, k in (ky, kx, c) order —
 * exactly what im2colRow followed by packActivationTile writes. zinRow holds inC zero points.
 */
function gatherWidenedTile(
  aTile: usize, zinRow: usize, inH: i32, inW: i32, inC: i32, kH: i32, kW: i32,
  i0: usize, y0: i32, x0: i32, i1: usize, y1: i32, x1: i32, i2: usize, y2: i32, x2: i32, i3: usize, y3: i32, x3: i32,
): void {
  let dst = aTile;
  for (let ky = 0; ky < kH; ky++) {
    for (let kx = 0; kx < kW; kx++) {
      const p0 = tapPointer(i0, y0 + ky, x0 + kx, inH, inW, inC, zinRow);
      const p1 = tapPointer(i1, y1 + ky, x1 + kx, inH, inW, inC, zinRow);
      const p2 = tapPointer(i2, y2 + ky, x2 + kx, inH, inW, inC, zinRow);
      const p3 = tapPointer(i3, y3 + ky, x3 + kx, inH, inW, inC, zinRow);
      for (let c = 0; c < inC; c += 8) {
        const o = <usize>c;
        storeTransposed4x4(widened8(p0 + o), widened8(p1 + o), widened8(p2 + o), widened8(p3 + o), dst, 16);
        dst += 64;
      }
    }
  }
}

/**
 * Every output pixel against `count` packed panels from panel0 on (the panels of one chunk, or
 * all of a pre-packed layer), 4 pixels per activation tile.
 */
function convRowsAcrossPanels(
  input: usize, panels: usize, aTile: usize, im2col: usize, count: i32, panel0: i32, output: usize,
  batch: i32, inH: i32, inW: i32, inC: i32, outC: i32, kH: i32, kW: i32, strideH: i32, strideW: i32,
  padTop: i32, padLeft: i32, outH: i32, outW: i32, zin: i32,
  perChannel: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize, nr: i32, outRow: i32,
): void {
  const K = kH * kW * inC;
  const kPairs = (K + 1) >> 1;
  const rowStride = im2colRowStride(K);
  const direct = kH == 1 && kW == 1;
  const widenedGather = ASC_FEATURE_SIMD && !direct && (inC & 7) == 0;
  if (widenedGather) memory.fill(im2col, <u8>zin, <usize>inC);
  const imageBytes = <usize>inH * <usize>inW * <usize>inC;
  const M = batch * outH * outW;
  const n0 = panel0 * nr;
  // Output pixel (b, oy, ox) of the next row, advanced row by row (no divisions).
  let b = 0;
  let oy = 0;
  let ox = 0;
  for (let m0 = 0; m0 < M; m0 += GEMM_MR) {
    const rows = min<i32>(GEMM_MR, M - m0);
    if (widenedGather) {
      // Missing rows repeat row 0, as the im2col path does.
      let i0: usize = 0, i1: usize = 0, i2: usize = 0, i3: usize = 0;
      let y0 = 0, y1 = 0, y2 = 0, y3 = 0, x0 = 0, x1 = 0, x2 = 0, x3 = 0;
      for (let i = 0; i < rows; i++) {
        const image = input + <usize>b * imageBytes;
        const iy = oy * strideH - padTop;
        const ix = ox * strideW - padLeft;
        if (i == 0) { i0 = image; y0 = iy; x0 = ix; i1 = image; y1 = iy; x1 = ix; i2 = image; y2 = iy; x2 = ix; i3 = image; y3 = iy; x3 = ix; }
        else if (i == 1) { i1 = image; y1 = iy; x1 = ix; }
        else if (i == 2) { i2 = image; y2 = iy; x2 = ix; }
        else { i3 = image; y3 = iy; x3 = ix; }
        if (++ox == outW) {
          ox = 0;
          if (++oy == outH) {
            oy = 0;
            b++;
          }
        }
      }
      if (ASC_FEATURE_SIMD) gatherWidenedTile(aTile, im2col, inH, inW, inC, kH, kW, i0, y0, x0, i1, y1, x1, i2, y2, x2, i3, y3, x3);
    } else {
      let r0: usize = 0;
      let r1: usize = 0;
      let r2: usize = 0;
      let r3: usize = 0;
      for (let i = 0; i < rows; i++) {
        let row: usize;
        if (direct) {
          row = input + <usize>(((b * inH + oy * strideH) * inW + ox * strideW) * inC);
        } else {
          row = im2col + <usize>i * rowStride;
          im2colRow(input, row, b, oy, ox, inH, inW, inC, kH, kW, strideH, strideW, padTop, padLeft, zin);
        }
        if (i == 0) r0 = row;
        else if (i == 1) r1 = row;
        else if (i == 2) r2 = row;
        else r3 = row;
        if (++ox == outW) {
          ox = 0;
          if (++oy == outH) {
            oy = 0;
            b++;
          }
        }
      }
      if (rows < 2) r1 = r0;
      if (rows < 3) r2 = r0;
      if (rows < 4) r3 = r0;
      packActivationTile(r0, r1, r2, r3, K, aTile);
    }
    const dst = output + <usize>m0 * <usize>outRow + <usize>n0;
    gemmTileAcrossPanels(aTile, panels, count, kPairs, outC, n0, dst, <usize>outRow, rows, 0, perChannel, outZp, actMin, actMax, bias, nr);
  }
}

/**
 * Conv2D: output[b][oy][ox][o] = requant(bias[o] + Σ (x − zin)·w[o][ky][kx][c]) as int8, with
 * padTop/padLeft already derived by the host from TFLite's 'same'/'valid' rules.
 * Scratch layout: chunkPanels packed panels, one activation tile, then (kernels larger than 1×1)
 * 4 im2col rows of im2colRowStride(K) bytes. Host validates everything. outRow is the output
 * pixel's length in channels (outC, or more when the call computes a block of output channels of a
 * wider layer: weights, bias, output and per-channel requant then point at the block's first
 * channel, and every channel's result is the one the whole-layer call gives).
 */
export function conv2d_qs8(
  input: usize, weights: usize, bias: usize, output: usize, scratch: usize,
  batch: i32, inH: i32, inW: i32, inC: i32, outC: i32, kH: i32, kW: i32, strideH: i32, strideW: i32,
  padTop: i32, padLeft: i32, outH: i32, outW: i32, weightBits: i32, zin: i32, chunkPanels: i32,
  multPtr: usize, shiftPtr: usize, perChannel: i32, outZp: i32, actMin: i32, actMax: i32,
  perturbEnabled: i32, key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, mult: i32, shift: i32, panelCols: i32,
  outRow: i32,
): void {
  const K = kH * kW * inC;
  const kPairs = (K + 1) >> 1;
  const totalPanels = (outC + panelCols - 1) / panelCols;
  const aTile = scratch + <usize>chunkPanels * panelBytes(kPairs, panelCols);
  const im2col = aTile + activationTileBytes(kPairs);
  for (let panel0 = 0; panel0 < totalPanels; panel0 += chunkPanels) {
    const count = min<i32>(chunkPanels, totalPanels - panel0);
    packWeightPanels(
      weights, weightBits, K, outC, panel0, count, scratch, bias, zin, multPtr, shiftPtr, 1, perChannel,
      perturbEnabled, key, start, dist, signedEps, oneQ, mult, shift, panelCols,
    );
    convRowsAcrossPanels(
      input, scratch, aTile, im2col, count, panel0, output, batch, inH, inW, inC, outC, kH, kW, strideH, strideW,
      padTop, padLeft, outH, outW, zin, perChannel, outZp, actMin, actMax, 0, panelCols, outRow,
    );
  }
}

/**
 * Conv2D on weights packed once beforehand (pack_weight_panels_qs8 with hasRequant = 1): every
 * panel of the layer is read from `panels` (flash for a frozen layer). Scratch layout: one
 * activation tile, then (kernels larger than 1×1) 4 im2col rows. Same results as conv2d_qs8.
 * bias: 0 when the bias was packed into the panels; else the int32 bias [outC] (in SRAM) of
 * panels packed with a null bias (a bias-trained layer on flash panels).
 */
export function conv2d_qs8_prepacked(
  input: usize, panels: usize, output: usize, scratch: usize,
  batch: i32, inH: i32, inW: i32, inC: i32, outC: i32, kH: i32, kW: i32, strideH: i32, strideW: i32,
  padTop: i32, padLeft: i32, outH: i32, outW: i32, zin: i32, perChannel: i32, outZp: i32, actMin: i32, actMax: i32,
  bias: usize,
): void {
  const kPairs = (kH * kW * inC + 1) >> 1;
  const im2col = scratch + activationTileBytes(kPairs);
  convRowsAcrossPanels(
    input, panels, scratch, im2col, (outC + 7) >> 3, 0, output, batch, inH, inW, inC, outC, kH, kW, strideH, strideW,
    padTop, padLeft, outH, outW, zin, perChannel, outZp, actMin, actMax, bias, GEMM_NR, outC,
  );
}
