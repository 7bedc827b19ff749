import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, type Bench } from './helpers/devices.js';
import {
  GAUSS_THRESHOLDS, erfRef, fillZRef, gaussianBinProbabilities, streamKeyRef, uniformAtRef, zAtRef,
} from './reference/rng-ref.js';
import { DELTA_Z, ONE_Q, fillZ, streamKey, type ZStream } from '../src/kernels/rng.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(64 * 1024 * 1024);
});

const simdBench = (): Bench => benches.find((b) => b.build === 'simd')!;

function deviceZ(b: Bench, count: number, stream: ZStream): Int8Array {
  b.arena.reset();
  const dst = b.arena.alloc(count, 'z');
  fillZ(b.arena, dst, count, stream);
  return b.arena.i8(dst).slice();
}

const sameBytes = (a: Int8Array, b: Int8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** n samples of the Gaussian stream for (seed, tensor), from the (verified identical) simd build. */
function gaussianSamples(seed: number, tensorId: number, n: number): Int8Array {
  const b = simdBench();
  return deviceZ(b, n, { key: streamKey(b.device, seed, tensorId), start: 0, dist: 'gaussian', oneQ: ONE_Q });
}

function correlation(x: Int8Array, y: Int8Array, n = Math.min(x.length, y.length)): number {
  let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i]!, b = y[i]!;
    sx += a; sy += b; sxx += a * a; syy += b * b; sxy += a * b;
  }
  const cov = sxy / n - (sx / n) * (sy / n);
  return cov / Math.sqrt((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2));
}

describe('the perturbation stream is one function of (seed, tensor id, index)', () => {
  it('stream keys from the device equal the TypeScript port for any u32 seed and tensor id', () => {
    const r = rng(11);
    const pairs: [number, number][] = [[0, 0], [0xffffffff, 0xffffffff], [1, 0], [0, 1]];
    for (let i = 0; i < 200; i++) pairs.push([randInt(r, 0, 0xffffffff), randInt(r, 0, 0xffffffff)]);
    for (const b of benches) {
      for (const [seed, id] of pairs) expect(streamKey(b.device, seed, id)).toBe(streamKeyRef(seed, id));
    }
  });

  it('scalar, simd and relaxed builds and the TypeScript port produce identical z, up to index 2^32 − 1', () => {
    // Odd count and unaligned start: exercises the 16-wide SIMD body and the scalar tail.
    const count = 100_003;
    for (const dist of ['gaussian', 'rademacher'] as const) {
      for (const [seed, id, start] of [[7, 3, 0], [0xdeadbeef, 41, 12345], [2, 9, 2 ** 32 - count]] as const) {
        const key = streamKeyRef(seed, id);
        const expected = fillZRef(count, key, start, dist, ONE_Q);
        for (const b of benches) {
          expect({ build: b.build, dist, seed, same: sameBytes(deviceZ(b, count, { key, start, dist, oneQ: ONE_Q }), expected) })
            .toEqual({ build: b.build, dist, seed, same: true });
        }
      }
    }
  });

  it('gives the same z for an index whatever the chunking and start offset of the fills', () => {
    const key = streamKeyRef(99, 5);
    const total = 4099;
    const r = rng(5);
    for (const b of benches) {
      for (const dist of ['gaussian', 'rademacher'] as const) {
        const whole = deviceZ(b, total, { key, start: 0, dist, oneQ: ONE_Q });
        const pieces = new Int8Array(total);
        for (let at = 0; at < total; ) {
          const len = Math.min(total - at, randInt(r, 1, 97));
          pieces.set(deviceZ(b, len, { key, start: at, dist, oneQ: ONE_Q }), at);
          at += len;
        }
        expect(sameBytes(pieces, whole)).toBe(true);
        // A fill starting mid-stream sees the same values as the whole fill at those indices.
        expect(sameBytes(deviceZ(b, 1000, { key, start: 1777, dist, oneQ: ONE_Q }), whole.subarray(1777, 2777))).toBe(true);
      }
    }
  });

  it('Rademacher z is ±1q for whatever 1q is asked for', () => {
    const b = benches[0]!;
    const z = deviceZ(b, 1000, { key: 5, start: 0, dist: 'rademacher', oneQ: 17 });
    expect(new Set(z)).toEqual(new Set([-17, 17]));
  });

  it('rejects bad streams and buffers with typed errors', () => {
    const b = benches[0]!;
    b.arena.reset();
    const dst = b.arena.alloc(64, 'z');
    const ok: ZStream = { key: 1, start: 0, dist: 'gaussian', oneQ: ONE_Q };
    expect(() => fillZ(b.arena, dst, 65, ok)).toThrow(ShapeError);
    expect(() => fillZ(b.arena, dst, 64, { ...ok, start: 2 ** 32 - 10 })).toThrow(ConfigError);
    expect(() => fillZ(b.arena, dst, 64, { ...ok, key: -1 })).toThrow(ConfigError);
    expect(() => fillZ(b.arena, dst, 64, { ...ok, dist: 'uniform' as never })).toThrow(ConfigError);
    expect(() => fillZ(b.arena, dst, 64, { ...ok, oneQ: 0 })).toThrow(ConfigError);
    expect(() => streamKey(b.device, 1.5, 0)).toThrow(ConfigError);
  });
});

