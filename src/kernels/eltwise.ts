// Host side of int8 element-wise Add with TFLite Micro's quantized Add (add.cc): prepareAdd
// derives the integers exactly as TFLM's Prepare does, addI8 validates and runs the device's add_s8.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import { quantizeMultiplier } from './multiplier.js';
import { requireActRange, requireInt } from './validate.js';
import { MAX_DIM } from './gemm.js';

export interface AddQuant {
  scaleA: number;
  zeroPointA: number;
  scaleB: number;
  zeroPointB: number;
  scaleOut: number;
  zeroPointOut: number;
  /** Quantized output clamp (fused activation), default [-128, 127]. */
  actMin?: number;
  actMax?: number;
}

/** The integers TFLM's Add Prepare computes (OpData of add.cc). Shifts are ≤ 0 (right shifts). */
export interface PreparedAdd {
  readonly leftShift: number;
  readonly input1Offset: number;
  readonly input2Offset: number;
  readonly outputOffset: number;
  readonly input1Multiplier: number;
  readonly input1Shift: number;
  readonly input2Multiplier: number;
  readonly input2Shift: number;
  readonly outputMultiplier: number;
  readonly outputShift: number;
  readonly actMin: number;
  readonly actMax: number;
}

/** TFLM's left shift for int8 Add (int16 Add uses 15). */
export const ADD_LEFT_SHIFT_INT8 = 20;

/** TFLM QuantizeMultiplierSmallerThanOneExp: 0 < x < 1, and the shift must come out ≤ 0. */
function quantizeSmallerThanOne(x: number, what: string, hint: string): { multiplier: number; shift: number } {
  if (!(x > 0 && x < 1)) throw new ConfigError(`prepareAdd: ${what} multiplier must lie in (0, 1), got ${x}; ${hint}`);
  const q = quantizeMultiplier(x);
  if (q.shift > 0) throw new ConfigError(`prepareAdd: ${what} multiplier ${x} rounds to 1.0 or more; ${hint}`);
  return q;
}

function requireScale(scale: number, what: string): void {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new ConfigError(`prepareAdd: ${what} must be a finite positive number, got ${scale}`);
  }
}

function requireZp(zp: number, what: string): void {
  if (!Number.isInteger(zp) || zp < -128 || zp > 127) {
    throw new ConfigError(`prepareAdd: ${what} must be an integer in [-128, 127] (int8), got ${zp}`);
  }
}

/**
 * TFLM Add Prepare for int8. Scales are rounded to float32 first, because TFLite stores them as
 * float and Prepare widens that float to double: the multipliers then match TFLM's bit for bit.
 */
export function prepareAdd(q: AddQuant): PreparedAdd {
  requireScale(q.scaleA, 'scaleA');
  requireScale(q.scaleB, 'scaleB');
  requireScale(q.scaleOut, 'scaleOut');
  requireZp(q.zeroPointA, 'zeroPointA');
  requireZp(q.zeroPointB, 'zeroPointB');
  requireZp(q.zeroPointOut, 'zeroPointOut');
  const actMin = q.actMin ?? -128;
  const actMax = q.actMax ?? 127;
  requireActRange(actMin, actMax);
  const sA = Math.fround(q.scaleA);
  const sB = Math.fround(q.scaleB);
  const sOut = Math.fround(q.scaleOut);
  const leftShift = ADD_LEFT_SHIFT_INT8;
  const twiceMaxInputScale = 2 * Math.max(sA, sB);
  const realInput1 = sA / twiceMaxInputScale;
  const realInput2 = sB / twiceMaxInputScale;
  const realOutput = twiceMaxInputScale / ((1 << leftShift) * sOut);
  const inputHint = 'check the input scales';
  const outputHint = `scaleOut must exceed 2·max(scaleA, scaleB)/2^${leftShift} = ${twiceMaxInputScale / 2 ** leftShift}`;
  const in1 = quantizeSmallerThanOne(realInput1, 'input 1', inputHint);
  const in2 = quantizeSmallerThanOne(realInput2, 'input 2', inputHint);
  const out = quantizeSmallerThanOne(realOutput, 'output', outputHint);
  return {
    leftShift,
    input1Offset: -q.zeroPointA,
    input2Offset: -q.zeroPointB,
    outputOffset: q.zeroPointOut,
    input1Multiplier: in1.multiplier,
    input1Shift: in1.shift,
    input2Multiplier: in2.multiplier,
    input2Shift: in2.shift,
    outputMultiplier: out.multiplier,
    outputShift: out.shift,
    actMin,
    actMax,
  };
}

/** Checks a PreparedAdd (which callers may also build by hand, e.g. from a TFLite file). */
function requirePreparedAdd(p: PreparedAdd): void {
  const what = 'addI8';
  // (x + offset) << leftShift must fit int32 for x − zp in [-255, 255].
  requireInt(p.leftShift, `${what}: leftShift`, 0, 22);
  requireInt(p.input1Offset, `${what}: input1Offset (−zero point)`, -127, 128);
  requireInt(p.input2Offset, `${what}: input2Offset (−zero point)`, -127, 128);
  requireInt(p.outputOffset, `${what}: outputOffset (zero point)`, -128, 127);
  const pairs: [number, number, string][] = [
    [p.input1Multiplier, p.input1Shift, 'input 1'],
    [p.input2Multiplier, p.input2Shift, 'input 2'],
    [p.outputMultiplier, p.outputShift, 'output'],
  ];
  for (const [m, s, name] of pairs) {
    if (!Number.isInteger(m) || m < 0 || m > 2 ** 31 - 1) {
      throw new ConfigError(`${what}: ${name} multiplier must be an integer in [0, 2^31), got ${m}; use prepareAdd`);
    }
    if (!Number.isInteger(s) || s < -31 || s > 0) {
      throw new ConfigError(`${what}: ${name} shift must be an integer in [-31, 0] (a multiplier below one), got ${s}; use prepareAdd`);
    }
  }
  requireActRange(p.actMin, p.actMax);
}

function sameOrDisjoint(out: DeviceBuffer, input: DeviceBuffer, count: number, name: string): void {
  if (out.offset === input.offset) return;
  if (out.offset < input.offset + count && input.offset < out.offset + count) {
    throw new ShapeError(
      `addI8: output '${out.name}' partly overlaps ${name} '${input.name}'; pass the same buffer (in place) or disjoint buffers`,
    );
  }
}

/** out[i] = TFLM quantized add of a[i] and b[i] for i < count; out may be a or b (in place). */
export function addI8(arena: Arena, a: DeviceBuffer, b: DeviceBuffer, out: DeviceBuffer, count: number, p: PreparedAdd): void {
  requireInt(count, 'addI8: count', 0, MAX_DIM);
  requirePreparedAdd(p);
  checkBuffer(arena.device, a, count, 'addI8 input a');
  checkBuffer(arena.device, b, count, 'addI8 input b');
  checkBuffer(arena.device, out, count, 'addI8 output');
  sameOrDisjoint(out, a, count, 'input a');
  sameOrDisjoint(out, b, count, 'input b');
  if (count === 0) return;
  arena.device.kernel('add_s8')(
    a.offset, b.offset, out.offset, count,
    p.input1Offset, p.input2Offset, p.outputOffset, p.leftShift,
    p.input1Multiplier, p.input1Shift, p.input2Multiplier, p.input2Shift, p.outputMultiplier, p.outputShift,
    p.actMin, p.actMax,
  );
}
