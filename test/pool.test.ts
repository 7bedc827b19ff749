import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt8, type Bench } from './helpers/devices.js';
import { avgPool2dRef, globalAvgPoolRef, maxPool2dRef, roundedDivRef, type PoolRefArgs } from './reference/layers-ref.js';
import { avgPool2d, globalAvgPool, maxPool2d, pool2dOutputShape, type Pool2DParams } from '../src/kernels/pool.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import type { DeviceBuffer } from '../src/device/arena.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(8 * 1024 * 1024);
});

type PoolFn = typeof avgPool2d;

function runPool(b: Bench, fn: PoolFn, p: Pool2DParams, input: Int8Array): Int8Array {
  b.arena.reset();
  const { height, width } = pool2dOutputShape(p);
  const inBuf = b.arena.put(input, 'input');
  const bytes = p.batch * height * width * p.channels;
  // Output right after the input (SIMD tail loads of the input land on it) and exactly sized,
  // so any store past it shows in the guard behind it.
  const outBuf = b.arena.alloc(bytes, 'output');
  const guard = guardAfter(b, outBuf.offset + bytes);
  b.arena.u8(outBuf).fill(0x77);
  fn(b.arena, inBuf, outBuf, p);
  expect(guard(), `${b.build}: bytes after the output were written`).toBe(true);
  return b.arena.i8(outBuf).slice();
}

/** Fills the 48 bytes from `offset` (past a buffer's end) with a pattern; returns a checker. */
function guardAfter(b: Bench, offset: number): () => boolean {
  const view = new Uint8Array(b.device.memory.buffer, offset, 48);
  b.arena.alloc(64, 'guard');
  view.fill(0xc3);
  return () => view.every((v) => v === 0xc3);
}

function runGlobal(b: Bench, input: Int8Array, batch: number, H: number, W: number, C: number, actMin?: number, actMax?: number): Int8Array {
  b.arena.reset();
  const inBuf = b.arena.put(input, 'input');
  const outBuf = b.arena.alloc(batch * C, 'output');
  const guard = guardAfter(b, outBuf.offset + batch * C);
  globalAvgPool(b.arena, inBuf, outBuf, { batch, height: H, width: W, channels: C, actMin, actMax });
  expect(guard(), `${b.build}: bytes after the output were written`).toBe(true);
  return b.arena.i8(outBuf).slice();
}

function refArgs(p: Pool2DParams, input: Int8Array): PoolRefArgs {
  return {
    batch: p.batch, inH: p.inHeight, inW: p.inWidth, C: p.channels, fH: p.filterHeight, fW: p.filterWidth,
    strideH: p.strideHeight, strideW: p.strideWidth, padding: p.padding, actMin: p.actMin ?? -128, actMax: p.actMax ?? 127, input,
  };
}

function expectEqual(got: Int8Array, expected: Int8Array, label: string): void {
  const firstBad = got.findIndex((v, i) => v !== expected[i]);
  expect({ label, firstBad, length: got.length }).toEqual({ label, firstBad: -1, length: expected.length });
}

