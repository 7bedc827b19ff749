// Host side of the f32 backprop reference path: typed wrappers that validate every argument
// (shapes, buffer bounds and overlaps, hyperparameters, labels) and then call the device. A bad
// argument becomes a ShapeError / ConfigError / DataError here, never a trap or a stray write.
//
// Layouts: activations NHWC (or [batch][features]), dense weights [out][in], conv weights OHWI,
// depthwise weights [kH][kW][C·depthMultiplier], all f32. Backward kernels overwrite the input
// gradient and accumulate (+=) weight and bias gradients, so micro-batches can be summed; any
// gradient output may be null to skip it. Summation orders: docs/KERNELS.md.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, DataError, ShapeError } from '../errors.js';
import { requireInt } from './validate.js';
import { paddedAxis, requirePadding, type Padding } from './geometry.js';

export type PaddingF32 = Padding;
export type ReluKindF32 = 'relu' | 'relu6';

export interface DenseF32Params {
  batch: number;
  inFeatures: number;
  outFeatures: number;
}

export interface Conv2DF32Params {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: PaddingF32;
}

export interface DepthwiseConv2DF32Params {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  depthMultiplier: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: PaddingF32;
}

export interface Pool2DF32Params {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: PaddingF32;
}

export interface GlobalAvgPoolF32Params {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
}

export interface SoftmaxCrossEntropyF32Params {
  batch: number;
  classes: number;
  reduction: 'mean' | 'sum';
}

export interface SgdF32Params {
  count: number;
  lr: number;
  /** 0 (default) = plain SGD; otherwise a velocity buffer is required. */
  momentum?: number;
  /** L2 penalty added to the gradient (PyTorch SGD weight_decay). */
  weightDecay?: number;
}

export interface AdamF32Params {
  count: number;
  lr: number;
  /** 1-based step number, for the bias corrections 1 - β^step. */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** true: AdamW (w ← w·(1 - lr·wd)); false (default): L2 added to the gradient, like torch Adam. */
  decoupledWeightDecay?: boolean;
}

/** Output size and padding before, per spatial axis (TFLite rules). */
export interface Geometry2DF32 {
  outHeight: number;
  outWidth: number;
  padTop: number;
  padLeft: number;
}

/** Pixels of output per im2col panel when the caller does not choose (see conv2dF32ScratchBytes). */
export const CONV_F32_CHUNK_ROWS = 16;

const MAX_DIM = 1 << 20;
const MAX_SPATIAL = 1 << 16;
const MAX_KERNEL = 1 << 10;
/** Largest tensor (elements) a kernel accepts: byte offsets then stay below 2^30. */
const MAX_ELEMENTS = 1 << 28;

// ---------------------------------------------------------------------------------------------
// Validation helpers

function requireParams(p: unknown, fn: string): void {
  if (typeof p !== 'object' || p === null) throw new ConfigError(`${fn}: expected a parameter object, got ${String(p)}`);
}

function requireElements(n: number, what: string): number {
  if (n > MAX_ELEMENTS) {
    throw new ShapeError(`${what} has ${n} elements, more than the ${MAX_ELEMENTS} a kernel accepts; split the batch or shrink the layer`);
  }
  return n;
}

/** An f32 tensor of `elements` values inside the arena, 4-byte aligned. */
function f32Buffer(arena: Arena, buf: DeviceBuffer, elements: number, fn: string, role: string): Use {
  checkBuffer(arena.device, buf, elements * 4, `${fn} ${role}`);
  if (buf.offset % 4 !== 0) {
    throw new ShapeError(`${fn} ${role}: buffer '${buf.name}' starts at byte ${buf.offset}, which is not 4-byte aligned; allocate f32 tensors from the arena`);
  }
  return { role, buf, bytes: elements * 4 };
}

/** The bytes a call reads or writes in one buffer. */
interface Use {
  role: string;
  buf: DeviceBuffer;
  bytes: number;
}

const overlaps = (a: Use, b: Use): boolean =>
  a.bytes > 0 && b.bytes > 0 && a.buf.offset < b.buf.offset + b.bytes && b.buf.offset < a.buf.offset + a.bytes;

/**
 * Outputs must not overlap inputs or each other: the kernels read inputs after writing outputs.
 * `inPlace` lists output/input pairs that may be the very same tensor (same offset and size).
 */
