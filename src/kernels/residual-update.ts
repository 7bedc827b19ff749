// Host side of assembly/residual.ts: the 8w8a update that carries sub-LSB steps in a residual.
// The int8 weights and their residuals (int8 with 8 fraction bits, or int16 with 16) form one
// fixed-point value v = w·2^R + r; each step subtracts requant(Σ_j s_j·z_j, c·2^R) from v and splits it
// back into w (round to nearest) and r. Every argument is checked here, so a bad call throws with
// nothing written.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { ZDistribution } from './perturb-spec.js';
import { makeUpdateMultiplier } from './update.js';
import { DIST_CODE, ONE_Q, requireDist, requireIndexRange, requireU32 } from './rng.js';
import { MAX_DIRECTIONS } from './update.js';
import { requireInt } from './validate.js';

/** Residual widths the kernel stores: int8 (8 fraction bits of an LSB) or int16 (16). */
export type ResidualBits = 8 | 16;
export const RESIDUAL_BITS: readonly ResidualBits[] = [8, 16];

export function requireResidualBits(bits: unknown): asserts bits is ResidualBits {
  if (bits !== 8 && bits !== 16) throw new ConfigError(`residual bits must be 8 (int8) or 16 (int16), got ${String(bits)}`);
}

/** Bytes of the residual of `count` weights. */
export const residualBytes = (count: number, bits: ResidualBits): number => count * (bits / 8);

/**
 * c·2^R as the kernel's multiplier/shift: c = η·Δz/Δw/m moves a weight by c LSB per unit of Σ s·z,
 * i.e. c·2^R residual units. Refused when even the largest gradient moves v by less than half a
 * residual unit (the residual cannot help) or when one step would cross the whole grid.
 */
export function makeResidualMultiplier(lr: number, weightScale: number, m: number, bits: ResidualBits): { multiplier: number; shift: number } {
  requireResidualBits(bits);
  const u = makeUpdateMultiplier(lr * 2 ** bits, weightScale, m);
  return { multiplier: u.multiplier, shift: u.shift };
}

export interface ResidualStep {
  /** m u32 stream keys and i32 signs, staged in SRAM before the kernel reads them. */
  keys: DeviceBuffer;
  signs: DeviceBuffer;
  keyValues: ArrayLike<number>;
  signValues: ArrayLike<number>;
  dist: ZDistribution;
  multiplier: number;
  shift: number;
  bits: ResidualBits;
  mask?: DeviceBuffer | null;
  /** Stream index of element 0 (default 0). */
  start?: number;
}

const overlap = (a: DeviceBuffer, aBytes: number, b: DeviceBuffer, bBytes: number): boolean =>
  aBytes > 0 && bBytes > 0 && a.offset < b.offset + bBytes && b.offset < a.offset + aBytes;

/** In place: (w, r) ← split(clamp(w·2^R + r − requant(Σ_j s_j·z_j, c·2^R))) for the trainable elements. */
export function updateWithResidual(arena: Arena, weights: DeviceBuffer, residual: DeviceBuffer, count: number, s: ResidualStep): void {
  const what = 'updateWithResidual';
  const device = arena.device;
  requireInt(count, `${what}: count`, 0, 1 << 30);
  requireResidualBits(s.bits);
  requireDist(s.dist);
  const start = s.start ?? 0;
  requireIndexRange(start, count, what);
  const m = s.signValues.length;
  requireInt(m, `${what}: directions m`, 1, MAX_DIRECTIONS);
  if (s.keyValues.length !== m) throw new ShapeError(`${what}: ${s.keyValues.length} keys for ${m} signs`);
  for (let j = 0; j < m; j++) {
    requireU32(s.keyValues[j]!, `${what}: key[${j}]`);
    const sign = s.signValues[j]!;
    if (sign !== -1 && sign !== 0 && sign !== 1) throw new ConfigError(`${what}: sign[${j}] must be −1, 0 or +1, got ${sign}`);
  }
  requireInt(s.multiplier, `${what}: multiplier`, 1, 2 ** 31 - 1);
  requireInt(s.shift, `${what}: shift`, -31, 16);
  const rBytes = residualBytes(count, s.bits);
  checkBuffer(device, weights, count, `${what} weights`);
  checkBuffer(device, residual, rBytes, `${what} residual`);
  if (overlap(weights, count, residual, rBytes)) throw new ShapeError(`${what}: residual '${residual.name}' overlaps the weights '${weights.name}'`);
  const mask = s.mask ?? null;
  if (mask) checkBuffer(device, mask, Math.ceil(count / 8), `${what} mask`);
  checkBuffer(device, s.keys, m * 4, `${what} keys`);
  checkBuffer(device, s.signs, m * 4, `${what} signs`);
  new Uint32Array(device.memory.buffer, s.keys.offset, m).set(Array.from(s.keyValues, (k) => k >>> 0));
  new Int32Array(device.memory.buffer, s.signs.offset, m).set(Array.from(s.signValues));
  device.kernel('zo_update_residual_w8')(
    weights.offset, residual.offset, count, start | 0, s.keys.offset, s.signs.offset, m,
    DIST_CODE[s.dist], ONE_Q, s.multiplier, s.shift, mask ? mask.offset : 0, s.bits,
  );
}
