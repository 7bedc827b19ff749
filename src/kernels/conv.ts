// Host side of qs8 Conv2D (TFLite Micro Conv2D semantics, NHWC input, OHWI weights, no
// dilation): TFLite's 'same'/'valid' geometry, validation, scratch sizing, and the call to the
// device's conv2d_qs8, which runs the GEMM micro-kernel over im2col tiles of 4 output pixels.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { PreparedRequant } from './requant.js';
import { perturbArgs, type PerturbSpec } from './perturb-spec.js';
import { requireIndexRange } from './rng.js';
import { requireInt } from './validate.js';
import { prepackedTileBytes, requirePackedFor, separateBiasOffset, type PackedPanels } from './packed-weights.js';
import { paddedAxis, requirePadding, type Padding } from './geometry.js';
import {
  GEMM_MR, MAX_DIM, gemmCoreScratchBytes, packedBudgetOf, packedChunkPanels, panelColumnsOf, requantArgs, requireDisjoint, requireScratch,
  requireWeightBits, requireZeroPoint, type PanelColumns, type Span,
} from './gemm.js';

export interface Conv2DParams {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: Padding;
  weightBits: 8 | 16;
  inputZeroPoint: number;
  perturb?: PerturbSpec;
  /** As FullyConnectedParams.packedWeightBudget; a conv re-gathers its im2col rows per chunk. */
  packedWeightBudget?: number;
  /** As FullyConnectedParams.panelColumns. */
  panelColumns?: PanelColumns;
  /** The layer's weights packed once beforehand (src/kernels/packed-weights.ts); not with perturb. */
  packed?: PackedPanels;
  /** Size scratch for calls that pass `packed` (activation tile and im2col rows only). */
  prepacked?: boolean;
}

interface ConvGeometry {
  outHeight: number;
  outWidth: number;
  padTop: number;
  padLeft: number;
  /** GEMM depth: kernelHeight·kernelWidth·inChannels. */
  k: number;
}

/** TFLite's rule for one spatial axis. */


function geometry(p: Conv2DParams): ConvGeometry {
  requireInt(p.batch, 'conv2d: batch', 1, MAX_DIM);
  requireInt(p.inHeight, 'conv2d: inHeight', 1, MAX_DIM);
  requireInt(p.inWidth, 'conv2d: inWidth', 1, MAX_DIM);
  requireInt(p.inChannels, 'conv2d: inChannels', 1, MAX_DIM);
  requireInt(p.outChannels, 'conv2d: outChannels', 1, MAX_DIM);
  requireInt(p.kernelHeight, 'conv2d: kernelHeight', 1, 4096);
  requireInt(p.kernelWidth, 'conv2d: kernelWidth', 1, 4096);
  requireInt(p.strideHeight, 'conv2d: strideHeight', 1, 4096);
  requireInt(p.strideWidth, 'conv2d: strideWidth', 1, 4096);
  if (p.padding !== 'same' && p.padding !== 'valid') requirePadding('conv2d', p.padding, [p.inHeight, p.inWidth], [p.kernelHeight, p.kernelWidth], [p.strideHeight, p.strideWidth]);
  requireWeightBits(p.weightBits, 'conv2d');
  requireZeroPoint(p.inputZeroPoint, 'conv2d');
  packedBudgetOf(p, 'conv2d');
  panelColumnsOf(p, 'conv2d');
  if (p.padding === 'valid' && (p.kernelHeight > p.inHeight || p.kernelWidth > p.inWidth)) {
    throw new ShapeError(
      `conv2d: a ${p.kernelHeight}×${p.kernelWidth} kernel does not fit a ${p.inHeight}×${p.inWidth} input with 'valid' padding; ` +
        "use 'same' padding or a smaller kernel",
    );
  }
  const k = p.kernelHeight * p.kernelWidth * p.inChannels;
  requireInt(k, 'conv2d: kernelHeight·kernelWidth·inChannels', 1, MAX_DIM);
  const h = paddedAxis(p.inHeight, p.kernelHeight, p.strideHeight, p.padding, 0);
  const w = paddedAxis(p.inWidth, p.kernelWidth, p.strideWidth, p.padding, 1);
  return { outHeight: h.out, outWidth: w.out, padTop: h.padBefore, padLeft: w.padBefore, k };
}

export function conv2dOutputShape(p: Conv2DParams): { height: number; width: number } {
  const g = geometry(p);
  return { height: g.outHeight, width: g.outWidth };
}

/** im2col row stride on the device (assembly/conv.ts im2colRowStride). */
function im2colRowStride(k: number): number {
  return Math.ceil(k / 16) * 16 + 16;
}

/**
 * Scratch the kernel needs: one chunk of packed weight panels, one activation tile and, for
 * kernels larger than 1×1, a 4-row im2col tile. Independent of batch and image size.
 */
export function conv2dScratchBytes(p: Conv2DParams): number {
  const g = geometry(p);
  const direct = p.kernelHeight === 1 && p.kernelWidth === 1;
  if (p.prepacked || p.packed) return prepackedTileBytes(g.k) + (direct ? 0 : GEMM_MR * im2colRowStride(g.k));
  return gemmCoreScratchBytes(g.k, p.outChannels, packedBudgetOf(p, 'conv2d'), panelColumnsOf(p, 'conv2d')) + (direct ? 0 : GEMM_MR * im2colRowStride(g.k));
}

/**
 * output[b][oy][ox][o] = requant(bias[o] + Σ_{ky,kx,c} (x[b][iy][ix][c] − zin)·w[o][ky][kx][c]),
 * padded taps contributing 0. Weights OHWI int8/int16 are never written; with p.perturb the
 * element with flat OHWI index i is perturbed on the fly while packing.
 */
