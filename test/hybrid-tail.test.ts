// The hybrid's tail kernels (assembly/tail_grad.ts, src/kernels/tail-grad.ts): the gradient sums and
// the SGD step against an independent BigInt reference of the int64 formula, identical bits in every
// build, the step factor's (multiplier, shift), and bad arguments refused with a typed error before
// anything on the device is written.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { makeAllBenches, type Bench } from './helpers/devices.js';
import {
  accumulateTailGradient, applyTailStep, makeTailStep, tailGradBytes, writeTailGeometry, MAX_TAIL_POSITIONS,
  type TailGeometry, type TailGradBuffers, type TailGradInputs,
} from '../src/kernels/tail-grad.js';
import { paddedAxis } from '../src/kernels/geometry.js';
import { ConfigError, LastmileError, ShapeError } from '../src/errors.js';
import type { DeviceBuffer } from '../src/device/arena.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(4 * 1024 * 1024);
});

const LIMIT = (1n << 47n) - 1n;

/** round(v / 2^s), half away from zero, in BigInt. */
function roundShift(v: bigint, s: bigint): bigint {
  const half = 1n << (s - 1n);
  return v >= 0n ? (v + half) >> s : -((-v + half) >> s);
}
const saturate = (v: bigint): bigint => (v > LIMIT ? LIMIT : v < -LIMIT ? -LIMIT : v);

interface GradCase {
  geom: TailGeometry;
  rows: number;
  classes: number;
  headBits: 8 | 16;
  delta: Int32Array;
  headW: Int8Array | Int16Array;
  x: Int8Array;
  zx: number;
  gate: Int8Array;
  lo: number;
  hi: number;
  priorW: BigInt64Array;
  priorB: BigInt64Array;
}

/** The tail gradient as the comment in tail_grad.ts states it, written out directly in BigInt. */
function referenceGradient(c: GradCase): { w: bigint[]; b: bigint[] } {
  const g = c.geom;
  const k = g.kernelHeight * g.kernelWidth * g.inChannels;
  const w = Array.from(c.priorW);
  const b = Array.from(c.priorB);
  for (let r = 0; r < c.rows; r++) {
    for (let o = 0; o < g.outChannels; o++) {
      let s = 0n;
      for (let cl = 0; cl < c.classes; cl++) s += BigInt(c.delta[r * c.classes + cl]!) * BigInt(c.headW[cl * g.outChannels + o]!);
      const go = roundShift(s, 15n);
      const P = new Array<bigint>(k).fill(0n);
      let passed = 0n;
      for (let oy = 0; oy < g.outHeight; oy++) {
        for (let ox = 0; ox < g.outWidth; ox++) {
          const v = c.gate[((r * g.outHeight + oy) * g.outWidth + ox) * g.outChannels + o]!;
          if (!(c.lo < v && v < c.hi)) continue;
          passed++;
          for (let ky = 0; ky < g.kernelHeight; ky++) {
            for (let kx = 0; kx < g.kernelWidth; kx++) {
              const iy = oy * g.strideHeight - g.padTop + ky;
              const ix = ox * g.strideWidth - g.padLeft + kx;
              for (let i = 0; i < g.inChannels; i++) {
                // A padding tap reads zero in real units: it contributes nothing.
                const xv = iy < 0 || iy >= g.inHeight || ix < 0 || ix >= g.inWidth ? 0 : c.x[((r * g.inHeight + iy) * g.inWidth + ix) * g.inChannels + i]! - c.zx;
                P[(ky * g.kernelWidth + kx) * g.inChannels + i]! += BigInt(xv);
              }
            }
          }
        }
      }
      for (let j = 0; j < k; j++) w[o * k + j] = saturate(w[o * k + j]! + go * P[j]!);
      b[o] = saturate(b[o]! + go * passed);
    }
  }
  return { w, b };
}

function putBytes(bench: Bench, data: ArrayBufferView, name: string): DeviceBuffer {
  const buf = bench.arena.alloc(data.byteLength, name);
  bench.device.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), buf.offset);
  return buf;
}

interface Placed {
  inputs: TailGradInputs;
  out: TailGradBuffers;
}

function place(bench: Bench, c: GradCase): Placed {
  const a = bench.arena;
  a.reset();
  const need = tailGradBytes(c.geom);
  const out: TailGradBuffers = {
    geometry: a.alloc(need.geometry, 'geometry'), g: a.alloc(need.g, 'g'), patch: a.alloc(need.patch, 'patch'),
    gradW: putBytes(bench, c.priorW, 'gradW'), gradB: putBytes(bench, c.priorB, 'gradB'),
  };
  writeTailGeometry(a, out.geometry, c.geom);
  const inputs: TailGradInputs = {
    delta: putBytes(bench, c.delta, 'delta'), classes: c.classes, headWeights: putBytes(bench, c.headW, 'headW'), headBits: c.headBits,
    input: putBytes(bench, c.x, 'x'), inputZero: c.zx, gate: putBytes(bench, c.gate, 'gate'), gateLo: c.lo, gateHi: c.hi,
  };
  return { inputs, out };
}