describe('max and average pooling (TFLM reference_integer_ops semantics)', () => {
  it('all builds match the naive reference on channels 1..33, filters 2×2/3×3/1×1/10×4, stride 1/2, same/valid', () => {
    const r = rng(42);
    for (const channels of [1, 3, 7, 13, 16, 17, 33]) {
      for (const [fH, fW] of [[2, 2], [3, 3], [1, 1], [10, 4]] as const) {
        for (const stride of [1, 2]) {
          for (const padding of ['same', 'valid'] as const) {
            const inHeight = padding === 'valid' ? fH + randInt(r, 0, 5) : randInt(r, 1, 9);
            const inWidth = padding === 'valid' ? fW + randInt(r, 0, 6) : randInt(r, 1, 10);
            const clamp = r() < 0.3;
            const p: Pool2DParams = {
              batch: randInt(r, 1, 2), inHeight, inWidth, channels, filterHeight: fH, filterWidth: fW,
              strideHeight: stride, strideWidth: stride, padding,
              ...(clamp ? { actMin: randInt(r, -100, 0), actMax: randInt(r, 1, 100) } : {}),
            };
            const input = randomInt8(r, p.batch * inHeight * inWidth * channels);
            const label = `C=${channels} ${fH}x${fW} s${stride} ${padding}`;
            const expectedAvg = avgPool2dRef(refArgs(p, input));
            const expectedMax = maxPool2dRef(refArgs(p, input));
            for (const b of benches) {
              expectEqual(runPool(b, avgPool2d, p, input), expectedAvg, `avg ${label} ${b.build}`);
              expectEqual(runPool(b, maxPool2d, p, input), expectedMax, `max ${label} ${b.build}`);
            }
          }
        }
      }
    }
  });

  it('rounds half away from zero on ties and handles all -128 / all 127 windows, including padded corners', () => {
    // Channel 0 holds a pattern whose 2-tap windows sum to odd values (ties at .5); the others
    // hold the extremes. Same padding with 3×3 gives corner windows of 4 and edges of 6 taps.
    const C = 19;
    const H = 5;
    const W = 6;
    const input = new Int8Array(H * W * C);
    for (let i = 0; i < H * W; i++) {
      input[i * C] = i % 2 ? -3 : 2;
      input[i * C + 1] = i % 2 ? 3 : -2;
      for (let c = 2; c < C; c++) input[i * C + c] = c % 2 ? -128 : 127;
    }
    for (const [fH, fW] of [[1, 2], [3, 3], [2, 1]] as const) {
      const p: Pool2DParams = {
        batch: 1, inHeight: H, inWidth: W, channels: C, filterHeight: fH, filterWidth: fW,
        strideHeight: 1, strideWidth: 1, padding: 'same',
      };
      const expected = avgPool2dRef(refArgs(p, input));
      for (const b of benches) expectEqual(runPool(b, avgPool2d, p, input), expected, `ties ${fH}x${fW} ${b.build}`);
    }
    // The reference's rounding itself: ties go away from zero, zero stays zero.
    expect([roundedDivRef(5, 2), roundedDivRef(-5, 2), roundedDivRef(-1, 2), roundedDivRef(1, 2), roundedDivRef(0, 3), roundedDivRef(-4, 3)]).toEqual([3, -3, -1, 1, 0, -1]);
  });

  it('sums windows of more than 256 taps exactly (the i16 partial sums are widened in time)', () => {
    const r = rng(9);
    const p: Pool2DParams = {
      batch: 1, inHeight: 20, inWidth: 20, channels: 17, filterHeight: 20, filterWidth: 20,
      strideHeight: 1, strideWidth: 1, padding: 'valid',
    };
    for (const fill of [-128, 127, null]) {
      const input = fill === null ? randomInt8(r, 20 * 20 * 17, 90, 127) : new Int8Array(20 * 20 * 17).fill(fill);
      const expected = avgPool2dRef(refArgs(p, input));
      for (const b of benches) expectEqual(runPool(b, avgPool2d, p, input), expected, `400 taps fill=${fill} ${b.build}`);
    }
  });

  it('never depends on the bytes just past the input, which SIMD loads of narrow maps read', () => {
    const r = rng(13);
    const p: Pool2DParams = {
      batch: 1, inHeight: 3, inWidth: 4, channels: 5, filterHeight: 2, filterWidth: 2, strideHeight: 1, strideWidth: 1, padding: 'same',
    };
    const input = randomInt8(r, 60);
    for (const fn of [avgPool2d, maxPool2d]) {
      const results = [0x00, 0x7f, 0x80].map((fill) => {
        const b = benches[1]!;
        b.arena.reset();
        const inBuf = b.arena.put(input, 'input');
        const after = b.arena.alloc(64, 'after-input');
        b.device.bytes.fill(fill, inBuf.offset + inBuf.bytes, after.offset + 64);
        const outBuf = b.arena.alloc(60, 'output');
        fn(b.arena, inBuf, outBuf, p);
        return Array.from(b.arena.i8(outBuf));
      });
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
    }
  });

  it('computes output shapes by TFLite rules', () => {
    const p: Pool2DParams = {
      batch: 1, inHeight: 9, inWidth: 10, channels: 1, filterHeight: 3, filterWidth: 2,
      strideHeight: 2, strideWidth: 3, padding: 'same',
    };
    expect(pool2dOutputShape(p)).toEqual({ height: 5, width: 4 });
    expect(pool2dOutputShape({ ...p, padding: 'valid' })).toEqual({ height: 4, width: 3 });
  });
});

