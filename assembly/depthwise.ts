// Depthwise Conv2D with TFLite Micro semantics: NHWC int8 input, weights [kH][kW][C·M] int8 or
// int16, output channel o = c·M + m reads input channel c, no dilation:
//   out[b][oy][ox][o] = requant(bias[o] + Σ_{valid taps} w[ky][kx][o]·(x[b][iy][ix][c] − zin)).
//
// Every call first packs the weights into scratch, widened to int16 and interleaved in tap
// pairs, so that one i32x4.dot_i16x8_s does two taps of four channels for 8- and 16-bit
// weights alike (|x|·|w|·2 < 2^24: exact). The input zero point moves into an effective bias,
// bias − zin·Σ_taps w, and padded taps read a row filled with zin, so padded taps still add
// exactly 0 and every pixel runs the same loop. The equality holds in wrapping int32
// arithmetic, which is how TFLM's accumulator behaves, so all builds agree bit for bit.
// Perturbed weights (QZO-FF) are formed while packing; the stored weights are only read.
//
// Scratch layout (each part a multiple of 16 bytes; src/kernels/depthwise.ts mirrors it), with
// OC = C·M, OCP = OC rounded up to 16, P = ceil(kH·kW / 2) tap pairs:
//   packed weights  OCP·P·4      [OCP/16][P][16 channels][2 taps] int16, zeros past OC and kH·kW
//   effective bias  OCP·4        int32
//   requant lanes   OCP·24       per 4 channels: 2^left, multiplier, 2^(31−right), right==0
//                                mask, 2^right − 1, (2^right − 1) >> 1 (six i32x4)
//   swizzles        OCP if M > 1 per 16 output channels: which of 16 input bytes feeds each lane
//   zero-point row  align16(C+16)
//   tap tables      2 × align16(P·8)  input offsets of each tap: interior pixels (relative to the
//                                window's corner) and the current border pixel (absolute)
// A channel-grouped call (M = 1, groupChannels G < C) holds this layout for G channels
// (OCP = G, zero-point row align16(G+16)) and rewrites it for each group in turn.
import { requantScalar, clampI32 } from './requant';
import { perturbValue, perturbValue4 } from './perturb';
import { zAt, zAt4, laneIndices4 } from './rng';
import { srdhmUnsat4, storeFirstBytes } from './eltwise';
import { biasLanes4 } from './gemm';

const LEFT_SHIFTS: i32 = 1;
const RIGHT_ZERO: i32 = 2;
const SATURATES: i32 = 4;
const UNIFORM: i32 = 8;

// @ts-ignore: decorator
@inline function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

/** Byte offset of channel oc's tap-pair slot in the packed weights. */
// @ts-ignore: decorator
@inline function packedSlot(oc: i32, pair: i32, pairs: i32): usize {
  return ((((<usize>(oc >> 4) * <usize>pairs + <usize>pair) << 4) + <usize>(oc & 15)) << 2);
}

/**
 * Packs (and, when perturb != 0, perturbs) OC channels' weights, tap t's row rowStride weights
 * apart; writes bias − zin·Σw per channel. Weight i = t·rowStride + oc is perturbed with z at
 * stream index start + i (a channel group passes weights, bias and start advanced to its first
 * channel, so every weight meets the z it meets in a whole-layer call).
 */