function runGradient(bench: Bench, c: GradCase): { w: bigint[]; b: bigint[]; untouched: boolean } {
  const { inputs, out } = place(bench, c);
  const mem = bench.device.bytes;
  const before = mem.slice(bench.device.arenaBase, bench.device.arenaBase + bench.arena.used);
  accumulateTailGradient(bench.arena, c.rows, c.geom, inputs, out);
  const after = mem.slice(bench.device.arenaBase, bench.device.arenaBase + bench.arena.used);
  // Only the scratch (g, patch) and the sums may change: the inputs and everything around are intact.
  const writable = [out.g, out.patch, out.gradW, out.gradB].map((b) => [b.offset - bench.device.arenaBase, b.offset - bench.device.arenaBase + b.bytes] as const);
  let untouched = true;
  for (let i = 0; i < before.length; i++) {
    if (before[i] !== after[i] && !writable.some(([lo, hi]) => i >= lo && i < hi)) untouched = false;
  }
  const view = (b: DeviceBuffer, n: number) => Array.from(new BigInt64Array(bench.device.memory.buffer, b.offset, n));
  return { w: view(out.gradW, c.priorW.length), b: view(out.gradB, c.priorB.length), untouched };
}

/** Conv parameters as the arbitraries draw them. */
interface ConvDraw { h: number; w: number; cin: number; cout: number; kh: number; kw: number; sh: number; sw: number; padding: 'same' | 'valid' }
/** 'valid' padding needs the kernel inside the map. */
const convFits = (p: ConvDraw): boolean => p.padding === 'same' || (p.h >= p.kh && p.w >= p.kw);
/** The tail geometry of a drawn conv, by TFLite's padding rules. */
function convGeometry(p: ConvDraw): TailGeometry {
  const ay = paddedAxis(p.h, p.kh, p.sh, p.padding, 0);
  const ax = paddedAxis(p.w, p.kw, p.sw, p.padding, 1);
  return {
    inHeight: p.h, inWidth: p.w, inChannels: p.cin, outHeight: ay.out, outWidth: ax.out, outChannels: p.cout,
    kernelHeight: p.kh, kernelWidth: p.kw, strideHeight: p.sh, strideWidth: p.sw, padTop: ay.padBefore, padLeft: ax.padBefore,
  };
}

/** A conv geometry by TFLite's padding rules, or a dense layer (1×1 conv on a 1×1 map). */
const geometryArb: fc.Arbitrary<TailGeometry> = fc.oneof(
  fc.record({
    h: fc.integer({ min: 1, max: 7 }), w: fc.integer({ min: 1, max: 7 }), cin: fc.integer({ min: 1, max: 5 }), cout: fc.integer({ min: 1, max: 6 }),
    kh: fc.constantFrom(1, 3), kw: fc.constantFrom(1, 3), sh: fc.constantFrom(1, 2), sw: fc.constantFrom(1, 2), padding: fc.constantFrom('same' as const, 'valid' as const),
  }).filter(convFits).map(convGeometry),
  fc.record({ features: fc.integer({ min: 1, max: 48 }), units: fc.integer({ min: 1, max: 12 }) }).map((p) => ({
    inHeight: 1, inWidth: 1, inChannels: p.features, outHeight: 1, outWidth: 1, outChannels: p.units,
    kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0,
  })),
);

/** A prior sum: zero, ordinary, or within reach of ±(2^47 − 1) so one row can saturate it. */
const priorArb = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }),
  fc.bigInt({ min: LIMIT - (1n << 28n), max: LIMIT }),
  fc.bigInt({ min: -LIMIT, max: -LIMIT + (1n << 28n) }),
);

const gradCases = (geomArb: fc.Arbitrary<TailGeometry>, maxRows: number): fc.Arbitrary<GradCase> => fc.record({
  geom: geomArb, rows: fc.integer({ min: 1, max: maxRows }), classes: fc.integer({ min: 1, max: 10 }), headBits: fc.constantFrom(8 as const, 16 as const),
  zx: fc.integer({ min: -128, max: 127 }), lo: fc.integer({ min: -129, max: 40 }), span: fc.integer({ min: 1, max: 257 }), seed: fc.integer(),
}).chain((p) => {
  const g = p.geom;
  const k = g.kernelHeight * g.kernelWidth * g.inChannels;
  const hw = p.headBits === 16 ? 32767 : 127;
  return fc.record({
    delta: fc.array(fc.integer({ min: -(2 ** 15), max: 2 ** 15 }), { minLength: p.rows * p.classes, maxLength: p.rows * p.classes }),
    headW: fc.array(fc.integer({ min: -hw, max: hw }), { minLength: p.classes * g.outChannels, maxLength: p.classes * g.outChannels }),
    x: fc.int8Array({ minLength: p.rows * g.inHeight * g.inWidth * g.inChannels, maxLength: p.rows * g.inHeight * g.inWidth * g.inChannels }),
    gate: fc.int8Array({ minLength: p.rows * g.outHeight * g.outWidth * g.outChannels, maxLength: p.rows * g.outHeight * g.outWidth * g.outChannels }),
    priorW: fc.array(priorArb, { minLength: g.outChannels * k, maxLength: g.outChannels * k }),
    priorB: fc.array(priorArb, { minLength: g.outChannels, maxLength: g.outChannels }),
  }).map((d) => ({
    geom: g, rows: p.rows, classes: p.classes, headBits: p.headBits, zx: p.zx, lo: p.lo, hi: Math.min(128, p.lo + p.span),
    delta: Int32Array.from(d.delta), headW: p.headBits === 16 ? Int16Array.from(d.headW) : Int8Array.from(d.headW), x: d.x, gate: d.gate,
    priorW: BigInt64Array.from(d.priorW), priorB: BigInt64Array.from(d.priorB),
  }));
});
const gradCaseArb = gradCases(geometryArb, 4);

