// Naive TypeScript references for depthwise conv, pooling and Add, transcribed from TFLite
// Micro's reference kernels (reference_integer_ops::DepthwiseConvPerChannel, AveragePool,
// MaxPool, add.cc AddFunc/Prepare). Plain loops over the logical indices, no packing, no
// effective bias: they share nothing with the device kernels but the TFLM requantization
// reference in tflm.ts.
import { multiplyByQuantizedMultiplierRef, requantizeRef } from './tflm.js';
import { zAtRef } from './rng-ref.js';

export type PaddingRef = 'same' | 'valid';

/** TFLite ComputePaddingHeightWidth + output size, for one axis, no dilation. */
export function axisRef(inSize: number, k: number, stride: number, padding: PaddingRef): { out: number; pad: number } {
  if (padding === 'valid') return { out: Math.floor((inSize - k + stride) / stride), pad: 0 };
  const out = Math.floor((inSize + stride - 1) / stride);
  const total = (out - 1) * stride + k - inSize;
  return { out, pad: total > 0 ? Math.floor(total / 2) : 0 };
}

export interface DepthwiseRefArgs {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  M: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padding: PaddingRef;
  inputZeroPoint: number;
  input: Int8Array;
  /** [kH][kW][inC·M], int8 or int16 values. */
  weights: ArrayLike<number>;
  bias: Int32Array | null;
  /** One entry (per tensor) or inC·M (per channel). */
  multiplier: Int32Array;
  shift: Int32Array;
  outZeroPoint: number;
  actMin: number;
  actMax: number;
}

export function depthwiseConv2dRef(a: DepthwiseRefArgs): { out: Int8Array; outH: number; outW: number } {
  const h = axisRef(a.inH, a.kH, a.strideH, a.padding);
  const w = axisRef(a.inW, a.kW, a.strideW, a.padding);
  const outC = a.inC * a.M;
  const out = new Int8Array(a.batch * h.out * w.out * outC);
  const inputOffset = -a.inputZeroPoint;
  for (let b = 0; b < a.batch; b++) {
    for (let oy = 0; oy < h.out; oy++) {
      for (let ox = 0; ox < w.out; ox++) {
        for (let ic = 0; ic < a.inC; ic++) {
          for (let m = 0; m < a.M; m++) {
            const oc = m + ic * a.M;
            const inXOrigin = ox * a.strideW - w.pad;
            const inYOrigin = oy * a.strideH - h.pad;
            let acc = 0;
            for (let fy = 0; fy < a.kH; fy++) {
              for (let fx = 0; fx < a.kW; fx++) {
                const inX = inXOrigin + fx;
                const inY = inYOrigin + fy;
                if (inX >= 0 && inX < a.inW && inY >= 0 && inY < a.inH) {
                  const x = a.input[((b * a.inH + inY) * a.inW + inX) * a.inC + ic]!;
                  const f = a.weights[(fy * a.kW + fx) * outC + oc]!;
                  acc = (acc + Math.imul(f, x + inputOffset)) | 0;
                }
              }
            }
            if (a.bias) acc = (acc + a.bias[oc]!) | 0;
            const ci = a.multiplier.length > 1 ? oc : 0;
            out[((b * h.out + oy) * w.out + ox) * outC + oc] = requantizeRef(acc, a.multiplier[ci]!, a.shift[ci]!, a.outZeroPoint, a.actMin, a.actMax);
          }
        }
      }
    }
  }
  return { out, outH: h.out, outW: w.out };
}

export interface PerturbRef {
  key: number;
  start: number;
  dist: 'gaussian' | 'rademacher';
  signedEps: number;
  oneQ: number;
  multiplier: number;
  shift: number;
}

/** wq± = clamp(requant(wq·1q ± εq·zq)) per element, z from the reference stream. */
export function perturbWeightsRef(weights: ArrayLike<number>, bits: 8 | 16, p: PerturbRef): number[] {
  const lim = bits === 16 ? 32767 : 127;
  return Array.from({ length: weights.length }, (_, i) => {
    const z = zAtRef(p.key, (p.start + i) >>> 0, p.dist, p.oneQ);
    const sum = (Math.imul(weights[i]!, p.oneQ) + Math.imul(p.signedEps, z)) | 0;
    return Math.min(lim, Math.max(-lim, multiplyByQuantizedMultiplierRef(sum, p.multiplier, p.shift)));
  });
}

export interface PoolRefArgs {
  batch: number;
  inH: number;
  inW: number;
  C: number;
  fH: number;
  fW: number;
  strideH: number;
  strideW: number;
  padding: PaddingRef;
  actMin: number;
  actMax: number;
  input: Int8Array;
}

