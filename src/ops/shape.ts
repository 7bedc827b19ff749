// Validation helpers every operator's shape inference shares.
import { ConfigError, ShapeError } from '../errors.js';
import { paddedAxis, requirePadding, type Padding } from '../kernels/geometry.js';

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** TFLite output size for one spatial dimension. */
export function convOutputSize(input: number, kernel: number, stride: number, padding: Padding, axis: 0 | 1 = 0): number {
  return paddedAxis(input, kernel, stride, padding, axis).out;
}

export function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1 << 20) {
    throw new ShapeError(`${what} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export function pair(value: unknown, what: string): [number, number] {
  if (!Array.isArray(value) || value.length !== 2) throw new ShapeError(`${what} must be [height, width], got ${JSON.stringify(value)}`);
  return [positiveInt(value[0], `${what}[0]`), positiveInt(value[1], `${what}[1]`)];
}

export function spatial(shape: number[], nodeName: string, kind: string): [number, number, number] {
  if (shape.length !== 3) {
    throw new ShapeError(`node '${nodeName}' (${kind}) needs an [H, W, C] input, got [${shape.join(', ')}]; add a reshape-free layout or use dense`);
  }
  return shape as [number, number, number];
}

export function window(nodeName: string, inH: number, inW: number, kernel: [number, number], stride: [number, number], padding: Padding): [number, number] {
  if (padding !== 'same' && padding !== 'valid') requirePadding(`node '${nodeName}'`, padding, [inH, inW], kernel, stride);
  const h = convOutputSize(inH, kernel[0], stride[0], padding, 0);
  const w = convOutputSize(inW, kernel[1], stride[1], padding, 1);
  if (h < 1 || w < 1) {
    throw new ShapeError(`node '${nodeName}': a ${kernel[0]}×${kernel[1]} window with stride ${stride.join('×')} and '${padding}' padding does not fit a ${inH}×${inW} input`);
  }
  return [h, w];
}

/** Output clamp of a fused activation in the int8 domain of the output quantization. */
export function activationClamp(activation: 'none' | 'relu' | 'relu6', scale: number, zp: number): { actMin: number; actMax: number } {
  if (activation === 'relu') return { actMin: zp, actMax: 127 };
  if (activation === 'relu6') return { actMin: zp, actMax: Math.min(127, zp + Math.round(6 / scale)) };
  return { actMin: -128, actMax: 127 };
}
