// Weight and padding layout conversions between lastmile (NHWC activations, OHWI / [kH][kW][C·m] /
// [units][in] weights, TFLite padding) and ONNX (NCHW, OIHW, explicit pads), shared by each
// operator's ONNX export and by the importer.
import { isExplicitPadding, paddedAxis, type Padding } from '../kernels/geometry.js';
import { convOutputSize } from './shape.js';

const padBefore = (input: number, kernel: number, stride: number, padding: 'same' | 'valid'): number => paddedAxis(input, kernel, stride, padding, 0).padBefore;

export type Numeric = Float32Array | Int8Array | Int16Array | Int32Array;
const like = <T extends Numeric>(a: T, length: number): T => new (a.constructor as new (n: number) => T)(length);


/** Conv weights OHWI → OIHW. */
export function ohwiToOihw<T extends Numeric>(w: T, o: number, kh: number, kw: number, i: number): T {
  const out = like(w, w.length);
  for (let a = 0; a < o; a++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let c = 0; c < i; c++) {
    out[((a * i + c) * kh + y) * kw + x] = w[((a * kh + y) * kw + x) * i + c]!;
  }
  return out;
}

/** Conv weights OIHW → OHWI. */
export function oihwToOhwi<T extends Numeric>(w: T, o: number, i: number, kh: number, kw: number): T {
  const out = like(w, w.length);
  for (let a = 0; a < o; a++) for (let c = 0; c < i; c++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
    out[((a * kh + y) * kw + x) * i + c] = w[((a * i + c) * kh + y) * kw + x]!;
  }
  return out;
}

/** Depthwise weights [kH][kW][C·m] → ONNX grouped-conv weights [C·m][1][kH][kW]. */
export function depthwiseToOnnx<T extends Numeric>(w: T, kh: number, kw: number, channels: number): T {
  const out = like(w, w.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let o = 0; o < channels; o++) out[(o * kh + y) * kw + x] = w[(y * kw + x) * channels + o]!;
  return out;
}

/** ONNX grouped-conv weights [C·m][1][kH][kW] → depthwise [kH][kW][C·m]. */
export function depthwiseFromOnnx<T extends Numeric>(w: T, channels: number, kh: number, kw: number): T {
  const out = like(w, w.length);
  for (let o = 0; o < channels; o++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[(y * kw + x) * channels + o] = w[(o * kh + y) * kw + x]!;
  return out;
}

/**
 * perm[j] = position in ONNX's CHW flatten of the element our NHWC flatten puts at j, for an
 * [h, w, c] tensor. Identity when h·w = 1.
 */
export function chwFlattenIndex(h: number, w: number, c: number): Int32Array {
  const perm = new Int32Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) perm[(y * w + x) * c + ch] = (ch * h + y) * w + x;
  return perm;
}

/** Dense weights [units][in] with columns in our NHWC order → columns in ONNX's CHW order. */
export function denseColumnsToChw<T extends Numeric>(w: T, units: number, spatial: readonly number[]): T {
  const [h, wd, c] = spatial as [number, number, number];
  const perm = chwFlattenIndex(h, wd, c);
  const k = perm.length;
  const out = like(w, w.length);
  for (let u = 0; u < units; u++) for (let j = 0; j < k; j++) out[u * k + perm[j]!] = w[u * k + j]!;
  return out;
}

/** Dense weights [units][in] with columns in ONNX's CHW order → our NHWC order. */
export function denseColumnsFromChw<T extends Numeric>(w: T, units: number, spatial: readonly number[]): T {
  const [h, wd, c] = spatial as [number, number, number];
  const perm = chwFlattenIndex(h, wd, c);
  const k = perm.length;
  const out = like(w, w.length);
  for (let u = 0; u < units; u++) for (let j = 0; j < k; j++) out[u * k + j] = w[u * k + perm[j]!]!;
  return out;
}

/** Explicit ONNX pads [top, left, bottom, right] for TFLite padding (the odd pixel goes after), or the layer's own explicit pads. */
export function onnxPads(inH: number, inW: number, kernel: readonly [number, number], stride: readonly [number, number], padding: Padding): number[] {
  if (isExplicitPadding(padding)) return [...padding];
  const one = (size: number, k: number, s: number) => {
    const before = padBefore(size, k, s, padding);
    const total = padding === 'same' ? Math.max((convOutputSize(size, k, s, padding) - 1) * s + k - size, 0) : 0;
    return [before, total - before] as const;
  };
  const [top, bottom] = one(inH, kernel[0], stride[0]);
  const [left, right] = one(inW, kernel[1], stride[1]);
  return [top, left, bottom, right];
}