function poolRef(a: PoolRefArgs, kind: 'avg' | 'max'): Int8Array {
  const h = axisRef(a.inH, a.fH, a.strideH, a.padding);
  const w = axisRef(a.inW, a.fW, a.strideW, a.padding);
  const out = new Int8Array(a.batch * h.out * w.out * a.C);
  for (let b = 0; b < a.batch; b++) {
    for (let oy = 0; oy < h.out; oy++) {
      for (let ox = 0; ox < w.out; ox++) {
        for (let c = 0; c < a.C; c++) {
          const inXOrigin = ox * a.strideW - w.pad;
          const inYOrigin = oy * a.strideH - h.pad;
          const fxStart = Math.max(0, -inXOrigin);
          const fxEnd = Math.min(a.fW, a.inW - inXOrigin);
          const fyStart = Math.max(0, -inYOrigin);
          const fyEnd = Math.min(a.fH, a.inH - inYOrigin);
          let acc = kind === 'avg' ? 0 : -128;
          let count = 0;
          for (let fy = fyStart; fy < fyEnd; fy++) {
            for (let fx = fxStart; fx < fxEnd; fx++) {
              const v = a.input[((b * a.inH + inYOrigin + fy) * a.inW + inXOrigin + fx) * a.C + c]!;
              acc = kind === 'avg' ? acc + v : Math.max(acc, v);
              count++;
            }
          }
          if (count === 0) throw new Error('reference: window without valid taps');
          if (kind === 'avg') acc = roundedDivRef(acc, count);
          out[((b * h.out + oy) * w.out + ox) * a.C + c] = Math.min(a.actMax, Math.max(a.actMin, acc));
        }
      }
    }
  }
  return out;
}

/** TFLM: acc > 0 ? (acc + n/2) / n : (acc − n/2) / n, integer division truncating. */
export function roundedDivRef(acc: number, n: number): number {
  const half = Math.trunc(n / 2);
  return Math.trunc((acc > 0 ? acc + half : acc - half) / n) | 0; // | 0: no -0
}

export const avgPool2dRef = (a: PoolRefArgs): Int8Array => poolRef(a, 'avg');
export const maxPool2dRef = (a: PoolRefArgs): Int8Array => poolRef(a, 'max');

export function globalAvgPoolRef(input: Int8Array, batch: number, H: number, W: number, C: number, actMin: number, actMax: number): Int8Array {
  const out = new Int8Array(batch * C);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let i = 0; i < H * W; i++) sum += input[(b * H * W + i) * C + c]!;
      out[b * C + c] = Math.min(actMax, Math.max(actMin, roundedDivRef(sum, H * W)));
    }
  }
  return out;
}

/** TFLM QuantizeMultiplier written with BigInt-free double math (frexp by repeated halving). */
export function quantizeMultiplierRef(x: number): { multiplier: number; shift: number } {
  if (x === 0) return { multiplier: 0, shift: 0 };
  let shift = 0;
  let q = x;
  while (q >= 1) {
    q /= 2;
    shift++;
  }
  while (q < 0.5) {
    q *= 2;
    shift--;
  }
  let qFixed = Math.round(q * 2 ** 31); // q > 0: round-half-away equals Math.round
  if (qFixed === 2 ** 31) {
    qFixed /= 2;
    shift++;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  return { multiplier: qFixed, shift };
}

/** add.cc Prepare (int8), scales as the float32 TFLite stores. */
export function prepareAddRef(sA: number, zA: number, sB: number, zB: number, sOut: number, zOut: number) {
  const a = Math.fround(sA);
  const b = Math.fround(sB);
  const o = Math.fround(sOut);
  const leftShift = 20;
  const twiceMax = 2 * Math.max(a, b);
  const m1 = quantizeMultiplierRef(a / twiceMax);
  const m2 = quantizeMultiplierRef(b / twiceMax);
  const mo = quantizeMultiplierRef(twiceMax / ((1 << leftShift) * o));
  return {
    leftShift,
    input1Offset: -zA,
    input2Offset: -zB,
    outputOffset: zOut,
    input1Multiplier: m1.multiplier,
    input1Shift: m1.shift,
    input2Multiplier: m2.multiplier,
    input2Shift: m2.shift,
    outputMultiplier: mo.multiplier,
    outputShift: mo.shift,
  };
}

/** reference_integer_ops AddFunc for int8. */
export function addRef(
  x: number, y: number,
  p: ReturnType<typeof prepareAddRef>, actMin: number, actMax: number,
): number {
  const in1 = p.input1Offset + x;
  const in2 = p.input2Offset + y;
  const s1 = in1 * (1 << p.leftShift);
  const s2 = in2 * (1 << p.leftShift);
  const sc1 = multiplyByQuantizedMultiplierRef(s1, p.input1Multiplier, p.input1Shift);
  const sc2 = multiplyByQuantizedMultiplierRef(s2, p.input2Multiplier, p.input2Shift);
  const raw = (multiplyByQuantizedMultiplierRef((sc1 + sc2) | 0, p.outputMultiplier, p.outputShift) + p.outputOffset) | 0;
  return Math.min(actMax, Math.max(actMin, raw));
}