/**
 * Wider convs than geometryArb: channel counts around the 16- and 8-lane steps of the SIMD runs and
 * maps on both sides of 128 positions, so both ways the kernel builds P (int16 sums with a list of
 * passing positions, int32 sums otherwise) see SIMD runs, their 8-lane and scalar tails, padding and
 * strides.
 */
const wideGeometryArb: fc.Arbitrary<TailGeometry> = fc.record({
  h: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 11, max: 16 })), w: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 11, max: 16 })), cin: fc.constantFrom(1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 64),
  cout: fc.integer({ min: 1, max: 3 }), kh: fc.constantFrom(1, 2, 3), kw: fc.constantFrom(1, 2, 3), sh: fc.constantFrom(1, 2), sw: fc.constantFrom(1, 2),
  padding: fc.constantFrom('same' as const, 'valid' as const),
}).filter(convFits).map(convGeometry);

/** tail_grad.ts keeps P in int16 with a byte list of the passing positions when this holds. */
/** Every build gives the reference's sums and writes nothing outside them. */
function expectEveryBuild(c: GradCase): { w: bigint[]; b: bigint[] } {
  const want = referenceGradient(c);
  for (const b of benches) {
    const got = runGradient(b, c);
    expect(got.untouched).toBe(true);
    expect(got.w).toEqual(want.w);
    expect(got.b).toEqual(want.b);
  }
  return want;
}

const shortSums = (g: TailGeometry): boolean => g.outHeight * g.outWidth <= 128 && g.outHeight * g.outWidth <= 2 * g.kernelHeight * g.kernelWidth * g.inChannels;

