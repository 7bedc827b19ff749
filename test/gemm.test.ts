import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt8, randomInt16, randomInt32, type Bench } from './helpers/devices.js';
import { fullyConnectedAccRef, perturbWeightsRef, requantizeRowsRef, type Weights } from './reference/conv-ref.js';
import {
  fullyConnected, fullyConnectedScratchBytes, packedChunkPanels, prepareFullyConnected, packedPanelBytes, PACKED_WEIGHT_BUDGET_BYTES, type FullyConnectedParams,
  type PanelColumns,
} from '../src/kernels/gemm.js';
import { prepareRequant, type OutputQuant } from '../src/kernels/requant.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import type { DeviceBuffer } from '../src/device/arena.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(64 * 1024 * 1024);
});

interface FcCase {
  m: number;
  k: number;
  n: number;
  bits: 8 | 16;
  zin: number;
  input: Int8Array;
  weights: Weights;
  bias: Int32Array | null;
  quant: OutputQuant | null;
  perturb?: PerturbSpec;
}

const CANARY = 0x5a;
const CANARY_BYTES = 64;

/** Runs one case on a device; output and scratch are followed by canary bytes that must survive. */
function runFc(b: Bench, c: FcCase, panelColumns?: PanelColumns): { out: Int8Array | Int32Array; weightsAfter: Uint8Array } {
  b.arena.reset();
  const input = b.arena.put(c.input, 'input');
  const weights = b.arena.put(c.weights, 'weights');
  const bias = c.bias ? b.arena.put(c.bias, 'bias') : null;
  const outBytes = c.m * c.n * (c.quant ? 1 : 4);
  const outAlloc = b.arena.alloc(outBytes + CANARY_BYTES, 'out+canary');
  const output: DeviceBuffer = { name: 'out', offset: outAlloc.offset, bytes: outBytes };
  const requant = c.quant ? prepareRequant(b.arena, c.quant, c.n) : null;
  const p: FullyConnectedParams = { batch: c.m, inFeatures: c.k, outFeatures: c.n, weightBits: c.bits, inputZeroPoint: c.zin, perturb: c.perturb, ...(panelColumns ? { panelColumns } : {}) };
  const scratchBytes = fullyConnectedScratchBytes(p);
  const scratchAlloc = b.arena.alloc(scratchBytes + CANARY_BYTES, 'scratch+canary');
  const scratch: DeviceBuffer = { name: 'scratch', offset: scratchAlloc.offset, bytes: scratchBytes };
  const mem = b.device.bytes;
  mem.fill(CANARY, outAlloc.offset, outAlloc.offset + outBytes + CANARY_BYTES);
  mem.fill(CANARY, scratch.offset + scratchBytes, scratch.offset + scratchBytes + CANARY_BYTES);
  fullyConnected(b.arena, input, weights, bias, output, p, requant, scratch);
  const tails = [mem.subarray(output.offset + outBytes, output.offset + outBytes + CANARY_BYTES), mem.subarray(scratch.offset + scratchBytes, scratch.offset + scratchBytes + CANARY_BYTES)];
  for (const tail of tails) expect(tail.every((v) => v === CANARY)).toBe(true);
  const out = c.quant ? b.arena.i8(output).slice() : b.arena.i32(output).slice();
  return { out, weightsAfter: b.arena.u8(weights).slice() };
}

/** runFc with an explicit packedWeightBudget and panel width (scratch sized for them). */
function runFcWithBudget(b: Bench, c: FcCase, budget: number, panelColumns?: PanelColumns): Int8Array | Int32Array {
  b.arena.reset();
  const p: FullyConnectedParams = {
    batch: c.m, inFeatures: c.k, outFeatures: c.n, weightBits: c.bits, inputZeroPoint: c.zin, perturb: c.perturb, packedWeightBudget: budget,
    ...(panelColumns ? { panelColumns } : {}),
  };
  const input = b.arena.put(c.input, 'input');
  const weights = b.arena.put(c.weights, 'weights');
  const bias = c.bias ? b.arena.put(c.bias, 'bias') : null;
  const output = b.arena.alloc(c.m * c.n * (c.quant ? 1 : 4), 'out');
  const requant = c.quant ? prepareRequant(b.arena, c.quant, c.n) : null;
  const scratch = b.arena.alloc(fullyConnectedScratchBytes(p), 'scratch');
  fullyConnected(b.arena, input, weights, bias, output, p, requant, scratch);
  return c.quant ? b.arena.i8(output).slice() : b.arena.i32(output).slice();
}

function expectedFc(c: FcCase, weights: Weights = c.weights): Int8Array | Int32Array {
  const acc = fullyConnectedAccRef(c.input, weights, c.bias, c.m, c.k, c.n, c.zin);
  if (!c.quant) return acc;
  const q = c.quant;
  return requantizeRowsRef(acc, c.n, q.multiplier, q.shift, q.outZeroPoint, q.actMin ?? -128, q.actMax ?? 127);
}

