// Parsing of numeric and enumerated command-line values: one place, one error wording, so a bad
// value is a ConfigError naming its flag in every subcommand.
import { ConfigError } from '../errors.js';
import { BUILD_FLAVORS, type BuildFlavor } from '../device/features.js';

/** A finite number (optionally an integer) ≥ min, or a ConfigError naming the flag. */
export function numberOption(value: string, flag: string, { integer = false, min = -Infinity } = {}): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min) {
    throw new ConfigError(`--${flag} must be ${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` ≥ ${min}` : ''}, got '${value}'`);
  }
  return v;
}

/** An integer option ≥ min. */
export const intOption = (value: string, flag: string, min: number): number => numberOption(value, flag, { integer: true, min });

/** A finite number > 0. */
export function positiveNumber(value: string, flag: string): number {
  const v = numberOption(value, flag);
  if (v <= 0) throw new ConfigError(`--${flag} must be a number > 0, got '${value}'`);
  return v;
}

export function parseBuild(value: string): BuildFlavor | 'auto' {
  if (value === 'auto' || (BUILD_FLAVORS as readonly string[]).includes(value)) return value as BuildFlavor | 'auto';
  throw new ConfigError(`--build must be auto, ${BUILD_FLAVORS.join(', ')}; got '${value}'`);
}
