// One kernel call as the cost model sees it: the kernel and its shape, and the counts its
// instruction count is linear in. The counts follow the loop nests of the exported C kernels
// (src/export/c/runtime/lm_kernels.c) exactly: a convolution gathers each output pixel's patch
// into an int16 column (copied taps and zero-filled padding taps counted apart), then runs 2 × 2
// tiles of pixels and output channels over the columns (SMLAD on cores with the DSP extension) and
// the remainder one tap at a time; dense dot products run four taps per iteration too; perturbed
// forwards (QZO-FF) first stage every weight of the layer through the z generator. A fitted
// coefficient therefore means "instructions per one of these", and one function serves
// calibration, fitting and estimation.
import { ShapeError } from '../errors.js';
import { paddedAxis, type Padding } from '../kernels/geometry.js';

export const COST_KERNELS = [
  'conv_w8', 'conv_w16', 'conv_w8_pt', 'conv_w16_pt',
  'dw_w8', 'dw_w16', 'dw_w8_pt', 'dw_w16_pt',
  'fc_w8', 'fc_w16', 'fc_w8_pt', 'fc_w16_pt',
  'maxpool', 'avgpool', 'gap', 'add', 'update_w8', 'update_w16',
] as const;
export type CostKernel = (typeof COST_KERNELS)[number];

export interface KernelShape {
  kernel: CostKernel;
  /** Input height, width, channels (dense: 1, 1, input features; add/gap: the tensor; update: 1, 1, weight count). */
  inH: number;
  inW: number;
  inC: number;
  /** Output channels (conv: filters; dense: units; depthwise/pools/add: = inC; update: directions m). */
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padding: Padding;
  /** Rows per call (dense M; spatial kernels: images). */
  batch: number;
}

export interface KernelFeatures {
  macs: number;
  /** SMLAD-loop iterations (four taps; a convolution tile's 16-bit loop: two) and the one-tap remainder of the dot products. */
  quads: number;
  tails: number;
  /** Dot-product calls (convolution: one per 2 × 2 tile of pixels and channels; dense: one per output). */
  dotCalls: number;
  /** Dot-product calls whose length is not a multiple of four (they enter the one-tap loop). */
  tailCalls: number;
  /** Kernel-row loop iterations: a convolution's every kernel row per pixel (padding rows zero-filled); depthwise: valid window rows × channels. */
  rowLoops: number;
  /** Pools: tap-loop entries (valid window rows × channels); convolution: taps copied into its column. */
  colLoops: number;
  /** Padding taps a convolution's column fills with zeros. */
  colZeros: number;
  /** Four-tap groups of a convolution's column (8-bit weights: reordered for SXTB16, once per pixel). */
  colQuads: number;
  outputs: number;
  pixels: number;
  /** Weights staged through the perturbation (QZO-FF forward), or z values drawn (update: count × m). */
  weightsStaged: number;
  calls: number;
  /** Weight bytes read per call and distinct weight bytes (flash traffic and footprint). */
  weightBytesRead: number;
  weightBytes: number;
  activationBytes: number;
}

export const FEATURE_NAMES = ['macs', 'quads', 'tails', 'dotCalls', 'tailCalls', 'rowLoops', 'colLoops', 'colZeros', 'colQuads', 'outputs', 'pixels', 'weightsStaged', 'calls'] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** Which loop each count's instructions run in (cores.ts gives each class its CPI). */
export const FEATURE_LOOP: Record<FeatureName, 'smlad' | 'byteLoop' | 'control'> = {
  macs: 'byteLoop', quads: 'smlad', tails: 'byteLoop', colLoops: 'byteLoop', colZeros: 'byteLoop', colQuads: 'byteLoop',
  dotCalls: 'control', tailCalls: 'control', rowLoops: 'control', outputs: 'control', pixels: 'control', weightsStaged: 'control', calls: 'control',
};

// A tile's dot product and its four requantizations are one dotCalls (an odd last pixel or channel is requantized twice).
// With 16-bit weights the SMLAD loop steps two taps, so a tile has at most one remainder tap (tails = tailCalls).
const CONV16: readonly FeatureName[] = ['quads', 'tails', 'dotCalls', 'rowLoops', 'colLoops', 'colZeros', 'pixels', 'calls'];
const CONV8: readonly FeatureName[] = [...CONV16, 'tailCalls', 'colQuads'];
const DW: readonly FeatureName[] = ['macs', 'rowLoops', 'outputs', 'pixels', 'calls'];
const FC16: readonly FeatureName[] = ['quads', 'tails', 'tailCalls', 'outputs', 'pixels', 'calls'];
const POOL: readonly FeatureName[] = ['macs', 'colLoops', 'outputs', 'pixels', 'calls'];

