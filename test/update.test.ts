import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt16, randomInt8, type Bench } from './helpers/devices.js';
import { multiplyByQuantizedMultiplierRef } from './reference/tflm.js';
import { streamKeyRef, zAtRef } from './reference/rng-ref.js';
import { makeUpdateMultiplier, prepareUpdate, updateWeights, type UpdateStep } from '../src/kernels/update.js';
import { makePerturbSpec, perturbWeights, type WeightBits } from '../src/kernels/perturb.js';
import { DELTA_Z, ONE_Q } from '../src/kernels/rng.js';
import type { ZDistribution } from '../src/kernels/perturb-spec.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(16 * 1024 * 1024);
});

interface Case {
  bits: WeightBits;
  dist: ZDistribution;
  keys: number[];
  signs: number[];
  start: number;
  multiplier: number;
  shift: number;
  /** Bitmap bytes, or null for a dense update. */
  mask: Uint8Array | null;
}

/** wq ← clamp(wq − requant(Σ_j s_j·z_j)), written from the paper with the BigInt TFLM reference. */
function updateRef(w: Int16Array | Int8Array, c: Case): number[] {
  const limit = c.bits === 16 ? 32767 : 127;
  return Array.from(w, (wq, i) => {
    if (c.mask && !((c.mask[i >> 3]! >> (i & 7)) & 1)) return wq;
    let g = 0;
    for (let j = 0; j < c.keys.length; j++) g += c.signs[j]! * zAtRef(c.keys[j]!, c.start + i, c.dist, ONE_Q);
    const y = wq - multiplyByQuantizedMultiplierRef(g, c.multiplier, c.shift);
    return Math.min(limit, Math.max(-limit, y));
  });
}

function runUpdate(b: Bench, w: Int16Array | Int8Array, c: Case): number[] {
  b.arena.reset();
  const weights = b.arena.put(w, 'weights');
  const mask = c.mask ? b.arena.put(c.mask, 'mask') : null;
  const prepared = prepareUpdate(b.arena, { directions: c.keys.length, dist: c.dist, multiplier: c.multiplier, shift: c.shift });
  const step: UpdateStep = { keys: c.keys, signs: c.signs, start: c.start, mask };
  updateWeights(b.arena, prepared, weights, w.length, c.bits, step);
  return Array.from(c.bits === 16 ? b.arena.i16(weights) : b.arena.i8(weights));
}

function randomCase(r: () => number, bits: WeightBits, n: number, sparse: boolean): Case {
  const m = randInt(r, 1, 8);
  const q = makeUpdateMultiplier(Math.exp((r() - 0.5) * 6) * (bits === 16 ? 1e-3 : 0.5), bits === 16 ? 1e-4 : 1 / 127, m);
  let mask: Uint8Array | null = null;
  if (sparse) {
    // Densities on both sides of the kernel's switch between per-weight and per-group updates.
    const density = [0.05, 0.1, 0.3, 0.6][randInt(r, 0, 3)]!;
    mask = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) if (r() < density) mask[i >> 3]! |= 1 << (i & 7);
  }
  return {
    bits,
    dist: r() < 0.5 ? 'gaussian' : 'rademacher',
    keys: Array.from({ length: m }, () => randInt(r, 0, 0xffffffff)),
    signs: Array.from({ length: m }, () => randInt(r, -1, 1)),
    start: randInt(r, 0, 1000),
    multiplier: q.multiplier,
    shift: q.shift,
    mask,
  };
}

