import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt16, randomInt8, type Bench } from './helpers/devices.js';
import { multiplyByQuantizedMultiplierRef } from './reference/tflm.js';
import { streamKeyRef, zAtRef } from './reference/rng-ref.js';
import { makePerturbSpec, perturbWeights, type WeightBits } from '../src/kernels/perturb.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { ONE_Q } from '../src/kernels/rng.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(16 * 1024 * 1024);
});

const inverse = quantizeMultiplier(1 / ONE_Q);

function spec(key: number, signedEps: number, dist: 'gaussian' | 'rademacher' = 'gaussian', start = 0): PerturbSpec {
  return { key, start, dist, signedEps, oneQ: ONE_Q, multiplier: inverse.multiplier, shift: inverse.shift };
}

/** wq± = clamp(requant(wq·1q ± εq·zq)), written from the paper with the BigInt TFLM reference. */
function perturbRef(w: Int16Array | Int8Array, bits: WeightBits, p: PerturbSpec): number[] {
  const limit = bits === 16 ? 32767 : 127;
  return Array.from(w, (wq, i) => {
    const z = zAtRef(p.key, p.start + i, p.dist, p.oneQ);
    const y = multiplyByQuantizedMultiplierRef(wq * p.oneQ + p.signedEps * z, p.multiplier, p.shift);
    return Math.min(limit, Math.max(-limit, y));
  });
}

function runPerturb(b: Bench, w: Int16Array | Int8Array, bits: WeightBits, p: PerturbSpec): { out: number[]; srcAfter: number[] } {
  b.arena.reset();
  const src = b.arena.put(w, 'weights');
  const dst = b.arena.alloc(w.byteLength, 'panel');
  perturbWeights(b.arena, src, dst, w.length, bits, p);
  const view = bits === 16 ? b.arena.i16(dst) : b.arena.i8(dst);
  const srcView = bits === 16 ? b.arena.i16(src) : b.arena.i8(src);
  return { out: Array.from(view.subarray(0, w.length)), srcAfter: Array.from(srcView.subarray(0, w.length)) };
}

describe('perturbWeights: wq± = requant(wq·1q ± εq·zq) into a scratch panel', () => {
  it('εq = 0 reproduces all 65,535 int16 weights and all 255 int8 weights exactly in every build', () => {
    const all16 = Int16Array.from({ length: 65535 }, (_, i) => i - 32767);
    const all8 = Int8Array.from({ length: 255 }, (_, i) => i - 127);
    for (const b of benches) {
      for (const dist of ['gaussian', 'rademacher'] as const) {
        expect(runPerturb(b, all16, 16, spec(123, 0, dist)).out).toEqual(Array.from(all16));
        expect(runPerturb(b, all8, 8, spec(123, 0, dist)).out).toEqual(Array.from(all8));
      }
    }
  });

  it('+ε and −ε panels equal the BigInt reference formula in every build (int16 and int8, odd sizes, offsets)', () => {
    const r = rng(42);
    for (const [bits, epsQ, start, dist] of [
      [16, 10, 0, 'gaussian'], [16, 317, 77, 'gaussian'], [16, 5000, 0, 'rademacher'], [8, 1, 3, 'gaussian'], [8, 4, 0, 'rademacher'],
    ] as const) {
      const n = 10_007;
      const w = bits === 16 ? randomInt16(r, n) : randomInt8(r, n, -127, 127);
      const key = streamKeyRef(randInt(r, 0, 0xffffffff), randInt(r, 0, 1000));
      for (const sign of [1, -1]) {
        const p = spec(key, sign * epsQ, dist, start);
        const expected = perturbRef(w, bits, p);
        for (const b of benches) {
          const { out } = runPerturb(b, w, bits, p);
          expect({ build: b.build, bits, epsQ: p.signedEps, equal: out.every((v, i) => v === expected[i]) })
            .toEqual({ build: b.build, bits, epsQ: p.signedEps, equal: true });
        }
      }
    }
  });

  it('moves each weight by εq·z/1q rounded, so +ε and −ε panels straddle the weight', () => {
    const w = new Int16Array(4096).fill(100);
    const key = streamKeyRef(1, 1);
    const b = benches[0]!;
    const plus = runPerturb(b, w, 16, spec(key, 36)).out;
    const minus = runPerturb(b, w, 16, spec(key, -36)).out;
    for (let i = 0; i < w.length; i++) {
      const z = zAtRef(key, i, 'gaussian', ONE_Q);
      // εq = 1q: the shift is exactly z weight LSBs.
      expect([plus[i]! - 100, 100 - minus[i]!]).toEqual([z, z]);
    }
  });

  it('saturates at the symmetric grid limits ±32767 / ±127, never reaching −32768 / −128', () => {
    const edge16 = Int16Array.from({ length: 4000 }, (_, i) => [32767, -32767, 32700, -32700][i % 4]!);
    const edge8 = Int8Array.from({ length: 4000 }, (_, i) => [127, -127, 120, -120][i % 4]!);
    for (const b of benches) {
      for (const sign of [1, -1]) {
        const out16 = runPerturb(b, edge16, 16, spec(9, sign * 20000)).out;
        expect(Math.max(...out16)).toBe(32767);
        expect(Math.min(...out16)).toBe(-32767);
        expect(out16).toEqual(perturbRef(edge16, 16, spec(9, sign * 20000)));
        const out8 = runPerturb(b, edge8, 8, spec(9, sign * 100)).out;
        expect(Math.max(...out8)).toBe(127);
        expect(Math.min(...out8)).toBe(-127);
        expect(out8).toEqual(perturbRef(edge8, 8, spec(9, sign * 100)));
      }
    }
  });

  it('never writes the source weights', () => {
    const r = rng(8);
    const w = randomInt16(r, 1001);
    for (const b of benches) {
      const { srcAfter } = runPerturb(b, w, 16, spec(5, 900));
      expect(srcAfter).toEqual(Array.from(w));
    }
  });

  it('refuses a panel that overlaps the source, and out-of-arena or short buffers', () => {
    const b = benches[0]!;
    b.arena.reset();
    const src = b.arena.alloc(200, 'weights');
    const dst = b.arena.alloc(200, 'panel');
    const overlapping = { name: 'alias', offset: src.offset + 2, bytes: 200 };
    expect(() => perturbWeights(b.arena, src, overlapping, 50, 16, spec(1, 1))).toThrow(ShapeError);
    expect(() => perturbWeights(b.arena, src, src, 50, 16, spec(1, 1))).toThrow(/scratch panel/);
    expect(() => perturbWeights(b.arena, src, dst, 101, 16, spec(1, 1))).toThrow(ShapeError);
    expect(() => perturbWeights(b.arena, { name: 'x', offset: 8, bytes: 200 }, dst, 50, 16, spec(1, 1))).toThrow(ShapeError);
    expect(() => perturbWeights(b.arena, src, dst, 50, 12 as WeightBits, spec(1, 1))).toThrow(ConfigError);
    expect(() => perturbWeights(b.arena, src, dst, 50, 16, spec(1, 2 ** 26))).toThrow(ConfigError);
    expect(() => perturbWeights(b.arena, src, dst, 50, 16, spec(1, 1, 'gaussian', 2 ** 32 - 10))).toThrow(ConfigError);
  });
});

