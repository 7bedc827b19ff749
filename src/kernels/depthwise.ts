// Host side of qs8 DepthwiseConv2D (TFLite Micro semantics, NHWC int8 input, weights
// [kH][kW][inC·depthMultiplier] int8 or int16, no dilation): TFLite's 'same'/'valid' geometry,
// validation, the exact scratch size, and the call to the device's depthwise_conv2d_qs8.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { alignUp, checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { PreparedRequant } from './requant.js';
import { perturbArgs, type PerturbSpec } from './perturb-spec.js';
import { requireInt } from './validate.js';
import { paddedAxis, requirePadding, type Padding } from './geometry.js';
import { MAX_DIM, packedBudgetOf, requantArgs, requireDisjoint, requireScratch, requireWeightBits, requireZeroPoint, type Span } from './gemm.js';

export interface DepthwiseConv2DParams {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  /** Output channels per input channel; output channel c·M + m reads input channel c. */
  depthMultiplier: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: Padding;
  weightBits: 8 | 16;
  inputZeroPoint: number;
  perturb?: PerturbSpec;
  /** The layer prepared once beforehand (depthwisePrepack, into flash for a frozen layer); not with perturb. */
  prepared?: PreparedDepthwise;
  /** Size scratch for calls that pass `prepared` (one border tap table). */
  prepacked?: boolean;
  /**
   * Bytes of packed weights, effective bias and requant lanes a per-call (trained) layer may
   * prepare at once (default PACKED_WEIGHT_BUDGET_BYTES). A depth multiplier 1 layer that needs
   * more runs in groups of 16·k channels, the fewest groups that fit (0: 16 channels a group);
   * depth multipliers above 1 always prepare the whole layer.
   */
  packedWeightBudget?: number;
}

/** A depthwise layer's packed weights, effective bias and requant lanes, written once. */
export interface PreparedDepthwise {
  readonly buffer: DeviceBuffer;
  /** What was baked in: the geometry key, input zero point and per-channel flag. */
  readonly key: string;
  /** depthwisePreparedBytes of the layer. */
  readonly bytes: number;
  /** Prepared without the bias (effective bias −zin·Σw): every call passes the bias (a bias-trained layer's, in SRAM). */
  readonly separateBias: boolean;
}

export type { Padding } from './geometry.js';

/** Output size and leading padding along one axis, by TFLite's rules (no dilation). */

/** Checks a window geometry shared by depthwise conv and pooling; `what` names the caller. */
export function requireWindow(
  what: string, inHeight: number, inWidth: number, kernelHeight: number, kernelWidth: number,
  strideHeight: number, strideWidth: number, padding: Padding,
): void {
  requireInt(inHeight, `${what}: inHeight`, 1, MAX_DIM);
  requireInt(inWidth, `${what}: inWidth`, 1, MAX_DIM);
  requireInt(kernelHeight, `${what}: kernel/filter height`, 1, 4096);
  requireInt(kernelWidth, `${what}: kernel/filter width`, 1, 4096);
  requireInt(strideHeight, `${what}: strideHeight`, 1, 4096);
  requireInt(strideWidth, `${what}: strideWidth`, 1, 4096);
  if (padding !== 'same' && padding !== 'valid') requirePadding(what, padding, [inHeight, inWidth], [kernelHeight, kernelWidth], [strideHeight, strideWidth]);
  if (padding === 'valid' && (kernelHeight > inHeight || kernelWidth > inWidth)) {
    throw new ShapeError(
      `${what}: a ${kernelHeight}×${kernelWidth} window does not fit a ${inHeight}×${inWidth} input with 'valid' padding; ` +
        "use 'same' padding or a smaller window",
    );
  }
  requireInt(inHeight * inWidth, `${what}: inHeight·inWidth`, 1, MAX_DIM);
  requireInt(kernelHeight * kernelWidth, `${what}: window area`, 1, MAX_DIM);
}

