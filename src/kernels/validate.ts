// Argument checks shared by the kernel wrappers: a bad argument becomes a typed error on the
// host, never a trap or a silent out-of-bounds write on the device.
import { ConfigError, ShapeError } from '../errors.js';

export function requireInt(value: number, what: string, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ShapeError(`${what} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

export function requireActRange(actMin: number, actMax: number, lo = -128, hi = 127): void {
  if (!Number.isInteger(actMin) || !Number.isInteger(actMax) || actMin < lo || actMax > hi || actMin > actMax) {
    throw new ConfigError(`activation clamp must satisfy ${lo} <= actMin <= actMax <= ${hi}, got [${actMin}, ${actMax}]`);
  }
}

/** (multiplier, shift) pairs as TFLM produces them: shift in [-31, 30]; any int32 multiplier. */
export function requireMultipliers(mult: Int32Array, shift: Int32Array, count: number, what: string): void {
  if (mult.length < count || shift.length < count) {
    throw new ShapeError(`${what}: need ${count} multipliers and shifts, got ${mult.length} and ${shift.length}`);
  }
  for (let i = 0; i < count; i++) {
    if (shift[i]! < -31 || shift[i]! > 30) {
      throw new ConfigError(`${what}: shift[${i}] = ${shift[i]} is outside TFLM's range [-31, 30]`);
    }
  }
}
