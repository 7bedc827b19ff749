// A real step factor c (stored units per unit of accumulated gradient) as round(g·mult / 2^shift) with a
// `bits`-bit mantissa: the hybrid head's int32 sums take a Q31 multiplier, the tail's int64 sums a
// 15-bit one so the product stays inside 64 bits. The exported C's lm_make_step_factor matches it.
import { ConfigError } from '../errors.js';

export interface StepFactor {
  c: number;
  multiplier: number;
  totalShift: number;
}

/** c as a `bits`-bit multiplier and a right shift in [1, 62]; refuses a c that no gradient could use. */
export function makeStepFactor(c: number, bits: 15 | 31, what: string): StepFactor {
  if (!Number.isFinite(c) || !(c > 0)) throw new ConfigError(`${what}: step factor must be finite and > 0, got ${c}`);
  let e = Math.floor(Math.log2(c)) + 1;
  let mant = Math.round((c / 2 ** e) * 2 ** bits);
  if (mant === 2 ** bits) {
    mant /= 2;
    e += 1;
  }
  const totalShift = bits - e;
  if (totalShift < 1) throw new ConfigError(`${what}: step factor ${c} is ≥ 2^${bits - 1} stored units per gradient unit; lower the learning rate`);
  if (totalShift > 62) throw new ConfigError(`${what}: step factor ${c} is below 2^${bits - 63}: no accumulated gradient could move a value; raise the learning rate`);
  return { c, multiplier: mant, totalShift };
}