describe('tail_grad_accumulate', () => {
  it('equals the BigInt reference (round-half-away g, gate lo < v < hi, zero padding taps, saturation at ±(2^47 − 1)) in every build, writing nothing else', () => {
    let saturated = 0;
    let padded = 0;
    let strided = 0;
    fc.assert(
      fc.property(gradCaseArb, (c) => {
        const want = expectEveryBuild(c);
        if ([...want.w, ...want.b].some((v) => v === LIMIT || v === -LIMIT)) saturated++;
        if (c.geom.padTop > 0 || c.geom.padLeft > 0) padded++;
        if (c.geom.strideHeight > 1 || c.geom.strideWidth > 1) strided++;
      }),
      { numRuns: 300, seed: 20261206 },
    );
    // The cases reach the parts of the formula that matter.
    expect(saturated).toBeGreaterThan(10);
    expect(padded).toBeGreaterThan(10);
    expect(strided).toBeGreaterThan(10);
  });

  it('equals the reference on wider convs in every build: int16 and int32 patch sums, SIMD runs with 8-lane and scalar tails, padding, strides', () => {
    const seen = { short: 0, wide: 0, shortSimdRuns: 0, wideSimdRuns: 0, padded: 0, strided: 0, saturated: 0 };
    fc.assert(
      fc.property(gradCases(wideGeometryArb, 2), (c) => {
        const want = expectEveryBuild(c);
        const g = c.geom;
        const runs = g.kernelWidth * g.inChannels >= 16;
        if (shortSums(g)) { seen.short++; if (runs) seen.shortSimdRuns++; } else { seen.wide++; if (runs) seen.wideSimdRuns++; }
        if (g.padTop > 0 || g.padLeft > 0) seen.padded++;
        if (g.strideHeight > 1 || g.strideWidth > 1) seen.strided++;
        if ([...want.w, ...want.b].some((v) => v === LIMIT || v === -LIMIT)) seen.saturated++;
      }),
      { numRuns: 200, seed: 20261207 },
    );
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(5);
  });

  it('at the int16 limits: 128 positions all passing with |x − zx| = 255 and |g| at 65535 (int32 products) and 65536 (int64 products), near saturation', () => {
    // 1×1 conv, 64 channels: K = 64, so the 128 positions fit the short form (≤ 2·K); maps 1×128, 2×64, 8×16, 128×1.
    for (const [h, w] of [[1, 128], [2, 64], [8, 16], [128, 1]] as const) {
      const geom: TailGeometry = { inHeight: h, inWidth: w, inChannels: 64, outHeight: h, outWidth: w, outChannels: 2, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0 };
      expect(shortSums(geom)).toBe(true);
      for (const [xv, zx] of [[-128, 127], [127, -128]] as const) {
        for (const g of [65535, -65535, 65536, -65536]) {
          // One class, head weight 1: g = round(δ / 2^15) = δ / 2^15 exactly.
          const c: GradCase = {
            geom, rows: 1, classes: 1, headBits: 16, zx, lo: -129, hi: 128,
            delta: Int32Array.of(g * 2 ** 15 === 2 ** 31 ? 2 ** 31 - 1 : g * 2 ** 15), headW: Int16Array.of(1, -1),
            x: new Int8Array(h * w * 64).fill(xv), gate: new Int8Array(h * w * 2).fill(0),
            priorW: BigInt64Array.from({ length: 128 }, (_, i) => (i % 3 === 0 ? LIMIT - 5n : i % 3 === 1 ? -LIMIT + 5n : 0n)),
            priorB: BigInt64Array.of(0n, LIMIT),
          };
          expectEveryBuild(c);
        }
      }
    }
  });

  it('gates that pass nowhere leave the sums exactly as they were, in both forms of the patch sums', () => {
    for (const geom of [
      { inHeight: 5, inWidth: 5, inChannels: 16, outHeight: 5, outWidth: 5, outChannels: 3, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1 },
      { inHeight: 12, inWidth: 12, inChannels: 16, outHeight: 12, outWidth: 12, outChannels: 3, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1 },
    ]) {
      const pos = geom.outHeight * geom.outWidth;
      const c: GradCase = {
        geom, rows: 2, classes: 2, headBits: 8, zx: 3, lo: 0, hi: 10,
        delta: Int32Array.of(20000, -20000, -3000, 3000), headW: Int8Array.of(100, -50, 7, -100, 50, -7),
        x: Int8Array.from({ length: 2 * geom.inHeight * geom.inWidth * 16 }, (_, i) => (i * 29) % 256 - 128),
        // Half the values sit on the bounds (not passing: lo < v < hi is strict), the rest outside.
        gate: Int8Array.from({ length: 2 * pos * 3 }, (_, i) => [0, 10, -5, 100][i % 4]!),
        priorW: BigInt64Array.from({ length: 3 * 144 }, (_, i) => BigInt(i) * 1000n - 7n), priorB: BigInt64Array.of(1n, -2n, 3n),
      };
      for (const b of benches) {
        const got = runGradient(b, c);
        expect(got.w).toEqual(Array.from(c.priorW));
        expect(got.b).toEqual(Array.from(c.priorB));
      }
    }
  });

  it('adds the next rows on top of the sums it left (two calls = one call over the concatenated rows)', () => {
    fc.assert(
      fc.property(gradCaseArb.filter((c) => c.rows >= 2), (c) => {
        const b = benches[0]!;
        const whole = runGradient(b, c);
        const g = c.geom;
        const split = 1;
        const inRow = g.inHeight * g.inWidth * g.inChannels;
        const gateRow = g.outHeight * g.outWidth * g.outChannels;
        const first: GradCase = { ...c, rows: split, delta: c.delta.slice(0, split * c.classes), x: c.x.slice(0, split * inRow), gate: c.gate.slice(0, split * gateRow) };
        const part = runGradient(b, first);
        const rest: GradCase = {
          ...c, rows: c.rows - split, delta: c.delta.slice(split * c.classes), x: c.x.slice(split * inRow), gate: c.gate.slice(split * gateRow),
          priorW: BigInt64Array.from(part.w), priorB: BigInt64Array.from(part.b),
        };
        const both = runGradient(b, rest);
        expect(both.w).toEqual(whole.w);
        expect(both.b).toEqual(whole.b);
      }),
      { numRuns: 40, seed: 7 },
    );
  });
});

interface StepCase {
  bits: 8 | 16 | 32;
  params: number[];
  grad: bigint[];
  multiplier: number;
  totalShift: number;
}

const stepCaseArb: fc.Arbitrary<StepCase> = fc.record({ bits: fc.constantFrom(8 as const, 16 as const, 32 as const), n: fc.integer({ min: 1, max: 40 }) }).chain(({ bits, n }) => {
  const lim = bits === 8 ? 127 : bits === 16 ? 32767 : 2 ** 31 - 1;
  return fc.record({
    bits: fc.constant(bits),
    params: fc.array(fc.integer({ min: bits === 32 ? -(2 ** 31) : -lim, max: lim }), { minLength: n, maxLength: n }),
    grad: fc.array(fc.oneof(fc.bigInt({ min: -LIMIT, max: LIMIT }), fc.bigInt({ min: -(1n << 20n), max: 1n << 20n }), fc.constantFrom(-LIMIT, LIMIT, 0n)), { minLength: n, maxLength: n }),
    multiplier: fc.integer({ min: 0, max: 2 ** 15 - 1 }),
    totalShift: fc.integer({ min: 1, max: 62 }),
  });
});

