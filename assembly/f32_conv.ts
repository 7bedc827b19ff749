// f32 Conv2D (NHWC input, OHWI weights) and DepthwiseConv2D (weights [kH][kW][C·mult]), forward
// and backward. Geometry (output size, padding before) is computed and validated by the host;
// taps that fall into the padding are skipped (conv: zero rows in the im2col panel).
//
// Conv2D lowers to the gemm primitives of f32_gemm.ts over a panel of output pixels:
//   forward  y[p][o]   = dot(col[p][·], w[o][·]) + b[o]               (gemmNT)
//   dW       w'[o][·] += Σ_p dy[p][o]·col[p][·]                      (gemmAxpy, Aᵀ)
//   dInput   dcol[p][·] = Σ_o dy[p][o]·w[o][·], scattered back onto dx (gemmAxpy, then col2im)
// with col[p] = the (kH, kW, C) patch under output pixel p. The panel holds `chunkRows` pixels;
// every per-element order is sequential in p, so the chunk size never changes the result.
// 1×1 convolutions without padding read the input rows directly (no panel, no scratch).
import { gemmNT, gemmAxpy, columnSumAcc, addInto, mulAddInto } from './f32_gemm';

/** im2col for output pixels p0..p0+rows-1: each row is the (ky, kx, c) patch, zeros in padding. */
function im2colRows(
  x: usize, col: usize, p0: i32, rows: i32, inH: i32, inW: i32, C: i32,
  kH: i32, kW: i32, sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const pixelBytes = <usize>C << 2;
  let ox = p0 % outW;
  let oy = (p0 / outW) % outH;
  let n = p0 / (outW * outH);
  let dst = col;
  for (let i = 0; i < rows; i++) {
    const iy0 = oy * sH - padT;
    const ix0 = ox * sW - padL;
    // The valid kx range is contiguous in NHWC, so each kernel row is one copy plus zero fills.
    const kx0 = max(0, -ix0);
    const kx1 = min(kW, inW - ix0);
    for (let ky = 0; ky < kH; ky++) {
      const iy = iy0 + ky;
      if (iy < 0 || iy >= inH || kx0 >= kx1) {
        memory.fill(dst, 0, <usize>kW * pixelBytes);
      } else {
        if (kx0 > 0) memory.fill(dst, 0, <usize>kx0 * pixelBytes);
        const src = x + ((<usize>n * <usize>inH + <usize>iy) * <usize>inW + <usize>(ix0 + kx0)) * pixelBytes;
        memory.copy(dst + <usize>kx0 * pixelBytes, src, <usize>(kx1 - kx0) * pixelBytes);
        if (kx1 < kW) memory.fill(dst + <usize>kx1 * pixelBytes, 0, <usize>(kW - kx1) * pixelBytes);
      }
      dst += <usize>kW * pixelBytes;
    }
    if (++ox == outW) {
      ox = 0;
      if (++oy == outH) {
        oy = 0;
        n++;
      }
    }
  }
}

/** dx[patch(p)] += dcol[p] for p0..p0+rows-1, in pixel order then (ky, kx) order. */
function col2imRows(
  dx: usize, dcol: usize, p0: i32, rows: i32, inH: i32, inW: i32, C: i32,
  kH: i32, kW: i32, sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const pixelBytes = <usize>C << 2;
  let ox = p0 % outW;
  let oy = (p0 / outW) % outH;
  let n = p0 / (outW * outH);
  let src = dcol;
  for (let i = 0; i < rows; i++) {
    const iy0 = oy * sH - padT;
    const ix0 = ox * sW - padL;
    const kx0 = max(0, -ix0);
    const kx1 = min(kW, inW - ix0);
    for (let ky = 0; ky < kH; ky++) {
      const iy = iy0 + ky;
      if (iy >= 0 && iy < inH && kx0 < kx1) {
        const dst = dx + ((<usize>n * <usize>inH + <usize>iy) * <usize>inW + <usize>(ix0 + kx0)) * pixelBytes;
        // One contiguous run of (kx1 - kx0) pixels: distinct inputs, so one add covers them.
        addInto(dst, src + <usize>kx0 * pixelBytes, (kx1 - kx0) * C);
      }
      src += <usize>kW * pixelBytes;
    }
    if (++ox == outW) {
      ox = 0;
      if (++oy == outH) {
        oy = 0;
        n++;
      }
    }
  }
}

// @ts-ignore: decorator
@inline function isPointwise(kH: i32, kW: i32, padT: i32, padL: i32): bool {
  return kH == 1 && kW == 1 && padT == 0 && padL == 0;
}