describe('global average pooling', () => {
  it('all builds match the reference for channels 1..33 and maps from 1×1 to 31×17 (527 pixels)', () => {
    const r = rng(11);
    for (const C of [1, 3, 7, 13, 16, 17, 33]) {
      for (const [H, W] of [[1, 1], [3, 5], [7, 7], [31, 17]] as const) {
        const batch = randInt(r, 1, 3);
        const input = randomInt8(r, batch * H * W * C);
        const expected = globalAvgPoolRef(input, batch, H, W, C, -128, 127);
        for (const b of benches) expectEqual(runGlobal(b, input, batch, H, W, C), expected, `C=${C} ${H}x${W} ${b.build}`);
      }
    }
  });

  it('stays exact at the extremes and applies the activation clamp', () => {
    for (const fill of [-128, 127]) {
      const input = new Int8Array(1 * 24 * 24 * 18).fill(fill);
      for (const b of benches) {
        expect(Array.from(runGlobal(b, input, 1, 24, 24, 18))).toEqual(new Array(18).fill(fill));
        expect(Array.from(runGlobal(b, input, 1, 24, 24, 18, -5, 9))).toEqual(new Array(18).fill(fill < 0 ? -5 : 9));
      }
    }
  });
});

describe('pooling argument checks', () => {
  it('rejects bad arguments with typed errors', () => {
    const b = benches[0]!;
    b.arena.reset();
    const p: Pool2DParams = {
      batch: 1, inHeight: 4, inWidth: 4, channels: 3, filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2, padding: 'valid',
    };
    const input = b.arena.alloc(48, 'input');
    const output = b.arena.alloc(12, 'output');
    const run = (q: Partial<Pool2DParams>, out: DeviceBuffer = output, inp: DeviceBuffer = input) => maxPool2d(b.arena, inp, out, { ...p, ...q });
    expect(() => run({})).not.toThrow();
    expect(() => avgPool2d(b.arena, input, output, p)).not.toThrow();
    expect(() => run({ padding: 'causal' as never })).toThrow(ConfigError);
    expect(() => run({ actMin: 10, actMax: 5 })).toThrow(ConfigError);
    expect(() => run({ actMax: 200 })).toThrow(ConfigError);
    expect(() => run({ strideWidth: 0 })).toThrow(ShapeError);
    expect(() => run({ filterHeight: 5 })).toThrow(ShapeError); // valid window larger than the input
    expect(() => run({ channels: 4 })).toThrow(ShapeError); // input buffer too small
    expect(() => run({}, { ...output, bytes: 11 })).toThrow(ShapeError);
    expect(() => run({}, input)).toThrow(ShapeError); // in place
    expect(() => run({}, output, { name: 'outside', offset: 16, bytes: 48 })).toThrow(ShapeError);
    expect(() => globalAvgPool(b.arena, input, output, { batch: 1, height: 4, width: 4, channels: 3 })).not.toThrow();
    expect(() => globalAvgPool(b.arena, input, output, { batch: 1, height: 4, width: 4, channels: 4 })).toThrow(ShapeError);
    expect(() => globalAvgPool(b.arena, input, output, { batch: 1, height: 0, width: 4, channels: 3 })).toThrow(ShapeError);
    expect(() => globalAvgPool(b.arena, input, output, { batch: 1, height: 4, width: 4, channels: 3, actMin: -129 })).toThrow(ConfigError);
  });
});