/** Output quantization that keeps typical accumulators inside int8 (so the test sees real values). */
function randomQuant(r: () => number, c: { k: number; n: number; bits: 8 | 16 }, perChannel: boolean, clamp: 'none' | 'relu' | 'relu6'): OutputQuant {
  const wMax = c.bits === 16 ? 32767 : 127;
  const count = perChannel ? c.n : 1;
  const multiplier = new Int32Array(count);
  const shift = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const q = quantizeMultiplier((0.5 + 1.5 * r()) / (Math.sqrt(c.k) * wMax * 4));
    multiplier[i] = q.multiplier;
    shift[i] = q.shift;
  }
  const outZeroPoint = randInt(r, -20, 20);
  if (clamp === 'relu') return { multiplier, shift, outZeroPoint, actMin: outZeroPoint, actMax: 127 };
  if (clamp === 'relu6') return { multiplier, shift, outZeroPoint, actMin: outZeroPoint, actMax: outZeroPoint + 60 };
  return { multiplier, shift, outZeroPoint };
}

function biasScale(k: number, bits: 8 | 16): number {
  return Math.round(Math.sqrt(k) * 128 * (bits === 16 ? 32767 : 127) * 0.3);
}

function randomCase(r: () => number, m: number, k: number, n: number, bits: 8 | 16, int32Out: boolean): FcCase {
  const perChannel = r() < 0.5;
  const clamp = (['none', 'relu', 'relu6'] as const)[randInt(r, 0, 2)]!;
  return {
    m, k, n, bits,
    zin: randInt(r, -128, 127),
    input: randomInt8(r, m * k),
    weights: bits === 16 ? randomInt16(r, n * k) : randomInt8(r, n * k, -127, 127),
    // Bias on the scale of the accumulators, so requantized outputs are not all saturated.
    bias: r() < 0.8 ? randomInt32(r, n, -biasScale(k, bits), biasScale(k, bits)) : null,
    quant: int32Out ? null : randomQuant(r, { k, n, bits }, perChannel, clamp),
  };
}

/** Every build; batches that pack (above the GEMV sizes) also on narrow panels of 4 and 2 columns. */
function expectAllBuildsMatch(c: FcCase, expected: Int8Array | Int32Array, label: string): void {
  const widths: (PanelColumns | undefined)[] = c.m > 2 ? [undefined, 4, 2] : [undefined];
  for (const b of benches) {
    for (const columns of widths) {
      const { out } = runFc(b, c, columns);
      // Compare whole arrays but report which case, build and panel width diverged.
      const tag = `${label} ${b.build}${columns ? ` ${columns} columns` : ''}`;
      expect({ tag, out: Array.from(out) }).toEqual({ tag, out: Array.from(expected) });
    }
  }
}

