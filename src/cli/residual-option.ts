// `--residual [bits]` (adapt, memory): 8w8a with a sub-LSB residual per trained weight, int8 by default.
import { ConfigError } from '../errors.js';
import type { ResidualBits } from '../kernels/residual-update.js';

export const RESIDUAL_FLAGS = '--residual [bits]';
export const RESIDUAL_HELP = '8w8a: keep each trained weight\'s sub-LSB update remainder in a residual of 8 (int8, default) or 16 bits, planned in SRAM (see docs/TRAINING.md "8w8a with a residual")';

/** The residual's bits from the option's value (true when given without a value), or undefined when absent. */
export function residualOption(value: string | boolean | undefined, precision: string): ResidualBits | undefined {
  if (value === undefined || value === false) return undefined;
  const bits = value === true ? 8 : Number(value);
  if (bits !== 8 && bits !== 16) throw new ConfigError(`--residual takes 8 or 16 (bits per residual), got '${String(value)}'`);
  if (precision !== '8w8a') throw new ConfigError(`--residual is for 8-bit weights: use it with --precision 8w8a (got --precision ${precision})`);
  return bits;
}
