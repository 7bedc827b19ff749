// Integer backprop one layer below the dense head (the hybrid method's "tail"): the layer that
// feeds the head through a global average pool (a conv2d, or a dense layer as a 1×1 conv on a 1×1
// map), optionally through an elementwise add whose output carries the ReLU. Fixed point: every sum
// is exact in integers, so scalar/simd/relaxed give the same bits.
//
// tail_grad_accumulate, per row r, with δ (Q.15, written by head_grad_accumulate for the same rows),
// the head's stored weights Wh [classes][features], the tail's int8 input x (zero point zx) and the
// int8 tensor the pool reads (the "gate", whose ReLU/clamp decides which positions pass):
//   g_o   = round(Σ_c δ_c·Wh[c][o] / 2^15), half away from zero   dL/df_o in head-weight units
//   P[j]  = Σ_{positions p with lo < gate[p][o] < hi} (x[p + k_j][i_j] − zx)   (out of bounds: 0)
//   gW[o][j] += g_o·P[j],  gB[o] += g_o·n_o   (n_o: positions that pass; int64, saturating at ±2^47)
// P is built one output channel at a time in the K·Cin int32 scratch ("patch"), so the SRAM cost is
// one filter. Each (o, j) gets exactly one saturating add per row, so only the order of rows matters
// to the saturation, and the loops below are free to build P however is fastest.
// Σ_c |δ_c| ≤ 2^16 (softmax minus one-hot), so |g| < 2^16·2^15/2^15 = 2^16 whatever the classes, and
// |P| ≤ positions·255: one row adds less than positions·2^24, and the sums saturate (deterministically)
// at ±2^47 so the update's product with a 15-bit factor stays inside int64.
//
// Two ways to build P, chosen by the geometry (the same in every build):
// - at most 128 positions, and no more than 2·K of them (every shipped tail): |P| ≤ 128·255 fits int16,
//   so P is an int16 row in the first half of the scratch and the positions that pass for o are listed
//   as bytes in the second half. The list is built without branching on the gate; each listed position
//   then adds, per kernel row, one contiguous run of (kx in bounds)·Cin input bytes to P — 16 at a time
//   with int8 → int16 widening adds in the SIMD builds, 4 at a time in int64 words in the scalar build
//   (which sums x + 128 and takes the zero point off per tap at the end). The products g·P fit int32
//   when |g| < 2^16, so the SIMD builds multiply 4 lanes at a time before the int64 saturating adds
//   (2 lanes at a time).
// - otherwise the same runs go into an int32 P, walking the positions and testing the gate as it goes.
//
// tail_sgd_update: w ← clamp(w − round(g·mult / 2^totalShift)) with rounding half away from zero,
// mult < 2^15 and |g| ≤ 2^47 so the product fits int64; then g ← 0.

import { scaledStep, subtractClamped } from './sgd_step';

const GRAD_LIMIT: i64 = (<i64>1 << 47) - 1;
/** Positions the int16 patch sums can take: 128·255 < 2^15, and a position index fits a byte. */
const SHORT_POSITIONS: i32 = 128;

// @ts-ignore: decorator
@inline function saturatingAdd47(acc: i64, v: i64): i64 {
  const s = acc + v;
  return s > GRAD_LIMIT ? GRAD_LIMIT : s < -GRAD_LIMIT ? -GRAD_LIMIT : s;
}

// @ts-ignore: decorator
@inline function roundShift15(v: i64): i32 {
  return <i32>(v >= 0 ? (v + 16384) >> 15 : -((-v + 16384) >> 15));
}

/** Two int64 lanes at p += v, each saturating at ±GRAD_LIMIT exactly as saturatingAdd47. */
// @ts-ignore: decorator
@inline function saturatingAdd47x2(p: usize, v: v128): void {
  const hi = i64x2.splat(GRAD_LIMIT);
  const lo = i64x2.splat(-GRAD_LIMIT);
  let s = i64x2.add(v128.load(p), v);
  s = v128.bitselect(hi, s, i64x2.gt_s(s, hi));
  s = v128.bitselect(lo, s, i64x2.lt_s(s, lo));
  v128.store(p, s);
}