describe('fullyConnected (qs8 GEMM, TFLM semantics)', () => {
  it('scalar, simd and relaxed builds equal the TS reference bit for bit for K, N in {1,3,7,13,17,...} and batch 1..5', () => {
    const r = rng(101);
    const ks = [1, 2, 3, 7, 8, 13, 16, 17, 40];
    const ns = [1, 3, 7, 8, 9, 13, 17, 24];
    let i = 0;
    for (const k of ks) {
      for (const n of ns) {
        const m = (i % 5) + 1;
        const bits = i % 2 === 0 ? 16 : 8;
        const int32Out = i % 3 === 0;
        i++;
        const c = randomCase(r, m, k, n, bits, int32Out);
        expectAllBuildsMatch(c, expectedFc(c), `M=${m} K=${k} N=${n} w${bits} ${int32Out ? 'int32' : 'int8'}`);
      }
    }
  });

  it('matches on larger random shapes, per-tensor and per-channel, with ReLU and ReLU6 clamps', () => {
    const r = rng(202);
    for (let t = 0; t < 12; t++) {
      const m = randInt(r, 1, 37);
      const k = randInt(r, 1, 300);
      const n = randInt(r, 1, 70);
      const bits = t % 2 === 0 ? 16 : 8;
      const c = randomCase(r, m, k, n, bits, t % 4 === 3);
      const expected = expectedFc(c);
      if (c.quant) {
        // The quantization must produce spread-out values, or the comparison proves little.
        expect(new Set(expected).size).toBeGreaterThan(Math.min(8, expected.length / 4));
      }
      expectAllBuildsMatch(c, expected, `M=${m} K=${k} N=${n} w${bits}`);
    }
  });

  it.each([1, 2, 3, 6])('wraps int32 accumulators like TFLM at the extremes (batch %i): inputs -128 with zin = 127, weights ±32767', (m) => {
    const k = 301; // (−255)·32767·301 < −2^31: the sum wraps
    const n = 11;
    const weights = new Int16Array(n * k);
    for (let i = 0; i < weights.length; i++) weights[i] = i % 11 === 3 ? -32767 : 32767;
    const c: FcCase = {
      m, k, n, bits: 16, zin: 127,
      input: new Int8Array(m * k).fill(-128),
      weights,
      bias: Int32Array.from({ length: n }, (_, j) => (j % 2 ? 2 ** 31 - 1 : -(2 ** 31))),
      quant: null,
    };
    const expected = expectedFc(c) as Int32Array;
    // The exact sum leaves the int32 range; the reference wraps, and so must every build.
    expect(Math.abs(-255 * 32767 * k)).toBeGreaterThan(2 ** 31);
    expectAllBuildsMatch(c, expected, 'extreme int32');
    const q: FcCase = { ...c, quant: { multiplier: Int32Array.of(2 ** 31 - 1), shift: Int32Array.of(-20), outZeroPoint: -128, actMin: -128, actMax: 127 } };
    expectAllBuildsMatch(q, expectedFc(q), 'extreme int8');
    const w8: FcCase = { ...c, bits: 8, weights: Int8Array.from(weights, (w) => (w > 0 ? 127 : -127)), input: new Int8Array(m * k).fill(127), zin: -128 };
    expectAllBuildsMatch(w8, expectedFc(w8), 'extreme w8');
  });

  it.each([1, 5])("requantizes per channel and per tensor over TFLM's whole multiplier and shift range, INT32_MIN included (batch %i)", (m) => {
    const r = rng(606);
    const shifts = Array.from({ length: 62 }, (_, i) => i - 31); // -31..30
    const mults = [-(2 ** 31), -1, 0, 1, 2 ** 31 - 1, 1 << 30, 1518500250, -1518500250];
    const n = shifts.length;
    const base = randomCase(r, m, 9, n, 16, false);
    // Accumulators over the whole int32 range: biases dominate the small dot products.
    const c: FcCase = { ...base, bias: randomInt32(r, n) };
    const multiplier = Int32Array.from(shifts, (_, i) => mults[i % mults.length]!);
    const shift = Int32Array.from(shifts);
    const perChannel: FcCase = { ...c, quant: { multiplier, shift, outZeroPoint: -7, actMin: -100, actMax: 90 } };
    expectAllBuildsMatch(perChannel, expectedFc(perChannel), 'per-channel full range');
    for (let i = 0; i < n; i += 7) {
      const perTensor: FcCase = { ...c, quant: { multiplier: multiplier.subarray(i, i + 1), shift: shift.subarray(i, i + 1), outZeroPoint: 3 } };
      expectAllBuildsMatch(perTensor, expectedFc(perTensor), `per-tensor m=${multiplier[i]} s=${shift[i]}`);
    }
  });

  it('rounds exact ties half away from zero, negative accumulators included, per channel and per tensor', () => {
    // K = 1, w = 1, zin = 0: acc[m][n] = bias[n] + x[m] walks every value in [-228, 27], so
    // every shift sees exact ties on both sides of zero.
    const m = 256;
    const n = 9;
    const input = Int8Array.from({ length: m }, (_, i) => i - 128);
    const c: FcCase = {
      m, k: 1, n, bits: 16, zin: 0, input,
      weights: new Int16Array(n).fill(1),
      bias: new Int32Array(n).fill(-100),
      quant: {
        multiplier: new Int32Array(n).fill(1 << 30),
        shift: Int32Array.from({ length: n }, (_, i) => -1 - i),
        outZeroPoint: 0,
      },
    };
    expectAllBuildsMatch(c, expectedFc(c), 'ties per channel');
    // Shifts ≤ −2 in every lane of a panel take the device's fast per-channel form.
    const fastShifts: FcCase = { ...c, quant: { ...c.quant!, shift: Int32Array.from({ length: n }, (_, i) => -2 - i) } };
    expectAllBuildsMatch(fastShifts, expectedFc(fastShifts), 'ties per channel, shifts <= -2');
    for (const s of [-1, -2, -5]) {
      const t: FcCase = { ...c, quant: { multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(s), outZeroPoint: 0 } };
      expectAllBuildsMatch(t, expectedFc(t), `ties per tensor shift ${s}`);
    }
    // Batch 1 (the GEMV path): the same accumulator walk across 256 columns instead of rows.
    const cols = 256;
    const one: FcCase = {
      m: 1, k: 1, n: cols, bits: 8, zin: 0, input: Int8Array.of(0),
      weights: new Int8Array(cols).fill(1),
      bias: Int32Array.from({ length: cols }, (_, j) => j - 228),
      quant: { multiplier: new Int32Array(cols).fill(1 << 30), shift: Int32Array.from({ length: cols }, (_, j) => -1 - (j % 9)), outZeroPoint: 0 },
    };
    expectAllBuildsMatch(one, expectedFc(one), 'ties per channel, batch 1');
    const oneTensor: FcCase = { ...one, quant: { multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(-3), outZeroPoint: 0 } };
    expectAllBuildsMatch(oneTensor, expectedFc(oneTensor), 'ties per tensor, batch 1');
  });

  it('per-tensor and per-channel requantization equal TFLM on 60k random int32 accumulators for random multipliers and shifts', () => {
    // K = 1, w = 1: acc = bias[n] + x[m] spans the whole int32 range through the biases.
    const r = rng(808);
    const n = 1000;
    for (let t = 0; t < 10; t++) {
      const m = t % 2 === 0 ? 1 : 5; // the GEMV path and the packed path
      const mult = t === 3 ? -(2 ** 31) : randInt(r, -(2 ** 31) + 1, 2 ** 31 - 1);
      const shift = t === 5 ? 0 : randInt(r, -31, t % 4 === 0 ? 2 : -1);
      const c: FcCase = {
        m, k: 1, n, bits: 16, zin: randInt(r, -128, 127), input: randomInt8(r, m),
        weights: new Int16Array(n).fill(1),
        bias: Int32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? randInt(r, -(2 ** 31), 2 ** 31 - 1) : randInt(r, -(1 << (i % 31)), 1 << (i % 31)))),
        quant: { multiplier: Int32Array.of(mult), shift: Int32Array.of(shift), outZeroPoint: randInt(r, -128, 127) },
      };
      expectAllBuildsMatch(c, expectedFc(c), `mult=${mult} shift=${shift}`);
      // Per channel: a random (multiplier, shift) per column; even t keeps every shift ≤ −2.
      const perChannel: FcCase = {
        ...c,
        quant: {
          multiplier: Int32Array.from({ length: n }, () => randInt(r, -(2 ** 31), 2 ** 31 - 1)),
          shift: Int32Array.from({ length: n }, () => randInt(r, -31, t % 2 === 0 ? -2 : 3)),
          outZeroPoint: c.quant!.outZeroPoint,
        },
      };
      expectAllBuildsMatch(perChannel, expectedFc(perChannel), `per-channel random, t=${t}`);
    }
    // The int32 limits exactly (x = zin = 0, acc = bias), INT32_MIN × INT32_MIN included.
    const limits = Int32Array.of(-(2 ** 31), 2 ** 31 - 1, -(2 ** 30), 2 ** 30, -1, 1, 0, -(2 ** 31) + 1, 3, -3);
    for (const mult of [-(2 ** 31), 2 ** 31 - 1, 1 << 30, -1]) {
      for (const shift of [-1, -2, -25, -26, -31, 0, 3]) { // -25..-31 keep the limits inside int8
        for (const m of [1, 5]) {
          const c: FcCase = {
            m, k: 1, n: limits.length, bits: 8, zin: 0, input: new Int8Array(m), weights: new Int8Array(limits.length).fill(1), bias: limits,
            quant: { multiplier: Int32Array.of(mult), shift: Int32Array.of(shift), outZeroPoint: 0, actMin: -128, actMax: 127 },
          };
          expectAllBuildsMatch(c, expectedFc(c), `limits mult=${mult} shift=${shift}`);
        }
      }
    }
  });

  it('adds the zero point and clamps in int16 after the fast requantizations exactly as TFLM does in int32', () => {
    // The packed path's fast forms (per tensor shift < 0, per channel every shift <= -2) saturate
    // to int16 before the zero point and the clamp. Requantized values far outside int16 (shifts
    // -1 and -2 on accumulators over the whole int32 range), extreme zero points and narrow or
    // one-sided activation ranges must still give TFLM's int32 clamp(r + zp, lo, hi).
    const r = rng(909);
    const n = 24;
    const ranges: [number, number][] = [[-128, 127], [-128, -128], [127, 127], [-1, 0], [0, 6], [-128, -100], [100, 127]];
    for (const zp of [-128, -1, 0, 127]) {
      for (const [actMin, actMax] of ranges) {
        for (const mult of [2 ** 31 - 1, 1 << 30, 1518500250, -(2 ** 31)]) {
          const c: FcCase = {
            m: 6, k: 1, n, bits: 16, zin: 0, input: new Int8Array(6),
            weights: new Int16Array(n).fill(1),
            bias: Int32Array.from({ length: n }, (_, i) => (i < 4 ? [-(2 ** 31), 2 ** 31 - 1, -65536, 65535][i]! : randInt(r, -(2 ** 31), 2 ** 31 - 1))),
            quant: { multiplier: Int32Array.of(mult), shift: Int32Array.of(-1 - (n % 2)), outZeroPoint: zp, actMin, actMax },
          };
          expectAllBuildsMatch(c, expectedFc(c), `per tensor zp=${zp} [${actMin}, ${actMax}] mult=${mult}`);
          const perChannel: FcCase = {
            ...c,
            quant: { multiplier: new Int32Array(n).fill(mult), shift: Int32Array.from({ length: n }, (_, i) => -2 - (i % 3)), outZeroPoint: zp, actMin, actMax },
          };
          expectAllBuildsMatch(perChannel, expectedFc(perChannel), `per channel zp=${zp} [${actMin}, ${actMax}] mult=${mult}`);
        }
      }
    }
  });

  it('takes the in-place GEMV path for batches 1-4 (1-2 perturbed) and the packed path above, with equal results', () => {
    const r = rng(707);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    for (const bits of [16, 8] as const) {
      for (const int32Out of [false, true]) {
        for (const perturb of [undefined, { key: 7, start: 3, dist: 'gaussian', signedEps: 60, oneQ, multiplier, shift } as PerturbSpec]) {
          const c: FcCase = { ...randomCase(r, 7, 45, 21, bits, int32Out), perturb };
          const all = runFc(benches[0]!, c).out;
          if (!perturb) expect(Array.from(all)).toEqual(Array.from(expectedFc(c)));
          expectAllBuildsMatch(c, all, 'batch 7');
          for (const m of [1, 2, 3, 4]) {
            // Rows 0..m-1 alone must give the first m rows of the batch-7 result.
            const sub: FcCase = { ...c, m, input: c.input.subarray(0, m * c.k) };
            expectAllBuildsMatch(sub, all.subarray(0, m * c.n), `batch ${m} of 7${perturb ? ', perturbed' : ''}`);
          }
        }
      }
    }
  });

  it('computes M=K=N=256 exactly in every build', () => {
    const r = rng(303);
    const c = randomCase(r, 256, 256, 256, 16, false);
    expectAllBuildsMatch(c, expectedFc(c), '256^3');
  });

  it('packs layers larger than the weight budget in several chunks and still matches', () => {
    const r = rng(404);
    const k = 1001;
    const n = 101;
    // Several chunks, the last one partial, and a partial last panel inside it.
    expect(packedChunkPanels(k, n)).toBeLessThan(Math.ceil(n / 8));
    for (const bits of [16, 8] as const) {
      const c = randomCase(r, 6, k, n, bits, bits === 8);
      expectAllBuildsMatch(c, expectedFc(c), `chunked w${bits}`);
    }
  });

  it('gives identical results under any packing budget, one panel per chunk included, with and without perturbation', () => {
    const r = rng(405);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    const c = randomCase(r, 9, 37, 45, 16, false);
    const expected = expectedFc(c);
    const perturb: PerturbSpec = { key: 99, start: 12345, dist: 'gaussian', signedEps: 333, oneQ, multiplier, shift };
    const withPerturb: FcCase = { ...c, perturb };
    const perturbedOut = runFc(benches[0]!, withPerturb).out;
    for (const budget of [0, 1000, 2500, 10_000]) {
      const params = { batch: c.m, inFeatures: c.k, outFeatures: c.n, weightBits: c.bits, inputZeroPoint: c.zin, packedWeightBudget: budget } as const;
      const full = fullyConnectedScratchBytes({ ...params, packedWeightBudget: undefined });
      if (budget < 2500) expect(fullyConnectedScratchBytes(params)).toBeLessThan(full);
      for (const b of benches) {
        expect(Array.from(runFcWithBudget(b, c, budget))).toEqual(Array.from(expected));
        expect(Array.from(runFcWithBudget(b, withPerturb, budget))).toEqual(Array.from(perturbedOut));
      }
    }
  });
});

