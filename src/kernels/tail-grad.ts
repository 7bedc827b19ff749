// Host side of the tail gradient (assembly/tail_grad.ts): integer backprop from the head's δ into
// the layer below it, through the global average pool and the ReLU gate, and the SGD step on it.
import { makeStepFactor, type StepFactor } from './step-factor.js';
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError } from '../errors.js';
import { MAX_CLASSES, MAX_ROWS } from './loss.js';
import { requireInt } from './validate.js';

/** The tail layer seen as a convolution (a dense layer is a 1×1 convolution on a 1×1 map). */
export interface TailGeometry {
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** Positions the head's gradient reaches: above 2^16 the per-row bound of the int64 sums is no longer comfortable. */
export const MAX_TAIL_POSITIONS = 1 << 16;

export const tailFilterSize = (g: TailGeometry): number => g.kernelHeight * g.kernelWidth * g.inChannels;

/** Device bytes: the geometry (12 int32), g (int32 per channel), one filter's patch sums (int32), the int64 sums. */
export function tailGradBytes(g: TailGeometry): { geometry: number; g: number; patch: number; gradW: number; gradB: number } {
  return { geometry: 48, g: g.outChannels * 4, patch: tailFilterSize(g) * 4, gradW: g.outChannels * tailFilterSize(g) * 8, gradB: g.outChannels * 8 };
}

export interface TailGradBuffers {
  geometry: DeviceBuffer;
  g: DeviceBuffer;
  patch: DeviceBuffer;
  gradW: DeviceBuffer;
  gradB: DeviceBuffer;
}

export function validateTailGeometry(g: TailGeometry): void {
  for (const [k, v] of Object.entries(g)) requireInt(v, `tail gradient: ${k}`, k.startsWith('pad') ? 0 : 1, 1 << 16);
  if (g.outHeight * g.outWidth > MAX_TAIL_POSITIONS) throw new ConfigError(`tail gradient: ${g.outHeight}×${g.outWidth} positions feed the pool; at most ${MAX_TAIL_POSITIONS} are supported`);
  if (g.padTop >= g.kernelHeight || g.padLeft >= g.kernelWidth) throw new ConfigError(`tail gradient: padding (${g.padTop}, ${g.padLeft}) must be smaller than the kernel`);
}

const geometryWords = (g: TailGeometry): number[] => [
  g.inHeight, g.inWidth, g.inChannels, g.outHeight, g.outWidth, g.outChannels, g.kernelHeight, g.kernelWidth, g.strideHeight, g.strideWidth, g.padTop, g.padLeft,
];

/** Write the geometry into its device buffer (once, when the trainer is built). */
export function writeTailGeometry(arena: Arena, at: DeviceBuffer, g: TailGeometry): void {
  validateTailGeometry(g);
  checkBuffer(arena.device, at, 48, 'tail geometry');
  new Int32Array(arena.device.memory.buffer, at.offset, 12).set(geometryWords(g));
}

export interface TailGradInputs {
  /** δ of the rows (Q.15, int32 [rows][classes]), as head_grad_accumulate left it. */
  delta: DeviceBuffer;
  classes: number;
  headWeights: DeviceBuffer;
  headBits: 8 | 16;
  /** The tail layer's int8 input and its zero point. */
  input: DeviceBuffer;
  inputZero: number;
  /** The int8 tensor the pool reads; positions pass where lo < v < hi. */
  gate: DeviceBuffer;
  gateLo: number;
  gateHi: number;
}

/** Add the tail layer's gradient of `rows` samples to the int64 sums. */
export function accumulateTailGradient(arena: Arena, rows: number, geom: TailGeometry, i: TailGradInputs, out: TailGradBuffers): void {
  requireInt(rows, 'tail gradient: rows', 1, MAX_ROWS);
  requireInt(i.classes, 'tail gradient: classes', 1, MAX_CLASSES);
  requireInt(i.inputZero, 'tail gradient: input zero point', -128, 127);
  requireInt(i.gateLo, 'tail gradient: gate low', -129, 127);
  requireInt(i.gateHi, 'tail gradient: gate high', -128, 128);
  if (i.headBits !== 8 && i.headBits !== 16) throw new ConfigError(`tail gradient: head weights must be 8 or 16 bits, got ${i.headBits}`);
  validateTailGeometry(geom);
  const d = arena.device;
  const need = tailGradBytes(geom);
  checkBuffer(d, i.delta, rows * i.classes * 4, 'tail gradient δ');
  checkBuffer(d, i.headWeights, i.classes * geom.outChannels * (i.headBits / 8), 'tail gradient head weights');
  checkBuffer(d, i.input, rows * geom.inHeight * geom.inWidth * geom.inChannels, 'tail gradient input');
  checkBuffer(d, i.gate, rows * geom.outHeight * geom.outWidth * geom.outChannels, 'tail gradient gate');
  checkBuffer(d, out.geometry, need.geometry, 'tail geometry');
  checkBuffer(d, out.g, need.g, 'tail feature gradient');
  checkBuffer(d, out.patch, need.patch, 'tail patch sums');
  checkBuffer(d, out.gradW, need.gradW, 'tail weight gradient');
  checkBuffer(d, out.gradB, need.gradB, 'tail bias gradient');
  // The kernel reads its loop bounds from the geometry buffer, not from `geom`: the sizes checked above
  // hold only if the buffer holds this geometry.
  const written = new Int32Array(d.memory.buffer, out.geometry.offset, 12);
  if (geometryWords(geom).some((v, k) => written[k] !== v)) {
    throw new ConfigError(`tail gradient: the geometry buffer '${out.geometry.name}' holds [${Array.from(written).join(', ')}], not this geometry [${geometryWords(geom).join(', ')}]: write it with writeTailGeometry first`);
  }
  d.kernel('tail_grad_accumulate')(
    i.delta.offset, rows, i.classes, i.headWeights.offset, i.headBits, i.input.offset, i.inputZero, i.gate.offset, i.gateLo, i.gateHi,
    out.geometry.offset, out.g.offset, out.patch.offset, out.gradW.offset, out.gradB.offset,
  );
}

/** A real step factor c as round(g·mult / 2^totalShift) (15-bit multiplier). */
export type TailStep = StepFactor;

export const makeTailStep = (c: number, what: string): TailStep => makeStepFactor(c, 15, what);

/** params[0..count) ← clamp(params − round(grad·c)), then grad ← 0 (grad: int64). bits 8/16: weights; 32: bias. */
export function applyTailStep(arena: Arena, params: DeviceBuffer, paramOffset: number, bits: 8 | 16 | 32, count: number, grad: DeviceBuffer, gradOffset: number, step: TailStep): void {
  if (bits !== 8 && bits !== 16 && bits !== 32) throw new ConfigError(`tail step: bits must be 8, 16 or 32, got ${bits}`);
  requireInt(count, 'tail step: count', 1, 1 << 26);
  requireInt(step.totalShift, 'tail step: shift', 1, 62);
  requireInt(step.multiplier, 'tail step: multiplier', 0, 2 ** 15 - 1);
  requireInt(paramOffset, 'tail step: parameter offset', 0, params.bytes);
  requireInt(gradOffset, 'tail step: gradient offset', 0, grad.bytes);
  const p = { ...params, offset: params.offset + paramOffset, bytes: params.bytes - paramOffset };
  const g = { ...grad, offset: grad.offset + gradOffset, bytes: grad.bytes - gradOffset };
  checkBuffer(arena.device, p, count * (bits / 8), 'tail parameters');
  checkBuffer(arena.device, g, count * 8, 'tail gradient');
  arena.device.kernel('tail_sgd_update')(p.offset, bits, count, g.offset, step.multiplier, step.totalShift);
}
