// Host side of int8 → int8 SOFTMAX with TFLite's reference arithmetic (assembly/softmax.ts):
// prepareSoftmaxI8 is TFLite's CalculateSoftmaxParams for int8 (β·input_scale as a multiplier and
// left shift on a Q5.26 difference, and the smallest difference that still counts), softmaxI8
// validates and runs the device's softmax_s8.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import { quantizeMultiplier } from './multiplier.js';
import { requireInt } from './validate.js';

const SCALED_DIFF_INTEGER_BITS = 5;

export interface PreparedSoftmax {
  inputMultiplier: number;
  inputLeftShift: number;
  diffMin: number;
}

/** TFLite's output grid for an int8 softmax. */
export const SOFTMAX_I8_OUTPUT = { scale: 1 / 256, zeroPoint: -128 } as const;

/** TFLite CalculateSoftmaxParams for int8 in and out; the output must be on TFLite's 1/256, −128 grid. */
export function prepareSoftmaxI8(beta: number, inputScale: number, outScale: number, outZeroPoint: number): PreparedSoftmax {
  if (outScale !== SOFTMAX_I8_OUTPUT.scale || outZeroPoint !== SOFTMAX_I8_OUTPUT.zeroPoint) {
    throw new ConfigError(`int8 softmax needs output scale 1/256 and zero point −128 (TFLite's rule), got ${outScale}, ${outZeroPoint}`);
  }
  if (!(beta > 0) || !Number.isFinite(beta)) throw new ConfigError(`softmax β must be a positive finite number, got ${beta}`);
  if (!(inputScale > 0) || !Number.isFinite(inputScale)) throw new ConfigError(`softmax input scale must be a positive finite number, got ${inputScale}`);
  const real = Math.min(beta * inputScale * 2 ** (31 - SCALED_DIFF_INTEGER_BITS), 2 ** 31 - 1);
  const q = quantizeMultiplier(real);
  if (q.shift < 0 || q.shift > 31) throw new ConfigError(`softmax β·scale ${beta * inputScale} is outside what TFLite's int8 softmax handles`);
  const maxInputRescaled = (((1 << SCALED_DIFF_INTEGER_BITS) - 1) * 2 ** (31 - SCALED_DIFF_INTEGER_BITS)) / 2 ** q.shift;
  return { inputMultiplier: q.multiplier, inputLeftShift: q.shift, diffMin: -Math.floor(maxInputRescaled) };
}

function requirePrepared(p: PreparedSoftmax): void {
  if (!Number.isInteger(p.inputMultiplier) || p.inputMultiplier < 0 || p.inputMultiplier > 2 ** 31 - 1) {
    throw new ConfigError(`softmaxI8: inputMultiplier must be an integer in [0, 2^31), got ${p.inputMultiplier}; use prepareSoftmaxI8`);
  }
  requireInt(p.inputLeftShift, 'softmaxI8: inputLeftShift', 0, 31);
  // Differences lie in [−255, 0]; a diffMin above 0 would drop the max itself and leave a zero sum.
  requireInt(p.diffMin, 'softmaxI8: diffMin', -(2 ** 31), 0);
  // (x − max) << shift must not overflow int32 for every difference that is kept.
  if (Math.max(-255, p.diffMin) * 2 ** p.inputLeftShift < -(2 ** 31)) {
    throw new ConfigError(`softmaxI8: a difference of ${Math.max(-255, p.diffMin)} shifted left by ${p.inputLeftShift} overflows int32; use prepareSoftmaxI8`);
  }
}

/** Softmax over rows × classes int8 logits at src, int8 probabilities to dst (dst may be src; otherwise disjoint). */
export function softmaxI8(arena: Arena, src: DeviceBuffer, dst: DeviceBuffer, rows: number, classes: number, p: PreparedSoftmax): void {
  requireInt(rows, 'softmaxI8: rows', 0, 1 << 24);
  requireInt(classes, 'softmaxI8: classes', 1, 1 << 20);
  requireInt(rows * classes, 'softmaxI8: rows*classes', 0, 1 << 28);
  requirePrepared(p);
  const n = rows * classes;
  checkBuffer(arena.device, src, n, 'softmaxI8 src');
  checkBuffer(arena.device, dst, n, 'softmaxI8 dst');
  if (dst.offset !== src.offset && dst.offset < src.offset + n && src.offset < dst.offset + n) {
    throw new ShapeError(`softmaxI8: output '${dst.name}' partly overlaps input '${src.name}'; pass the same buffer or disjoint buffers`);
  }
  arena.device.kernel('softmax_s8')(src.offset, dst.offset, rows, classes, p.inputMultiplier, p.inputLeftShift, p.diffMin);
}