describe('statistical quality of the Gaussian z (2^24 samples)', () => {
  const n = 1 << 24;
  const exact = gaussianBinProbabilities();
  let z: Int8Array;
  beforeAll(() => {
    z = gaussianSamples(2024, 1, n);
  });

  it('the committed thresholds are round(P(|Z| < (k + ½)Δz)·2^31) for the true normal law', () => {
    for (let k = 0; k < 127; k++) {
      const p = erfRef(((k + 0.5) * DELTA_Z) / Math.SQRT2);
      expect(Math.abs(GAUSS_THRESHOLDS[k]! - p * 2 ** 31)).toBeLessThanOrEqual(0.5 + 1e-6);
    }
  });

  it('has mean 0 and the exact variance of the clipped, quantized normal (within 5 standard errors)', () => {
    let sum = 0, sumSq = 0;
    for (let i = 0; i < n; i++) {
      const v = z[i]! * DELTA_Z;
      sum += v;
      sumSq += v * v;
    }
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    let exactVar = 0, exactFourth = 0;
    for (let k = -127; k <= 127; k++) {
      exactVar += (k * DELTA_Z) ** 2 * exact[k + 127]!;
      exactFourth += (k * DELTA_Z) ** 4 * exact[k + 127]!;
    }
    // Clipping at ±3.5 loses ~0.09% of the variance; quantization adds ~Δz²/12 ≈ 0.006%.
    expect(exactVar).toBeGreaterThan(0.9985);
    expect(exactVar).toBeLessThan(0.9995);
    const varStdErr = Math.sqrt((exactFourth - exactVar ** 2) / n);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(exactVar / n));
    expect(Math.abs(variance - exactVar)).toBeLessThan(5 * varStdErr);
  });

  it('matches the exact int8 bin probabilities: chi-square over 255 bins within df ± 6·sqrt(2·df)', () => {
    const counts = new Float64Array(255);
    for (let i = 0; i < n; i++) counts[z[i]! + 127]! += 1;
    let chi2 = 0;
    for (let k = 0; k < 255; k++) {
      const e = n * exact[k]!;
      expect(e).toBeGreaterThan(100); // every bin is well populated: the chi-square law applies
      chi2 += (counts[k]! - e) ** 2 / e;
    }
    const df = 254;
    // Wilson–Hilferty puts the ~1e-8 tails of χ²(254) near 254 ± 6·sqrt(508); moving 0.1% of the
    // probability mass between two central bins would add ~3000 here.
    expect(chi2).toBeLessThan(df + 6 * Math.sqrt(2 * df));
    expect(chi2).toBeGreaterThan(df - 6 * Math.sqrt(2 * df));
  });

  it('is uncorrelated across adjacent indices, tensor ids and seeds (|ρ| < 5/√n)', () => {
    const bound = 5 / Math.sqrt(n);
    expect(Math.abs(correlation(z.subarray(0, n - 1), z.subarray(1)))).toBeLessThan(bound);
    expect(Math.abs(correlation(z.subarray(0, n - 2), z.subarray(2)))).toBeLessThan(bound);
    const m = 1 << 22;
    const otherTensor = gaussianSamples(2024, 2, m);
    const otherSeed = gaussianSamples(2025, 1, m);
    const bound22 = 5 / Math.sqrt(m);
    expect(Math.abs(correlation(z, otherTensor, m))).toBeLessThan(bound22);
    expect(Math.abs(correlation(z, otherSeed, m))).toBeLessThan(bound22);
    // The magnitudes (not only the signs) are independent too.
    const abs = (a: Int8Array) => Int8Array.from(a.subarray(0, m), Math.abs);
    expect(Math.abs(correlation(abs(z), abs(otherSeed), m))).toBeLessThan(bound22);
    expect(Math.abs(correlation(abs(z).subarray(0, m - 1), abs(z).subarray(1), m - 1))).toBeLessThan(bound22);
  });
});

