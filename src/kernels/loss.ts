// Host side of the integer cross-entropy (assembly/loss.ts). Prepare turns the logits' real
// scale into the multiplier/shift of scale·2^26 once; each call validates buffers, runs the
// device, and returns the Q16.16 integer the trainer compares plus its real value for reports.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, DataError } from '../errors.js';
import { quantizeMultiplier } from './multiplier.js';
import { requireInt } from './validate.js';

/** The loss is summed over the batch in Q16.16 nats: 1 unit = 2^-16 nats. */
export const LOSS_FRAC_BITS = 16;
export const LOSS_MAX_Q = 2 ** 31 - 1;
/** Logit differences enter the device in Q5.26. */
const INPUT_FRAC_BITS = 26;
export const MAX_CLASSES = 1 << 16;
export const MAX_ROWS = 1 << 20;

export type LogitType = 'int8' | 'int32';

export interface LogitQuant {
  /** Real value of one logit step (nats). */
  scale: number;
  /** Cancels in the softmax (only differences matter); checked for range, not used. */
  zeroPoint: number;
}

export interface PreparedCrossEntropy {
  readonly type: LogitType;
  readonly scale: number;
  readonly zeroPoint: number;
  /** TFLM multiplier/shift of scale·2^26. */
  readonly multiplier: number;
  readonly shift: number;
}

export interface LossValue {
  /** Summed loss in Q16.16 nats, saturated at 2^31 − 1. */
  q16: number;
  /** q16 / 2^16. */
  nats: number;
  saturated: boolean;
}

export function prepareCrossEntropy(quant: LogitQuant, type: LogitType): PreparedCrossEntropy {
  if (type !== 'int8' && type !== 'int32') throw new ConfigError(`logit type must be 'int8' or 'int32', got '${type}'`);
  const { scale, zeroPoint } = quant;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new ConfigError(`logit scale must be a finite number > 0, got ${scale}`);
  }
  const [zpLo, zpHi] = type === 'int8' ? [-128, 127] : [-(2 ** 31), 2 ** 31 - 1];
  if (!Number.isInteger(zeroPoint) || zeroPoint < zpLo || zeroPoint > zpHi) {
    throw new ConfigError(`${type} logit zero point must be an integer in [${zpLo}, ${zpHi}], got ${zeroPoint}`);
  }
  const real = scale * 2 ** INPUT_FRAC_BITS;
  const { multiplier, shift } = quantizeMultiplier(real);
  if (multiplier === 0) {
    throw new ConfigError(`logit scale ${scale} is too small (below about 2^-58 nats per step) to represent; requantize the logits to a coarser scale`);
  }
  // quantizeMultiplier clamps shifts above 30 (TFLM's limit), which would silently shrink the scale.
  if (real >= 2 ** 30 || Math.abs((multiplier / 2 ** 31) * 2 ** shift - real) > real * 2 ** -30) {
    throw new ConfigError(`logit scale ${scale} is too large: one logit step must be < 16 nats; requantize the logits to a finer scale`);
  }
  return { type, scale, zeroPoint, multiplier, shift };
}

function runCrossEntropy(
  arena: Arena, kernel: string, elementBytes: number, logits: DeviceBuffer, labels: DeviceBuffer, out: DeviceBuffer,
  rows: number, classes: number, prepared: PreparedCrossEntropy,
): LossValue {
  requireInt(rows, 'cross-entropy: rows', 1, MAX_ROWS);
  requireInt(classes, 'cross-entropy: classes', 1, MAX_CLASSES);
  const device = arena.device;
  checkBuffer(device, logits, rows * classes * elementBytes, 'cross-entropy logits');
  checkBuffer(device, labels, rows * 4, 'cross-entropy labels');
  checkBuffer(device, out, 4, 'cross-entropy out');
  const badRow = device.kernel(kernel)(logits.offset, rows, classes, labels.offset, prepared.multiplier, prepared.shift, out.offset);
  if (badRow !== 0) {
    const row = badRow - 1;
    const label = new Int32Array(device.memory.buffer, labels.offset, rows)[row];
    throw new DataError(`cross-entropy: row ${row} has label ${label}, expected a class index in [0, ${classes - 1}]; fix the labels or the class count`);
  }
  const q16 = new Int32Array(device.memory.buffer, out.offset, 1)[0]!;
  return { q16, nats: q16 / 2 ** LOSS_FRAC_BITS, saturated: q16 === LOSS_MAX_Q };
}

/** Σ_rows softmax cross-entropy of int8 logits [rows][classes] with int32 labels [rows]. */
export function crossEntropyI8(
  arena: Arena, logits: DeviceBuffer, labels: DeviceBuffer, out: DeviceBuffer, rows: number, classes: number, prepared: PreparedCrossEntropy,
): LossValue {
  if (prepared.type !== 'int8') throw new ConfigError(`crossEntropyI8: prepared for ${prepared.type} logits; prepare with type 'int8'`);
  return runCrossEntropy(arena, 'cross_entropy_i8', 1, logits, labels, out, rows, classes, prepared);
}

/** Σ_rows softmax cross-entropy of int32 logits [rows][classes] with int32 labels [rows]. */
export function crossEntropyI32(
  arena: Arena, logits: DeviceBuffer, labels: DeviceBuffer, out: DeviceBuffer, rows: number, classes: number, prepared: PreparedCrossEntropy,
): LossValue {
  if (prepared.type !== 'int32') throw new ConfigError(`crossEntropyI32: prepared for ${prepared.type} logits; prepare with type 'int32'`);
  return runCrossEntropy(arena, 'cross_entropy_i32', 4, logits, labels, out, rows, classes, prepared);
}

/** sign(a − b) of two integer losses: −1, 0 or +1 (the s_j of sign-m-SPSA). */
export function lossSign(a: number | LossValue, b: number | LossValue): -1 | 0 | 1 {
  const x = typeof a === 'number' ? a : a.q16;
  const y = typeof b === 'number' ? b : b.q16;
  if (!Number.isInteger(x) || !Number.isInteger(y)) {
    throw new DataError(`lossSign compares integer losses (Q16.16), got ${x} and ${y}`);
  }
  return x > y ? 1 : x < y ? -1 : 0;
}