function packDepthwiseWeights(
  weights: usize, bias: usize, pack: usize, effBias: usize, OC: i32, OCP: i32, rowStride: i32, taps: i32, pairs: i32,
  weightBits: i32, inputZp: i32,
  perturb: i32, key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, pMult: i32, pShift: i32,
): void {
  memory.fill(pack, 0, <usize>OCP * <usize>pairs * 4);
  for (let oc = 0; oc < OCP; oc++) {
    store<i32>(effBias + (<usize>oc << 2), oc < OC && bias != 0 ? load<i32>(bias + (<usize>oc << 2)) : 0);
  }
  const hi = weightBits == 16 ? 32767 : 127;
  for (let t = 0; t < taps; t++) {
    const first = <u32>t * <u32>rowStride;
    const odd = <usize>(t & 1) << 1;
    let oc = 0;
    if (ASC_FEATURE_SIMD) {
      // Four channels at a time: oc is a multiple of 4, so their slots share a 16-channel block.
      const key4 = i32x4.splat(<i32>key);
      const zp4 = i32x4.splat(inputZp);
      for (; oc + 4 <= OC; oc += 4) {
        const i = first + <u32>oc;
        let w = weightBits == 16
          ? i32x4.extend_low_i16x8_s(v128.load64_zero(weights + (<usize>i << 1)))
          : i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(weights + <usize>i)));
        if (perturb) {
          w = perturbValue4(w, zAt4(key4, laneIndices4(start + i), dist, oneQ), signedEps, oneQ, pMult, pShift, -hi, hi);
        }
        const w16 = i16x8.narrow_i32x4_s(w, w);
        const slot = pack + packedSlot(oc, t >> 1, pairs) + odd;
        v128.store16_lane(slot, w16, 0);
        v128.store16_lane(slot, w16, 1, 4);
        v128.store16_lane(slot, w16, 2, 8);
        v128.store16_lane(slot, w16, 3, 12);
        const at = effBias + (<usize>oc << 2);
        v128.store(at, i32x4.sub(v128.load(at), i32x4.mul(zp4, w)));
      }
    }
    for (; oc < OC; oc++) {
      const i = first + <u32>oc;
      let w = weightBits == 16 ? <i32>load<i16>(weights + (<usize>i << 1)) : <i32>load<i8>(weights + <usize>i);
      if (perturb) w = perturbValue(w, zAt(key, start + i, dist, oneQ), signedEps, oneQ, pMult, pShift, -hi, hi);
      store<i16>(pack + packedSlot(oc, t >> 1, pairs) + odd, <i16>w);
      const at = effBias + (<usize>oc << 2);
      store<i32>(at, load<i32>(at) - inputZp * w);
    }
  }
}

/**
 * Per-lane requantization constants (SIMD builds). Returns flags telling the kernel which
 * general cases it must handle: any left shift, any zero right shift, a possible srdhm
 * saturation (INT32_MIN multiplier), or one shared multiplier/shift (per-tensor).
 */
function stageRequantLanes(rq: usize, OC: i32, OCP: i32, multPtr: usize, shiftPtr: usize, perChannel: i32): i32 {
  let flags = perChannel ? 0 : UNIFORM;
  for (let oc = 0; oc < OCP; oc++) {
    let m = 0;
    let s = -1; // channels past OC: any valid constants; their lanes are never stored
    if (oc < OC) {
      const ci = perChannel ? oc : 0;
      m = load<i32>(multPtr + (<usize>ci << 2));
      s = load<i32>(shiftPtr + (<usize>ci << 2));
      if (s > 0) flags |= LEFT_SHIFTS;
      if (s >= 0) flags |= RIGHT_ZERO;
      if (m == i32.MIN_VALUE) flags |= SATURATES;
    }
    const left = s > 0 ? s : 0;
    const right = s > 0 ? 0 : -s;
    const mask = <i32>((<u32>1 << right) - 1);
    const q = rq + <usize>(oc >> 2) * 96 + (<usize>(oc & 3) << 2);
    store<i32>(q, 1 << left);
    store<i32>(q, m, 16);
    store<i32>(q, right > 0 ? 1 << (31 - right) : 0, 32);
    store<i32>(q, right == 0 ? -1 : 0, 48);
    store<i32>(q, mask, 64);
    store<i32>(q, <i32>(<u32>mask >> 1), 80);
  }
  return flags;
}

/** High i32 of each doubled i64 lane: floor(2·v / 2^32) for the four products in lo, hi. */
// @ts-ignore: decorator
@inline function doubledHigh(lo: v128, hi: v128): v128 {
  return v128.shuffle<i32>(i64x2.add(lo, lo), i64x2.add(hi, hi), 1, 3, 5, 7);
}

