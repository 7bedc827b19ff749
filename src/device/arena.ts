// The arena: every byte a kernel touches comes from here. A bump allocator with marks (like
// TFLM's arena head/temp), 16-byte alignment as an MCU would use, and a measured high-water mark.
import { BudgetError, ConfigError, ShapeError } from '../errors.js';
import { describe, isObject } from '../util/guards.js';
import type { Device } from './device.js';

export const ALIGN = 16;

export interface DeviceBuffer {
  readonly name: string;
  /** Byte offset in device memory. */
  readonly offset: number;
  /** Requested size in bytes (the allocation is rounded up to ALIGN). */
  readonly bytes: number;
}

export const alignUp = (n: number, align = ALIGN): number => Math.ceil(n / align) * align;

type Typed = Int8Array | Uint8Array | Int16Array | Int32Array | Uint32Array | Float32Array;

export class Arena {
  readonly device: Device;
  readonly capacity: number;
  /** First byte of this arena in device memory. */
  readonly base: number;
  /** The memory region this arena models ('sram', 'flash', or a generic 'arena'). */
  readonly region: string;
  private top = 0;
  private peak = 0;
  private readonly live: DeviceBuffer[] = [];

  constructor(device: Device, capacity = checkedDevice(device).arenaBytes, base = device.arenaBase, region = 'arena') {
    if (!Number.isInteger(capacity) || capacity < 0 || base < device.arenaBase || base + capacity > device.arenaEnd) {
      throw new BudgetError(`${region}: [${base}, +${capacity}) does not lie inside the device's ${device.arenaBytes} B arena`);
    }
    this.device = device;
    this.capacity = capacity;
    this.base = base;
    this.region = region;
  }

  /** Bytes in use now, and the most ever in use since creation (or resetPeak). */
  get used(): number {
    return this.top;
  }
  get highWater(): number {
    return this.peak;
  }
  resetPeak(): void {
    this.peak = this.top;
  }

  alloc(bytes: number, name: string): DeviceBuffer {
    if (!Number.isInteger(bytes) || bytes < 0) throw new ShapeError(`buffer '${name}': size must be a non-negative integer, got ${bytes}`);
    const size = alignUp(Math.max(bytes, 1));
    if (this.top + size > this.capacity) {
      const largest = [...this.live].sort((a, b) => b.bytes - a.bytes).slice(0, 3).map((b) => `${b.name} ${b.bytes} B`);
      throw new BudgetError(
        `${this.region}: '${name}' needs ${size} B but only ${this.capacity - this.top} B of ${this.capacity} B are free` +
          (largest.length ? ` (largest live buffers: ${largest.join(', ')})` : '') +
          '; raise the budget or shrink the model/batch',
      );
    }
    const buffer: DeviceBuffer = { name, offset: this.base + this.top, bytes };
    this.top += size;
    this.peak = Math.max(this.peak, this.top);
    this.live.push(buffer);
    return buffer;
  }

  /** Allocate and copy host data in. */
  put(data: Typed, name: string): DeviceBuffer {
    const buffer = this.alloc(data.byteLength, name);
    this.device.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), buffer.offset);
    return buffer;
  }

  /** Stack discipline: everything allocated after mark() is released by release(mark). */
  mark(): number {
    return this.live.length;
  }
  release(mark: number): void {
    const dropped = this.live.splice(mark);
    if (dropped.length) this.top = dropped[0]!.offset - this.base;
  }
  reset(): void {
    this.release(0);
  }

  /** A view of part of an existing allocation (e.g. a planned buffer inside a planned block). */
  sub(parent: DeviceBuffer, offset: number, bytes: number, name: string): DeviceBuffer {
    if (!Number.isInteger(offset) || !Number.isInteger(bytes) || offset < 0 || bytes < 0 || offset + bytes > alignUp(Math.max(parent.bytes, 1))) {
      throw new ShapeError(`'${name}' [${offset}, +${bytes}) does not fit inside '${parent.name}' (${parent.bytes} B)`);
    }
    return { name, offset: parent.offset + offset, bytes };
  }

  /** Names and sizes of live allocations, largest first: what the memory report lists. */
  liveBuffers(): readonly DeviceBuffer[] {
    return this.live;
  }

  // Views are made on demand: they are invalid after memory.grow (which the fixed memory never does).
  i8(b: DeviceBuffer): Int8Array {
    return new Int8Array(this.device.memory.buffer, b.offset, b.bytes);
  }
  u8(b: DeviceBuffer): Uint8Array {
    return new Uint8Array(this.device.memory.buffer, b.offset, b.bytes);
  }
  i16(b: DeviceBuffer): Int16Array {
    return new Int16Array(this.device.memory.buffer, b.offset, b.bytes >> 1);
  }
  i32(b: DeviceBuffer): Int32Array {
    return new Int32Array(this.device.memory.buffer, b.offset, b.bytes >> 2);
  }
  f32(b: DeviceBuffer): Float32Array {
    return new Float32Array(this.device.memory.buffer, b.offset, b.bytes >> 2);
  }
}

/** Throws unless buffer lies inside the device arena and holds at least `needed` bytes. */
export function checkBuffer(device: Device, buffer: DeviceBuffer, needed: number, what: string): void {
  if (!buffer || !Number.isInteger(buffer.offset) || !Number.isInteger(buffer.bytes)) {
    throw new ShapeError(`${what}: expected a device buffer, got ${String(buffer)}`);
  }
  if (buffer.offset < device.arenaBase || buffer.offset + buffer.bytes > device.arenaEnd) {
    throw new ShapeError(`${what}: buffer '${buffer.name}' [${buffer.offset}, +${buffer.bytes}) lies outside the arena`);
  }
  if (buffer.bytes < needed) {
    throw new ShapeError(`${what}: buffer '${buffer.name}' holds ${buffer.bytes} B but the shape needs ${needed} B`);
  }
}

/** The device argument, checked before a default parameter reads its fields. */
function checkedDevice(device: Device): Device {
  if (!isObject(device) || typeof device.arenaBytes !== 'number' || typeof device.arenaBase !== 'number') {
    throw new ConfigError(`Arena needs a Device (from Device.create), got ${describe(device)}`);
  }
  return device;
}
