// One kernel call as the cost model sees it: the kernel's name and its shape, and the counts the
// instruction model is linear in (MACs, inner loops started, outputs, weight bytes touched ...).
// The counts follow the loop structure of the portable C kernels exactly (taps that fall in the
// padding are skipped, not multiplied by zero), so a fitted coefficient means "instructions per
// one of these", and the same function serves calibration, fitting and estimation.
import { ShapeError } from '../errors.js';
import { paddedAxis, type Padding } from '../kernels/geometry.js';

export const COST_KERNELS = ['conv_w8', 'conv_w16', 'dw_w8', 'dw_w16', 'fc_w8', 'fc_w16', 'maxpool', 'avgpool', 'add'] as const;
export type CostKernel = (typeof COST_KERNELS)[number];

export interface KernelShape {
  kernel: CostKernel;
  /** Input height, width, channels (dense: inH = inW = 1, inC = input features). */
  inH: number;
  inW: number;
  inC: number;
  /** Output channels (conv: filters; dense: units; depthwise, pooling, add: = inC). */
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padding: Padding;
  /** Samples per call (dense batches rows; spatial kernels run once per sample). */
  batch: number;
}

/** Counts per call; every fitted coefficient multiplies one of these. */
export interface KernelFeatures {
  macs: number;
  /** Innermost loops started: conv = valid taps × out channels (each runs inC MACs). */
  innerLoops: number;
  /** Kernel-row loop iterations: every ky of every output (padding rows are tested, then skipped). */
  rowLoops: number;
  /** Kernel-column loop iterations: every kx of every valid row of every output. */
  colLoops: number;
  outputs: number;
  pixels: number;
  calls: number;
  /** Weight bytes read per call (each weight once per output pixel it touches). */
  weightBytesRead: number;
  /** Distinct weight bytes (what lives in flash). */
  weightBytes: number;
  /** Activation bytes in + out. */
  activationBytes: number;
}

export const FEATURE_NAMES = ['macs', 'innerLoops', 'colLoops', 'rowLoops', 'outputs', 'pixels', 'calls'] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** Which counts each kernel's instruction model is linear in (its loop nest, outermost last). */
export const REGRESSORS: Record<CostKernel, readonly FeatureName[]> = {
  conv_w8: ['macs', 'innerLoops', 'colLoops', 'rowLoops', 'outputs', 'pixels', 'calls'],
  conv_w16: ['macs', 'innerLoops', 'colLoops', 'rowLoops', 'outputs', 'pixels', 'calls'],
  dw_w8: ['macs', 'colLoops', 'rowLoops', 'outputs', 'pixels', 'calls'],
  dw_w16: ['macs', 'colLoops', 'rowLoops', 'outputs', 'pixels', 'calls'],
  maxpool: ['macs', 'colLoops', 'rowLoops', 'outputs', 'calls'],
  avgpool: ['macs', 'colLoops', 'rowLoops', 'outputs', 'calls'],
  fc_w8: ['macs', 'outputs', 'pixels', 'calls'],
  fc_w16: ['macs', 'outputs', 'pixels', 'calls'],
  add: ['outputs', 'calls'],
};

export function weightBytesPerElement(kernel: CostKernel): number {
  return kernel.endsWith('_w16') ? 2 : kernel.endsWith('_w8') ? 1 : 0;
}

export function outputSize(shape: KernelShape): { outH: number; outW: number; padH: number; padW: number } {
  if (shape.kernel.startsWith('fc') || shape.kernel === 'add') return { outH: shape.inH, outW: shape.inW, padH: 0, padW: 0 };
  const h = paddedAxis(shape.inH, shape.kH, shape.strideH, shape.padding);
  const w = paddedAxis(shape.inW, shape.kW, shape.strideW, shape.padding);
  return { outH: h.out, outW: w.out, padH: h.padBefore, padW: w.padBefore };
}

function checkShape(s: KernelShape): void {
  for (const key of ['inH', 'inW', 'inC', 'outC', 'kH', 'kW', 'strideH', 'strideW', 'batch'] as const) {
    const v = s[key];
    if (!Number.isInteger(v) || v < 1 || v > 1 << 24) throw new ShapeError(`cost model: ${s.kernel} ${key} must be a positive integer, got ${String(v)}`);
  }
  if (!(COST_KERNELS as readonly string[]).includes(s.kernel)) throw new ShapeError(`cost model: unknown kernel '${String(s.kernel)}'; known: ${COST_KERNELS.join(', ')}`);
}

/** Valid taps along one axis for every output position (padding taps are skipped by the kernels). */
function validTaps(inSize: number, out: number, k: number, stride: number, pad: number): number[] {
  const taps: number[] = [];
  for (let o = 0; o < out; o++) {
    const start = o * stride - pad;
    let n = 0;
    for (let t = 0; t < k; t++) if (start + t >= 0 && start + t < inSize) n++;
    taps.push(n);
  }
  return taps;
}

export function kernelFeatures(shape: KernelShape): KernelFeatures {
  checkShape(shape);
  const { kernel, inC, outC, batch } = shape;
  const wBytes = weightBytesPerElement(kernel);
  if (kernel === 'fc_w8' || kernel === 'fc_w16') {
    const inputs = shape.inH * shape.inW * inC;
    const macs = batch * inputs * outC;
    return {
      macs, innerLoops: batch * outC, colLoops: 0, rowLoops: 0, outputs: batch * outC, pixels: batch, calls: 1,
      weightBytesRead: macs * wBytes, weightBytes: inputs * outC * wBytes, activationBytes: batch * (inputs + outC),
    };
  }
  if (kernel === 'add') {
    const n = batch * shape.inH * shape.inW * inC;
    return { macs: 0, innerLoops: 0, colLoops: 0, rowLoops: 0, outputs: n, pixels: n, calls: 1, weightBytesRead: 0, weightBytes: 0, activationBytes: 3 * n };
  }
  const { outH, outW, padH, padW } = outputSize(shape);
  if (outH < 1 || outW < 1) throw new ShapeError(`cost model: a ${shape.kH}×${shape.kW} window does not fit a ${shape.inH}×${shape.inW} input`);
  const tapsH = validTaps(shape.inH, outH, shape.kH, shape.strideH, padH);
  const tapsW = validTaps(shape.inW, outW, shape.kW, shape.strideW, padW);
  const sumH = tapsH.reduce((a, b) => a + b, 0);
  const sumW = tapsW.reduce((a, b) => a + b, 0);
  const taps = batch * sumH * sumW; // Σ over output pixels of valid (ky, kx)
  const rows = batch * sumH * outW; // Σ over output pixels of valid ky
  const pixelsAll = batch * outH * outW;
  const pixels = batch * outH * outW;
  const isConv = kernel === 'conv_w8' || kernel === 'conv_w16';
  const channelsOut = isConv ? outC : inC;
  const macs = isConv ? taps * inC * outC : taps * inC;
  const weightCount = isConv ? outC * shape.kH * shape.kW * inC : wBytes ? shape.kH * shape.kW * inC : 0;
  return {
    macs,
    innerLoops: isConv ? taps * outC : taps * inC,
    rowLoops: pixelsAll * shape.kH * channelsOut,
    colLoops: rows * shape.kW * channelsOut,
    outputs: pixels * channelsOut,
    pixels,
    calls: 1,
    weightBytesRead: wBytes ? macs * wBytes : 0,
    weightBytes: weightCount * wBytes,
    activationBytes: batch * shape.inH * shape.inW * inC + pixels * channelsOut,
  };
}