/**
 * TFLM MultiplyByQuantizedMultiplier on four lanes from staged constants at q. floor(y / 2^r)
 * is the high half of y·2^(31−r) doubled (Wasm SIMD has no per-lane shift); r = 0 lanes take y.
 */
// @ts-ignore: decorator
@inline function requantLanes4(acc: v128, q: usize, flags: i32, uniformRight: i32): v128 {
  let x = acc;
  if (flags & LEFT_SHIFTS) x = i32x4.mul(x, v128.load(q));
  const m = v128.load(q, 16);
  let y = srdhmUnsat4(x, m);
  if (flags & SATURATES) {
    const intMin = i32x4.splat(i32.MIN_VALUE);
    y = v128.bitselect(i32x4.splat(i32.MAX_VALUE), y, v128.and(i32x4.eq(x, intMin), i32x4.eq(m, intMin)));
  }
  let floored: v128;
  if (flags & UNIFORM) {
    floored = i32x4.shr_s(y, uniformRight);
  } else {
    const pw = v128.load(q, 32);
    floored = doubledHigh(i64x2.extmul_low_i32x4_s(y, pw), i64x2.extmul_high_i32x4_s(y, pw));
    if (flags & RIGHT_ZERO) floored = v128.bitselect(y, floored, v128.load(q, 48));
  }
  // gemmlowp rounding: +1 where (y & mask) > (mask >> 1) + (y < 0); gt_s yields -1.
  const threshold = i32x4.sub(v128.load(q, 80), i32x4.shr_s(y, 31));
  return i32x4.sub(floored, i32x4.gt_s(v128.and(y, v128.load(q, 64)), threshold));
}

/**
 * 16 (full) or 8 output channels of one pixel, requantized and clamped. tab holds 2P u32 tap
 * offsets added to base; ic0 is the block's first input channel; with expand (M > 1) each
 * input vector is swizzled so lane j holds input channel (blk + j) / M.
 */
// @ts-ignore: decorator
@inline function depthwiseBlock(
  full: bool, expand: bool, base: usize, tab: usize, pairs: i32, ic0: usize, w: usize, biasAt: usize,
  q: usize, swz: v128, flags: i32, uniformRight: i32, zp: v128, lo: v128, hi: v128, userBias: usize, real: i32,
): v128 {
  let acc0 = v128.load(biasAt);
  let acc1 = v128.load(biasAt, 16);
  let acc2 = acc0;
  let acc3 = acc1;
  if (full) {
    acc2 = v128.load(biasAt, 32);
    acc3 = v128.load(biasAt, 48);
  }
  if (userBias != 0) {
    // A partial block reads only its `real` channels' bias: the vector ends at OC.
    if (real >= 16) {
      acc0 = i32x4.add(acc0, v128.load(userBias));
      acc1 = i32x4.add(acc1, v128.load(userBias, 16));
      acc2 = i32x4.add(acc2, v128.load(userBias, 32));
      acc3 = i32x4.add(acc3, v128.load(userBias, 48));
    } else {
      acc0 = i32x4.add(acc0, biasLanes4(userBias, real));
      acc1 = i32x4.add(acc1, biasLanes4(userBias + 16, real - 4));
      if (full) {
        acc2 = i32x4.add(acc2, biasLanes4(userBias + 32, real - 8));
        acc3 = i32x4.add(acc3, biasLanes4(userBias + 48, real - 12));
      }
    }
  }
  let t = tab;
  for (let p = 0; p < pairs; p++) {
    let a = v128.load(base + <usize>load<u32>(t) + ic0);
    let b = v128.load(base + <usize>load<u32>(t, 4) + ic0);
    if (expand) {
      a = i8x16.swizzle(a, swz);
      b = i8x16.swizzle(b, swz);
    }
    const l = i8x16.shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), v128.load(w)));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), v128.load(w, 16)));
    if (full) {
      const h = i8x16.shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      acc2 = i32x4.add(acc2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), v128.load(w, 32)));
      acc3 = i32x4.add(acc3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), v128.load(w, 48)));
    }
    t += 8;
    w += 64;
  }
  // The zero-point add wraps in int32 like the scalar path; narrowing saturates, so clamping
  // the int8 result equals clamping the int32 one.
  const r0 = i32x4.add(requantLanes4(acc0, q, flags, uniformRight), zp);
  const r1 = i32x4.add(requantLanes4(acc1, q + 96, flags, uniformRight), zp);
  const n0 = i16x8.narrow_i32x4_s(r0, r1);
  let n1 = n0;
  if (full) {
    const r2 = i32x4.add(requantLanes4(acc2, q + 192, flags, uniformRight), zp);
    const r3 = i32x4.add(requantLanes4(acc3, q + 288, flags, uniformRight), zp);
    n1 = i16x8.narrow_i32x4_s(r2, r3);
  }
  return i8x16.min_s(i8x16.max_s(i8x16.narrow_i16x8_s(n0, n1), lo), hi);
}