/** Which counts each kernel's instruction model is linear in (its loop nest). */
export const REGRESSORS: Record<CostKernel, readonly FeatureName[]> = {
  conv_w8: CONV8,
  conv_w16: CONV16,
  conv_w8_pt: [...CONV16, 'weightsStaged'], // perturbed weights are staged as int16: the 16-bit dot runs
  conv_w16_pt: [...CONV16, 'weightsStaged'],
  dw_w8: DW,
  dw_w16: DW,
  dw_w8_pt: [...DW, 'weightsStaged'],
  dw_w16_pt: [...DW, 'weightsStaged'],
  fc_w8: FC16,
  fc_w16: FC16,
  fc_w8_pt: [...FC16, 'weightsStaged'],
  fc_w16_pt: [...FC16, 'weightsStaged'],
  maxpool: POOL,
  avgpool: POOL,
  gap: ['macs', 'outputs', 'calls'],
  add: ['outputs', 'calls'],
  update_w8: ['weightsStaged', 'outputs', 'calls'],
  update_w16: ['weightsStaged', 'outputs', 'calls'],
};

export function weightBits(kernel: CostKernel): 0 | 8 | 16 {
  return kernel.includes('_w16') ? 16 : kernel.includes('_w8') ? 8 : 0;
}
export const isPerturbed = (kernel: CostKernel): boolean => kernel.endsWith('_pt');
const family = (kernel: CostKernel): string => kernel.split('_')[0]!;

export function outputSize(shape: KernelShape): { outH: number; outW: number; padH: number; padW: number } {
  const f = family(shape.kernel);
  if (f === 'fc' || f === 'add' || f === 'update') return { outH: shape.inH, outW: shape.inW, padH: 0, padW: 0 };
  if (f === 'gap') return { outH: 1, outW: 1, padH: 0, padW: 0 };
  const h = paddedAxis(shape.inH, shape.kH, shape.strideH, shape.padding, 0);
  const w = paddedAxis(shape.inW, shape.kW, shape.strideW, shape.padding, 1);
  return { outH: h.out, outW: w.out, padH: h.padBefore, padW: w.padBefore };
}

function checkShape(s: KernelShape): void {
  if (!s || !(COST_KERNELS as readonly string[]).includes(s.kernel)) throw new ShapeError(`cost model: unknown kernel '${String(s?.kernel)}'; known: ${COST_KERNELS.join(', ')}`);
  for (const key of ['inH', 'inW', 'inC', 'outC', 'kH', 'kW', 'strideH', 'strideW', 'batch'] as const) {
    const v = s[key];
    if (!Number.isInteger(v) || v < 1 || v > 1 << 24) throw new ShapeError(`cost model: ${s.kernel} ${key} must be a positive integer up to 2^24, got ${String(v)}`);
  }
  if (s.padding !== 'same' && s.padding !== 'valid') throw new ShapeError(`cost model: padding must be 'same' or 'valid', got '${String(s.padding)}'`);
}

/** Valid tap range [lo, hi) along one axis for each output position. */
function validRanges(inSize: number, out: number, k: number, stride: number, pad: number): Array<[number, number]> {
  const r: Array<[number, number]> = [];
  for (let o = 0; o < out; o++) {
    const start = o * stride - pad;
    r.push([Math.max(0, -start), Math.min(k, inSize - start)]);
  }
  return r;
}

const zero = (): KernelFeatures => ({ macs: 0, quads: 0, tails: 0, dotCalls: 0, tailCalls: 0, rowLoops: 0, colLoops: 0, colZeros: 0, colQuads: 0, outputs: 0, pixels: 0, weightsStaged: 0, calls: 1, weightBytesRead: 0, weightBytes: 0, activationBytes: 0 });