export function conv2d(
  arena: Arena,
  input: DeviceBuffer,
  weights: DeviceBuffer,
  bias: DeviceBuffer | null,
  output: DeviceBuffer,
  p: Conv2DParams,
  requant: PreparedRequant,
  scratch: DeviceBuffer | null,
): void {
  prepareConv2d(arena, input, weights, bias, output, p, requant, scratch)(0, p.outChannels);
}

/**
 * conv2d checked once for the whole layer, returned as a call on output channels [start, end) (only
 * those channels of every output pixel are written, each the value the whole-layer call gives; a
 * fused perturbation keeps the stream indices of the whole tensor): a caller running the layer block
 * by block, changing a block's weights between calls, pays the checks once. Pre-packed panels run
 * the whole layer only.
 */
export function prepareConv2d(
  arena: Arena,
  input: DeviceBuffer,
  weights: DeviceBuffer,
  bias: DeviceBuffer | null,
  output: DeviceBuffer,
  p: Conv2DParams,
  requant: PreparedRequant,
  scratch: DeviceBuffer | null,
): (start: number, end: number) => void {
  const g = geometry(p);
  if (!requant) throw new ConfigError('conv2d: a prepared requantization is required (int8 output); use prepareRequant');
  const device = arena.device;
  const inBytes = p.batch * p.inHeight * p.inWidth * p.inChannels;
  const wBytes = p.outChannels * g.k * (p.weightBits / 8);
  const outBytes = p.batch * g.outHeight * g.outWidth * p.outChannels;
  checkBuffer(device, input, inBytes, 'conv2d input');
  checkBuffer(device, weights, wBytes, 'conv2d weights');
  if (bias !== null) checkBuffer(device, bias, p.outChannels * 4, 'conv2d bias');
  checkBuffer(device, output, outBytes, 'conv2d output');
  const needed = conv2dScratchBytes(p);
  const scratchOffset = requireScratch(arena, scratch, needed, 'conv2dScratchBytes', 'conv2d');
  const q = requantArgs(arena, requant, p.outChannels, 'conv2d');
  const perturb = perturbArgs(p.perturb, p.weightBits, p.outChannels * g.k);
  if (p.perturb) requireIndexRange(p.perturb.start, p.outChannels * g.k, 'conv2d perturbation');

  const count = requant.perChannel ? p.outChannels : 1;
  const reads: Span[] = [
    { buffer: input, bytes: inBytes, what: 'input' },
    { buffer: weights, bytes: wBytes, what: 'weights' },
    { buffer: requant.multiplier, bytes: count * 4, what: 'requant multipliers' },
    { buffer: requant.shift, bytes: count * 4, what: 'requant shifts' },
  ];
  if (bias !== null) reads.push({ buffer: bias, bytes: p.outChannels * 4, what: 'bias' });
  if (p.packed) {
    if (p.perturb) throw new ConfigError('conv2d: pre-packed panels hold the stored weights; a perturbed call must pack (drop packed or perturb)');
    requirePackedFor(arena, p.packed, g.k, p.outChannels, p.inputZeroPoint, requant, 'conv2d');
    reads.push({ buffer: p.packed.panels, bytes: p.packed.panels.bytes, what: 'packed panels' });
  }
  const scratchSpan: Span = { buffer: scratch!, bytes: needed, what: 'scratch' };
  requireDisjoint({ buffer: output, bytes: outBytes, what: 'output' }, [...reads, scratchSpan]);
  requireDisjoint(scratchSpan, reads);

  const n = p.outChannels;
  if (p.packed) {
    const kernel = device.kernel('conv2d_qs8_prepacked');
    const biasOffset = separateBiasOffset(p.packed, bias, 'conv2d');
    return (start, end) => {
      if (start !== 0 || end !== n) throw new ConfigError('conv2d: pre-packed panels run the whole layer; a call on a block of output channels must pack (drop packed)');
      kernel(
        input.offset, p.packed!.panels.offset, output.offset, scratchOffset,
        p.batch, p.inHeight, p.inWidth, p.inChannels, n, p.kernelHeight, p.kernelWidth,
        p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth, p.inputZeroPoint, ...q.slice(2),
        biasOffset,
      );
    };
  }
  // A block of channels: every pointer moves to the block's first channel, the output keeps its pixel
  // length, and packing holds at most the whole layer's chunk (the scratch it was sized for).
  const kernel = device.kernel('conv2d_qs8');
  const columns = panelColumnsOf(p, 'conv2d');
  const chunkPanels = packedChunkPanels(g.k, n, packedBudgetOf(p, 'conv2d'), columns);
  const esize = p.weightBits / 8;
  const perChannel = requant.perChannel;
  const [perturbOn, zKey, zStart, ...zRest] = perturb;
  return (c0, c1) => {
    requireInt(c0, 'conv2d: channels start', 0, n - 1);
    requireInt(c1, 'conv2d: channels end', c0 + 1, n);
    const perUnit = perChannel ? c0 * 4 : 0;
    kernel(
      input.offset, weights.offset + c0 * g.k * esize, bias === null ? 0 : bias.offset + c0 * 4, output.offset + c0, scratchOffset,
      p.batch, p.inHeight, p.inWidth, p.inChannels, c1 - c0, p.kernelHeight, p.kernelWidth,
      p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
      p.weightBits, p.inputZeroPoint, chunkPanels,
      q[0]! + perUnit, q[1]! + perUnit, ...q.slice(2),
      perturbOn!, zKey!, perturbOn ? (zStart! + c0 * g.k) | 0 : 0, ...zRest,
      columns, n,
    );
  };
}