function referenceStep(c: StepCase): number[] {
  const hi = c.bits === 8 ? 127n : c.bits === 16 ? 32767n : 2n ** 31n - 1n;
  const lo = c.bits === 32 ? -(2n ** 31n) : -hi;
  return c.params.map((p, i) => {
    const v = BigInt(p) - roundShift(c.grad[i]! * BigInt(c.multiplier), BigInt(c.totalShift));
    return Number(v > hi ? hi : v < lo ? lo : v);
  });
}

function runStep(bench: Bench, c: StepCase): { params: number[]; grad: bigint[] } {
  bench.arena.reset();
  const n = c.params.length;
  const typed = c.bits === 8 ? Int8Array.from(c.params) : c.bits === 16 ? Int16Array.from(c.params) : Int32Array.from(c.params);
  const p = putBytes(bench, typed, 'params');
  const g = putBytes(bench, BigInt64Array.from(c.grad), 'grad');
  applyTailStep(bench.arena, p, 0, c.bits, n, g, 0, { c: c.multiplier / 2 ** c.totalShift, multiplier: c.multiplier, totalShift: c.totalShift });
  const mem = bench.device.memory.buffer;
  const after = c.bits === 8 ? new Int8Array(mem, p.offset, n) : c.bits === 16 ? new Int16Array(mem, p.offset, n) : new Int32Array(mem, p.offset, n);
  return { params: Array.from(after), grad: Array.from(new BigInt64Array(mem, g.offset, n)) };
}

describe('tail_sgd_update', () => {
  it('w ← clamp(w − round(g·mult / 2^shift)) half away from zero on 8/16-bit weights and int32 bias, g ← 0; same bits in every build', () => {
    let clamped = 0;
    fc.assert(
      fc.property(stepCaseArb, (c) => {
        const want = referenceStep(c);
        for (const b of benches) {
          const got = runStep(b, c);
          expect(got.params).toEqual(want);
          expect(got.grad.every((v) => v === 0n)).toBe(true);
        }
        const hi = c.bits === 8 ? 127 : c.bits === 16 ? 32767 : 2 ** 31 - 1;
        if (want.some((v) => v === hi || v === -hi || v === -(2 ** 31))) clamped++;
      }),
      { numRuns: 400, seed: 11 },
    );
    expect(clamped).toBeGreaterThan(20);
  });

  it('a parameter offset updates only its slice: the per-channel steps of applyTail touch nothing else', () => {
    const b = benches[1]!;
    b.arena.reset();
    const w = putBytes(b, Int16Array.from({ length: 12 }, (_, i) => 100 * i), 'w');
    const g = putBytes(b, BigInt64Array.from({ length: 12 }, () => 1n << 20n), 'g');
    applyTailStep(b.arena, w, 4 * 2, 16, 4, g, 4 * 8, makeTailStep(2 ** -15, 'test'));
    const mem = b.device.memory.buffer;
    expect(Array.from(new Int16Array(mem, w.offset, 12))).toEqual([0, 100, 200, 300, 368, 468, 568, 668, 800, 900, 1000, 1100]);
    expect(Array.from(new BigInt64Array(mem, g.offset, 12)).map(Number)).toEqual([...Array(4).fill(2 ** 20), 0, 0, 0, 0, ...Array(4).fill(2 ** 20)]);
  });
});