function requireDisjoint(fn: string, outputs: Use[], inputs: Use[], inPlace: [Use, Use][] = []): void {
  const allowed = (o: Use, i: Use) =>
    inPlace.some(([a, b]) => ((a === o && b === i) || (a === i && b === o)) && o.buf.offset === i.buf.offset && o.bytes === i.bytes);
  const fail = (o: Use, i: Use) => {
    throw new ShapeError(
      `${fn}: ${o.role} '${o.buf.name}' [${o.buf.offset}, +${o.bytes}) overlaps ${i.role} '${i.buf.name}' [${i.buf.offset}, +${i.bytes}); give each output its own buffer`,
    );
  };
  for (let k = 0; k < outputs.length; k++) {
    const o = outputs[k]!;
    for (const i of inputs) if (overlaps(o, i) && !allowed(o, i)) fail(o, i);
    for (let l = k + 1; l < outputs.length; l++) if (overlaps(o, outputs[l]!) && !allowed(o, outputs[l]!)) fail(o, outputs[l]!);
  }
}

function requirePaddingF32(padding: unknown, fn: string, inHw: [number, number], kernel: [number, number], stride: [number, number]): PaddingF32 {
  if (padding !== 'same' && padding !== 'valid') return requirePadding(fn, padding, inHw, kernel, stride);
  return padding;
}

/** A hyperparameter the device receives as f32: finite there too, and within [min, max]. */
function requireFiniteNumber(value: unknown, what: string, min: number, max: number, maxExclusive = false): number {
  if (typeof value !== 'number' || !Number.isFinite(Math.fround(value)) || value < min || (maxExclusive ? value >= max : value > max)) {
    throw new ConfigError(`${what} must be a finite number in [${min}, ${max}${maxExclusive ? ')' : ']'}, got ${String(value)}`);
  }
  return value;
}

/** TFLite padding rules for one axis. */
function axisGeometry(inSize: number, k: number, stride: number, padding: PaddingF32, fn: string, axis: 'height' | 'width'): [number, number] {
  if (padding === 'valid' && inSize < k) {
    throw new ShapeError(`${fn}: 'valid' padding needs ${axis} input >= kernel, got input ${inSize} < kernel ${k}; use padding 'same' or a smaller kernel`);
  }
  const { out, padBefore } = paddedAxis(inSize, k, stride, padding, axis === 'height' ? 0 : 1);
  return [out, padBefore];
}

function spatial(
  fn: string, p: { batch: number; inHeight: number; inWidth: number },
  kH: number, kW: number, sH: number, sW: number, padding: unknown, kNames: [string, string],
): Geometry2DF32 {
  requireInt(p.batch, `${fn}: batch`, 1, MAX_SPATIAL);
  requireInt(p.inHeight, `${fn}: inHeight`, 1, MAX_SPATIAL);
  requireInt(p.inWidth, `${fn}: inWidth`, 1, MAX_SPATIAL);
  requireInt(kH, `${fn}: ${kNames[0]}`, 1, MAX_KERNEL);
  requireInt(kW, `${fn}: ${kNames[1]}`, 1, MAX_KERNEL);
  requireInt(sH, `${fn}: strideHeight`, 1, MAX_KERNEL);
  requireInt(sW, `${fn}: strideWidth`, 1, MAX_KERNEL);
  const pad = requirePaddingF32(padding, fn, [p.inHeight, p.inWidth], [kH, kW], [sH, sW]);
  const [outHeight, padTop] = axisGeometry(p.inHeight, kH, sH, pad, fn, 'height');
  const [outWidth, padLeft] = axisGeometry(p.inWidth, kW, sW, pad, fn, 'width');
  return { outHeight, outWidth, padTop, padLeft };
}

// ---------------------------------------------------------------------------------------------
// Dense

function denseShape(p: DenseF32Params, fn: string): void {
  requireParams(p, fn);
  requireInt(p.batch, `${fn}: batch`, 1, MAX_DIM);
  requireInt(p.inFeatures, `${fn}: inFeatures`, 1, MAX_DIM);
  requireInt(p.outFeatures, `${fn}: outFeatures`, 1, MAX_DIM);
  requireElements(p.batch * p.inFeatures, `${fn}: x`);
  requireElements(p.batch * p.outFeatures, `${fn}: y`);
  requireElements(p.outFeatures * p.inFeatures, `${fn}: weights`);
}

/** y[batch][out] = x[batch][in] · w[out][in]ᵀ + b (b null: no bias). */
export function denseF32(arena: Arena, x: DeviceBuffer, w: DeviceBuffer, b: DeviceBuffer | null, y: DeviceBuffer, p: DenseF32Params): void {
  const fn = 'denseF32';
  denseShape(p, fn);
  const { batch, inFeatures: K, outFeatures: N } = p;
  const inputs = [f32Buffer(arena, x, batch * K, fn, 'x'), f32Buffer(arena, w, N * K, fn, 'weights')];
  if (b) inputs.push(f32Buffer(arena, b, N, fn, 'bias'));
  requireDisjoint(fn, [f32Buffer(arena, y, batch * N, fn, 'y')], inputs);
  arena.device.kernel('dense_f32')(x.offset, w.offset, b ? b.offset : 0, y.offset, batch, K, N);
}