/** dst[0..n) (int16) += src[0..n) (int8) − zx. */
// @ts-ignore: decorator
@inline function addRun16(dst: usize, src: usize, n: i32, zx: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const z = i16x8.splat(<i16>zx);
    for (; i + 16 <= n; i += 16) {
      const v = v128.load(src + <usize>i);
      const d = dst + (<usize>i << 1);
      v128.store(d, i16x8.add(v128.load(d), i16x8.sub(i16x8.extend_low_i8x16_s(v), z)));
      v128.store(d, i16x8.add(v128.load(d, 16), i16x8.sub(i16x8.extend_high_i8x16_s(v), z)), 16);
    }
    if (i + 8 <= n) {
      const d = dst + (<usize>i << 1);
      v128.store(d, i16x8.add(v128.load(d), i16x8.sub(i16x8.extend_low_i8x16_s(v128.load64_zero(src + <usize>i)), z)));
      i += 8;
    }
  }
  for (; i < n; i++) {
    const d = dst + (<usize>i << 1);
    store<i16>(d, <i16>(<i32>load<i16>(d) + <i32>load<i8>(src + <usize>i) - zx));
  }
}

/**
 * Scalar build: dst[0..n) (uint16) += src[0..n) (int8) + 128, four lanes per int64 add: the lanes
 * never carry into each other since 128 positions add at most 128·255 < 2^16. The zero point and the
 * bias come off at the end, (128 + zx) times the positions each tap was in bounds for.
 */
// @ts-ignore: decorator
@inline function addRunBiased16(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    // Bytes b3 b2 b1 b0 (each + 128) spread to the int16 lanes 0x00b3_00b2_00b1_00b0.
    let t = <u64>(load<u32>(src + <usize>i) ^ 0x80808080);
    t = (t | (t << 16)) & 0x0000ffff0000ffff;
    t = (t | (t << 8)) & 0x00ff00ff00ff00ff;
    const d = dst + (<usize>i << 1);
    store<u64>(d, load<u64>(d) + t);
  }
  for (; i < n; i++) {
    const d = dst + (<usize>i << 1);
    store<u16>(d, <u16>(<u32>load<u16>(d) + (<u32>load<u8>(src + <usize>i) ^ 0x80)));
  }
}

/** dst[0..n) (int32) += src[0..n) (int8) − zx. */
// @ts-ignore: decorator
@inline function addRun32(dst: usize, src: usize, n: i32, zx: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const z = i16x8.splat(<i16>zx);
    for (; i + 16 <= n; i += 16) {
      const v = v128.load(src + <usize>i);
      const lo = i16x8.sub(i16x8.extend_low_i8x16_s(v), z);
      const hi = i16x8.sub(i16x8.extend_high_i8x16_s(v), z);
      const d = dst + (<usize>i << 2);
      v128.store(d, i32x4.add(v128.load(d), i32x4.extend_low_i16x8_s(lo)));
      v128.store(d, i32x4.add(v128.load(d, 16), i32x4.extend_high_i16x8_s(lo)), 16);
      v128.store(d, i32x4.add(v128.load(d, 32), i32x4.extend_low_i16x8_s(hi)), 32);
      v128.store(d, i32x4.add(v128.load(d, 48), i32x4.extend_high_i16x8_s(hi)), 48);
    }
  }
  for (; i < n; i++) {
    const d = dst + (<usize>i << 2);
    store<i32>(d, load<i32>(d) + (<i32>load<i8>(src + <usize>i) - zx));
  }
}

/**
 * Adds position (oy, ox)'s input window, minus zx, to the patch sums: one contiguous run of the
 * in-bounds kx taps' channels per in-bounds kernel row. wide: int32 patch, else int16.
 */