describe('fullyConnected on narrow panels (4 or 2 columns)', () => {
  it('equals the reference bit for bit on every build, for odd K and N not a multiple of the width, perturbed as on 8-column panels', () => {
    const r = rng(406);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    let i = 0;
    for (const k of [1, 3, 8, 13, 40]) {
      for (const n of [1, 2, 3, 5, 9, 13]) {
        const m = 5 + (i % 4);
        const bits = i % 2 === 0 ? 16 : 8;
        const c = randomCase(r, m, k, n, bits, i % 3 === 0);
        i++;
        const expected = expectedFc(c);
        const perturb: PerturbSpec = { key: 7 + i, start: 1000 * i, dist: i % 2 ? 'gaussian' : 'rademacher', signedEps: bits === 16 ? -500 : 20, oneQ, multiplier, shift };
        const withPerturb: FcCase = { ...c, perturb };
        const perturbedOut = Array.from(runFcWithBudget(benches[0]!, withPerturb, PACKED_WEIGHT_BUDGET_BYTES));
        for (const columns of [4, 2] as const) {
          for (const budget of [0, PACKED_WEIGHT_BUDGET_BYTES]) {
            for (const b of benches) {
              const tag = `M=${m} K=${k} N=${n} w${bits} ${columns} columns budget ${budget} ${b.build}`;
              expect({ tag, out: Array.from(runFcWithBudget(b, c, budget, columns)) }).toEqual({ tag, out: Array.from(expected) });
              expect({ tag, out: Array.from(runFcWithBudget(b, withPerturb, budget, columns)) }).toEqual({ tag, out: perturbedOut });
            }
          }
        }
      }
    }
  });

  it('needs a quarter (4 columns) or an eighth (2 columns) of the weight bytes of an 8-column panel, and refuses other widths', () => {
    const base = { batch: 8, inFeatures: 64, outFeatures: 64, weightBits: 16, inputZeroPoint: 0, packedWeightBudget: 0 } as const;
    const tile = 4 * 64 * 2;
    expect(fullyConnectedScratchBytes(base)).toBe(256 + 64 * 16 + tile);
    expect(fullyConnectedScratchBytes({ ...base, panelColumns: 4 })).toBe(128 + 64 * 8 + tile);
    expect(fullyConnectedScratchBytes({ ...base, panelColumns: 2 })).toBe(128 + 64 * 4 + tile);
    expect(packedChunkPanels(64, 64, PACKED_WEIGHT_BUDGET_BYTES, 2)).toBe(32);
    expect(() => fullyConnectedScratchBytes({ ...base, panelColumns: 3 as PanelColumns })).toThrow(ConfigError);
    expect(() => fullyConnectedScratchBytes({ ...base, panelColumns: 16 as PanelColumns })).toThrow(/panelColumns must be one of 8, 4, 2/);
  });
});

