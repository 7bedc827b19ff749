import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt8, type Bench } from './helpers/devices.js';
import { addRef, prepareAddRef } from './reference/layers-ref.js';
import { addI8, prepareAdd, type AddQuant, type PreparedAdd } from '../src/kernels/eltwise.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(4 * 1024 * 1024);
});

function runAdd(b: Bench, x: Int8Array, y: Int8Array, p: PreparedAdd, inPlace = false): Int8Array {
  b.arena.reset();
  const a = b.arena.put(x, 'a');
  const c = b.arena.put(y, 'b');
  const out = inPlace ? a : b.arena.alloc(x.length, 'out');
  // Any store past the output's last byte shows in this guard.
  const guard = new Uint8Array(b.device.memory.buffer, out.offset + x.length, 48);
  if (!inPlace) {
    b.arena.alloc(64, 'guard');
    guard.fill(0xc3);
  }
  const before = guard.slice();
  addI8(b.arena, a, c, out, x.length, p);
  expect(Buffer.compare(Buffer.from(guard), Buffer.from(before)), `${b.build}: bytes after the output were written`).toBe(0);
  return b.arena.i8(out).slice();
}

function randomQuant(r: () => number): AddQuant {
  const sA = 10 ** (r() * 3 - 3);
  const sB = sA * 10 ** (r() * 2 - 1);
  return {
    scaleA: sA, zeroPointA: randInt(r, -128, 127),
    scaleB: sB, zeroPointB: randInt(r, -128, 127),
    scaleOut: Math.max(sA, sB) * (0.5 + 2 * r()), zeroPointOut: randInt(r, -128, 127),
  };
}

function referenceAdd(x: Int8Array, y: Int8Array, q: AddQuant): Int8Array {
  const p = prepareAddRef(q.scaleA, q.zeroPointA, q.scaleB, q.zeroPointB, q.scaleOut, q.zeroPointOut);
  return Int8Array.from(x, (v, i) => addRef(v, y[i]!, p, q.actMin ?? -128, q.actMax ?? 127));
}

describe('prepareAdd (TFLM add.cc Prepare)', () => {
  it('derives the same integers as TFLM Prepare on 2000 random scale/zero-point sets', () => {
    const r = rng(1);
    for (let i = 0; i < 2000; i++) {
      const q = randomQuant(r);
      const ref = prepareAddRef(q.scaleA, q.zeroPointA, q.scaleB, q.zeroPointB, q.scaleOut, q.zeroPointOut);
      expect(prepareAdd(q)).toEqual({ ...ref, actMin: -128, actMax: 127 });
    }
  });

  it('gives the larger-scale input multiplier 0.5 (2^30, shift 0) and uses float32 scales as TFLite does', () => {
    const p = prepareAdd({ scaleA: 0.1, zeroPointA: 0, scaleB: 0.05, zeroPointB: 0, scaleOut: 0.2, zeroPointOut: 0 });
    expect([p.input1Multiplier, p.input1Shift]).toEqual([2 ** 30, 0]);
    expect([p.input2Multiplier, p.input2Shift]).toEqual([2 ** 30, -1]);
    expect(p.leftShift).toBe(20);
    // 0.1 is not a float32: the double and float32 ratios differ in the last multiplier bits.
    const viaF32 = prepareAdd({ scaleA: 0.1, zeroPointA: 0, scaleB: 0.3, zeroPointB: 0, scaleOut: 0.7, zeroPointOut: 0 });
    const ratio = Math.fround(0.1) / (2 * Math.fround(0.3));
    // ratio lies in [0.125, 0.25): multiplier round(ratio·2^33), shift -2.
    expect([viaF32.input1Multiplier, viaF32.input1Shift]).toEqual([Math.round(ratio * 2 ** 33), -2]);
    expect(viaF32.input1Multiplier).not.toBe(Math.round((0.1 / 0.6) * 2 ** 33));
  });

  it('rejects scales TFLM would reject, with ConfigError', () => {
    const ok: AddQuant = { scaleA: 0.1, zeroPointA: 0, scaleB: 0.1, zeroPointB: 0, scaleOut: 0.1, zeroPointOut: 0 };
    expect(() => prepareAdd(ok)).not.toThrow();
    expect(() => prepareAdd({ ...ok, scaleA: 0 })).toThrow(ConfigError);
    expect(() => prepareAdd({ ...ok, scaleB: -1 })).toThrow(ConfigError);
    expect(() => prepareAdd({ ...ok, scaleOut: Number.NaN })).toThrow(ConfigError);
    expect(() => prepareAdd({ ...ok, scaleOut: 1e-9 })).toThrow(ConfigError); // output multiplier >= 1
    expect(() => prepareAdd({ ...ok, zeroPointA: 128 })).toThrow(ConfigError);
    expect(() => prepareAdd({ ...ok, zeroPointOut: 1.5 })).toThrow(ConfigError);
    expect(() => prepareAdd({ ...ok, actMin: 3, actMax: 2 })).toThrow(ConfigError);
  });
});

