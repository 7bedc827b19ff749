// Host wrapper for the requantization kernel.
import type { Arena, DeviceBuffer } from '../runtime/arena.js';
import { checkBuffer } from '../runtime/arena.js';
import { requireActRange, requireInt, requireMultipliers } from './validate.js';

export interface RequantParams {
  /** One entry (per tensor) or one per channel. */
  multiplier: Int32Array;
  shift: Int32Array;
  outZeroPoint: number;
  actMin?: number;
  actMax?: number;
}

/** int32 [rows][channels] -> int8 with TFLM requantization. Multipliers are staged in the arena. */
export function requantizeI32ToI8(arena: Arena, src: DeviceBuffer, dst: DeviceBuffer, rows: number, channels: number, p: RequantParams): void {
  requireInt(rows, 'rows', 0, 1 << 24);
  requireInt(channels, 'channels', 1, 1 << 20);
  requireInt(rows * channels, 'rows*channels', 0, 1 << 28);
  const perChannel = p.multiplier.length > 1 ? 1 : 0;
  const count = perChannel ? channels : 1;
  if (perChannel && p.multiplier.length !== channels) {
    requireInt(p.multiplier.length, 'per-channel multiplier count', channels, channels);
  }
  requireMultipliers(p.multiplier, p.shift, count, 'requantize');
  requireInt(p.outZeroPoint, 'output zero point', -128, 127);
  const actMin = p.actMin ?? -128;
  const actMax = p.actMax ?? 127;
  requireActRange(actMin, actMax);
  checkBuffer(arena.device, src, rows * channels * 4, 'requantize src');
  checkBuffer(arena.device, dst, rows * channels, 'requantize dst');
  const mark = arena.mark();
  try {
    const m = arena.put(p.multiplier.subarray(0, count), 'requant.multiplier');
    const s = arena.put(p.shift.subarray(0, count), 'requant.shift');
    arena.device.kernel('requantize_i32_i8')(src.offset, dst.offset, rows, channels, m.offset, s.offset, perChannel, p.outZeroPoint, actMin, actMax);
  } finally {
    arena.release(mark);
  }
}
