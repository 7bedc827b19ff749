// Host side of the perturbation stream (assembly/rng.ts): the z grid's constants, stream keys,
// and a checked fill of int8 z for a range of element indices.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import type { Device } from '../device/device.js';
import { ConfigError } from '../errors.js';
import type { ZDistribution } from './perturb-spec.js';
import { requireInt } from './validate.js';

/** z is clipped at ±Z_MAX and quantized to Z_LEVELS steps per side (Feng et al. 2024). */
export const Z_MAX = 3.5;
export const Z_LEVELS = 127;
/** Δz: the real value of one int8 z step. */
export const DELTA_Z = Z_MAX / Z_LEVELS;
/** 1q = round(1/Δz) = 36: 1.0 on the z grid, and the Rademacher magnitude. */
export const ONE_Q = Math.round(Z_LEVELS / Z_MAX);

export const DIST_CODE: Readonly<Record<ZDistribution, number>> = { gaussian: 0, rademacher: 1 };

const U32_MAX = 0xffffffff;

export function requireU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new ConfigError(`${what} must be an integer in [0, 2^32 − 1], got ${value}`);
  }
}

export function requireDist(dist: string): asserts dist is ZDistribution {
  if (!(dist in DIST_CODE)) throw new ConfigError(`z distribution must be 'gaussian' or 'rademacher', got '${dist}'`);
}

/** Element indices start..start+count−1 must not wrap past 2^32 (they would repeat z). */
export function requireIndexRange(start: number, count: number, what: string): void {
  requireU32(start, `${what}: start index`);
  if (start + count > U32_MAX + 1) {
    throw new ConfigError(`${what}: indices ${start}..${start + count - 1} run past 2^32 − 1; split the tensor or lower start`);
  }
}

/** The u32 key of the stream for (seed, tensor id), computed by the device. */
export function streamKey(device: Device, seed: number, tensorId: number): number {
  requireU32(seed, 'seed');
  requireU32(tensorId, 'tensor id');
  return device.kernel('rng_stream_key')(seed | 0, tensorId | 0) >>> 0;
}

export interface ZStream {
  key: number;
  /** Stream index of dst[0]. */
  start: number;
  dist: ZDistribution;
  /** Rademacher magnitude (normally ONE_Q); ignored for the Gaussian. */
  oneQ: number;
}

/** dst[i] = z(key, start + i) as int8, i < count. */
export function fillZ(arena: Arena, dst: DeviceBuffer, count: number, stream: ZStream): void {
  requireInt(count, 'fillZ: count', 0, 1 << 30);
  requireU32(stream.key, 'fillZ: stream key');
  requireIndexRange(stream.start, count, 'fillZ');
  requireDist(stream.dist);
  if (!Number.isInteger(stream.oneQ) || stream.oneQ < 1 || stream.oneQ > 127) {
    throw new ConfigError(`fillZ: 1q must be an integer in [1, 127], got ${stream.oneQ}`);
  }
  checkBuffer(arena.device, dst, count, 'fillZ dst');
  arena.device.kernel('rng_fill_z')(dst.offset, count, stream.key | 0, stream.start | 0, DIST_CODE[stream.dist], stream.oneQ);
}