describe('fullyConnected on blocks of output units', () => {
  /** The whole output assembled from calls on consecutive blocks of `block` units each. */
  function runInBlocks(b: Bench, c: FcCase, block: number, budget?: number): Int8Array | Int32Array {
    b.arena.reset();
    const p: FullyConnectedParams = { batch: c.m, inFeatures: c.k, outFeatures: c.n, weightBits: c.bits, inputZeroPoint: c.zin, perturb: c.perturb, packedWeightBudget: budget };
    const input = b.arena.put(c.input, 'input');
    const weights = b.arena.put(c.weights, 'weights');
    const bias = c.bias ? b.arena.put(c.bias, 'bias') : null;
    const outBytes = c.m * c.n * (c.quant ? 1 : 4);
    const outAlloc = b.arena.alloc(outBytes + CANARY_BYTES, 'out+canary');
    const output: DeviceBuffer = { name: 'out', offset: outAlloc.offset, bytes: outBytes };
    const requant = c.quant ? prepareRequant(b.arena, c.quant, c.n) : null;
    const scratch = b.arena.alloc(fullyConnectedScratchBytes(p), 'scratch');
    b.device.bytes.fill(CANARY, outAlloc.offset, outAlloc.offset + outBytes + CANARY_BYTES);
    for (let start = 0; start < c.n; start += block) {
      fullyConnected(b.arena, input, weights, bias, output, { ...p, units: { start, end: Math.min(c.n, start + block) } }, requant, scratch);
    }
    expect(b.device.bytes.subarray(output.offset + outBytes, output.offset + outBytes + CANARY_BYTES).every((v) => v === CANARY)).toBe(true);
    return c.quant ? b.arena.i8(output).slice() : b.arena.i32(output).slice();
  }

  it('assembles exactly the whole call, on the GEMV and the packed path, int8 and int32 output, with and without a fused perturbation, in every build', () => {
    const r = rng(611);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    for (const [m, k, n, bits, int32Out] of [[1, 37, 45, 16, false], [2, 20, 19, 8, true], [4, 33, 21, 16, false], [9, 37, 45, 16, false], [7, 16, 30, 8, true]] as [number, number, number, 8 | 16, boolean][]) {
      const c = randomCase(r, m, k, n, bits, int32Out);
      const perturbed: FcCase = { ...c, perturb: { key: 4242, start: 777, dist: 'gaussian', signedEps: bits === 16 ? 900 : 40, oneQ, multiplier, shift } };
      for (const b of benches) {
        for (const x of [c, perturbed]) {
          const whole = runFc(b, x).out;
          for (const block of [1, 3, 8, 13, n]) {
            expect({ m, k, n, block, build: b.build, out: Array.from(runInBlocks(b, x, block)) }).toEqual({ m, k, n, block, build: b.build, out: Array.from(whole) });
          }
          // A one-panel packing budget: blocks of several panels still pack within the layer's scratch.
          if (m > 4) expect(Array.from(runInBlocks(b, x, 16, 0))).toEqual(Array.from(whole));
        }
      }
    }
  });

  it('refuses an empty, reversed, fractional or out-of-range block with a typed error', () => {
    const b = benches[0]!;
    const c = randomCase(rng(612), 1, 8, 10, 16, true);
    for (const units of [{ start: 0, end: 0 }, { start: 5, end: 4 }, { start: -1, end: 3 }, { start: 0, end: 11 }, { start: 10, end: 10 }, { start: 1.5, end: 3 }]) {
      b.arena.reset();
      const p: FullyConnectedParams = { batch: 1, inFeatures: 8, outFeatures: 10, weightBits: 16, inputZeroPoint: 0, units };
      const input = b.arena.put(c.input, 'input');
      const weights = b.arena.put(c.weights, 'weights');
      const output = b.arena.alloc(40, 'out');
      const scratch = b.arena.alloc(fullyConnectedScratchBytes(p), 'scratch');
      expect(() => fullyConnected(b.arena, input, weights, null, output, p, null, scratch)).toThrow(ShapeError);
      // The prepared form takes its block per call, never in the params.
      expect(() => prepareFullyConnected(b.arena, input, weights, null, output, p, null, scratch)).toThrow(ConfigError);
      expect(() => prepareFullyConnected(b.arena, input, weights, null, output, { ...p, units: undefined }, null, scratch)(units.start, units.end)).toThrow(ShapeError);
    }
  });
});