/**
 * y = conv2d(x, w) + b. scratch holds chunkRows·kH·kW·C f32 (unused for 1×1 without padding).
 */
export function conv2d_f32(
  x: usize, w: usize, bias: usize, y: usize, scratch: usize, chunkRows: i32,
  batch: i32, inH: i32, inW: i32, C: i32, O: i32, kH: i32, kW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  if (isPointwise(kH, kW, padT, padL)) {
    if (sH == 1 && sW == 1) {
      gemmNT(x, C, w, C, y, O, bias, batch * outH * outW, O, C);
      return;
    }
    for (let n = 0; n < batch; n++) {
      for (let oy = 0; oy < outH; oy++) {
        const xr = x + ((<usize>n * <usize>inH + <usize>(oy * sH)) * <usize>inW * <usize>C << 2);
        const yr = y + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW * <usize>O << 2);
        gemmNT(xr, sW * C, w, C, yr, O, bias, outW, O, C);
      }
    }
    return;
  }
  const patch = kH * kW * C;
  const total = batch * outH * outW;
  for (let p0 = 0; p0 < total; p0 += chunkRows) {
    const rows = min(chunkRows, total - p0);
    im2colRows(x, scratch, p0, rows, inH, inW, C, kH, kW, sH, sW, padT, padL, outH, outW);
    gemmNT(scratch, patch, w, patch, y + (<usize>p0 * <usize>O << 2), O, bias, rows, O, patch);
  }
}

/**
 * Conv2D backward: dx = dInput (overwritten), dw += dW, db += dBias; any of them may be 0
 * (skipped). scratch: chunkRows·kH·kW·C f32 for the im2col panel (if dw) followed by as many for
 * the dInput panel (if dx).
 */
export function conv2d_backward_f32(
  x: usize, w: usize, dy: usize, dx: usize, dw: usize, db: usize, scratch: usize, chunkRows: i32,
  batch: i32, inH: i32, inW: i32, C: i32, O: i32, kH: i32, kW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const total = batch * outH * outW;
  if (db) columnSumAcc(db, dy, O, total, O);
  if (isPointwise(kH, kW, padT, padL)) {
    if (sH == 1 && sW == 1) {
      if (dw) gemmAxpy(dw, C, dy, 1, O, x, C, O, C, total, true);
      if (dx) gemmAxpy(dx, C, dy, O, 1, w, C, total, C, O, false);
      return;
    }
    // Strided 1×1: the pixels the stride skips get zero gradient; each hit pixel has one source.
    if (dx) memory.fill(dx, 0, <usize>batch * <usize>inH * <usize>inW * <usize>C << 2);
    for (let n = 0; n < batch; n++) {
      for (let oy = 0; oy < outH; oy++) {
        const xo = (<usize>n * <usize>inH + <usize>(oy * sH)) * <usize>inW * <usize>C << 2;
        const dyr = dy + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW * <usize>O << 2);
        if (dw) gemmAxpy(dw, C, dyr, 1, O, x + xo, sW * C, O, C, outW, true);
        if (dx) gemmAxpy(dx + xo, sW * C, dyr, O, 1, w, C, outW, C, O, false);
      }
    }
    return;
  }
  const patch = kH * kW * C;
  const panelBytes = <usize>chunkRows * <usize>patch << 2;
  const col = scratch;
  const dcol = dw ? scratch + panelBytes : scratch;
  if (dx) memory.fill(dx, 0, <usize>batch * <usize>inH * <usize>inW * <usize>C << 2);
  for (let p0 = 0; p0 < total; p0 += chunkRows) {
    const rows = min(chunkRows, total - p0);
    const dyc = dy + (<usize>p0 * <usize>O << 2);
    if (dw) {
      im2colRows(x, col, p0, rows, inH, inW, C, kH, kW, sH, sW, padT, padL, outH, outW);
      gemmAxpy(dw, patch, dyc, 1, O, col, patch, O, patch, rows, true);
    }
    if (dx) {
      gemmAxpy(dcol, patch, dyc, O, 1, w, patch, rows, patch, O, false);
      col2imRows(dx, dcol, p0, rows, inH, inW, C, kH, kW, sH, sW, padT, padL, outH, outW);
    }
  }
}

// Depthwise: output channel oc = c·mult + m. Per output element the order is: +0, then
// x·w for the valid taps in (ky, kx) order, then + bias. mult = 1 vectorizes over channels;
// other multipliers run the scalar loop in every build (same order, so same bits).

/**
 * y = depthwise_conv2d(x, w) + b.
 */