/** dx = dy·w (overwritten); dw += dyᵀ·x; db += Σ_batch dy. Null outputs are skipped. */
export function denseBackwardF32(
  arena: Arena, x: DeviceBuffer, w: DeviceBuffer, dy: DeviceBuffer,
  dx: DeviceBuffer | null, dw: DeviceBuffer | null, db: DeviceBuffer | null, p: DenseF32Params,
): void {
  const fn = 'denseBackwardF32';
  denseShape(p, fn);
  const { batch, inFeatures: K, outFeatures: N } = p;
  if (!dx && !dw && !db) throw new ConfigError(`${fn}: dx, dw and db are all null; pass at least one gradient buffer`);
  const inputs = [
    f32Buffer(arena, x, batch * K, fn, 'x'),
    f32Buffer(arena, w, N * K, fn, 'weights'),
    f32Buffer(arena, dy, batch * N, fn, 'dy'),
  ];
  const outputs: Use[] = [];
  if (dx) outputs.push(f32Buffer(arena, dx, batch * K, fn, 'dx'));
  if (dw) outputs.push(f32Buffer(arena, dw, N * K, fn, 'dw'));
  if (db) outputs.push(f32Buffer(arena, db, N, fn, 'db'));
  requireDisjoint(fn, outputs, inputs);
  arena.device.kernel('dense_backward_f32')(x.offset, w.offset, dy.offset, dx?.offset ?? 0, dw?.offset ?? 0, db?.offset ?? 0, batch, K, N);
}

// ---------------------------------------------------------------------------------------------
// Conv2D

interface ConvPlan extends Geometry2DF32 {
  patch: number;
  pixels: number;
  pointwise: boolean;
}

function convPlan(p: Conv2DF32Params, fn: string): ConvPlan {
  requireParams(p, fn);
  const g = spatial(fn, p, p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, p.padding, ['kernelHeight', 'kernelWidth']);
  requireInt(p.inChannels, `${fn}: inChannels`, 1, MAX_DIM);
  requireInt(p.outChannels, `${fn}: outChannels`, 1, MAX_DIM);
  requireElements(p.batch * p.inHeight * p.inWidth * p.inChannels, `${fn}: input`);
  const pixels = requireElements(p.batch * g.outHeight * g.outWidth, `${fn}: output pixels`);
  requireElements(pixels * p.outChannels, `${fn}: output`);
  const patch = requireElements(p.kernelHeight * p.kernelWidth * p.inChannels, `${fn}: kernel patch`);
  requireElements(p.outChannels * patch, `${fn}: weights`);
  const pointwise = p.kernelHeight === 1 && p.kernelWidth === 1 && g.padTop === 0 && g.padLeft === 0;
  return { ...g, patch, pixels, pointwise };
}

/** Output size and padding of a Conv2D (TFLite 'same'/'valid' rules). */
export function conv2dF32Geometry(p: Conv2DF32Params): Geometry2DF32 {
  const { outHeight, outWidth, padTop, padLeft } = convPlan(p, 'conv2dF32Geometry');
  return { outHeight, outWidth, padTop, padLeft };
}

export interface Conv2DF32ScratchOptions {
  /** 'forward' (default) or 'backward'. */
  pass?: 'forward' | 'backward';
  /** Backward only: whether dInput is computed (false for a network's first layer). Default true. */
  inputGrad?: boolean;
  /** Backward only: whether dWeights is computed. Default true. */
  weightGrad?: boolean;
  /** Output pixels per panel; more rows cost memory and save nothing measurable. */
  chunkRows?: number;
}

/**
 * Scratch bytes a Conv2D call needs: im2col panels of chunkRows output pixels × kH·kW·C f32
 * (one forward; backward one for dWeights and one for dInput). 0 for 1×1 without padding.
 * Any larger scratch also works (bigger panels, same bits).
 */
export function conv2dF32ScratchBytes(p: Conv2DF32Params, options: Conv2DF32ScratchOptions = {}): number {
  const fn = 'conv2dF32ScratchBytes';
  const plan = convPlan(p, fn);
  const pass = options.pass ?? 'forward';
  if (pass !== 'forward' && pass !== 'backward') throw new ConfigError(`${fn}: pass must be 'forward' or 'backward', got ${String(pass)}`);
  const rows = options.chunkRows ?? CONV_F32_CHUNK_ROWS;
  requireInt(rows, `${fn}: chunkRows`, 1, MAX_ELEMENTS);
  const panels = pass === 'forward' ? 1 : (options.inputGrad ?? true ? 1 : 0) + (options.weightGrad ?? true ? 1 : 0);
  if (plan.pointwise || panels === 0) return 0;
  return Math.min(rows, plan.pixels) * plan.patch * 4 * panels;
}