describe('fullyConnected with a fused perturbation', () => {
  /** z for elements start..start+count of a stream, from the device RNG (the single source of z). */
  function zFromDevice(b: Bench, spec: PerturbSpec, count: number): Int8Array {
    b.arena.reset();
    const dst = b.arena.alloc(count, 'z');
    b.device.kernel('rng_fill_z')(dst.offset, count, spec.key | 0, spec.start | 0, spec.dist === 'gaussian' ? 0 : 1, spec.oneQ);
    return b.arena.i8(dst).slice();
  }

  /** The perturbation owner's kernel applied to a stored copy, for a cross-check of the formula. */
  function perturbOnDevice(b: Bench, weights: Weights, spec: PerturbSpec, bits: 8 | 16): Weights {
    b.arena.reset();
    const src = b.arena.put(weights, 'w');
    const dst = b.arena.alloc(weights.byteLength, 'w±');
    b.device.kernel(bits === 16 ? 'perturb_w16' : 'perturb_w8')(
      src.offset, dst.offset, weights.length, spec.key | 0, spec.start | 0, spec.dist === 'gaussian' ? 0 : 1, spec.signedEps, spec.oneQ, spec.multiplier, spec.shift,
    );
    return bits === 16 ? b.arena.i16(dst).slice() : b.arena.i8(dst).slice();
  }

  it('equals perturbing the weights with the reference formula and running unperturbed; stored weights stay bit-identical', () => {
    const r = rng(505);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    const shapes: [number, number, number, 8 | 16, 'gaussian' | 'rademacher', number][] = [
      [3, 13, 17, 16, 'gaussian', 0],
      [5, 7, 9, 8, 'rademacher', 123],
      [2, 40, 8, 16, 'rademacher', 2 ** 32 - 40 * 8], // the tensor's indices end exactly at 2^32 − 1
      [4, 33, 21, 8, 'gaussian', 77],
      [1, 1, 1, 16, 'gaussian', 5],
    ];
    for (const [m, k, n, bits, dist, start] of shapes) {
      const key = benches[0]!.device.kernel('rng_stream_key')(randInt(r, 0, 1e9), randInt(r, 0, 100)) >>> 0;
      for (const sign of [1, -1]) {
        const spec: PerturbSpec = { key, start, dist, signedEps: sign * (bits === 16 ? 900 : 40), oneQ, multiplier, shift };
        const c: FcCase = { ...randomCase(r, m, k, n, bits, m % 2 === 0), perturb: spec };
        const z = zFromDevice(benches[0]!, spec, n * k);
        const perturbed = perturbWeightsRef(c.weights, z, spec.signedEps, oneQ, multiplier, shift, bits);
        expect(Array.from(perturbed)).not.toEqual(Array.from(c.weights));
        const expected = expectedFc(c, perturbed);
        const storedBefore = new Uint8Array(c.weights.buffer.slice(0));
        for (const b of benches) {
          expect(Array.from(perturbOnDevice(b, c.weights, spec, bits))).toEqual(Array.from(perturbed));
          const { out, weightsAfter } = runFc(b, c);
          expect({ build: b.build, out: Array.from(out) }).toEqual({ build: b.build, out: Array.from(expected) });
          expect(Buffer.compare(Buffer.from(weightsAfter), Buffer.from(storedBefore))).toBe(0);
          // Same result as running the unperturbed kernel on explicitly perturbed weights.
          const { out: plain } = runFc(b, { ...c, weights: perturbed, perturb: undefined });
          expect(Array.from(plain)).toEqual(Array.from(out));
        }
      }
    }
  });
});

