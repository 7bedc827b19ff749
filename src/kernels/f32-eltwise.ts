// Host wrapper for the element-wise f32 add (residual forward, gradient accumulation).
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { requireInt } from './validate.js';

/** out = a + b over `count` f32 values; out may be a or b (in place). */
export function addF32(arena: Arena, a: DeviceBuffer, b: DeviceBuffer, out: DeviceBuffer, count: number): void {
  requireInt(count, 'addF32: count', 1, 1 << 28);
  for (const [buf, what] of [[a, 'a'], [b, 'b'], [out, 'out']] as const) checkBuffer(arena.device, buf, count * 4, `addF32 ${what}`);
  arena.device.kernel('add_f32')(a.offset, b.offset, out.offset, count);
}