describe('update_w16 / update_w8: wq ← clamp(wq − requant(Σ s_j·z_j, c))', () => {
  it('equals the TypeScript reference in every build: 60 random cases, dense and sparse, int16 and int8', () => {
    const r = rng(2024);
    for (let t = 0; t < 60; t++) {
      const bits: WeightBits = t % 2 ? 16 : 8;
      const n = randInt(r, 1, 3000);
      const w = bits === 16 ? randomInt16(r, n) : randomInt8(r, n, -127, 127);
      const c = randomCase(r, bits, n, t % 4 >= 2);
      const expected = updateRef(w, c);
      for (const b of benches) {
        const got = runUpdate(b, w, c);
        expect({ build: b.build, t, equal: got.every((v, i) => v === expected[i]) }).toEqual({ build: b.build, t, equal: true });
      }
    }
  });

  it('all signs 0 (gq = 0) leaves every weight bit-identical, even with a large c', () => {
    const r = rng(3);
    const w = randomInt16(r, 4099);
    const q = makeUpdateMultiplier(10, 1e-4, 3);
    for (const b of benches) {
      const got = runUpdate(b, w, { bits: 16, dist: 'gaussian', keys: [1, 2, 3], signs: [0, 0, 0], start: 0, ...q, mask: null });
      expect(got).toEqual(Array.from(w));
    }
  });

  it('changes only the weights whose mask bit is set', () => {
    const r = rng(17);
    const n = 777;
    const w = randomInt16(r, n, -1000, 1000);
    const mask = new Uint8Array(Math.ceil(n / 8));
    const chosen = new Set<number>();
    for (let i = 0; i < n; i += randInt(r, 1, 20)) {
      mask[i >> 3]! |= 1 << (i & 7);
      chosen.add(i);
    }
    const q = makeUpdateMultiplier(0.05, 1e-4, 2);
    const c: Case = { bits: 16, dist: 'gaussian', keys: [11, 12], signs: [1, -1], start: 0, multiplier: q.multiplier, shift: q.shift, mask };
    for (const b of benches) {
      const got = runUpdate(b, w, c);
      let moved = 0;
      for (let i = 0; i < n; i++) {
        if (!chosen.has(i)) expect(got[i]).toBe(w[i]);
        else if (got[i] !== w[i]) moved++;
      }
      expect(moved).toBeGreaterThan(chosen.size * 0.8);
      expect(got).toEqual(updateRef(w, c));
    }
  });

  it('clamps at the symmetric grid limits ±32767 / ±127', () => {
    const w16 = Int16Array.from({ length: 1024 }, (_, i) => (i % 2 ? 32767 : -32767));
    const w8 = Int8Array.from({ length: 1024 }, (_, i) => (i % 2 ? 127 : -127));
    const big = makeUpdateMultiplier(1, 1e-4, 1); // c ≈ 276 LSB per z step
    for (const b of benches) {
      const c16: Case = { bits: 16, dist: 'gaussian', keys: [5], signs: [1], start: 0, ...big, mask: null };
      const got16 = runUpdate(b, w16, c16);
      expect(Math.max(...got16)).toBe(32767);
      expect(Math.min(...got16)).toBe(-32767);
      expect(got16).toEqual(updateRef(w16, c16));
      const c8: Case = { bits: 8, dist: 'rademacher', keys: [5], signs: [-1], start: 0, ...makeUpdateMultiplier(1, 1 / 127, 1), mask: null };
      const got8 = runUpdate(b, w8, c8);
      expect(Math.max(...got8)).toBe(127);
      expect(Math.min(...got8)).toBe(-127);
      expect(got8).toEqual(updateRef(w8, c8));
    }
  });
});