describe('makeTailStep', () => {
  it('c = multiplier / 2^shift within a relative 2^-15, with a 15-bit multiplier, over the whole accepted range', () => {
    fc.assert(
      fc.property(fc.double({ min: -47, max: 13.99, noNaN: true }), (e) => {
        const c = 2 ** e;
        const s = makeTailStep(c, 'test');
        expect(s.c).toBe(c);
        expect(Number.isInteger(s.multiplier) && s.multiplier >= 2 ** 14 && s.multiplier < 2 ** 15).toBe(true);
        expect(Number.isInteger(s.totalShift) && s.totalShift >= 1 && s.totalShift <= 62).toBe(true);
        expect(Math.abs(s.multiplier / 2 ** s.totalShift - c) / c).toBeLessThanOrEqual(2 ** -15);
      }),
      { numRuns: 2000, seed: 3 },
    );
    // The mantissa rounding up to 2^15 renormalises instead of overflowing the 15 bits.
    const s = makeTailStep(1 - 2 ** -20, 'test');
    expect(s).toMatchObject({ multiplier: 2 ** 14, totalShift: 14 });
  });

  it('refuses ≤ 0, non-finite, too large and too small factors with a ConfigError that says which way to move η', () => {
    for (const bad of [0, -1, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(() => makeTailStep(bad, 'x')).toThrow(ConfigError);
    expect(() => makeTailStep(2 ** 14, 'x')).toThrow(/lower the learning rate/);
    expect(() => makeTailStep(1e30, 'x')).toThrow(ConfigError);
    // The smallest factor kept is 2^-48: below it round(g·c) = 0 for every |g| ≤ 2^47 − 1.
    expect(makeTailStep(2 ** -48, 'x')).toMatchObject({ multiplier: 2 ** 14, totalShift: 62 });
    expect(() => makeTailStep(2 ** -49, 'x')).toThrow(/raise the learning rate/);
    expect(() => makeTailStep(1e-300, 'x')).toThrow(ConfigError);
    expect(() => makeTailStep(Number.MIN_VALUE, 'x')).toThrow(ConfigError);
  });
});

describe('bad arguments to the tail kernels are typed errors before any write', () => {
  const GEOM: TailGeometry = { inHeight: 5, inWidth: 5, inChannels: 3, outHeight: 5, outWidth: 5, outChannels: 4, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padTop: 1, padLeft: 1 };
  const ROWS = 2;
  const CLASSES = 3;
  const base = (): GradCase => ({
    geom: GEOM, rows: ROWS, classes: CLASSES, headBits: 16, zx: -5, lo: -128, hi: 127,
    delta: Int32Array.from({ length: ROWS * CLASSES }, (_, i) => (i % 2 ? 1000 : -900)),
    headW: Int16Array.from({ length: CLASSES * 4 }, (_, i) => 300 * i - 1000),
    x: Int8Array.from({ length: ROWS * 75 }, (_, i) => (i * 37) % 256 - 128),
    gate: Int8Array.from({ length: ROWS * 100 }, (_, i) => (i * 53) % 256 - 128),
    priorW: new BigInt64Array(4 * 27), priorB: new BigInt64Array(4),
  });

  /** Calls `call` on a freshly placed case and checks it throws `type` and leaves the whole arena as it was. */
  function refused(type: typeof ShapeError | typeof ConfigError, call: (b: Bench, p: Placed) => void, message?: RegExp, prepare?: (b: Bench, p: Placed) => void): void {
    for (const b of benches) {
      const p = place(b, base());
      prepare?.(b, p);
      const arena = Buffer.from(b.device.bytes.slice(b.device.arenaBase, b.device.arenaEnd));
      let err: unknown;
      try {
        call(b, p);
      } catch (e) {
        err = e;
      }
      expect(err, 'no error').toBeInstanceOf(type);
      if (message) expect((err as Error).message).toMatch(message);
      expect(Buffer.from(b.device.bytes.subarray(b.device.arenaBase, b.device.arenaEnd)).equals(arena), 'the arena changed').toBe(true);
    }
  }
  const shrink = (buf: DeviceBuffer, by = 1): DeviceBuffer => ({ ...buf, bytes: buf.bytes - by });

  it('the reference case itself runs (so the refusals below are about the one thing changed)', () => {
    for (const b of benches) {
      const p = place(b, base());
      accumulateTailGradient(b.arena, ROWS, GEOM, p.inputs, p.out);
    }
  });

  it('rows 0, too many or fractional; classes, zero point, gate bounds, head bits out of range', () => {
    for (const rows of [0, -1, 1.5, 2 ** 20 + 1, Number.NaN]) refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, rows, GEOM, p.inputs, p.out));
    refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS + 1, GEOM, p.inputs, p.out));
    refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, classes: 0 }, p.out));
    refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, classes: CLASSES + 1 }, p.out));
    refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, inputZero: 128 }, p.out));
    refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, gateLo: -130 }, p.out));
    refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, gateHi: 129 }, p.out));
    refused(ConfigError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, headBits: 32 as 16 }, p.out));
  });

  it('every undersized buffer, and buffers outside the arena', () => {
    for (const k of ['delta', 'headWeights', 'input', 'gate'] as const) {
      refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, [k]: shrink(p.inputs[k]) }, p.out));
      refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, [k]: { ...p.inputs[k], offset: b.device.arenaEnd - 4 } }, p.out));
      refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, [k]: { ...p.inputs[k], offset: 0 } }, p.out));
    }
    for (const k of ['geometry', 'g', 'patch', 'gradW', 'gradB'] as const) {
      refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, p.inputs, { ...p.out, [k]: shrink(p.out[k]) }));
      refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, p.inputs, { ...p.out, [k]: { ...p.out[k], offset: b.device.arenaEnd } }));
    }
    refused(ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, { ...p.inputs, input: { name: 'x', offset: 1.5, bytes: 10_000 } }, p.out));
  });

  it('a bad geometry, or one that is not what the geometry buffer holds (the kernel reads the buffer)', () => {
    const bad: Partial<TailGeometry>[] = [
      { inHeight: 0 }, { outChannels: 0 }, { kernelWidth: 1.5 }, { strideHeight: 0 }, { padTop: -1 }, { padTop: 3 }, { padLeft: 3 },
      { outHeight: 300, outWidth: 300 }, { inChannels: 2 ** 17 },
    ];
    for (const d of bad) {
      const geom = { ...GEOM, ...d };
      refused(geom.outHeight * geom.outWidth > MAX_TAIL_POSITIONS || geom.padTop >= geom.kernelHeight || geom.padLeft >= geom.kernelWidth ? ConfigError : ShapeError, (b, p) => accumulateTailGradient(b.arena, ROWS, geom, p.inputs, p.out));
    }
    // Buffers sized for a small geometry while the geometry buffer holds a larger one: the checks on
    // the host must be the checks of what the kernel will read.
    for (const held of [{ ...GEOM, inHeight: 4000, inWidth: 4000, outHeight: 200, outWidth: 200 }, { ...GEOM, outChannels: 64, inChannels: 64 }]) {
      refused(ConfigError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, p.inputs, p.out), /geometry buffer/, (b, p) => writeTailGeometry(b.arena, p.out.geometry, held));
    }
    // Never written at all (zeros).
    refused(ConfigError, (b, p) => accumulateTailGradient(b.arena, ROWS, GEOM, p.inputs, p.out), /writeTailGeometry/, (b, p) => b.device.bytes.fill(0, p.out.geometry.offset, p.out.geometry.offset + 48));
  });

  it('applyTailStep: bits, count, offsets, step fields and buffers', () => {
    const step = makeTailStep(2 ** -10, 'test');
    const call = (b: Bench, p: Placed, o: { bits?: number; count?: number; po?: number; go?: number; step?: typeof step; params?: DeviceBuffer; grad?: DeviceBuffer }) =>
      applyTailStep(b.arena, o.params ?? p.inputs.headWeights, o.po ?? 0, (o.bits ?? 16) as 16, o.count ?? CLASSES * 4, o.grad ?? p.out.gradW, o.go ?? 0, o.step ?? step);
    for (const bits of [0, 4, 12, 64]) refused(ConfigError, (b, p) => call(b, p, { bits }));
    for (const count of [0, -1, 2.5, 2 ** 26 + 1]) refused(ShapeError, (b, p) => call(b, p, { count }));
    refused(ShapeError, (b, p) => call(b, p, { count: CLASSES * 4 + 1 }));
    refused(ShapeError, (b, p) => call(b, p, { po: 2 }));
    refused(ShapeError, (b, p) => call(b, p, { po: -2 }));
    refused(ShapeError, (b, p) => call(b, p, { po: 1 << 30 }));
    refused(ShapeError, (b, p) => call(b, p, { go: 8 * 27 * 4 - 8, count: 2 }));
    refused(ShapeError, (b, p) => call(b, p, { bits: 32, count: 7 }));
    for (const s of [{ ...step, totalShift: 0 }, { ...step, totalShift: 63 }, { ...step, multiplier: 2 ** 15 }, { ...step, multiplier: -1 }, { ...step, multiplier: 0.5 }]) refused(ShapeError, (b, p) => call(b, p, { step: s }));
    refused(ShapeError, (b, p) => call(b, p, { params: { ...p.inputs.headWeights, offset: b.device.arenaEnd - 8 } }));
    refused(ShapeError, (b, p) => call(b, p, { grad: { ...p.out.gradW, offset: 8 } }));
  });
});