interface DepthwiseGeometry {
  outHeight: number;
  outWidth: number;
  padTop: number;
  padLeft: number;
  outChannels: number;
}

function geometry(p: DepthwiseConv2DParams): DepthwiseGeometry {
  const what = 'depthwiseConv2d';
  requireInt(p.batch, `${what}: batch`, 1, MAX_DIM);
  requireInt(p.inChannels, `${what}: inChannels`, 1, MAX_DIM);
  requireInt(p.depthMultiplier, `${what}: depthMultiplier`, 1, MAX_DIM);
  requireInt(p.inChannels * p.depthMultiplier, `${what}: inChannels·depthMultiplier`, 1, MAX_DIM);
  requireWindow(what, p.inHeight, p.inWidth, p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, p.padding);
  requireWeightBits(p.weightBits, what);
  requireZeroPoint(p.inputZeroPoint, what);
  const h = paddedAxis(p.inHeight, p.kernelHeight, p.strideHeight, p.padding, 0);
  const w = paddedAxis(p.inWidth, p.kernelWidth, p.strideWidth, p.padding, 1);
  return { outHeight: h.out, outWidth: w.out, padTop: h.padBefore, padLeft: w.padBefore, outChannels: p.inChannels * p.depthMultiplier };
}

export function depthwiseConv2dOutputShape(p: DepthwiseConv2DParams): { height: number; width: number } {
  const g = geometry(p);
  return { height: g.outHeight, width: g.outWidth };
}

/**
 * Exact scratch of depthwise_conv2d_qs8 (layout at the top of assembly/depthwise.ts): packed
 * int16 weights in tap pairs, effective bias, per-lane requantization constants, depth
 * multiplier swizzles, the zero-point row and two tap tables, for the whole layer or for one
 * channel group (depthwiseGroupChannels). Independent of batch and image size.
 */
export function depthwiseConv2dScratchBytes(p: DepthwiseConv2DParams): number {
  geometry(p);
  const pairs = Math.ceil((p.kernelHeight * p.kernelWidth) / 2);
  if (p.prepacked || p.prepared) return alignUp(pairs * 8);
  const group = depthwiseGroupChannels(p);
  const prepared = group < p.inChannels ? preparedBytesOf(group, 1, p.kernelHeight, p.kernelWidth) : preparedBytes(p);
  return prepared + alignUp(pairs * 8);
}

/** Bytes of one 16-channel block's packed weights, effective bias and requant lanes. */
const blockBytes = (pairs: number) => 16 * (pairs * 4 + 4 + 24);

/**
 * Input channels a per-call depthwise run prepares at once: the whole layer (inChannels) when
 * it fits packedWeightBudget or the depth multiplier is above 1, otherwise groups of 16·k
 * channels, k as large as the budget allows with the groups split evenly (at least 16).
 */
export function depthwiseGroupChannels(p: DepthwiseConv2DParams): number {
  const budget = packedBudgetOf(p, 'depthwiseConv2d');
  if (p.depthMultiplier !== 1 || p.prepacked || p.prepared) return p.inChannels;
  const pairs = Math.ceil((p.kernelHeight * p.kernelWidth) / 2);
  const total = Math.ceil(p.inChannels / 16);
  const fit = Math.max(1, Math.floor(budget / blockBytes(pairs)));
  const groups = Math.ceil(total / fit);
  const group = Math.ceil(total / groups) * 16;
  return group < p.inChannels ? group : p.inChannels;
}

/** The static part of the scratch layout, up to and including the interior tap table. */
function preparedBytes(p: DepthwiseConv2DParams): number {
  return preparedBytesOf(p.inChannels, p.depthMultiplier, p.kernelHeight, p.kernelWidth);
}