describe('fullyConnected scratch and argument checks', () => {
  const p: FullyConnectedParams = { batch: 3, inFeatures: 13, outFeatures: 7, weightBits: 16, inputZeroPoint: 5 };

  function setup(b: Bench, params: FullyConnectedParams = p) {
    b.arena.reset();
    const r = rng(9);
    return {
      input: b.arena.put(randomInt8(r, params.batch * params.inFeatures), 'input'),
      weights: b.arena.put(randomInt16(r, params.outFeatures * params.inFeatures), 'weights'),
      bias: b.arena.put(randomInt32(r, params.outFeatures, -1000, 1000), 'bias'),
      output: b.arena.alloc(params.batch * params.outFeatures * 4, 'output'),
    };
  }

  it('works with a scratch buffer of exactly fullyConnectedScratchBytes and rejects a smaller or missing one', () => {
    const b = benches[1]!;
    const { input, weights, bias, output } = setup(b);
    const bytes = fullyConnectedScratchBytes(p);
    expect(bytes).toBeGreaterThan(0);
    const exact = b.arena.alloc(bytes, 'scratch');
    expect(() => fullyConnected(b.arena, input, weights, bias, output, p, null, exact)).not.toThrow();
    const small: DeviceBuffer = { name: 'small', offset: exact.offset, bytes: bytes - 1 };
    expect(() => fullyConnected(b.arena, input, weights, bias, output, p, null, small)).toThrow(ShapeError);
    expect(() => fullyConnected(b.arena, input, weights, bias, output, p, null, null)).toThrow(ShapeError);
  });

  it('keeps scratch bounded by the packing budget for large layers and independent of the batch and perturbation', () => {
    const big = { ...p, inFeatures: 4096, outFeatures: 4096 };
    // Budget + one activation tile (4 rows of 4096 int16).
    expect(fullyConnectedScratchBytes(big)).toBeLessThanOrEqual(PACKED_WEIGHT_BUDGET_BYTES + 4 * 4096 * 2);
    // A budget below one panel still holds one panel.
    expect(fullyConnectedScratchBytes({ ...big, packedWeightBudget: 32 * 1024 })).toBe(packedPanelBytes(4096) + 4 * 4096 * 2);
    expect(fullyConnectedScratchBytes({ ...big, batch: 1 })).toBe(fullyConnectedScratchBytes({ ...big, batch: 1000 }));
    const perturb: PerturbSpec = { key: 1, start: 0, dist: 'gaussian', signedEps: 10, oneQ: 36, multiplier: 1 << 30, shift: -5 };
    expect(fullyConnectedScratchBytes({ ...big, batch: 1, perturb })).toBe(fullyConnectedScratchBytes(big));
  });

  it('rejects bad shapes, zero points, widths, buffers and perturbations with typed errors and no trap', () => {
    const b = benches[0]!;
    const { input, weights, bias, output } = setup(b);
    const scratch = b.arena.alloc(fullyConnectedScratchBytes(p), 'scratch');
    const call = (q: Partial<FullyConnectedParams>, bufs: Partial<Record<'input' | 'weights' | 'bias' | 'output' | 'scratch', DeviceBuffer | null>> = {}) => () =>
      fullyConnected(
        b.arena,
        bufs.input ?? input,
        bufs.weights ?? weights,
        bufs.bias === undefined ? bias : bufs.bias,
        bufs.output ?? output,
        { ...p, ...q },
        null,
        bufs.scratch === undefined ? scratch : bufs.scratch,
      );
    expect(call({})).not.toThrow();
    expect(call({ batch: 0 })).toThrow(ShapeError);
    expect(call({ inFeatures: 2.5 })).toThrow(ShapeError);
    expect(call({ outFeatures: -1 })).toThrow(ShapeError);
    expect(call({ weightBits: 12 as 8 })).toThrow(ConfigError);
    expect(call({ inputZeroPoint: 128 })).toThrow(ConfigError);
    expect(call({ inputZeroPoint: -129 })).toThrow(ConfigError);
    expect(call({ batch: 4 })).toThrow(ShapeError); // input and output too small for 4 rows
    expect(call({}, { weights: { name: 'short', offset: weights.offset, bytes: 13 * 7 } })).toThrow(ShapeError); // w8-sized
    expect(call({}, { bias: { name: 'short', offset: bias.offset, bytes: 24 } })).toThrow(ShapeError);
    expect(call({}, { input: { name: 'outside', offset: 0, bytes: 64 } })).toThrow(ShapeError);
    expect(call({}, { output: { name: 'alias', offset: input.offset, bytes: 256 } })).toThrow(ShapeError);
    expect(call({}, { scratch: { name: 'alias', offset: weights.offset, bytes: scratch.bytes } })).toThrow(ShapeError);
    const perturb: PerturbSpec = { key: 1, start: 0, dist: 'gaussian', signedEps: 10, oneQ: 36, multiplier: 1 << 30, shift: -5 };
    expect(call({ perturb })).not.toThrow();
    expect(call({ perturb: { ...perturb, oneQ: 0 } })).toThrow(ConfigError);
    expect(call({ perturb: { ...perturb, signedEps: 2 ** 30 } })).toThrow(ConfigError);
    expect(call({ perturb: { ...perturb, start: 2 ** 32 - 13 * 7 } })).not.toThrow();
    expect(call({ perturb: { ...perturb, start: 2 ** 32 - 13 * 7 + 1 } })).toThrow(ConfigError); // indices would wrap
    expect(call({ packedWeightBudget: -1 })).toThrow(ConfigError);
    expect(call({ packedWeightBudget: 1.5 })).toThrow(ConfigError);
    // Per-channel requantization prepared for a different channel count.
    const wrong = prepareRequant(b.arena, { multiplier: new Int32Array(6).fill(1 << 30), shift: new Int32Array(6), outZeroPoint: 0 }, 6);
    expect(() => fullyConnected(b.arena, input, weights, bias, output, p, wrong, scratch)).toThrow(ShapeError);
  });
});