/** Panel rows the given scratch allows; throws if it cannot hold one pixel's panels. */
function chunkRowsFor(arena: Arena, plan: ConvPlan, panels: number, scratch: DeviceBuffer | null, fn: string): { rows: number; use: Use | null } {
  if (plan.pointwise || panels === 0) return { rows: 1, use: null };
  const rowBytes = plan.patch * 4 * panels;
  if (!scratch) {
    throw new ShapeError(`${fn}: this convolution needs scratch (at least ${rowBytes} B, ${rowBytes * Math.min(CONV_F32_CHUNK_ROWS, plan.pixels)} B recommended), got null; size it with conv2dF32ScratchBytes(params)`);
  }
  checkBuffer(arena.device, scratch, rowBytes, `${fn} scratch`);
  if (scratch.offset % 4 !== 0) throw new ShapeError(`${fn} scratch: buffer '${scratch.name}' is not 4-byte aligned; allocate it from the arena`);
  const rows = Math.min(plan.pixels, Math.floor(scratch.bytes / rowBytes));
  return { rows, use: { role: 'scratch', buf: scratch, bytes: rows * rowBytes } };
}

/** y = conv2d(x, w) + b (NHWC, OHWI). scratch: conv2dF32ScratchBytes(p) bytes (null if that is 0). */
export function conv2dF32(
  arena: Arena, x: DeviceBuffer, w: DeviceBuffer, b: DeviceBuffer | null, y: DeviceBuffer, scratch: DeviceBuffer | null, p: Conv2DF32Params,
): void {
  const fn = 'conv2dF32';
  const g = convPlan(p, fn);
  const inputs = [
    f32Buffer(arena, x, p.batch * p.inHeight * p.inWidth * p.inChannels, fn, 'x'),
    f32Buffer(arena, w, p.outChannels * g.patch, fn, 'weights'),
  ];
  if (b) inputs.push(f32Buffer(arena, b, p.outChannels, fn, 'bias'));
  const { rows, use } = chunkRowsFor(arena, g, 1, scratch, fn);
  const outputs = [f32Buffer(arena, y, g.pixels * p.outChannels, fn, 'y')];
  if (use) outputs.push(use);
  requireDisjoint(fn, outputs, inputs);
  arena.device.kernel('conv2d_f32')(
    x.offset, w.offset, b ? b.offset : 0, y.offset, use ? use.buf.offset : 0, rows,
    p.batch, p.inHeight, p.inWidth, p.inChannels, p.outChannels, p.kernelHeight, p.kernelWidth,
    p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
  );
}

/**
 * Conv2D backward: dx = dInput (overwritten), dw += dWeights, db += dBias (null: skipped).
 * scratch: conv2dF32ScratchBytes(p, {pass: 'backward', inputGrad: dx !== null, weightGrad: dw !== null}).
 */
export function conv2dBackwardF32(
  arena: Arena, x: DeviceBuffer, w: DeviceBuffer, dy: DeviceBuffer,
  dx: DeviceBuffer | null, dw: DeviceBuffer | null, db: DeviceBuffer | null, scratch: DeviceBuffer | null, p: Conv2DF32Params,
): void {
  const fn = 'conv2dBackwardF32';
  const g = convPlan(p, fn);
  if (!dx && !dw && !db) throw new ConfigError(`${fn}: dx, dw and db are all null; pass at least one gradient buffer`);
  const inputCount = p.batch * p.inHeight * p.inWidth * p.inChannels;
  const inputs = [
    f32Buffer(arena, x, inputCount, fn, 'x'),
    f32Buffer(arena, w, p.outChannels * g.patch, fn, 'weights'),
    f32Buffer(arena, dy, g.pixels * p.outChannels, fn, 'dy'),
  ];
  const outputs: Use[] = [];
  if (dx) outputs.push(f32Buffer(arena, dx, inputCount, fn, 'dx'));
  if (dw) outputs.push(f32Buffer(arena, dw, p.outChannels * g.patch, fn, 'dw'));
  if (db) outputs.push(f32Buffer(arena, db, p.outChannels, fn, 'db'));
  const { rows, use } = chunkRowsFor(arena, g, (dx ? 1 : 0) + (dw ? 1 : 0), scratch, fn);
  if (use) outputs.push(use);
  requireDisjoint(fn, outputs, inputs);
  arena.device.kernel('conv2d_backward_f32')(
    x.offset, w.offset, dy.offset, dx?.offset ?? 0, dw?.offset ?? 0, db?.offset ?? 0, use ? use.buf.offset : 0, rows,
    p.batch, p.inHeight, p.inWidth, p.inChannels, p.outChannels, p.kernelHeight, p.kernelWidth,
    p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
  );
}

