// Host side of int8 pooling (TFLite Micro reference_integer_ops semantics; input and output
// share quantization): MaxPool2D, AveragePool2D and GlobalAveragePool over NHWC maps.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { requireActRange, requireInt } from './validate.js';
import { MAX_DIM, requireDisjoint } from './gemm.js';
import { requireWindow } from './depthwise.js';
import { paddedAxis, type Padding } from './geometry.js';

export interface Pool2DParams {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: Padding;
  /** Output clamp (a fused activation), default [-128, 127]. */
  actMin?: number;
  actMax?: number;
}

export interface GlobalPoolParams {
  batch: number;
  height: number;
  width: number;
  channels: number;
  actMin?: number;
  actMax?: number;
}

interface PoolGeometry {
  outHeight: number;
  outWidth: number;
  padTop: number;
  padLeft: number;
  actMin: number;
  actMax: number;
}

function geometry(p: Pool2DParams, what: string): PoolGeometry {
  requireInt(p.batch, `${what}: batch`, 1, MAX_DIM);
  requireInt(p.channels, `${what}: channels`, 1, MAX_DIM);
  requireWindow(what, p.inHeight, p.inWidth, p.filterHeight, p.filterWidth, p.strideHeight, p.strideWidth, p.padding);
  const actMin = p.actMin ?? -128;
  const actMax = p.actMax ?? 127;
  requireActRange(actMin, actMax);
  // TFLite's padding never leaves a window without a valid tap, so n ≥ 1 in the average.
  const h = paddedAxis(p.inHeight, p.filterHeight, p.strideHeight, p.padding, 0);
  const w = paddedAxis(p.inWidth, p.filterWidth, p.strideWidth, p.padding, 1);
  return { outHeight: h.out, outWidth: w.out, padTop: h.padBefore, padLeft: w.padBefore, actMin, actMax };
}

export function pool2dOutputShape(p: Pool2DParams): { height: number; width: number } {
  const g = geometry(p, 'pool2d');
  return { height: g.outHeight, width: g.outWidth };
}

function pool2d(kernel: string, what: string, arena: Arena, input: DeviceBuffer, output: DeviceBuffer, p: Pool2DParams): void {
  const g = geometry(p, what);
  const inBytes = p.batch * p.inHeight * p.inWidth * p.channels;
  const outBytes = p.batch * g.outHeight * g.outWidth * p.channels;
  checkBuffer(arena.device, input, inBytes, `${what} input`);
  checkBuffer(arena.device, output, outBytes, `${what} output`);
  requireDisjoint({ buffer: output, bytes: outBytes, what: 'output' }, [{ buffer: input, bytes: inBytes, what: 'input' }]);
  arena.device.kernel(kernel)(
    input.offset, output.offset, p.batch, p.inHeight, p.inWidth, p.channels,
    p.filterHeight, p.filterWidth, p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
    g.actMin, g.actMax,
  );
}

/**
 * out = clamp(round(Σ valid taps / n)) per channel, n = number of valid (non-padded) taps,
 * rounding as TFLM: (sum > 0 ? sum + n/2 : sum − n/2) / n with C division.
 */
export function avgPool2d(arena: Arena, input: DeviceBuffer, output: DeviceBuffer, p: Pool2DParams): void {
  pool2d('avg_pool2d_s8', 'avgPool2d', arena, input, output, p);
}

/** out = clamp(max over valid taps) per channel; padded taps never win. */
export function maxPool2d(arena: Arena, input: DeviceBuffer, output: DeviceBuffer, p: Pool2DParams): void {
  pool2d('max_pool2d_s8', 'maxPool2d', arena, input, output, p);
}

/**
 * [batch][height][width][channels] -> [batch][channels]: the rounded mean of each channel over
 * the map, with AvgPool's rounding (what TFLM-converted Mean/AvgPool over the full map computes
 * when input and output share quantization).
 */
export function globalAvgPool(arena: Arena, input: DeviceBuffer, output: DeviceBuffer, p: GlobalPoolParams): void {
  const what = 'globalAvgPool';
  requireInt(p.batch, `${what}: batch`, 1, MAX_DIM);
  requireInt(p.height, `${what}: height`, 1, MAX_DIM);
  requireInt(p.width, `${what}: width`, 1, MAX_DIM);
  requireInt(p.channels, `${what}: channels`, 1, MAX_DIM);
  // Sums of up to 2^24 int8 values stay inside int32 and inside f64's exact integers.
  requireInt(p.height * p.width, `${what}: height·width`, 1, MAX_DIM);
  const actMin = p.actMin ?? -128;
  const actMax = p.actMax ?? 127;
  requireActRange(actMin, actMax);
  const inBytes = p.batch * p.height * p.width * p.channels;
  const outBytes = p.batch * p.channels;
  checkBuffer(arena.device, input, inBytes, `${what} input`);
  checkBuffer(arena.device, output, outBytes, `${what} output`);
  requireDisjoint({ buffer: output, bytes: outBytes, what: 'output' }, [{ buffer: input, bytes: inBytes, what: 'input' }]);
  arena.device.kernel('global_avg_pool_s8')(input.offset, output.offset, p.batch, p.height, p.width, p.channels, actMin, actMax);
}
