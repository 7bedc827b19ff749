import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt32, type Bench } from './helpers/devices.js';
import { requantizeRef } from './reference/tflm.js';
import { prepareRequant, requantizeI32ToI8 } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(64 * 1024 * 1024);
});

function runDevice(b: Bench, acc: Int32Array, rows: number, channels: number, mult: Int32Array, shift: Int32Array, zp: number, lo: number, hi: number): Int8Array {
  b.arena.reset();
  const src = b.arena.put(acc, 'acc');
  const dst = b.arena.alloc(rows * channels, 'out');
  const prepared = prepareRequant(b.arena, { multiplier: mult, shift, outZeroPoint: zp, actMin: lo, actMax: hi }, channels);
  requantizeI32ToI8(b.arena, src, dst, rows, channels, prepared);
  return b.arena.i8(dst).slice();
}

describe('requantization (TFLM double rounding)', () => {
  it('matches the BigInt reference bit for bit on 1,048,576 random cases in every build', () => {
    const r = rng(1234);
    const channels = 13; // not a multiple of the SIMD width: exercises lanes and the scalar tail
    const rows = 1 << 16;
    const n = rows * channels;
    for (let round = 0; round < 1; round++) {
      const acc = randomInt32(r, n);
      // Mix realistic accumulators (small) with full-range ones.
      for (let i = 0; i < n; i += 2) acc[i] = randInt(r, -(1 << 20), 1 << 20);
      const mult = new Int32Array(channels);
      const shift = new Int32Array(channels);
      for (let c = 0; c < channels; c++) {
        mult[c] = c % 5 === 0 ? randInt(r, -(2 ** 31), 2 ** 31 - 1) : randInt(r, 1 << 30, 2 ** 31 - 1);
        shift[c] = randInt(r, -31, 30);
      }
      const zp = -7;
      const expected = new Int8Array(n);
      for (let i = 0; i < n; i++) {
        const c = i % channels;
        expected[i] = requantizeRef(acc[i]!, mult[c]!, shift[c]!, zp, -128, 127);
      }
      for (const b of benches) {
        const got = runDevice(b, acc, rows, channels, mult, shift, zp, -128, 127);
        expect({ build: b.build, equal: Buffer.compare(Buffer.from(got.buffer), Buffer.from(expected.buffer)) === 0 }).toEqual({ build: b.build, equal: true });
      }
    }
  });

  it('handles the corner cases: INT32 limits, INT32_MIN multiplier, shifts -31 and 30, half-way rounding', () => {
    const values = [0, 1, -1, 2, -2, 3, -3, 2 ** 31 - 1, -(2 ** 31), 2 ** 30, -(2 ** 30), 12345, -12345, 1 << 16, -(1 << 16) + 1];
    const mults = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 1 << 30, (1 << 30) + 1, 1518500250];
    const shifts = [-31, -30, -17, -8, -1, 0, 1, 7, 30];
    const cases: [number, number, number][] = [];
    for (const v of values) for (const m of mults) for (const s of shifts) cases.push([v, m, s]);
    // One channel per case, per-channel mode, a single row.
    const n = cases.length;
    const acc = Int32Array.from(cases.map((c) => c[0]));
    const mult = Int32Array.from(cases.map((c) => c[1]));
    const shift = Int32Array.from(cases.map((c) => c[2]));
    const expected = Int8Array.from(cases.map(([v, m, s]) => requantizeRef(v, m, s, 3, -100, 90)));
    for (const b of benches) {
      expect(Array.from(runDevice(b, acc, 1, n, mult, shift, 3, -100, 90))).toEqual(Array.from(expected));
    }
  });

  it('per-tensor mode uses one multiplier for every channel', () => {
    const r = rng(7);
    const acc = randomInt32(r, 7 * 9, -100000, 100000);
    const { multiplier, shift } = quantizeMultiplier(0.0037);
    const expected = Int8Array.from(acc, (v) => requantizeRef(v, multiplier, shift, 0, 0, 127));
    for (const b of benches) {
      expect(Array.from(runDevice(b, acc, 7, 9, Int32Array.of(multiplier), Int32Array.of(shift), 0, 0, 127))).toEqual(Array.from(expected));
    }
  });

  it('rejects bad arguments with typed errors before the device runs', () => {
    const b = benches[0]!;
    b.arena.reset();
    const src = b.arena.alloc(16, 'src');
    const dst = b.arena.alloc(4, 'dst');
    const m = Int32Array.of(1 << 30);
    const ok = prepareRequant(b.arena, { multiplier: m, shift: Int32Array.of(0), outZeroPoint: 0 }, 4);
    expect(() => requantizeI32ToI8(b.arena, src, dst, 2, 4, ok)).toThrow(ShapeError);
    expect(() => requantizeI32ToI8(b.arena, { name: 'x', offset: 0, bytes: 16 }, dst, 1, 4, ok)).toThrow(ShapeError);
    expect(() => prepareRequant(b.arena, { multiplier: m, shift: Int32Array.of(31), outZeroPoint: 0 }, 4)).toThrow(ConfigError);
    expect(() => prepareRequant(b.arena, { multiplier: m, shift: Int32Array.of(0), outZeroPoint: 0, actMin: 5, actMax: 4 }, 4)).toThrow(ConfigError);
    expect(() => prepareRequant(b.arena, { multiplier: Int32Array.of(1, 2, 3), shift: Int32Array.of(0, 0, 0), outZeroPoint: 0 }, 4)).toThrow(ShapeError);
  });
});

describe('quantizeMultiplier (TFLM QuantizeMultiplier)', () => {
  it('maps scales to a Q31 multiplier in [2^30, 2^31) and a shift', () => {
    expect(quantizeMultiplier(0.5)).toEqual({ multiplier: 2 ** 30, shift: 0 });
    expect(quantizeMultiplier(1)).toEqual({ multiplier: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(0.25)).toEqual({ multiplier: 2 ** 30, shift: -1 });
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    // q rounds up to 2^31 -> renormalised.
    expect(quantizeMultiplier(0.9999999999)).toEqual({ multiplier: 2 ** 30, shift: 1 });
    expect(quantizeMultiplier(1e-12)).toEqual({ multiplier: 0, shift: 0 });
    const r = rng(3);
    for (let i = 0; i < 10000; i++) {
      const scale = Math.exp((r() - 0.5) * 30);
      const { multiplier, shift } = quantizeMultiplier(scale);
      expect(multiplier).toBeGreaterThanOrEqual(2 ** 30);
      expect(multiplier).toBeLessThan(2 ** 31);
      expect(Math.abs((multiplier / 2 ** 31) * 2 ** shift - scale) / scale).toBeLessThan(1e-9);
    }
  });
});