// ---------------------------------------------------------------------------------------------
// DepthwiseConv2D

function depthwisePlan(p: DepthwiseConv2DF32Params, fn: string): Geometry2DF32 & { outChannels: number; pixels: number } {
  requireParams(p, fn);
  const g = spatial(fn, p, p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, p.padding, ['kernelHeight', 'kernelWidth']);
  requireInt(p.inChannels, `${fn}: inChannels`, 1, MAX_DIM);
  requireInt(p.depthMultiplier, `${fn}: depthMultiplier`, 1, MAX_DIM);
  const outChannels = requireElements(p.inChannels * p.depthMultiplier, `${fn}: output channels`);
  requireElements(p.batch * p.inHeight * p.inWidth * p.inChannels, `${fn}: input`);
  const pixels = requireElements(p.batch * g.outHeight * g.outWidth, `${fn}: output pixels`);
  requireElements(pixels * outChannels, `${fn}: output`);
  requireElements(p.kernelHeight * p.kernelWidth * outChannels, `${fn}: weights`);
  return { ...g, outChannels, pixels };
}

/** Output size and padding of a DepthwiseConv2D. */
export function depthwiseConv2dF32Geometry(p: DepthwiseConv2DF32Params): Geometry2DF32 {
  const { outHeight, outWidth, padTop, padLeft } = depthwisePlan(p, 'depthwiseConv2dF32Geometry');
  return { outHeight, outWidth, padTop, padLeft };
}

function depthwiseArgs(p: DepthwiseConv2DF32Params, g: Geometry2DF32): number[] {
  return [
    p.batch, p.inHeight, p.inWidth, p.inChannels, p.depthMultiplier, p.kernelHeight, p.kernelWidth,
    p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
  ];
}

/** y = depthwise_conv2d(x, w) + b; output channel c·depthMultiplier + m reads input channel c. */
export function depthwiseConv2dF32(
  arena: Arena, x: DeviceBuffer, w: DeviceBuffer, b: DeviceBuffer | null, y: DeviceBuffer, p: DepthwiseConv2DF32Params,
): void {
  const fn = 'depthwiseConv2dF32';
  const g = depthwisePlan(p, fn);
  const inputs = [
    f32Buffer(arena, x, p.batch * p.inHeight * p.inWidth * p.inChannels, fn, 'x'),
    f32Buffer(arena, w, p.kernelHeight * p.kernelWidth * g.outChannels, fn, 'weights'),
  ];
  if (b) inputs.push(f32Buffer(arena, b, g.outChannels, fn, 'bias'));
  requireDisjoint(fn, [f32Buffer(arena, y, g.pixels * g.outChannels, fn, 'y')], inputs);
  arena.device.kernel('depthwise_conv2d_f32')(x.offset, w.offset, b ? b.offset : 0, y.offset, ...depthwiseArgs(p, g));
}

/** Depthwise backward: dx overwritten, dw and db accumulated (null: skipped). */
export function depthwiseConv2dBackwardF32(
  arena: Arena, x: DeviceBuffer, w: DeviceBuffer, dy: DeviceBuffer,
  dx: DeviceBuffer | null, dw: DeviceBuffer | null, db: DeviceBuffer | null, p: DepthwiseConv2DF32Params,
): void {
  const fn = 'depthwiseConv2dBackwardF32';
  const g = depthwisePlan(p, fn);
  if (!dx && !dw && !db) throw new ConfigError(`${fn}: dx, dw and db are all null; pass at least one gradient buffer`);
  const inputCount = p.batch * p.inHeight * p.inWidth * p.inChannels;
  const weightCount = p.kernelHeight * p.kernelWidth * g.outChannels;
  const inputs = [
    f32Buffer(arena, x, inputCount, fn, 'x'),
    f32Buffer(arena, w, weightCount, fn, 'weights'),
    f32Buffer(arena, dy, g.pixels * g.outChannels, fn, 'dy'),
  ];
  const outputs: Use[] = [];
  if (dx) outputs.push(f32Buffer(arena, dx, inputCount, fn, 'dx'));
  if (dw) outputs.push(f32Buffer(arena, dw, weightCount, fn, 'dw'));
  if (db) outputs.push(f32Buffer(arena, db, g.outChannels, fn, 'db'));
  requireDisjoint(fn, outputs, inputs);
  arena.device.kernel('depthwise_conv2d_backward_f32')(
    x.offset, w.offset, dy.offset, dx?.offset ?? 0, dw?.offset ?? 0, db?.offset ?? 0, ...depthwiseArgs(p, g),
  );
}

