// TFLite's spatial padding rule, the one definition every kernel wrapper, the graph's shape
// inference and the ONNX converters share:
//   same:  out = ceil(in / stride), padTotal = max((out − 1)·stride + k − in, 0), padBefore = ⌊padTotal/2⌋
//   valid: out = ⌊(in − k) / stride⌋ + 1, no padding
export type Padding = 'same' | 'valid';

export interface PaddedAxis {
  out: number;
  padBefore: number;
}

/** Output size and padding before the first element along one axis (out < 1 when 'valid' does not fit). */
export function paddedAxis(inSize: number, kernel: number, stride: number, padding: Padding): PaddedAxis {
  const out = padding === 'same' ? Math.ceil(inSize / stride) : Math.floor((inSize - kernel) / stride) + 1;
  const padTotal = Math.max((out - 1) * stride + kernel - inSize, 0);
  return { out, padBefore: padding === 'same' ? Math.floor(padTotal / 2) : 0 };
}
