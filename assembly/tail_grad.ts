// Integer backprop one layer below the dense head (the hybrid method's "tail"): the layer that
// feeds the head through a global average pool (a conv2d, or a dense layer as a 1×1 conv on a 1×1
// map), optionally through an elementwise add whose output carries the ReLU. Fixed point, scalar
// in every build, so scalar/simd/relaxed give the same bits.
//
// tail_grad_accumulate, per row r, with δ (Q.15, written by head_grad_accumulate for the same rows),
// the head's stored weights Wh [classes][features], the tail's int8 input x (zero point zx) and the
// int8 tensor the pool reads (the "gate", whose ReLU/clamp decides which positions pass):
//   g_o   = round(Σ_c δ_c·Wh[c][o] / 2^15), half away from zero   dL/df_o in head-weight units
//   P[j]  = Σ_{positions p with lo < gate[p][o] < hi} (x[p + k_j][i_j] − zx)   (out of bounds: 0)
//   gW[o][j] += g_o·P[j],  gB[o] += g_o·n_o   (n_o: positions that pass; int64, saturating at ±2^47)
// P is built one output channel at a time in a K·Cin int32 scratch, so the SRAM cost is one filter.
// Σ_c |δ_c| ≤ 2^16 (softmax minus one-hot), so |g| < 2^16·2^15/2^15 = 2^16 whatever the classes, and
// |P| ≤ positions·255: one row adds less than positions·2^24, and the sums saturate (deterministically)
// at ±2^47 so the update's product with a 15-bit factor stays inside int64.
//
// tail_sgd_update: w ← clamp(w − round(g·mult / 2^totalShift)) with rounding half away from zero,
// mult < 2^15 and |g| ≤ 2^47 so the product fits int64; then g ← 0.

import { scaledStep, subtractClamped } from './sgd_step';

const GRAD_LIMIT: i64 = (<i64>1 << 47) - 1;

// @ts-ignore: decorator
@inline function saturatingAdd47(acc: i64, v: i64): i64 {
  const s = acc + v;
  return s > GRAD_LIMIT ? GRAD_LIMIT : s < -GRAD_LIMIT ? -GRAD_LIMIT : s;
}

// @ts-ignore: decorator
@inline function roundShift15(v: i64): i32 {
  return <i32>(v >= 0 ? (v + 16384) >> 15 : -((-v + 16384) >> 15));
}

/**
 * Accumulate the tail layer's gradient of `rows` samples. geometry: [inH, inW, cin, outH, outW,
 * cout, kH, kW, strideH, strideW, padTop, padLeft] as 12 int32 at `geom`. headW: int8 or int16
 * (headBits) [classes][cout]. gate: int8 [rows][outH][outW][cout], passing where lo < v < hi.
 * g: int32 [cout] scratch; patch: int32 [kH·kW·cin] scratch; gradW: int64 [cout][kH][kW][cin];
 * gradB: int64 [cout].
 */
export function tail_grad_accumulate(
  delta: usize, rows: i32, classes: i32, headW: usize, headBits: i32,
  x: usize, inputZero: i32, gate: usize, gateLo: i32, gateHi: i32, geom: usize,
  g: usize, patch: usize, gradW: usize, gradB: usize,
): void {
  const inH = load<i32>(geom), inW = load<i32>(geom, 4), cin = load<i32>(geom, 8);
  const outH = load<i32>(geom, 12), outW = load<i32>(geom, 16), cout = load<i32>(geom, 20);
  const kH = load<i32>(geom, 24), kW = load<i32>(geom, 28), sH = load<i32>(geom, 32), sW = load<i32>(geom, 36);
  const padTop = load<i32>(geom, 40), padLeft = load<i32>(geom, 44);
  const k = kH * kW * cin;
  const inRow = <usize>inH * <usize>inW * <usize>cin;
  const gateRow = <usize>outH * <usize>outW * <usize>cout;
  for (let r = 0; r < rows; r++) {
    const dRow = delta + ((<usize>r * <usize>classes) << 2);
    for (let o = 0; o < cout; o++) {
      let s: i64 = 0;
      for (let c = 0; c < classes; c++) {
        const w = headBits == 16 ? <i32>load<i16>(headW + ((<usize>c * <usize>cout + <usize>o) << 1)) : <i32>load<i8>(headW + <usize>c * <usize>cout + <usize>o);
        s += <i64>load<i32>(dRow + (<usize>c << 2)) * <i64>w;
      }
      store<i32>(g + (<usize>o << 2), roundShift15(s));
    }
    const xr = x + <usize>r * inRow;
    const gr = gate + <usize>r * gateRow;
    for (let o = 0; o < cout; o++) {
      const go = <i64>load<i32>(g + (<usize>o << 2));
      if (go == 0) continue;
      memory.fill(patch, 0, <usize>k << 2);
      let passed = 0;
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const v = <i32>load<i8>(gr + (<usize>(oy * outW + ox) * <usize>cout) + <usize>o);
          if (v <= gateLo || v >= gateHi) continue;
          passed++;
          for (let ky = 0; ky < kH; ky++) {
            const iy = oy * sH - padTop + ky;
            if (<u32>iy >= <u32>inH) continue;
            for (let kx = 0; kx < kW; kx++) {
              const ix = ox * sW - padLeft + kx;
              if (<u32>ix >= <u32>inW) continue;
              const src = xr + <usize>(iy * inW + ix) * <usize>cin;
              const dst = patch + (<usize>((ky * kW + kx) * cin) << 2);
              for (let i = 0; i < cin; i++) {
                const p = dst + (<usize>i << 2);
                store<i32>(p, load<i32>(p) + (<i32>load<i8>(src + <usize>i) - inputZero));
              }
            }
          }
        }
      }
      if (passed == 0) continue;
      const gw = gradW + ((<usize>o * <usize>k) << 3);
      for (let j = 0; j < k; j++) {
        const p = gw + (<usize>j << 3);
        store<i64>(p, saturatingAdd47(load<i64>(p), go * <i64>load<i32>(patch + (<usize>j << 2))));
      }
      const pb = gradB + (<usize>o << 3);
      store<i64>(pb, saturatingAdd47(load<i64>(pb), go * <i64>passed));
    }
  }
}

/**
 * SGD on `count` values of one tail tensor from its int64 gradient, then clear the gradient. bits:
 * 8 or 16 (weights, clamped to ±(2^(bits−1) − 1)) or 32 (bias, clamped to int32). mult in [0, 2^15),
 * totalShift in [1, 62].
 */
export function tail_sgd_update(params: usize, bits: i32, count: i32, grad: usize, mult: i32, totalShift: i32): void {
  for (let i = 0; i < count; i++) {
    const gp = grad + (<usize>i << 3);
    const step = scaledStep(load<i64>(gp), mult, totalShift);
    store<i64>(gp, 0);
    subtractClamped(params, i, bits, step);
  }
}