// ---------------------------------------------------------------------------------------------
// Pooling

function poolPlan(p: Pool2DF32Params, fn: string): Geometry2DF32 & { inCount: number; outCount: number } {
  requireParams(p, fn);
  const g = spatial(fn, p, p.filterHeight, p.filterWidth, p.strideHeight, p.strideWidth, p.padding, ['filterHeight', 'filterWidth']);
  requireInt(p.channels, `${fn}: channels`, 1, MAX_DIM);
  const inCount = requireElements(p.batch * p.inHeight * p.inWidth * p.channels, `${fn}: input`);
  const outCount = requireElements(p.batch * g.outHeight * g.outWidth * p.channels, `${fn}: output`);
  return { ...g, inCount, outCount };
}

/** Output size and padding of a pooling layer. */
export function pool2dF32Geometry(p: Pool2DF32Params): Geometry2DF32 {
  const { outHeight, outWidth, padTop, padLeft } = poolPlan(p, 'pool2dF32Geometry');
  return { outHeight, outWidth, padTop, padLeft };
}

function poolArgs(p: Pool2DF32Params, g: Geometry2DF32): number[] {
  return [
    p.batch, p.inHeight, p.inWidth, p.channels, p.filterHeight, p.filterWidth,
    p.strideHeight, p.strideWidth, g.padTop, g.padLeft, g.outHeight, g.outWidth,
  ];
}

function poolForward(kernel: string, fn: string, arena: Arena, x: DeviceBuffer, y: DeviceBuffer, p: Pool2DF32Params): void {
  const g = poolPlan(p, fn);
  const xs = f32Buffer(arena, x, g.inCount, fn, 'x');
  requireDisjoint(fn, [f32Buffer(arena, y, g.outCount, fn, 'y')], [xs]);
  arena.device.kernel(kernel)(x.offset, y.offset, ...poolArgs(p, g));
}

/** Average pool (padding excluded from the average, as TFLite). */
export function avgPool2dF32(arena: Arena, x: DeviceBuffer, y: DeviceBuffer, p: Pool2DF32Params): void {
  poolForward('avg_pool2d_f32', 'avgPool2dF32', arena, x, y, p);
}

/** Max pool (padding ignored). */
export function maxPool2dF32(arena: Arena, x: DeviceBuffer, y: DeviceBuffer, p: Pool2DF32Params): void {
  poolForward('max_pool2d_f32', 'maxPool2dF32', arena, x, y, p);
}

/** dx (overwritten) = each dy spread evenly over its window's valid taps. */
export function avgPool2dBackwardF32(arena: Arena, dy: DeviceBuffer, dx: DeviceBuffer, p: Pool2DF32Params): void {
  const fn = 'avgPool2dBackwardF32';
  const g = poolPlan(p, fn);
  const dys = f32Buffer(arena, dy, g.outCount, fn, 'dy');
  requireDisjoint(fn, [f32Buffer(arena, dx, g.inCount, fn, 'dx')], [dys]);
  arena.device.kernel('avg_pool2d_backward_f32')(dy.offset, dx.offset, ...poolArgs(p, g));
}

/** dx (overwritten) = each dy routed to its window's first arg-max in x (the forward input). */
export function maxPool2dBackwardF32(arena: Arena, x: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, p: Pool2DF32Params): void {
  const fn = 'maxPool2dBackwardF32';
  const g = poolPlan(p, fn);
  const inputs = [f32Buffer(arena, x, g.inCount, fn, 'x'), f32Buffer(arena, dy, g.outCount, fn, 'dy')];
  requireDisjoint(fn, [f32Buffer(arena, dx, g.inCount, fn, 'dx')], inputs);
  arena.device.kernel('max_pool2d_backward_f32')(x.offset, dy.offset, dx.offset, ...poolArgs(p, g));
}

function globalPlan(p: GlobalAvgPoolF32Params, fn: string): { pixels: number; inCount: number } {
  requireParams(p, fn);
  requireInt(p.batch, `${fn}: batch`, 1, MAX_SPATIAL);
  requireInt(p.inHeight, `${fn}: inHeight`, 1, MAX_SPATIAL);
  requireInt(p.inWidth, `${fn}: inWidth`, 1, MAX_SPATIAL);
  requireInt(p.channels, `${fn}: channels`, 1, MAX_DIM);
  // f32(pixels) must be exact for the division by the pixel count.
  const pixels = p.inHeight * p.inWidth;
  if (pixels > 1 << 24) throw new ShapeError(`${fn}: ${pixels} pixels per image exceed 2^24; pool in stages`);
  return { pixels, inCount: requireElements(p.batch * pixels * p.channels, `${fn}: input`) };
}