export function kernelFeatures(shape: KernelShape): KernelFeatures {
  checkShape(shape);
  const { kernel, inC, outC, batch } = shape;
  const f = zero();
  const fam = family(kernel);
  const bits = weightBits(kernel);
  const wBytes = bits / 8;
  const staged = isPerturbed(kernel);
  const dotBits = staged ? 16 : bits;
  if (fam === 'add') {
    const n = batch * shape.inH * shape.inW * inC;
    return { ...f, outputs: n, pixels: n, activationBytes: 3 * n };
  }
  if (fam === 'gap') {
    const n = batch * shape.inH * shape.inW * inC;
    return { ...f, macs: n, outputs: batch * inC, pixels: batch, activationBytes: n + batch * inC };
  }
  if (fam === 'update') {
    const count = batch * shape.inH * shape.inW * inC;
    return { ...f, outputs: count, weightsStaged: count * outC, weightBytes: count * wBytes, weightBytesRead: count * wBytes };
  }
  if (fam === 'fc') {
    const K = shape.inH * shape.inW * inC;
    const dots = batch * outC;
    return {
      ...f, macs: dots * K, quads: dots * Math.floor(K / 4), tails: dots * (K % 4), dotCalls: dots, tailCalls: K % 4 ? dots : 0, outputs: dots, pixels: batch,
      weightsStaged: staged ? outC * K : 0, weightBytesRead: (staged ? 1 : batch) * outC * K * wBytes, weightBytes: outC * K * wBytes, activationBytes: batch * (K + outC),
    };
  }
  const { outH, outW, padH, padW } = outputSize(shape);
  if (outH < 1 || outW < 1) throw new ShapeError(`cost model: a ${shape.kH}×${shape.kW} window does not fit a ${shape.inH}×${shape.inW} input`);
  const rowsV = validRanges(shape.inH, outH, shape.kH, shape.strideH, padH);
  const colsV = validRanges(shape.inW, outW, shape.kW, shape.strideW, padW);
  const pixels = batch * outH * outW;
  f.pixels = pixels;
  f.activationBytes = batch * shape.inH * shape.inW * inC;
  if (fam === 'conv') {
    // The column path (patches up to LM_COL_MAX taps): every pixel gathers its patch once, then
    // 2 × 2 tiles (two pixels × two output channels; an odd last pixel or channel pairs with itself)
    // run over the columns, two taps per SMLAD step with 16-bit weights, four with 8-bit ones.
    const K = shape.kH * shape.kW * inC;
    const step = dotBits === 16 ? 2 : 4;
    const pairs = Math.ceil(pixels / 2) * Math.ceil(outC / 2);
    let valid = 0;
    for (const [r0, r1] of rowsV) {
      for (const [c0, c1] of colsV) valid += Math.max(0, r1 - r0) * Math.max(0, c1 - c0) * inC;
    }
    f.macs = batch * valid * outC;
    f.colLoops = batch * valid;
    f.colZeros = pixels * K - f.colLoops;
    f.colQuads = dotBits === 8 ? pixels * Math.floor(K / 4) : 0;
    f.rowLoops = pixels * shape.kH;
    f.dotCalls = pairs;
    f.quads = pairs * Math.floor(K / step);
    f.tails = pairs * (K % step);
    f.tailCalls = K % step ? pairs : 0;
    const weights = outC * K;
    f.outputs = pixels * outC;
    f.weightsStaged = staged ? weights : 0;
    f.weightBytes = weights * wBytes;
    // Perturbed weights are staged into SRAM once; plain ones are read from flash for every pixel.
    f.weightBytesRead = staged ? weights * wBytes : pixels * weights * wBytes;
    f.activationBytes += f.outputs;
    return f;
  }
  // Depthwise (multiplier 1) and pools walk each window's valid rows and, in them, its valid taps,
  // per output channel (max pooling over a channel count divisible by four: four channels per word).
  const isDw = fam === 'dw';
  let taps = 0, validRows = 0;
  for (const [r0, r1] of rowsV) {
    const vr = Math.max(0, r1 - r0);
    for (const [c0, c1] of colsV) {
      taps += vr * Math.max(0, c1 - c0);
      validRows += vr;
    }
  }
  f.macs = batch * taps * inC;
  // The same count, in the loop each kernel has it: the pools' inner tap loop, depthwise's row loop.
  f.colLoops = isDw ? 0 : batch * validRows * inC;
  f.rowLoops = isDw ? batch * validRows * inC : 0;
  f.outputs = pixels * inC;
  f.weightsStaged = staged ? shape.kH * shape.kW * inC : 0;
  f.weightBytes = isDw ? shape.kH * shape.kW * inC * wBytes : 0;
  f.weightBytesRead = isDw ? (staged ? f.weightBytes : f.macs * wBytes) : 0;
  f.activationBytes += f.outputs;
  return f;
}