describe('a QZO-FF step descends: sign-3-SPSA on a convex quadratic', () => {
  const n = 64;
  const weightScale = 1 / 4096;
  const r = rng(99);
  const target = Float64Array.from({ length: n }, () => (r() - 0.5) * 4);
  const start = Int16Array.from({ length: n }, () => randInt(r, -4 * 4096, 4 * 4096));
  const quadratic = (wq: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (wq[i]! * weightScale - target[i]!) ** 2;
    return s;
  };

  /** Runs `steps` QZO-FF steps with the real loss signs (or their negation) and returns the losses. */
  function train(b: Bench, steps: number, invert: boolean): { losses: number[]; weights: Int16Array } {
    b.arena.reset();
    const weights = b.arena.put(start, 'weights');
    const panel = b.arena.alloc(n * 2, 'panel');
    const m = 3;
    const q = makeUpdateMultiplier(0.1, weightScale, m);
    const prepared = prepareUpdate(b.arena, { directions: m, dist: 'gaussian', multiplier: q.multiplier, shift: q.shift });
    const losses = [quadratic(b.arena.i16(weights))];
    for (let step = 0; step < steps; step++) {
      const keys: number[] = [];
      const signs: number[] = [];
      for (let j = 0; j < m; j++) {
        const base = { seed: step * m + j, tensorId: 0, epsilon: 1e-2, weightScale, dist: 'gaussian', weightBits: 16 } as const;
        const plus = makePerturbSpec({ ...base, sign: 1 }, b.device);
        perturbWeights(b.arena, weights, panel, n, 16, plus);
        const lPlus = quadratic(b.arena.i16(panel));
        perturbWeights(b.arena, weights, panel, n, 16, makePerturbSpec({ ...base, sign: -1 }, b.device));
        const lMinus = quadratic(b.arena.i16(panel));
        keys.push(plus.key);
        signs.push((invert ? -1 : 1) * Math.sign(lPlus - lMinus));
      }
      updateWeights(b.arena, prepared, weights, n, 16, { keys, signs });
      losses.push(quadratic(b.arena.i16(weights)));
    }
    return { losses, weights: b.arena.i16(weights).slice() };
  }

  it('lowers the loss below 5% of its start in 400 steps, identically in every build', () => {
    const runs = benches.map((b) => train(b, 400, false));
    const { losses } = runs[0]!;
    expect(losses.at(-1)!).toBeLessThan(0.05 * losses[0]!);
    for (const run of runs.slice(1)) expect(Array.from(run.weights)).toEqual(Array.from(runs[0]!.weights));
  });

  it('with the loss signs inverted (the MeZO-style bug) the same run climbs instead', () => {
    const { losses } = train(benches[1]!, 400, true);
    expect(losses.at(-1)!).toBeGreaterThan(2 * losses[0]!);
  });
});

describe('makeUpdateMultiplier: c = η·Δz/Δw/m', () => {
  it('represents c as a Q31 multiplier and shift within 2^-31 relative error', () => {
    for (const [lr, scale, m] of [[1e-3, 1e-4, 3], [0.5, 1 / 127, 1], [2e-2, 1 / 4096, 8]] as const) {
      const { c, multiplier, shift } = makeUpdateMultiplier(lr, scale, m);
      expect(c).toBeCloseTo((lr * DELTA_Z) / scale / m, 15);
      expect(Math.abs(((multiplier / 2 ** 31) * 2 ** shift) / c - 1)).toBeLessThan(2 ** -31);
    }
  });

  it('refuses c that is not finite and positive, too small to move any weight, or larger than the grid', () => {
    expect(() => makeUpdateMultiplier(NaN, 1e-4, 3)).toThrow(ConfigError);
    expect(() => makeUpdateMultiplier(0, 1e-4, 3)).toThrow(ConfigError);
    expect(() => makeUpdateMultiplier(-1e-3, 1e-4, 3)).toThrow(ConfigError);
    expect(() => makeUpdateMultiplier(Infinity, 1e-4, 3)).toThrow(ConfigError);
    expect(() => makeUpdateMultiplier(1e-3, 0, 3)).toThrow(ConfigError);
    expect(() => makeUpdateMultiplier(1e-3, 1e-4, 9)).toThrow(ShapeError);
    // 8-bit weights in ±1 with η = 1e-4: the biggest step is 0.04 LSB, so nothing would ever move.
    expect(() => makeUpdateMultiplier(1e-4, 1 / 127, 3)).toThrow(/no weight would ever change/);
    expect(() => makeUpdateMultiplier(1e6, 1e-6, 1)).toThrow(/whole weight grid/);
  });
});