/** y[batch][channels] = mean over the image of x (NHWC). */
export function globalAvgPoolF32(arena: Arena, x: DeviceBuffer, y: DeviceBuffer, p: GlobalAvgPoolF32Params): void {
  const fn = 'globalAvgPoolF32';
  const g = globalPlan(p, fn);
  const xs = f32Buffer(arena, x, g.inCount, fn, 'x');
  requireDisjoint(fn, [f32Buffer(arena, y, p.batch * p.channels, fn, 'y')], [xs]);
  arena.device.kernel('global_avg_pool_f32')(x.offset, y.offset, p.batch, g.pixels, p.channels);
}

/** dx[n][i][c] = dy[n][c] / pixels (overwritten). */
export function globalAvgPoolBackwardF32(arena: Arena, dy: DeviceBuffer, dx: DeviceBuffer, p: GlobalAvgPoolF32Params): void {
  const fn = 'globalAvgPoolBackwardF32';
  const g = globalPlan(p, fn);
  const dys = f32Buffer(arena, dy, p.batch * p.channels, fn, 'dy');
  requireDisjoint(fn, [f32Buffer(arena, dx, g.inCount, fn, 'dx')], [dys]);
  arena.device.kernel('global_avg_pool_backward_f32')(dy.offset, dx.offset, p.batch, g.pixels, p.channels);
}

// ---------------------------------------------------------------------------------------------
// Activations

function reluKind(kind: unknown, fn: string): number {
  if (kind !== 'relu' && kind !== 'relu6') throw new ConfigError(`${fn}: kind must be 'relu' or 'relu6', got ${JSON.stringify(kind)}`);
  return kind === 'relu6' ? 1 : 0;
}

/** In place: x = max(x, 0) (relu6: min(max(x, 0), 6)). NaN stays NaN. */
export function reluF32(arena: Arena, x: DeviceBuffer, count: number, kind: ReluKindF32 = 'relu'): void {
  const fn = 'reluF32';
  const six = reluKind(kind, fn);
  requireInt(count, `${fn}: count`, 1, MAX_ELEMENTS);
  f32Buffer(arena, x, count, fn, 'x');
  arena.device.kernel('relu_f32')(x.offset, count, six);
}

/**
 * dx = dy where the forward output y is > 0 (relu6: and < 6), else 0. dx may be dy or y itself
 * (in place), but not partly overlap them.
 */
export function reluBackwardF32(arena: Arena, y: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, count: number, kind: ReluKindF32 = 'relu'): void {
  const fn = 'reluBackwardF32';
  const six = reluKind(kind, fn);
  requireInt(count, `${fn}: count`, 1, MAX_ELEMENTS);
  const ys = f32Buffer(arena, y, count, fn, 'y');
  const dys = f32Buffer(arena, dy, count, fn, 'dy');
  const dxs = f32Buffer(arena, dx, count, fn, 'dx');
  requireDisjoint(fn, [dxs], [ys, dys], [[dxs, ys], [dxs, dys]]);
  arena.device.kernel('relu_backward_f32')(y.offset, dy.offset, dx.offset, count, six);
}

// ---------------------------------------------------------------------------------------------
// Loss

/**
 * Softmax cross-entropy of logits [batch][classes] against int32 labels; returns the batch
 * mean or sum (computed in f64 on the device). dLogits (if given) receives the gradient of that
 * returned loss. Labels are checked here; logits are not scanned (the trainer checks the loss).
 */