/** All OC channels of one output pixel (SIMD builds). */
// @ts-ignore: decorator
@inline function depthwisePixelSimd(
  expand: bool, out: usize, base: usize, tab: usize, pairs: i32, OC: i32, M: i32,
  pack: usize, effBias: usize, rq: usize, swz: usize, flags: i32, uniformRight: i32, zp: v128, lo: v128, hi: v128,
  userBias: usize,
): void {
  const blockWeights = <usize>pairs << 6;
  let blk = 0;
  let w = pack;
  for (; blk + 16 <= OC; blk += 16) {
    const ic0 = expand ? <usize>(blk / M) : <usize>blk;
    const sw = expand ? v128.load(swz + <usize>blk) : v128.splat<i32>(0);
    const v = depthwiseBlock(true, expand, base, tab, pairs, ic0, w, effBias + (<usize>blk << 2),
      rq + <usize>blk * 24, sw, flags, uniformRight, zp, lo, hi, userBias != 0 ? userBias + (<usize>blk << 2) : 0, 16);
    v128.store(out + <usize>blk, v);
    w += blockWeights;
  }
  const rem = OC - blk;
  if (rem > 0) {
    const ic0 = expand ? <usize>(blk / M) : <usize>blk;
    const sw = expand ? v128.load(swz + <usize>blk) : v128.splat<i32>(0);
    let v: v128;
    if (rem > 8) {
      v = depthwiseBlock(true, expand, base, tab, pairs, ic0, w, effBias + (<usize>blk << 2),
        rq + <usize>blk * 24, sw, flags, uniformRight, zp, lo, hi, userBias != 0 ? userBias + (<usize>blk << 2) : 0, rem);
    } else {
      v = depthwiseBlock(false, expand, base, tab, pairs, ic0, w, effBias + (<usize>blk << 2),
        rq + <usize>blk * 24, sw, flags, uniformRight, zp, lo, hi, userBias != 0 ? userBias + (<usize>blk << 2) : 0, rem);
    }
    storeFirstBytes(out + <usize>blk, v, rem);
  }
}

/** All OC channels of one output pixel (scalar build): the same packed weights and tables. */
// @ts-ignore: decorator
@inline function depthwisePixelScalar(
  out: usize, base: usize, tab: usize, pairs: i32, OC: i32, M: i32, pack: usize, effBias: usize,
  multPtr: usize, shiftPtr: usize, perChannel: i32, outZp: i32, actMin: i32, actMax: i32, userBias: usize,
): void {
  let ic = 0;
  let m = 0;
  for (let oc = 0; oc < OC; oc++) {
    let acc = load<i32>(effBias + (<usize>oc << 2));
    if (userBias != 0) acc += load<i32>(userBias + (<usize>oc << 2));
    let w = pack + packedSlot(oc, 0, pairs);
    let t = tab;
    const x = base + <usize>ic;
    for (let p = 0; p < pairs; p++) {
      acc += <i32>load<i8>(x + <usize>load<u32>(t)) * <i32>load<i16>(w);
      acc += <i32>load<i8>(x + <usize>load<u32>(t, 4)) * <i32>load<i16>(w, 2);
      t += 8;
      w += 64;
    }
    const ci = perChannel ? oc : 0;
    const y = requantScalar(acc, load<i32>(multPtr + (<usize>ci << 2)), load<i32>(shiftPtr + (<usize>ci << 2))) + outZp;
    store<i8>(out + <usize>oc, <i8>clampI32(y, actMin, actMax));
    if (++m == M) {
      m = 0;
      ic++;
    }
  }
}