function preparedBytesOf(channels: number, multiplier: number, kernelHeight: number, kernelWidth: number): number {
  const ocp = alignUp(channels * multiplier);
  const pairs = Math.ceil((kernelHeight * kernelWidth) / 2);
  return ocp * pairs * 4 + ocp * 4 + ocp * 24 + (multiplier > 1 ? ocp : 0) + alignUp(channels + 16) + alignUp(pairs * 8);
}

/** Bytes a prepared (frozen) layer occupies: the static layout plus 16 bytes of requant flags. */
export function depthwisePreparedBytes(p: DepthwiseConv2DParams): number {
  geometry(p);
  return preparedBytes(p) + 16;
}

const preparedKey = (p: DepthwiseConv2DParams, perChannel: boolean) =>
  [p.inHeight, p.inWidth, p.inChannels, p.depthMultiplier, p.kernelHeight, p.kernelWidth, p.weightBits, p.inputZeroPoint, perChannel].join(',');

/**
 * Packs a frozen layer's weights, bias and requantization once into dst
 * (depthwisePreparedBytes(p) bytes): what every per-call run writes into its scratch.
 */
export function depthwisePrepack(
  arena: Arena, weights: DeviceBuffer, bias: DeviceBuffer | null, requant: PreparedRequant, dst: DeviceBuffer, p: DepthwiseConv2DParams,
  options: { separateBias?: boolean } = {},
): PreparedDepthwise {
  const g = geometry(p);
  const separateBias = options.separateBias === true;
  if (separateBias && bias !== null) throw new ConfigError('depthwisePrepack: a layer prepared with separateBias holds no bias; pass bias = null (each call passes it)');
  if (!requant) throw new ConfigError('depthwisePrepack: a prepared requantization is required (int8 output); use prepareRequant');
  const oc = g.outChannels;
  const wBytes = p.kernelHeight * p.kernelWidth * oc * (p.weightBits / 8);
  const bytes = depthwisePreparedBytes(p);
  checkBuffer(arena.device, weights, wBytes, 'depthwisePrepack weights');
  if (bias !== null) checkBuffer(arena.device, bias, oc * 4, 'depthwisePrepack bias');
  checkBuffer(arena.device, dst, bytes, 'depthwisePrepack destination');
  const q = requantArgs(arena, requant, oc, 'depthwisePrepack');
  const reads: Span[] = [{ buffer: weights, bytes: wBytes, what: 'weights' }];
  if (bias !== null) reads.push({ buffer: bias, bytes: oc * 4, what: 'bias' });
  requireDisjoint({ buffer: dst, bytes, what: 'prepared layer' }, reads);
  arena.device.kernel('depthwise_prepack_qs8')(
    dst.offset, weights.offset, bias === null ? 0 : bias.offset, p.inChannels, p.depthMultiplier, p.kernelHeight, p.kernelWidth, p.inWidth,
    p.weightBits, p.inputZeroPoint, q[0]!, q[1]!, q[2]!,
  );
  return { buffer: dst, key: preparedKey(p, requant.perChannel), bytes, separateBias };
}

/** The bias pointer of a prepared call: 0 when the bias is prepared in, else the call's (required). */
function preparedBiasOffset(prepared: PreparedDepthwise, bias: DeviceBuffer | null): number {
  if (!prepared.separateBias) return 0;
  if (bias === null) throw new ConfigError('depthwiseConv2d: the layer was prepared without its bias (separateBias); pass the layer\'s bias');
  return bias.offset;
}

/**
 * output[b][oy][ox][c·M + m] = requant(bias[o] + Σ_{valid ky,kx} (x[b][iy][ix][c] − zin)·w[ky][kx][o]),
 * o = c·M + m, padded taps contributing 0, accumulation in wrapping int32 as TFLM's. Weights are
 * never written; with p.perturb the weight with flat index i = (ky·kW + kx)·C·M + o is perturbed
 * on the fly (into scratch), in channel groups or not alike. Scratch is always needed:
 * depthwiseConv2dScratchBytes(p) bytes.
 */