export function softmaxCrossEntropyF32(
  arena: Arena, logits: DeviceBuffer, labels: DeviceBuffer, dLogits: DeviceBuffer | null, p: SoftmaxCrossEntropyF32Params,
): number {
  const fn = 'softmaxCrossEntropyF32';
  requireParams(p, fn);
  requireInt(p.batch, `${fn}: batch`, 1, MAX_DIM);
  requireInt(p.classes, `${fn}: classes`, 1, MAX_DIM);
  if (p.reduction !== 'mean' && p.reduction !== 'sum') {
    throw new ConfigError(`${fn}: reduction must be 'mean' or 'sum', got ${JSON.stringify(p.reduction)}`);
  }
  const count = requireElements(p.batch * p.classes, `${fn}: logits`);
  const inputs = [f32Buffer(arena, logits, count, fn, 'logits'), f32Buffer(arena, labels, p.batch, fn, 'labels')];
  if (dLogits) requireDisjoint(fn, [f32Buffer(arena, dLogits, count, fn, 'dLogits')], inputs);
  const view = new Int32Array(arena.device.memory.buffer, labels.offset, p.batch);
  for (let i = 0; i < p.batch; i++) {
    const label = view[i]!;
    if (label < 0 || label >= p.classes) {
      throw new DataError(`${fn}: labels[${i}] = ${label} is not a class index in [0, ${p.classes}); check the dataset's labels or the classes count`);
    }
  }
  return arena.device.kernel('softmax_ce_f32')(logits.offset, labels.offset, dLogits?.offset ?? 0, p.batch, p.classes, p.reduction === 'mean' ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// Optimizers

/** One SGD step in place: w -= lr·(momentum buffer or gradient), PyTorch semantics. */
export function sgdStepF32(arena: Arena, w: DeviceBuffer, g: DeviceBuffer, velocity: DeviceBuffer | null, p: SgdF32Params): void {
  const fn = 'sgdStepF32';
  requireParams(p, fn);
  requireInt(p.count, `${fn}: count`, 1, MAX_ELEMENTS);
  const lr = requireFiniteNumber(p.lr, `${fn}: lr`, 0, Number.MAX_VALUE);
  const momentum = requireFiniteNumber(p.momentum ?? 0, `${fn}: momentum`, 0, 1, true);
  const wd = requireFiniteNumber(p.weightDecay ?? 0, `${fn}: weightDecay`, 0, Number.MAX_VALUE);
  if (momentum !== 0 && !velocity) {
    throw new ConfigError(`${fn}: momentum ${momentum} needs a velocity buffer of ${p.count} f32 (zero-filled before the first step), got null`);
  }
  const ws = f32Buffer(arena, w, p.count, fn, 'weights');
  const outputs = [ws];
  if (momentum !== 0 && velocity) outputs.push(f32Buffer(arena, velocity, p.count, fn, 'velocity'));
  requireDisjoint(fn, outputs, [f32Buffer(arena, g, p.count, fn, 'gradient')]);
  arena.device.kernel('sgd_f32')(w.offset, g.offset, momentum !== 0 && velocity ? velocity.offset : 0, p.count, lr, momentum, wd);
}

/** One Adam (or AdamW) step in place, PyTorch formulation; m and v start zero-filled. */
export function adamStepF32(arena: Arena, w: DeviceBuffer, g: DeviceBuffer, m: DeviceBuffer, v: DeviceBuffer, p: AdamF32Params): void {
  const fn = 'adamStepF32';
  requireParams(p, fn);
  requireInt(p.count, `${fn}: count`, 1, MAX_ELEMENTS);
  if (!Number.isSafeInteger(p.step) || p.step < 1) throw new ConfigError(`${fn}: step must be an integer >= 1 (the first step is 1), got ${String(p.step)}`);
  const lr = requireFiniteNumber(p.lr, `${fn}: lr`, 0, Number.MAX_VALUE);
  const beta1 = requireFiniteNumber(p.beta1 ?? 0.9, `${fn}: beta1`, 0, 1, true);
  const beta2 = requireFiniteNumber(p.beta2 ?? 0.999, `${fn}: beta2`, 0, 1, true);
  const eps = requireFiniteNumber(p.eps ?? 1e-8, `${fn}: eps`, Number.MIN_VALUE, Number.MAX_VALUE);
  const wd = requireFiniteNumber(p.weightDecay ?? 0, `${fn}: weightDecay`, 0, Number.MAX_VALUE);
  const decoupled = p.decoupledWeightDecay ?? false;
  if (typeof decoupled !== 'boolean') throw new ConfigError(`${fn}: decoupledWeightDecay must be a boolean, got ${String(decoupled)}`);
  // The bias corrections are per-step scalars: formed here in f64, rounded once to f32.
  const stepSize = Math.fround(lr / (1 - beta1 ** p.step));
  const sqrtBc2 = Math.fround(Math.sqrt(1 - beta2 ** p.step));
  const decay = decoupled ? Math.fround(1 - lr * wd) : 1;
  if (!Number.isFinite(stepSize) || sqrtBc2 <= 0 || Math.fround(eps) === 0 || !Number.isFinite(Math.fround(eps))) {
    throw new ConfigError(`${fn}: lr ${lr}, betas (${beta1}, ${beta2}), eps ${eps} at step ${p.step} give step size ${stepSize} and bias correction ${sqrtBc2}, which f32 cannot carry; use betas further from 1 or a smaller lr`);
  }
  const outputs = [
    f32Buffer(arena, w, p.count, fn, 'weights'),
    f32Buffer(arena, m, p.count, fn, 'm'),
    f32Buffer(arena, v, p.count, fn, 'v'),
  ];
  requireDisjoint(fn, outputs, [f32Buffer(arena, g, p.count, fn, 'gradient')]);
  arena.device.kernel('adam_f32')(
    w.offset, g.offset, m.offset, v.offset, p.count, stepSize, beta1, beta2, eps, sqrtBc2, decoupled ? 0 : wd, decay,
  );
}