describe('quality of the Rademacher stream and of the uniform hash', () => {
  it('Rademacher signs are balanced and their runs have the length law of fair coin flips', () => {
    const b = simdBench();
    const n = 1 << 22;
    const z = deviceZ(b, n, { key: streamKey(b.device, 77, 0), start: 0, dist: 'rademacher', oneQ: ONE_Q });
    let plus = 0, runs = 1;
    for (let i = 0; i < n; i++) {
      if (z[i]! > 0) plus++;
      if (i > 0 && z[i] !== z[i - 1]) runs++;
    }
    expect(Math.abs(plus - n / 2)).toBeLessThan(5 * Math.sqrt(n) / 2);
    // Wald–Wolfowitz: for fair flips, E[runs] = (n + 1)/2, sd ≈ √n/2.
    expect(Math.abs(runs - (n + 1) / 2)).toBeLessThan(5 * Math.sqrt(n) / 2);
  });

  it('uniformAt avalanches: flipping any index or key bit flips each output bit with probability ½ ± 0.02', () => {
    const r = rng(31);
    const trials = 20_000;
    const flips = new Float64Array(64 * 32);
    for (let t = 0; t < trials; t++) {
      const key = randInt(r, 0, 0xffffffff);
      const index = randInt(r, 0, 0xffffffff);
      const base = uniformAtRef(key, index);
      for (let bit = 0; bit < 32; bit++) {
        const byIndex = (base ^ uniformAtRef(key, (index ^ (1 << bit)) >>> 0)) >>> 0;
        const byKey = (base ^ uniformAtRef((key ^ (1 << bit)) >>> 0, index)) >>> 0;
        for (let out = 0; out < 32; out++) {
          flips[bit * 32 + out]! += (byIndex >>> out) & 1;
          flips[(32 + bit) * 32 + out]! += (byKey >>> out) & 1;
        }
      }
    }
    // 0.02 is 5.7 standard errors at 20,000 trials.
    let worst = 0;
    for (const f of flips) worst = Math.max(worst, Math.abs(f / trials - 0.5));
    expect(worst).toBeLessThan(0.02);
  });

  it('consecutive indices give uniform draws whose low and high bits are both unbiased', () => {
    const key = streamKeyRef(3, 3);
    const n = 200_000;
    const ones = new Float64Array(32);
    for (let i = 0; i < n; i++) {
      const u = uniformAtRef(key, i);
      for (let bit = 0; bit < 32; bit++) ones[bit]! += (u >>> bit) & 1;
    }
    for (const c of ones) expect(Math.abs(c - n / 2)).toBeLessThan(5 * Math.sqrt(n) / 2);
    // The port's z is built on this same hash, and matches the device bit for bit (above).
    expect(zAtRef(key, 0, 'rademacher', ONE_Q)).toBe(uniformAtRef(key, 0) >>> 31 ? -ONE_Q : ONE_Q);
  });
});