describe('makePerturbSpec: from real ε and the weight scale to integers', () => {
  it('computes εq = round(ε/Δw), 1q = 36, the multiplier of 1/1q and the stream key', () => {
    for (const b of benches) {
      const p = makePerturbSpec({ seed: 17, tensorId: 4, epsilon: 1e-3, weightScale: 1 / 4096, dist: 'gaussian', sign: -1, weightBits: 16 }, b.device);
      expect(p).toEqual({
        key: streamKeyRef(17, 4), start: 0, dist: 'gaussian', signedEps: -4, oneQ: 36,
        multiplier: inverse.multiplier, shift: inverse.shift,
      });
    }
    expect(ONE_Q).toBe(Math.round(127 / 3.5));
    // Q31 rounding: relative error below 2^-31.
    expect(Math.abs((inverse.multiplier / 2 ** 31) * 2 ** inverse.shift * 36 - 1)).toBeLessThan(2 ** -31);
  });

  it('refuses ε below half a weight LSB (the 8w8a failure of the paper) with a message that says what to do', () => {
    const device = benches[0]!.device;
    const base = { seed: 1, tensorId: 0, epsilon: 1e-3, dist: 'gaussian', sign: 1, start: 0 } as const;
    // 8-bit grid for weights in ±1: Δw = 1/127, so ε = 1e-3 rounds to 0 LSB.
    expect(() => makePerturbSpec({ ...base, weightScale: 1 / 127, weightBits: 8 }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...base, weightScale: 1 / 127, weightBits: 8 }, device)).toThrow(
      /ε = 0\.001 is below half a weight LSB \(Δw = 0\.00787.*\): use 16-bit weights or a larger ε/,
    );
    // The same ε on the 16-bit grid of the same range is 33 LSB.
    expect(makePerturbSpec({ ...base, weightScale: 1 / 32767, weightBits: 16 }, device).signedEps).toBe(33);
  });

  it('refuses non-finite or non-positive ε and Δw, bad signs, distributions, seeds, and εq that would overflow', () => {
    const device = benches[0]!.device;
    const ok = { seed: 1, tensorId: 0, epsilon: 1e-3, weightScale: 1e-5, dist: 'gaussian', sign: 1, weightBits: 16 } as const;
    expect(() => makePerturbSpec({ ...ok, epsilon: NaN }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...ok, epsilon: -1e-3 }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...ok, weightScale: 0 }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...ok, weightScale: Infinity }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...ok, sign: 0 as 1 }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...ok, dist: 'normal' as 'gaussian' }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...ok, seed: -1 }, device)).toThrow(ConfigError);
    expect(() => makePerturbSpec({ ...ok, epsilon: 1e3 }, device)).toThrow(/overflow/);
  });
});