describe('addI8 (TFLM quantized Add)', () => {
  it('all builds match the TFLM AddFunc reference for counts 1..1000 and random quantizations', () => {
    const r = rng(2);
    for (const count of [1, 3, 7, 13, 15, 16, 17, 33, 64, 1000]) {
      for (let rep = 0; rep < 8; rep++) {
        const q = randomQuant(r);
        if (rep % 3 === 0) Object.assign(q, { actMin: randInt(r, -128, 0), actMax: randInt(r, 0, 127) });
        const x = randomInt8(r, count);
        const y = randomInt8(r, count);
        if (rep === 1) {
          x.fill(-128);
          y.fill(127);
        }
        const expected = referenceAdd(x, y, q);
        const p = prepareAdd(q);
        for (const b of benches) {
          const got = runAdd(b, x, y, p);
          const firstBad = got.findIndex((v, i) => v !== expected[i]);
          expect({ build: b.build, count, rep, firstBad }).toEqual({ build: b.build, count, rep, firstBad: -1 });
        }
      }
    }
  });

  it('reproduces a tensor when its zero-valued partner and the output share its scale and zero point', () => {
    const r = rng(3);
    for (const zp of [-128, -5, 0, 77, 127]) {
      const x = Int8Array.from({ length: 37 }, (_, i) => (i * 7 - 128) % 256);
      x[0] = -128;
      x[1] = 127;
      const zpB = randInt(r, -128, 127);
      const zeros = new Int8Array(37).fill(zpB);
      const p = prepareAdd({ scaleA: 0.0371, zeroPointA: zp, scaleB: 0.0371, zeroPointB: zpB, scaleOut: 0.0371, zeroPointOut: zp });
      for (const b of benches) {
        expect(Array.from(runAdd(b, x, zeros, p))).toEqual(Array.from(x));
        expect(Array.from(runAdd(b, zeros, x, p))).toEqual(Array.from(x));
      }
    }
  });

  it('rounds ties away from zero: equal input scales, output scale doubled gives (a + b) / 2', () => {
    const x = Int8Array.from({ length: 29 }, (_, i) => i * 9 - 128);
    const y = Int8Array.from({ length: 29 }, (_, i) => (i % 2 ? 0 : 1) - 64 + i);
    const q: AddQuant = { scaleA: 0.02, zeroPointA: 0, scaleB: 0.02, zeroPointB: 0, scaleOut: 0.04, zeroPointOut: 0 };
    const expected = Int8Array.from(x, (v, i) => {
      const sum = v + y[i]!;
      return Math.sign(sum) * Math.round(Math.abs(sum) / 2);
    });
    expect(Array.from(referenceAdd(x, y, q))).toEqual(Array.from(expected));
    // The pattern does contain negative and positive ties.
    expect(Array.from(x, (v, i) => v + y[i]!).some((s) => s < 0 && s % 2 !== 0)).toBe(true);
    expect(Array.from(x, (v, i) => v + y[i]!).some((s) => s > 0 && s % 2 !== 0)).toBe(true);
    for (const b of benches) expect(Array.from(runAdd(b, x, y, prepareAdd(q)))).toEqual(Array.from(expected));
  });

  it('approximates the real sum to within one output step on random data', () => {
    const r = rng(4);
    for (let rep = 0; rep < 20; rep++) {
      const q = randomQuant(r);
      const x = randomInt8(r, 100);
      const y = randomInt8(r, 100);
      const got = runAdd(benches[1]!, x, y, prepareAdd(q));
      for (let i = 0; i < 100; i++) {
        const real = q.scaleA * (x[i]! - q.zeroPointA) + q.scaleB * (y[i]! - q.zeroPointB);
        const ideal = Math.min(127, Math.max(-128, real / q.scaleOut + q.zeroPointOut));
        expect(Math.abs(got[i]! - ideal)).toBeLessThanOrEqual(1.01);
      }
    }
  });

  it('works in place (out = a) in every build', () => {
    const r = rng(5);
    const q = randomQuant(r);
    const x = randomInt8(r, 45);
    const y = randomInt8(r, 45);
    const expected = referenceAdd(x, y, q);
    for (const b of benches) expect(Array.from(runAdd(b, x, y, prepareAdd(q), true))).toEqual(Array.from(expected));
  });

  it('rejects bad arguments with typed errors', () => {
    const b = benches[0]!;
    b.arena.reset();
    const a = b.arena.alloc(32, 'a');
    const c = b.arena.alloc(32, 'b');
    const out = b.arena.alloc(32, 'out');
    const p = prepareAdd({ scaleA: 0.1, zeroPointA: 0, scaleB: 0.1, zeroPointB: 0, scaleOut: 0.1, zeroPointOut: 0 });
    expect(() => addI8(b.arena, a, c, out, 32, p)).not.toThrow();
    expect(() => addI8(b.arena, a, c, out, 33, p)).toThrow(ShapeError);
    expect(() => addI8(b.arena, a, c, out, -1, p)).toThrow(ShapeError);
    expect(() => addI8(b.arena, a, c, { ...a, offset: a.offset + 1, name: 'shifted' }, 16, p)).toThrow(ShapeError);
    expect(() => addI8(b.arena, a, c, out, 32, { ...p, input1Shift: 1 })).toThrow(ConfigError);
    expect(() => addI8(b.arena, a, c, out, 32, { ...p, outputMultiplier: -(2 ** 31) })).toThrow(ConfigError);
    expect(() => addI8(b.arena, a, c, out, 32, { ...p, leftShift: 24 })).toThrow(ShapeError);
    expect(() => addI8(b.arena, a, c, out, 32, { ...p, actMin: -200 })).toThrow(ConfigError);
    expect(() => addI8(b.arena, { name: 'outside', offset: 0, bytes: 32 }, c, out, 32, p)).toThrow(ShapeError);
  });
});