/** Absolute tap addresses of a window that crosses the border; padded taps read zpRow. */
function fillBorderTable(
  tab: usize, image: usize, iy0: i32, ix0: i32, inH: i32, inW: i32, C: i32, kH: i32, kW: i32, zpRow: usize,
): void {
  let t = tab;
  for (let ky = 0; ky < kH; ky++) {
    const iy = iy0 + ky;
    for (let kx = 0; kx < kW; kx++) {
      const ix = ix0 + kx;
      const inside = iy >= 0 && iy < inH && ix >= 0 && ix < inW;
      store<u32>(t, inside ? <u32>(image + <usize>((iy * inW + ix) * C)) : <u32>zpRow);
      t += 4;
    }
  }
  if ((kH * kW) & 1) store<u32>(t, <u32>zpRow);
}

/**
 * Writes everything static about C input channels (a whole layer, or one channel group of an
 * M = 1 layer) from `dst` on, in the scratch layout above up to and including the interior tap
 * table: packed (perturbed) weights, effective bias, requant lanes, swizzles, zero-point row.
 * Input pixels lie inStride bytes apart and tap rows of weights rowStride weights apart.
 * Returns the requant flags; uniformRight is derived from shift[0].
 */
function prepareDepthwise(
  dst: usize, weights: usize, bias: usize, C: i32, M: i32, kH: i32, kW: i32, inW: i32, inStride: i32, rowStride: i32,
  weightBits: i32, inputZp: i32,
  multPtr: usize, shiftPtr: usize, perChannel: i32,
  perturb: i32, key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, pMult: i32, pShift: i32,
): i32 {
  const OC = C * M;
  const OCP = <i32>align16(<usize>OC);
  const taps = kH * kW;
  const pairs = (taps + 1) >> 1;
  const pack = dst;
  const effBias = pack + <usize>OCP * <usize>pairs * 4;
  const rq = effBias + (<usize>OCP << 2);
  const swz = rq + <usize>OCP * 24;
  const zpRow = swz + (M > 1 ? <usize>OCP : 0);
  const relTab = zpRow + align16(<usize>C + 16);
  packDepthwiseWeights(weights, bias, pack, effBias, OC, OCP, rowStride, taps, pairs, weightBits, inputZp,
    perturb, key, start, dist, signedEps, oneQ, pMult, pShift);
  memory.fill(zpRow, <u8>inputZp, align16(<usize>C + 16));
  for (let t = 0; t < 2 * pairs; t++) {
    const ky = t / kW;
    store<u32>(relTab + (<usize>t << 2), t < taps ? <u32>((ky * inW + t - ky * kW) * inStride) : 0);
  }
  let flags = 0;
  if (ASC_FEATURE_SIMD) {
    flags = stageRequantLanes(rq, OC, OCP, multPtr, shiftPtr, perChannel);
    if (M > 1) {
      for (let blk = 0; blk < OCP; blk += 16) {
        const ic0 = blk / M;
        for (let j = 0; j < 16; j++) store<u8>(swz + <usize>(blk + j), <u8>((blk + j) / M - ic0));
      }
    }
  }
  return flags;
}

/** Bytes prepareDepthwise writes: the scratch layout up to and including the interior tap table. */
// @ts-ignore: decorator
@inline function preparedBytes(C: i32, M: i32, kH: i32, kW: i32): usize {
  const OCP = align16(<usize>(C * M));
  const pairs = <usize>((kH * kW + 1) >> 1);
  return OCP * pairs * 4 + (OCP << 2) + OCP * 24 + (M > 1 ? OCP : 0) + align16(<usize>C + 16) + align16(pairs << 3);
}