// @ts-ignore: decorator
@inline function addWindow(
  patch: usize, wide: bool, xr: usize, zx: i32, oy: i32, ox: i32,
  inH: i32, inW: i32, cin: i32, kH: i32, kW: i32, sH: i32, sW: i32, padTop: i32, padLeft: i32,
): void {
  const iy0 = oy * sH - padTop, ix0 = ox * sW - padLeft;
  const kyLo = iy0 < 0 ? -iy0 : 0, kxLo = ix0 < 0 ? -ix0 : 0;
  const kyHi = min(kH, inH - iy0), kxHi = min(kW, inW - ix0);
  const run = (kxHi - kxLo) * cin;
  if (run <= 0) return;
  for (let ky = kyLo; ky < kyHi; ky++) {
    const src = xr + <usize>((iy0 + ky) * inW + ix0 + kxLo) * <usize>cin;
    const at = <usize>((ky * kW + kxLo) * cin);
    if (wide) addRun32(patch + (at << 2), src, run, zx);
    else if (ASC_FEATURE_SIMD) addRun16(patch + (at << 1), src, run, zx);
    else addRunBiased16(patch + (at << 1), src, run);
  }
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
  const positions = outH * outW;
  // int16 patch sums in the scratch's first 2·K bytes, the list of passing positions (bytes) after them.
  const short = positions <= SHORT_POSITIONS && positions <= 2 * k;
  const list = patch + (<usize>k << 1);
  // p / outW as (p·m) >> 16 with m = ⌈2^16 / outW⌉: exact for p < 128 and outW ≤ 128 (p·(m·outW − 2^16) < 2^16).
  const outWInverse = (65536 + outW - 1) / outW;
  const inRow = <usize>inH * <usize>inW * <usize>cin;
  const gateRow = <usize>positions * <usize>cout;
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
      const go32 = load<i32>(g + (<usize>o << 2));
      if (go32 == 0) continue;
      const go = <i64>go32;
      let passed = 0;
      if (short) {
        let at = gr + <usize>o;
        for (let p = 0; p < positions; p++) {
          const v = <i32>load<i8>(at);
          at += <usize>cout;
          store<u8>(list + <usize>passed, <u8>p);
          passed += <i32>(v > gateLo) & <i32>(v < gateHi);
        }
        if (passed == 0) continue;
        memory.fill(patch, 0, <usize>k << 1);
        for (let e = 0; e < passed; e++) {
          const p = <i32>load<u8>(list + <usize>e);
          const oy = (p * outWInverse) >>> 16;
          addWindow(patch, false, xr, inputZero, oy, p - oy * outW, inH, inW, cin, kH, kW, sH, sW, padTop, padLeft);
        }
      } else {
        memory.fill(patch, 0, <usize>k << 2);
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            const v = <i32>load<i8>(gr + (<usize>(oy * outW + ox) * <usize>cout) + <usize>o);
            if (v <= gateLo || v >= gateHi) continue;
            passed++;
            addWindow(patch, true, xr, inputZero, oy, ox, inH, inW, cin, kH, kW, sH, sW, padTop, padLeft);
          }
        }
        if (passed == 0) continue;
      }
      if (!ASC_FEATURE_SIMD && short) {
        // The scalar build's sums are biased by 128 + zx per in-bounds add (addRunBiased16): take that
        // off in place, tap by tap, counting the listed positions each tap was in bounds for. The true
        // sums fit int16 (|P| ≤ 128·255), so the shared loop below reads them like the SIMD builds'.
        for (let ky = 0; ky < kH; ky++) {
          for (let kx = 0; kx < kW; kx++) {
            let n = 0;
            for (let e = 0; e < passed; e++) {
              const p = <i32>load<u8>(list + <usize>e);
              const oy = (p * outWInverse) >>> 16;
              const iy = oy * sH - padTop + ky, ix = (p - oy * outW) * sW - padLeft + kx;
              n += <i32>(<u32>iy < <u32>inH) & <i32>(<u32>ix < <u32>inW);
            }
            const bias = (128 + inputZero) * n;
            const j0 = (ky * kW + kx) * cin;
            for (let j = j0; j < j0 + cin; j++) {
              const q = patch + (<usize>j << 1);
              store<i16>(q, <i16>(<i32>load<u16>(q) - bias));
            }
          }
        }
      }
      const gw = gradW + ((<usize>o * <usize>k) << 3);
      let j = 0;
      if (ASC_FEATURE_SIMD && short && go32 > -65536 && go32 < 65536) {
        // |g·P| ≤ 65535·32640 < 2^31: the products are exact in int32 lanes.
        const gv = i32x4.splat(go32);
        for (; j + 8 <= k; j += 8) {
          const pv = v128.load(patch + (<usize>j << 1));
          const lo = i32x4.mul(i32x4.extend_low_i16x8_s(pv), gv);
          const hi = i32x4.mul(i32x4.extend_high_i16x8_s(pv), gv);
          const p = gw + (<usize>j << 3);
          saturatingAdd47x2(p, i64x2.extend_low_i32x4_s(lo));
          saturatingAdd47x2(p + 16, i64x2.extend_high_i32x4_s(lo));
          saturatingAdd47x2(p + 32, i64x2.extend_low_i32x4_s(hi));
          saturatingAdd47x2(p + 48, i64x2.extend_high_i32x4_s(hi));
        }
      }
      for (; j < k; j++) {
        const p = gw + (<usize>j << 3);
        const pj = short ? <i64>load<i16>(patch + (<usize>j << 1)) : <i64>load<i32>(patch + (<usize>j << 2));
        store<i64>(p, saturatingAdd47(load<i64>(p), go * pj));
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