describe('random arguments never trap the Wasm nor write outside the outputs', () => {
  /** A buffer inside the arena (at a random place and size), straddling its end, or before it. */
  const bufferArb = (arenaBase: number, arenaEnd: number) => fc.oneof(
    fc.record({ at: fc.integer({ min: 0, max: 1 << 20 }), bytes: fc.integer({ min: 0, max: 1 << 16 }) }).map((b) => ({ name: 'b', offset: arenaBase + b.at, bytes: b.bytes })),
    fc.record({ back: fc.integer({ min: 0, max: 4096 }), bytes: fc.integer({ min: 0, max: 1 << 20 }) }).map((b) => ({ name: 'b', offset: arenaEnd - b.back, bytes: b.bytes })),
    fc.record({ offset: fc.integer({ min: -4096, max: arenaBase }), bytes: fc.integer({ min: 0, max: 1 << 16 }) }).map((b) => ({ name: 'b', ...b })),
  );
  const dim = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: -3, max: 70_000 }), fc.constantFrom(0.5, Number.NaN));
  const geomArb = fc.record({
    inHeight: dim, inWidth: dim, inChannels: dim, outHeight: dim, outWidth: dim, outChannels: dim,
    kernelHeight: dim, kernelWidth: dim, strideHeight: dim, strideWidth: dim, padTop: dim, padLeft: dim,
  });

  it('accumulateTailGradient and applyTailStep: a typed error or a clean run, whatever the geometry, buffers, geometry-buffer contents and scalars', () => {
    const b = benches[2]!;
    const d = b.device;
    const buf = bufferArb(d.arenaBase, d.arenaEnd);
    let ran = 0;
    fc.assert(
      fc.property(
        fc.record({
          geom: geomArb, held: fc.oneof(geomArb, fc.constant(null)), rows: fc.integer({ min: -1, max: 9 }), classes: fc.integer({ min: -1, max: 12 }),
          headBits: fc.constantFrom(8, 16, 12), zx: fc.integer({ min: -200, max: 200 }), lo: fc.integer({ min: -200, max: 200 }), hi: fc.integer({ min: -200, max: 200 }),
          bufs: fc.array(buf, { minLength: 9, maxLength: 9 }), fill: fc.integer({ min: 0, max: 255 }),
        }),
        (c) => {
          const [delta, headWeights, input, gate, geometry, g, patch, gradW, gradB] = c.bufs as [DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer];
          // Whatever the geometry buffer holds: a written geometry, or arbitrary bytes.
          if (geometry.offset >= d.arenaBase && geometry.offset + 48 <= d.arenaEnd) {
            d.bytes.fill(c.fill, geometry.offset, geometry.offset + 48);
            if (c.held) {
              try {
                writeTailGeometry(b.arena, geometry, c.held as TailGeometry);
              } catch (e) {
                expect(e).toBeInstanceOf(LastmileError);
              }
            }
          }
          try {
            accumulateTailGradient(b.arena, c.rows, c.geom as TailGeometry, {
              delta, classes: c.classes, headWeights, headBits: c.headBits as 8, input, inputZero: c.zx, gate, gateLo: c.lo, gateHi: c.hi,
            }, { geometry, g, patch, gradW, gradB });
            ran++;
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(LastmileError);
          }
        },
      ),
      { numRuns: 400, seed: 99 },
    );
    // Near-valid calls: a well-formed case with at most one thing wrong (a buffer one byte short or
    // moved past the arena's end, the geometry buffer holding another geometry, one row too many).
    fc.assert(
      fc.property(geometryArb, geometryArb, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 12 }), (geom, other, rows, classes, mutation) => {
        const a = b.arena;
        a.reset();
        const need = tailGradBytes(geom);
        const ins = [rows * classes * 4, classes * geom.outChannels * 2, rows * geom.inHeight * geom.inWidth * geom.inChannels, rows * geom.outHeight * geom.outWidth * geom.outChannels];
        const outs = [need.geometry, need.g, need.patch, need.gradW, need.gradB];
        const bufs = [...ins, ...outs].map((n, i) => a.alloc(n, `b${i}`));
        writeTailGeometry(a, bufs[4]!, mutation === 11 ? other : geom);
        if (mutation >= 1 && mutation <= 9) {
          const i = mutation - 1;
          bufs[i] = mutation % 2 ? { ...bufs[i]!, bytes: bufs[i]!.bytes - 1 } : { ...bufs[i]!, offset: d.arenaEnd - Math.floor(bufs[i]!.bytes / 2) };
        }
        const [delta, headWeights, input, gate, geometry, g, patch, gradW, gradB] = bufs as [DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer];
        // The arena up to well past the last allocation (a wrong geometry's writes land just past the sums).
        const end = Math.min(d.arenaEnd, d.arenaBase + a.used + (1 << 16));
        const before = Buffer.from(d.bytes.slice(d.arenaBase, end));
        try {
          accumulateTailGradient(a, mutation === 10 ? rows + 1 : rows, geom, { delta, classes, headWeights, headBits: 16, input, inputZero: 0, gate, gateLo: -128, gateHi: 127 }, { geometry, g, patch, gradW, gradB });
          ran++;
          // A run writes its scratch and sums only.
          const after = Buffer.from(d.bytes.slice(d.arenaBase, end));
          for (const x of [g, patch, gradW, gradB]) before.copy(after, x.offset - d.arenaBase, x.offset - d.arenaBase, x.offset - d.arenaBase + x.bytes);
          if (!after.equals(before)) throw new Error(`the kernel wrote outside its scratch and sums (mutation ${mutation})`);
        } catch (e) {
          if (!(e instanceof LastmileError)) throw e;
          // The unmodified case always runs; a geometry buffer holding the same geometry as well.
          expect(mutation === 0 || (mutation === 11 && JSON.stringify(other) === JSON.stringify(geom))).toBe(false);
        }
      }),
      { numRuns: 400, seed: 97 },
    );
    expect(ran).toBeGreaterThan(20);
    fc.assert(
      fc.property(
        fc.record({
          params: buf, grad: buf, bits: fc.constantFrom(8, 16, 32, 4), count: fc.integer({ min: -1, max: 5000 }), po: fc.integer({ min: -8, max: 5000 }), go: fc.integer({ min: -8, max: 50_000 }),
          mult: fc.integer({ min: -1, max: 2 ** 15 }), shift: fc.integer({ min: -1, max: 64 }),
        }),
        (c) => {
          try {
            applyTailStep(b.arena, c.params, c.po, c.bits as 8, c.count, c.grad, c.go, { c: 1, multiplier: c.mult, totalShift: c.shift });
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(LastmileError);
          }
        },
      ),
      { numRuns: 400, seed: 98 },
    );
  });
});
