// Host side of the integer head gradient (assembly/head_grad.ts), the exact-backprop half of the
// hybrid method: accumulate δ = softmax − onehot (Q.15) times the int8 features into int32 sums,
// then step the head's stored weights and bias by round(g·c) and clear the sums.
import { makeStepFactor, type StepFactor } from './step-factor.js';
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, DataError } from '../errors.js';
import type { PreparedCrossEntropy } from './loss.js';
import { MAX_CLASSES, MAX_ROWS } from './loss.js';
import { requireInt } from './validate.js';

/** δ is carried in Q.15: one unit of δ is 2^-15 of a unit of dL/dlogit. */
export const DELTA_FRAC_BITS = 15;
/** Rows one accumulation can take before |Σ δ·(f − zf)| may saturate (2^15·255·256 < 2^31). */
export const HEAD_GRAD_EXACT_ROWS = 256;

export interface HeadGradBuffers {
  /** δ of the last rows, int32 [rows][classes] (scratch the kernel writes). */
  delta: DeviceBuffer;
  /** Σ δ·(f − zf), int32 [classes][features] (layout OI, like the head's weights). */
  gradW: DeviceBuffer;
  /** Σ δ, int32 [classes]. */
  gradB: DeviceBuffer;
}

export interface HeadGradShape {
  classes: number;
  features: number;
  /** The features' int8 zero point. */
  featureZero: number;
}

/** The device bytes the hybrid head needs for a micro-batch of `rows`: δ rows and the two sums. */
export function headGradBytes(shape: Pick<HeadGradShape, 'classes' | 'features'>, rows: number): { delta: number; gradW: number; gradB: number } {
  return { delta: rows * shape.classes * 4, gradW: shape.classes * shape.features * 4, gradB: shape.classes * 4 };
}

/**
 * Add the head gradient of `rows` samples to the sums. logits: the head's int32 output (the
 * cross-entropy's prepared multiplier gives their scale); features: the head's int8 input.
 */
export function accumulateHeadGradient(
  arena: Arena, logits: DeviceBuffer, labels: DeviceBuffer, features: DeviceBuffer, rows: number,
  shape: HeadGradShape, logit: PreparedCrossEntropy, out: HeadGradBuffers,
): void {
  requireInt(rows, 'head gradient: rows', 1, MAX_ROWS);
  requireInt(shape.classes, 'head gradient: classes', 1, MAX_CLASSES);
  requireInt(shape.features, 'head gradient: features', 1, 1 << 24);
  requireInt(shape.featureZero, 'head gradient: feature zero point', -128, 127);
  if (logit.type !== 'int32') throw new ConfigError(`head gradient: the head must return int32 logits, got ${logit.type}`);
  const device = arena.device;
  const need = headGradBytes(shape, rows);
  checkBuffer(device, logits, rows * shape.classes * 4, 'head gradient logits');
  checkBuffer(device, labels, rows * 4, 'head gradient labels');
  checkBuffer(device, features, rows * shape.features, 'head gradient features');
  checkBuffer(device, out.delta, need.delta, 'head gradient δ');
  checkBuffer(device, out.gradW, need.gradW, 'head weight gradient');
  checkBuffer(device, out.gradB, need.gradB, 'head bias gradient');
  const bad = device.kernel('head_grad_accumulate')(
    logits.offset, rows, shape.classes, labels.offset, logit.multiplier, logit.shift,
    features.offset, shape.features, shape.featureZero, out.delta.offset, out.gradW.offset, out.gradB.offset,
  );
  if (bad !== 0) {
    const label = new Int32Array(device.memory.buffer, labels.offset, rows)[bad - 1];
    throw new DataError(`head gradient: row ${bad - 1} has label ${label}, expected a class index in [0, ${shape.classes - 1}]`);
  }
}

/** A real step factor c as round(g·mult / 2^totalShift) (31-bit multiplier). */
export type HeadStep = StepFactor;

/** c as a Q31 multiplier and a right shift in [1, 62]; refuses a c that no gradient could use. */
export const makeHeadStep = (c: number, what: string): HeadStep => makeStepFactor(c, 31, what);

/** params ← clamp(params − round(grad·c)), then grad ← 0. bits 8/16: weights; 32: bias. */
export function applyHeadStep(arena: Arena, params: DeviceBuffer, bits: 8 | 16 | 32, count: number, grad: DeviceBuffer, step: HeadStep): void {
  if (bits !== 8 && bits !== 16 && bits !== 32) throw new ConfigError(`head step: bits must be 8, 16 or 32, got ${bits}`);
  requireInt(count, 'head step: count', 1, 1 << 26);
  requireInt(step.totalShift, 'head step: shift', 1, 62);
  requireInt(step.multiplier, 'head step: multiplier', 0, 2 ** 31 - 1);
  checkBuffer(arena.device, params, count * (bits / 8), 'head parameters');
  checkBuffer(arena.device, grad, count * 4, 'head gradient');
  arena.device.kernel('head_sgd_update')(params.offset, bits, count, grad.offset, step.multiplier, step.totalShift);
}