/**
 * Every output pixel of the C input channels prepared at `prep` (a whole layer or a channel
 * group starting at input and output); pixels lie inStride input and outStride output bytes
 * apart. absTab is the per-call border table. userBias (0: none) is an int32 bias [OC] added to
 * the effective bias, for a layer prepared without its bias (its bias trains, in SRAM).
 */
function runDepthwise(
  prep: usize, absTab: usize, input: usize, output: usize, flags: i32,
  batch: i32, inH: i32, inW: i32, C: i32, M: i32, kH: i32, kW: i32, inStride: i32, outStride: i32,
  strideH: i32, strideW: i32, padTop: i32, padLeft: i32, outH: i32, outW: i32,
  multPtr: usize, shiftPtr: usize, perChannel: i32, outZp: i32, actMin: i32, actMax: i32, userBias: usize,
): void {
  const OC = C * M;
  const OCP = <i32>align16(<usize>OC);
  const pairs = (kH * kW + 1) >> 1;
  const pack = prep;
  const effBias = pack + <usize>OCP * <usize>pairs * 4;
  const rq = effBias + (<usize>OCP << 2);
  const swz = rq + <usize>OCP * 24;
  const zpRow = swz + (M > 1 ? <usize>OCP : 0);
  const relTab = zpRow + align16(<usize>C + 16);
  const s0 = load<i32>(shiftPtr);
  const uniformRight = s0 > 0 ? 0 : -s0;

  const imageBytes = <usize>inH * <usize>inW * <usize>inStride;
  let out = output;
  for (let b = 0; b < batch; b++) {
    const image = input + <usize>b * imageBytes;
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * strideH - padTop;
      const rowsInside = iy0 >= 0 && iy0 + kH <= inH;
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * strideW - padLeft;
        let base: usize = 0;
        let tab = absTab;
        if (rowsInside && ix0 >= 0 && ix0 + kW <= inW) {
          base = image + <usize>((iy0 * inW + ix0) * inStride);
          tab = relTab;
        } else {
          fillBorderTable(absTab, image, iy0, ix0, inH, inW, inStride, kH, kW, zpRow);
        }
        if (ASC_FEATURE_SIMD) {
          const zp = i32x4.splat(outZp);
          const lo = i8x16.splat(<i8>actMin);
          const hi = i8x16.splat(<i8>actMax);
          if (M == 1) {
            depthwisePixelSimd(false, out, base, tab, pairs, OC, M, pack, effBias, rq, swz, flags, uniformRight, zp, lo, hi, userBias);
          } else {
            depthwisePixelSimd(true, out, base, tab, pairs, OC, M, pack, effBias, rq, swz, flags, uniformRight, zp, lo, hi, userBias);
          }
        } else {
          depthwisePixelScalar(out, base, tab, pairs, OC, M, pack, effBias, multPtr, shiftPtr, perChannel, outZp, actMin, actMax, userBias);
        }
        out += <usize>outStride;
      }
    }
  }
}

/**
 * Depthwise Conv2D (see the top of this file). padTop/padLeft/outH/outW come from the host's
 * TFLite 'same'/'valid' rules; the host validates shapes, buffers, scratch size and ranges.
 * SIMD loads may read up to 15 bytes past an input pixel (inside the arena or its slack);
 * those lanes meet zero weights or are never stored.
 *
 * 0 < groupChannels < C (M = 1 only; a multiple of 16) prepares and runs the layer one group of
 * that many channels at a time, so scratch holds one group's layout (preparedBytes(group))
 * instead of the whole layer's; every pixel's input is then read once per group. Each channel
 * sees the same packed weights, z indices and requant constants as in a whole-layer call, so
 * the output is the same bit for bit.
 */