describe('prepareUpdate with staging from the memory plan', () => {
  it('stages keys and signs in the given buffers and allocates nothing', () => {
    const r = rng(4);
    const w = randomInt16(r, 500);
    const q = makeUpdateMultiplier(5e-3, 1e-4, 3);
    const c: Case = { bits: 16, dist: 'gaussian', keys: [7, 8, 9], signs: [1, 0, -1], start: 0, multiplier: q.multiplier, shift: q.shift, mask: null };
    for (const b of benches) {
      b.arena.reset();
      const weights = b.arena.put(w, 'weights');
      const staging = { keys: b.arena.alloc(32, 'plan.keys'), signs: b.arena.alloc(32, 'plan.signs') };
      const used = b.arena.used;
      const prepared = prepareUpdate(b.arena, { directions: 3, dist: 'gaussian', multiplier: q.multiplier, shift: q.shift }, 'u', staging);
      expect(b.arena.used).toBe(used);
      updateWeights(b.arena, prepared, weights, w.length, 16, { keys: c.keys, signs: c.signs });
      expect(Array.from(b.arena.i32(staging.signs).subarray(0, 3))).toEqual([1, 0, -1]);
      expect(Array.from(b.arena.i16(weights))).toEqual(updateRef(w, c));
    }
  });
});

describe('updateWeights argument checks', () => {
  it('rejects mismatched keys/signs, bad signs, short masks, overlapping masks and index overflow', () => {
    const b = benches[0]!;
    b.arena.reset();
    const w = b.arena.alloc(200, 'weights');
    const mask = b.arena.alloc(8, 'mask');
    const q = makeUpdateMultiplier(1e-3, 1e-4, 2);
    const p = prepareUpdate(b.arena, { directions: 2, dist: 'gaussian', multiplier: q.multiplier, shift: q.shift });
    const ok: UpdateStep = { keys: [1, 2], signs: [1, -1] };
    expect(() => updateWeights(b.arena, p, w, 100, 16, { ...ok, keys: [1] })).toThrow(ShapeError);
    expect(() => updateWeights(b.arena, p, w, 100, 16, { ...ok, signs: [1, 2] })).toThrow(ConfigError);
    expect(() => updateWeights(b.arena, p, w, 100, 16, { ...ok, keys: [1, -5] })).toThrow(ConfigError);
    expect(() => updateWeights(b.arena, p, w, 100, 16, { ...ok, mask })).toThrow(ShapeError); // needs 13 B
    expect(() => updateWeights(b.arena, p, w, 101, 16, ok)).toThrow(ShapeError);
    expect(() => updateWeights(b.arena, p, w, 100, 16, { ...ok, mask: { name: 'inside', offset: w.offset + 16, bytes: 13 } })).toThrow(/overlaps/);
    expect(() => updateWeights(b.arena, p, w, 100, 16, { ...ok, start: 2 ** 32 - 50 })).toThrow(ConfigError);
    expect(() => prepareUpdate(b.arena, { directions: 2, dist: 'gaussian', multiplier: 0, shift: 0 })).toThrow(ConfigError);
    const small = b.arena.alloc(4, 'small');
    const cfg = { directions: 2, dist: 'gaussian', multiplier: q.multiplier, shift: q.shift } as const;
    expect(() => prepareUpdate(b.arena, cfg, 'u', { keys: small, signs: mask })).toThrow(ShapeError);
    expect(() => prepareUpdate(b.arena, cfg, 'u', { keys: mask, signs: { ...mask, name: 'same' } })).toThrow(/overlap/);
    expect(() => prepareUpdate(b.arena, { directions: 2, dist: 'gaussian', multiplier: 1 << 30, shift: 17 })).toThrow(ConfigError);
  });
});
