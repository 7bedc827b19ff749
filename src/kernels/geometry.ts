// Spatial padding, the one definition every kernel wrapper, the graph's shape inference and the
// ONNX converters share. TFLite's two rules:
//   same:  out = ceil(in / stride), padTotal = max((out − 1)·stride + k − in, 0), padBefore = ⌊padTotal/2⌋
//   valid: out = ⌊(in − k) / stride⌋ + 1, no padding
// and explicit pads [top, left, bottom, right] (ONNX's order), for imported models whose padding
// neither rule reproduces — PyTorch's padding=1, stride=2 on an even size puts one pixel before,
// where 'same' puts none:
//   explicit: out = ⌊(in + before + after − k) / stride⌋ + 1, padBefore = before
// Each explicit pad is smaller than the kernel, so every window holds at least one input pixel
// (an average pool divides by ≥ 1 valid tap). The device kernels only see padTop/padLeft and the
// output size, so all three rules run on the same kernels.
import { ConfigError, ShapeError } from '../errors.js';

export type ExplicitPadding = readonly [top: number, left: number, bottom: number, right: number];
export type Padding = 'same' | 'valid' | ExplicitPadding;

export interface PaddedAxis {
  out: number;
  padBefore: number;
}

/** Spatial axis of a padding: 0 = height (top/bottom), 1 = width (left/right). */
export type Axis = 0 | 1;

export const isExplicitPadding = (p: unknown): p is ExplicitPadding => Array.isArray(p);

/** Output size and padding before the first element along one axis (out < 1 when the window does not fit). */
export function paddedAxis(inSize: number, kernel: number, stride: number, padding: Padding, axis: Axis): PaddedAxis {
  if (isExplicitPadding(padding)) {
    const before = padding[axis];
    return { out: Math.floor((inSize + before + padding[axis + 2]! - kernel) / stride) + 1, padBefore: before };
  }
  const out = padding === 'same' ? Math.ceil(inSize / stride) : Math.floor((inSize - kernel) / stride) + 1;
  const padTotal = Math.max((out - 1) * stride + kernel - inSize, 0);
  return { out, padBefore: padding === 'same' ? Math.floor(padTotal / 2) : 0 };
}

/** How a padding reads in an error message. */
export const describePadding = (p: Padding): string => (isExplicitPadding(p) ? `pads [${p.join(', ')}]` : `'${p}' padding`);

/**
 * ConfigError unless `padding` is 'same', 'valid' or four integer pads each smaller than the
 * kernel along its axis; ShapeError when the window does not fit the input.
 */
export function requirePadding(what: string, padding: unknown, inHw: readonly [number, number], kernel: readonly [number, number], stride: readonly [number, number]): Padding {
  if (padding !== 'same' && padding !== 'valid') {
    const ok = Array.isArray(padding) && padding.length === 4 && padding.every((v, i) => Number.isInteger(v) && v >= 0 && v < kernel[i % 2]!);
    if (!ok) throw new ConfigError(`${what}: padding must be 'same' or 'valid' (or pads [top, left, bottom, right], each smaller than the ${kernel.join('×')} kernel), got ${JSON.stringify(padding)}`);
  }
  const p = padding as Padding;
  for (const axis of [0, 1] as const) {
    if (paddedAxis(inHw[axis], kernel[axis], stride[axis], p, axis).out < 1) {
      throw new ShapeError(`${what}: a ${kernel.join('×')} window with ${describePadding(p)} does not fit a ${inHw.join('×')} input; use 'same' padding or a smaller window`);
    }
  }
  return p;
}