export function depthwise_conv2d_qs8(
  input: usize, weights: usize, bias: usize, output: usize, scratch: usize,
  batch: i32, inH: i32, inW: i32, C: i32, M: i32, kH: i32, kW: i32,
  strideH: i32, strideW: i32, padTop: i32, padLeft: i32, outH: i32, outW: i32,
  weightBits: i32, inputZp: i32,
  multPtr: usize, shiftPtr: usize, perChannel: i32, outZp: i32, actMin: i32, actMax: i32,
  perturb: i32, key: u32, start: u32, dist: i32, signedEps: i32, oneQ: i32, pMult: i32, pShift: i32,
  groupChannels: i32,
): void {
  const OC = C * M;
  if (M != 1 || groupChannels <= 0 || groupChannels >= C) {
    const flags = prepareDepthwise(scratch, weights, bias, C, M, kH, kW, inW, C, OC, weightBits, inputZp, multPtr, shiftPtr, perChannel,
      perturb, key, start, dist, signedEps, oneQ, pMult, pShift);
    runDepthwise(scratch, scratch + preparedBytes(C, M, kH, kW), input, output, flags, batch, inH, inW, C, M, kH, kW, C, OC,
      strideH, strideW, padTop, padLeft, outH, outW, multPtr, shiftPtr, perChannel, outZp, actMin, actMax, 0);
    return;
  }
  const absTab = scratch + preparedBytes(groupChannels, 1, kH, kW);
  const wShift = weightBits == 16 ? 1 : 0;
  for (let g0 = 0; g0 < C; g0 += groupChannels) {
    const n = min(groupChannels, C - g0);
    const rqAt = perChannel ? <usize>g0 << 2 : 0;
    const flags = prepareDepthwise(scratch, weights + (<usize>g0 << wShift), bias != 0 ? bias + (<usize>g0 << 2) : 0,
      n, 1, kH, kW, inW, C, OC, weightBits, inputZp, multPtr + rqAt, shiftPtr + rqAt, perChannel,
      perturb, key, start + <u32>g0, dist, signedEps, oneQ, pMult, pShift);
    runDepthwise(scratch, absTab, input + <usize>g0, output + <usize>g0, flags, batch, inH, inW, n, 1, kH, kW, C, OC,
      strideH, strideW, padTop, padLeft, outH, outW, multPtr + rqAt, shiftPtr + rqAt, perChannel, outZp, actMin, actMax, 0);
  }
}

/**
 * Prepares a frozen layer once into dst (preparedBytes, then 16 bytes holding the requant
 * flags): what depthwise_conv2d_qs8 writes into scratch on every call.
 */
export function depthwise_prepack_qs8(
  dst: usize, weights: usize, bias: usize, C: i32, M: i32, kH: i32, kW: i32, inW: i32, weightBits: i32, inputZp: i32,
  multPtr: usize, shiftPtr: usize, perChannel: i32,
): void {
  const flags = prepareDepthwise(dst, weights, bias, C, M, kH, kW, inW, C, C * M, weightBits, inputZp, multPtr, shiftPtr, perChannel, 0, 0, 0, 0, 0, 0, 0, 0);
  store<i32>(dst + preparedBytes(C, M, kH, kW), flags);
}

/**
 * Depthwise Conv2D on a layer prepared by depthwise_prepack_qs8; scratch holds one tap table.
 * bias: 0 when the bias was prepared in; else the int32 bias [C·M] (in SRAM) of a layer prepared
 * with a null bias, added to its effective bias −zin·Σw (the same wrapping int32 sum).
 */
export function depthwise_conv2d_qs8_prepacked(
  input: usize, prepared: usize, output: usize, scratch: usize,
  batch: i32, inH: i32, inW: i32, C: i32, M: i32, kH: i32, kW: i32,
  strideH: i32, strideW: i32, padTop: i32, padLeft: i32, outH: i32, outW: i32,
  multPtr: usize, shiftPtr: usize, perChannel: i32, outZp: i32, actMin: i32, actMax: i32, bias: usize,
): void {
  const flags = load<i32>(prepared + preparedBytes(C, M, kH, kW));
  runDepthwise(prepared, scratch, input, output, flags, batch, inH, inW, C, M, kH, kW, C, C * M,
    strideH, strideW, padTop, padLeft, outH, outW, multPtr, shiftPtr, perChannel, outZp, actMin, actMax, bias);
}
