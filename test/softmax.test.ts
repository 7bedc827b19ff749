// The device's int8 softmax (assembly/softmax.ts via src/kernels/softmax.ts) against TFLite's
// reference arithmetic: hand-computed rows, an independent BigInt reference on random rows at
// several input scales, the same bits from every build, in-place use and typed refusals.
import { beforeAll, describe, expect, it } from 'vitest';
import { makeAllBenches, randInt, randomInt8, rng, type Bench } from './helpers/devices.js';
import { prepareSoftmaxI8, softmaxI8, type PreparedSoftmax } from '../src/kernels/softmax.js';
import { softmaxRef } from './reference/softmax-ref.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(1 << 20);
});

function run(b: Bench, x: Int8Array, rows: number, p: PreparedSoftmax, inPlace = false): Int8Array {
  b.arena.reset();
  const src = b.arena.put(x, 'logits');
  const dst = inPlace ? src : b.arena.alloc(x.length, 'probabilities');
  const guard = b.arena.alloc(64, 'guard');
  new Uint8Array(b.device.memory.buffer, guard.offset, 64).fill(0xc3);
  softmaxI8(b.arena, src, dst, rows, x.length / rows, p);
  expect(Array.from(new Uint8Array(b.device.memory.buffer, guard.offset, 64)).every((v) => v === 0xc3), `${b.build}: wrote past its output`).toBe(true);
  return b.arena.i8(dst).slice();
}

describe('softmax_s8 (TFLite int8 SOFTMAX)', () => {
  it('hand-computed rows', () => {
    // Equal logits: every exp is exactly one (Q0.31 max), each term of the Q12.19 sum is 2^19, so
    // n classes sum to n·2^19. n = 4: 2^21 = 1.0·2^2 → reciprocal 1.0, 2^31 >> (2 + 31 − 8) = 64 → −64.
    // n = 2: 2^20 → 128 → 0. n = 1: 2^19 → 256 → clamped to 127. n = 3: 1.5·2^1, reciprocal
    // 2/3 = 1431655765 in Q0.31, >> 24 = 85.33 → 85 → −43.
    const p = prepareSoftmaxI8(1, 0.1, 1 / 256, -128);
    for (const b of benches) {
      expect(Array.from(run(b, new Int8Array([5, 5, 5, 5]), 1, p)), b.build).toEqual([-64, -64, -64, -64]);
      expect(Array.from(run(b, new Int8Array([-7, -7]), 1, p)), b.build).toEqual([0, 0]);
      expect(Array.from(run(b, new Int8Array([100]), 1, p)), b.build).toEqual([127]);
      expect(Array.from(run(b, new Int8Array([3, 3, 3]), 1, p)), b.build).toEqual([-43, -43, -43]);
    }
    // β·scale = 0.4: multiplier 0.8·2^31 with left shift 25, so diff_min = −⌊31·2^26 / 2^25⌋ = −62.
    const q = prepareSoftmaxI8(1, 0.4, 1 / 256, -128);
    expect(q).toEqual({ inputMultiplier: Math.round(0.8 * 2 ** 31), inputLeftShift: 25, diffMin: -62 });
    // A logit 100 below the max is under diff_min: it is not summed and its output is −128; the max
    // alone sums to 2^19 → 127. At exactly −62 it still counts (exp(−24.8) rounds to 0 in Q12.19).
    for (const b of benches) {
      expect(Array.from(run(b, new Int8Array([0, -100]), 1, q)), b.build).toEqual([127, -128]);
      expect(Array.from(run(b, new Int8Array([62, 0]), 1, q)), b.build).toEqual([127, -128]);
    }
  });

  it('matches the independent reference bit for bit, the same in every build', () => {
    const r = rng(0x50f7);
    for (const scale of [0.003, 0.05, 0.1447, 0.17, 0.4, 1.9]) {
      const p = prepareSoftmaxI8(randInt(r, 0, 1) ? 1 : 0.5 + r(), scale, 1 / 256, -128);
      const classes = randInt(r, 1, 40);
      const rows = 50;
      const x = randomInt8(r, rows * classes);
      const want = new Int8Array(rows * classes);
      for (let i = 0; i < rows; i++) want.set(softmaxRef(x.subarray(i * classes, (i + 1) * classes), p), i * classes);
      for (const b of benches) {
        expect(Array.from(run(b, x, rows, p)), `${b.build} scale ${scale}`).toEqual(Array.from(want));
        expect(Array.from(run(b, x, rows, p, true)), `${b.build} in place`).toEqual(Array.from(want));
      }
    }
  });

  it('is within 1 LSB of the exactly rounded softmax', () => {
    const b = benches[0]!;
    const r = rng(7);
    for (const scale of [0.05, 0.1447, 0.4]) {
      const p = prepareSoftmaxI8(1, scale, 1 / 256, -128);
      const x = randomInt8(r, 200 * 12);
      const y = run(b, x, 200, p);
      for (let row = 0; row < 200; row++) {
        const v = Array.from(x.subarray(row * 12, row * 12 + 12));
        const max = Math.max(...v);
        const e = v.map((t) => Math.exp((t - max) * scale));
        const sum = e.reduce((a, t) => a + t, 0);
        e.forEach((t, i) => expect(Math.abs(y[row * 12 + i]! - Math.max(-128, Math.min(127, Math.round((t / sum) * 256) - 128)))).toBeLessThanOrEqual(1));
      }
    }
  });

  it('refuses bad parameters and buffers with typed errors', () => {
    expect(() => prepareSoftmaxI8(1, 0.1, 1 / 255, -128)).toThrow(/1\/256/);
    expect(() => prepareSoftmaxI8(0, 0.1, 1 / 256, -128)).toThrow(ConfigError);
    expect(() => prepareSoftmaxI8(1, Number.NaN, 1 / 256, -128)).toThrow(ConfigError);
    const b = benches[0]!;
    b.arena.reset();
    const p = prepareSoftmaxI8(1, 0.1, 1 / 256, -128);
    const src = b.arena.alloc(32, 'src');
    const dst = b.arena.alloc(32, 'dst');
    expect(() => softmaxI8(b.arena, src, dst, 2, 17, p)).toThrow(ShapeError);
    expect(() => softmaxI8(b.arena, src, dst, 1, 0, p)).toThrow(ShapeError);
    expect(() => softmaxI8(b.arena, src, { ...src, offset: src.offset + 1, name: 'shifted' }, 1, 16, p)).toThrow(ShapeError);
    expect(() => softmaxI8(b.arena, src, dst, 1, 16, { ...p, inputLeftShift: 40 })).toThrow(ShapeError);
    expect(() => softmaxI8(b.arena, src, dst, 1, 16, { ...p, inputMultiplier: -1 })).toThrow(ConfigError);
    expect(() => softmaxI8(b.arena, src, dst, 1, 16, { ...p, diffMin: -300, inputLeftShift: 31 })).toThrow(ConfigError);
    expect(() => softmaxI8(b.arena, { name: 'outside', offset: 0, bytes: 32 }, dst, 1, 16, p)).toThrow(ShapeError);
  });
});