export function depthwiseConv2d(
  arena: Arena,
  input: DeviceBuffer,
  weights: DeviceBuffer,
  bias: DeviceBuffer | null,
  output: DeviceBuffer,
  p: DepthwiseConv2DParams,
  requant: PreparedRequant,
  scratch: DeviceBuffer | null,
): void {
  const g = geometry(p);
  if (!requant) throw new ConfigError('depthwiseConv2d: a prepared requantization is required (int8 output); use prepareRequant');
  const device = arena.device;
  const oc = g.outChannels;
  const inBytes = p.batch * p.inHeight * p.inWidth * p.inChannels;
  const wBytes = p.kernelHeight * p.kernelWidth * oc * (p.weightBits / 8);
  const outBytes = p.batch * g.outHeight * g.outWidth * oc;
  checkBuffer(device, input, inBytes, 'depthwiseConv2d input');
  checkBuffer(device, weights, wBytes, 'depthwiseConv2d weights');
  if (bias !== null) checkBuffer(device, bias, oc * 4, 'depthwiseConv2d bias');
  checkBuffer(device, output, outBytes, 'depthwiseConv2d output');
  const needed = depthwiseConv2dScratchBytes(p);
  const scratchOffset = requireScratch(arena, scratch, needed, 'depthwiseConv2dScratchBytes', 'depthwiseConv2d');
  const q = requantArgs(arena, requant, oc, 'depthwiseConv2d');
  const perturb = perturbArgs(p.perturb, p.weightBits, wBytes / (p.weightBits / 8));

  const count = requant.perChannel ? oc : 1;
  const reads: Span[] = [
    { buffer: input, bytes: inBytes, what: 'input' },
    { buffer: weights, bytes: wBytes, what: 'weights' },
    { buffer: requant.multiplier, bytes: count * 4, what: 'requant multipliers' },
    { buffer: requant.shift, bytes: count * 4, what: 'requant shifts' },
  ];
  if (bias !== null) reads.push({ buffer: bias, bytes: oc * 4, what: 'bias' });
  if (p.prepared) {
    if (p.perturb) throw new ConfigError('depthwiseConv2d: a prepared layer holds the stored weights; a perturbed call must pack (drop prepared or perturb)');
    if (p.prepared.key !== preparedKey(p, requant.perChannel)) {
      throw new ConfigError('depthwiseConv2d: the prepared layer was packed for another shape, zero point or requantization; prepare it again');
    }
    // The key pins the geometry, so the recorded size is this layer's (no second validation).
    checkBuffer(device, p.prepared.buffer, p.prepared.bytes, 'depthwiseConv2d prepared layer');
    reads.push({ buffer: p.prepared.buffer, bytes: p.prepared.bytes, what: 'prepared layer' });
  }
  const scratchSpan: Span = { buffer: scratch!, bytes: needed, what: 'scratch' };
  requireDisjoint({ buffer: output, bytes: outBytes, what: 'output' }, [...reads, scratchSpan]);
  requireDisjoint(scratchSpan, reads);

  if (p.prepared) {
    device.kernel('depthwise_conv2d_qs8_prepacked')(
      input.offset, p.prepared.buffer.offset, output.offset, scratchOffset,
      p.batch, p.inHeight, p.inWidth, p.inChannels, p.depthMultiplier, p.kernelHeight, p.kernelWidth,
      p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
      ...q, preparedBiasOffset(p.prepared, bias),
    );
    return;
  }

  device.kernel('depthwise_conv2d_qs8')(
    input.offset, weights.offset, bias === null ? 0 : bias.offset, output.offset, scratchOffset,
    p.batch, p.inHeight, p.inWidth, p.inChannels, p.depthMultiplier, p.kernelHeight, p.kernelWidth,
    p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
    p.weightBits, p.inputZeroPoint,
    ...q,
    ...perturb,
    depthwiseGroupChannels(p),
  );
}