export function depthwise_conv2d_f32(
  x: usize, w: usize, bias: usize, y: usize,
  batch: i32, inH: i32, inW: i32, C: i32, mult: i32, kH: i32, kW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const OC = C * mult;
  const inPix = <usize>C << 2;
  const outPix = <usize>OC << 2;
  const wRow = <usize>kW * outPix;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      const ky0 = max(0, -iy0);
      const ky1 = min(kH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        const kx0 = max(0, -ix0);
        const kx1 = min(kW, inW - ix0);
        const yp = y + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW + <usize>ox) * outPix;
        // Tap (ky, kx) reads x at xBase + ky·xRow + kx·inPix and w at ky·wRow + kx·outPix.
        const xBase = x + ((<usize>n * <usize>inH + <usize>iy0) * <usize>inW + <usize>ix0) * inPix;
        const xRow = <usize>inW * inPix;
        let c = 0;
        if (ASC_FEATURE_SIMD) {
          if (mult == 1) {
            for (; c + 4 <= C; c += 4) {
              const o = <usize>c << 2;
              let acc = f32x4.splat(0);
              for (let ky = ky0; ky < ky1; ky++) {
                for (let kx = kx0; kx < kx1; kx++) {
                  const xv = v128.load(xBase + <usize>ky * xRow + <usize>kx * inPix + o);
                  const wv = v128.load(w + <usize>ky * wRow + <usize>kx * outPix + o);
                  acc = f32x4.add(acc, f32x4.mul(xv, wv));
                }
              }
              if (bias) acc = f32x4.add(acc, v128.load(bias + o));
              v128.store(yp + o, acc);
            }
          }
        }
        for (; c < C; c++) {
          for (let m = 0; m < mult; m++) {
            const oc = c * mult + m;
            let acc: f32 = 0;
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                const xv = load<f32>(xBase + <usize>ky * xRow + <usize>kx * inPix + (<usize>c << 2));
                acc += xv * load<f32>(w + <usize>ky * wRow + <usize>kx * outPix + (<usize>oc << 2));
              }
            }
            if (bias) acc += load<f32>(bias + (<usize>oc << 2));
            store<f32>(yp + (<usize>oc << 2), acc);
          }
        }
      }
    }
  }
}

/**
 * Depthwise backward: dx overwritten, dw and db accumulated; any may be 0. Scatter order:
 * output pixels in order, then taps (ky, kx), then (for mult > 1) m.
 */
export function depthwise_conv2d_backward_f32(
  x: usize, w: usize, dy: usize, dx: usize, dw: usize, db: usize,
  batch: i32, inH: i32, inW: i32, C: i32, mult: i32, kH: i32, kW: i32,
  sH: i32, sW: i32, padT: i32, padL: i32, outH: i32, outW: i32,
): void {
  const OC = C * mult;
  const inPix = <usize>C << 2;
  const outPix = <usize>OC << 2;
  const wRow = <usize>kW * outPix;
  const xRow = <usize>inW * inPix;
  if (db) columnSumAcc(db, dy, OC, batch * outH * outW, OC);
  if (dx) memory.fill(dx, 0, <usize>batch * <usize>inH * xRow);
  if (!dx && !dw) return;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      const ky0 = max(0, -iy0);
      const ky1 = min(kH, inH - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        const kx0 = max(0, -ix0);
        const kx1 = min(kW, inW - ix0);
        const dyp = dy + ((<usize>n * <usize>outH + <usize>oy) * <usize>outW + <usize>ox) * outPix;
        const pixOff = ((<usize>n * <usize>inH + <usize>iy0) * <usize>inW + <usize>ix0) * inPix;
        for (let ky = ky0; ky < ky1; ky++) {
          for (let kx = kx0; kx < kx1; kx++) {
            const tapIn = pixOff + <usize>ky * xRow + <usize>kx * inPix;
            const tapW = <usize>ky * wRow + <usize>kx * outPix;
            if (mult == 1) {
              if (dx) mulAddInto(dx + tapIn, dyp, w + tapW, C);
              if (dw) mulAddInto(dw + tapW, dyp, x + tapIn, C);
              continue;
            }
            for (let c = 0; c < C; c++) {
              const xi = <usize>c << 2;
              const xv = load<f32>(x + tapIn + xi);
              let g: f32 = dx ? load<f32>(dx + tapIn + xi) : 0;
              for (let m = 0; m < mult; m++) {
                const oo = <usize>(c * mult + m) << 2;
                const d = load<f32>(dyp + oo);
                if (dx) g += d * load<f32>(w + tapW + oo);
                if (dw) store<f32>(dw + tapW + oo, load<f32>(dw + tapW + oo) + d * xv);
              }
              if (dx) store<f32>(dx + tapIn + xi, g);
            }
          }
        }
      }
    }
  }
}
