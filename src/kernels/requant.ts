// Host side of requantization, split as TFLM splits Prepare and Eval: prepareRequant validates
// the output quantization once and stages multipliers/shifts in the arena; kernels then take
// the prepared form on every call without re-checking or re-copying.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ShapeError } from '../errors.js';
import { requireActRange, requireInt, requireMultipliers } from './validate.js';

/** How an int32 accumulator becomes an int8 activation (per tensor: one multiplier). */
export interface OutputQuant {
  multiplier: Int32Array;
  shift: Int32Array;
  outZeroPoint: number;
  actMin?: number;
  actMax?: number;
}

export interface PreparedRequant {
  readonly channels: number;
  readonly perChannel: boolean;
  readonly multiplier: DeviceBuffer;
  readonly shift: DeviceBuffer;
  readonly outZeroPoint: number;
  readonly actMin: number;
  readonly actMax: number;
}

export function requantStagingBytes(q: OutputQuant): number {
  return 2 * Math.ceil((q.multiplier.length * 4) / 16) * 16;
}

/** Validates an output quantization for `channels` channels; returns the clamp it implies. */
export function validateOutputQuant(q: OutputQuant, channels: number, name = 'requant'): { perChannel: boolean; count: number; actMin: number; actMax: number } {
  requireInt(channels, `${name}: channels`, 1, 1 << 20);
  const perChannel = q.multiplier.length > 1;
  const count = perChannel ? channels : 1;
  if (perChannel && q.multiplier.length !== channels) {
    throw new ShapeError(`${name}: ${q.multiplier.length} per-channel multipliers for ${channels} channels`);
  }
  if (q.multiplier.length < 1) throw new ShapeError(`${name}: at least one multiplier is needed`);
  requireMultipliers(q.multiplier, q.shift, count, name);
  requireInt(q.outZeroPoint, `${name}: output zero point`, -128, 127);
  const actMin = q.actMin ?? -128;
  const actMax = q.actMax ?? 127;
  requireActRange(actMin, actMax);
  return { perChannel, count, actMin, actMax };
}

/** Validate and stage an output quantization in the arena. */
export function prepareRequant(arena: Arena, q: OutputQuant, channels: number, name = 'requant'): PreparedRequant {
  const { perChannel, count, actMin, actMax } = validateOutputQuant(q, channels, name);
  return {
    channels,
    perChannel,
    multiplier: arena.put(q.multiplier.subarray(0, count), `${name}.multiplier`),
    shift: arena.put(q.shift.subarray(0, count), `${name}.shift`),
    outZeroPoint: q.outZeroPoint,
    actMin,
    actMax,
  };
}

/** A PreparedRequant over constants already placed in device memory (e.g. programmed into flash). */
export function requantAt(q: OutputQuant, channels: number, multiplier: DeviceBuffer, shift: DeviceBuffer, name = 'requant'): PreparedRequant {
  const { perChannel, actMin, actMax } = validateOutputQuant(q, channels, name);
  return { channels, perChannel, multiplier, shift, outZeroPoint: q.outZeroPoint, actMin, actMax };
}

/** Checks a prepared requantization applies to `channels` output channels. */
export function checkPrepared(r: PreparedRequant, channels: number, what: string): void {
  if (r.perChannel && r.channels !== channels) {
    throw new ShapeError(`${what}: requantization was prepared for ${r.channels} channels, the layer has ${channels}`);
  }
}

/** int32 [rows][channels] -> int8 with TFLM requantization. */
export function requantizeI32ToI8(arena: Arena, src: DeviceBuffer, dst: DeviceBuffer, rows: number, channels: number, r: PreparedRequant): void {
  requireInt(rows, 'rows', 0, 1 << 24);
  requireInt(channels, 'channels', 1, 1 << 20);
  requireInt(rows * channels, 'rows*channels', 0, 1 << 28);
  checkPrepared(r, channels, 'requantize');
  checkBuffer(arena.device, src, rows * channels * 4, 'requantize src');
  checkBuffer(arena.device, dst, rows * channels, 'requantize dst');
  arena.device.kernel('requantize_i32_i8')(
    src.offset, dst.offset, rows, channels, r.multiplier.offset, r.shift.offset, r.perChannel ? 1 : 0, r.outZeroPoint, r.actMin, r.actMax,
  );
}
