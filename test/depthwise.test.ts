import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt8, randomInt16, randomInt32, type Bench } from './helpers/devices.js';
import { depthwiseConv2dRef, perturbWeightsRef, type PaddingRef } from './reference/layers-ref.js';
import {
  depthwiseConv2d, depthwiseConv2dOutputShape, depthwiseConv2dScratchBytes, type DepthwiseConv2DParams,
} from '../src/kernels/depthwise.js';
import { prepareRequant } from '../src/kernels/requant.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(8 * 1024 * 1024);
});

interface Case {
  p: DepthwiseConv2DParams;
  input: Int8Array;
  weights: Int8Array | Int16Array;
  bias: Int32Array | null;
  multiplier: Int32Array;
  shift: Int32Array;
  outZeroPoint: number;
  actMin: number;
  actMax: number;
}

/** Runs the device kernel on a fresh arena; returns the output and the weights read back. */
function runDevice(b: Bench, c: Case): { out: Int8Array; weightsAfter: Uint8Array } {
  b.arena.reset();
  const { height, width } = depthwiseConv2dOutputShape(c.p);
  const oc = c.p.inChannels * c.p.depthMultiplier;
  const input = b.arena.put(c.input, 'input');
  const weights = b.arena.put(c.weights, 'weights');
  const bias = c.bias ? b.arena.put(c.bias, 'bias') : null;
  const requant = prepareRequant(b.arena, { multiplier: c.multiplier, shift: c.shift, outZeroPoint: c.outZeroPoint, actMin: c.actMin, actMax: c.actMax }, oc);
  const scratch = b.arena.alloc(depthwiseConv2dScratchBytes(c.p), 'scratch');
  const outBytes = c.p.batch * height * width * oc;
  const output = b.arena.alloc(outBytes, 'output');
  // Any store past the output's last byte shows in this guard.
  const guard = new Uint8Array(b.device.memory.buffer, output.offset + outBytes, 48);
  b.arena.alloc(64, 'guard');
  guard.fill(0xc3);
  b.arena.u8(output).fill(0x5a);
  depthwiseConv2d(b.arena, input, weights, bias, output, c.p, requant, scratch);
  expect(guard.every((v) => v === 0xc3), `${b.build}: bytes after the output were written`).toBe(true);
  return { out: b.arena.i8(output).slice(), weightsAfter: b.arena.u8(weights).slice() };
}

function reference(c: Case, weights: ArrayLike<number> = c.weights): Int8Array {
  return depthwiseConv2dRef({
    batch: c.p.batch, inH: c.p.inHeight, inW: c.p.inWidth, inC: c.p.inChannels, M: c.p.depthMultiplier,
    kH: c.p.kernelHeight, kW: c.p.kernelWidth, strideH: c.p.strideHeight, strideW: c.p.strideWidth,
    padding: c.p.padding as PaddingRef, inputZeroPoint: c.p.inputZeroPoint, input: c.input, weights, bias: c.bias,
    multiplier: c.multiplier, shift: c.shift, outZeroPoint: c.outZeroPoint, actMin: c.actMin, actMax: c.actMax,
  }).out;
}

/** Realistic multipliers (accumulator → int8) scaled to the accumulator range of the case. */
function randomRequant(r: () => number, channels: number, perChannel: boolean, accScale: number) {
  const n = perChannel ? channels : 1;
  const multiplier = new Int32Array(n);
  const shift = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const q = quantizeMultiplier((64 / accScale) * Math.exp((r() - 0.5) * 3));
    multiplier[i] = q.multiplier;
    shift[i] = q.shift;
  }
  return { multiplier, shift };
}

function randomCase(
  r: () => number, channels: number, M: number, kH: number, kW: number, stride: number, padding: 'same' | 'valid',
  weightBits: 8 | 16,
): Case {
  const inHeight = padding === 'valid' ? kH + randInt(r, 0, 5) : randInt(r, 1, 9);
  const inWidth = padding === 'valid' ? kW + randInt(r, 0, 6) : randInt(r, 1, 10);
  const batch = randInt(r, 1, 2);
  const oc = channels * M;
  const wMax = weightBits === 16 ? 32767 : 127;
  const weightsN = kH * kW * oc;
  const weights = weightBits === 16 ? randomInt16(r, weightsN, -wMax, wMax) : randomInt8(r, weightsN, -wMax, wMax);
  const inputZeroPoint = [-128, 127, 0, randInt(r, -128, 127)][randInt(r, 0, 3)]!;
  const perChannel = r() < 0.6;
  const q = randomRequant(r, oc, perChannel, wMax * 128 * Math.sqrt(kH * kW));
  const actMin = r() < 0.3 ? randInt(r, -128, 0) : -128;
  return {
    p: {
      batch, inHeight, inWidth, inChannels: channels, depthMultiplier: M, kernelHeight: kH, kernelWidth: kW,
      strideHeight: stride, strideWidth: stride, padding, weightBits, inputZeroPoint,
    },
    input: randomInt8(r, batch * inHeight * inWidth * channels),
    weights,
    bias: r() < 0.8 ? randomInt32(r, oc, -(1 << 20), 1 << 20) : null,
    ...q,
    outZeroPoint: randInt(r, -128, 127),
    actMin,
    actMax: r() < 0.3 ? randInt(r, actMin, 127) : 127,
  };
}

function expectAllBuildsEqual(c: Case, expected: Int8Array, label: string): void {
  for (const b of benches) {
    const got = runDevice(b, c).out;
    const firstBad = got.findIndex((v, i) => v !== expected[i]);
    expect({ label, build: b.build, firstBad }).toEqual({ label, build: b.build, firstBad: -1 });
  }
}

describe('depthwise conv2d (TFLM DepthwiseConvPerChannel semantics)', () => {
  it('all builds match the naive reference on channels 1..33, multipliers 1 and 2, 3×3/5×5/1×1/10×4, stride 1/2, same/valid', () => {
    const r = rng(2024);
    let n = 0;
    for (const channels of [1, 3, 7, 13, 16, 17, 33]) {
      for (const M of [1, 2]) {
        for (const [kH, kW] of [[3, 3], [5, 5], [1, 1], [10, 4]] as const) {
          for (const stride of [1, 2]) {
            for (const padding of ['same', 'valid'] as const) {
              const bits = n++ % 2 === 0 ? 16 : 8;
              const c = randomCase(r, channels, M, kH, kW, stride, padding, bits);
              expectAllBuildsEqual(c, reference(c), `C=${channels} M=${M} ${kH}x${kW} s${stride} ${padding} w${bits}`);
            }
          }
        }
      }
    }
  });

  it('simd and scalar builds agree bit for bit with depth multipliers 3 and 5, non-square strides and a 48-channel MobileNet block', () => {
    const r = rng(99);
    const shapes: [number, number, number, number, number, number][] = [
      // C, M, kH, kW, strideH, strideW
      [5, 3, 3, 3, 1, 2], [4, 5, 3, 2, 2, 1], [48, 1, 3, 3, 2, 2], [9, 2, 2, 5, 3, 1], [2, 8, 1, 3, 1, 1],
    ];
    for (const [C, M, kH, kW, sH, sW] of shapes) {
      for (const padding of ['same', 'valid'] as const) {
        const c = randomCase(r, C, M, kH, kW, 1, padding, 16);
        c.p.strideHeight = sH;
        c.p.strideWidth = sW;
        expectAllBuildsEqual(c, reference(c), `C=${C} M=${M} ${kH}x${kW} s${sH}x${sW} ${padding}`);
      }
    }
  });

  it('is exact at the extremes: inputs ±128/127 against zero points 127/-128, weights ±32767 and ±127, INT32 bias', () => {
    const r = rng(5);
    for (const bits of [8, 16] as const) {
      for (const [x, zp] of [[-128, 127], [127, -128], [-128, -128]] as const) {
        const c = randomCase(r, 13, 2, 5, 5, 1, 'same', bits);
        const wMax = bits === 16 ? 32767 : 127;
        c.input.fill(x);
        c.p.inputZeroPoint = zp;
        for (let i = 0; i < c.weights.length; i++) c.weights[i] = i % 3 === 0 ? -wMax : wMax;
        c.bias = Int32Array.from({ length: 26 }, (_, i) => (i % 2 ? 2 ** 31 - 1 : -(2 ** 31)));
        expectAllBuildsEqual(c, reference(c), `extreme w${bits} x=${x} zp=${zp}`);
      }
    }
  });

  it('covers the requantization corner cases per channel: left shifts, shift 0, -31, INT32_MIN multipliers', () => {
    const r = rng(77);
    const c = randomCase(r, 17, 1, 3, 3, 1, 'same', 8);
    const shifts = [30, 5, 1, 0, -1, -8, -17, -31];
    const mults = [-(2 ** 31), 2 ** 31 - 1, 1 << 30, 1, 0, -(1 << 30), 1518500250];
    c.multiplier = Int32Array.from({ length: 17 }, (_, i) => mults[i % mults.length]!);
    c.shift = Int32Array.from({ length: 17 }, (_, i) => shifts[i % shifts.length]!);
    expectAllBuildsEqual(c, reference(c), 'per-channel corners');
    // One shared multiplier/shift (the per-tensor path) with a left shift and with a right shift.
    for (const [m, s] of [[1 << 30, 3], [1 << 30, 0], [1518500250, -13]] as const) {
      c.multiplier = Int32Array.of(m);
      c.shift = Int32Array.of(s);
      expectAllBuildsEqual(c, reference(c), `per-tensor m=${m} s=${s}`);
    }
  });

  it('saturates srdhm(INT32_MIN, INT32_MIN) to INT32_MAX as gemmlowp does, with and without a left shift', () => {
    const r = rng(78);
    const c = randomCase(r, 7, 1, 3, 3, 1, 'valid', 16);
    c.weights.fill(0); // the accumulator is then exactly the bias
    c.bias = Int32Array.of(-(2 ** 31), -(2 ** 30), -(2 ** 31), 5, -(2 ** 31), -(2 ** 29), 0);
    c.multiplier = Int32Array.of(-(2 ** 31), -(2 ** 31), -(2 ** 31), -(2 ** 31), 1 << 30, -(2 ** 31), -(2 ** 31));
    c.shift = Int32Array.of(0, 1, -3, 0, 0, 2, -31);
    c.outZeroPoint = 0;
    c.actMin = -128;
    c.actMax = 127;
    const expected = reference(c);
    // Channel 0: INT32_MAX + 0 clamps to 127, where the unsaturated product would give -128.
    expect(expected[0]).toBe(127);
    expectAllBuildsEqual(c, expected, 'saturation');
  });

  it('never depends on the bytes just past the input, which SIMD tail loads read', () => {
    const r = rng(12);
    for (const [C, M] of [[3, 1], [13, 2], [17, 1]] as const) {
      const c = randomCase(r, C, M, 3, 3, 1, 'same', 8);
      const results = [0x00, 0x7f, 0x80].map((fill) => {
        const b = benches[2]!;
        b.arena.reset();
        const { height, width } = depthwiseConv2dOutputShape(c.p);
        const oc = C * M;
        const input = b.arena.put(c.input, 'input');
        const after = b.arena.alloc(64, 'after-input');
        b.device.bytes.fill(fill, input.offset + input.bytes, after.offset + 64);
        const weights = b.arena.put(c.weights, 'weights');
        const requant = prepareRequant(b.arena, { multiplier: c.multiplier, shift: c.shift, outZeroPoint: c.outZeroPoint }, oc);
        const scratch = b.arena.alloc(depthwiseConv2dScratchBytes(c.p), 'scratch');
        const output = b.arena.alloc(c.p.batch * height * width * oc, 'output');
        depthwiseConv2d(b.arena, input, weights, null, output, c.p, requant, scratch);
        return Array.from(b.arena.i8(output));
      });
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
    }
  });

  it('computes the output shape by TFLite rules (same: ceil(in/stride), valid: floor((in−k)/stride)+1)', () => {
    const base: DepthwiseConv2DParams = {
      batch: 1, inHeight: 7, inWidth: 10, inChannels: 3, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 4,
      strideHeight: 2, strideWidth: 3, padding: 'same', weightBits: 16, inputZeroPoint: 0,
    };
    expect(depthwiseConv2dOutputShape(base)).toEqual({ height: 4, width: 4 });
    expect(depthwiseConv2dOutputShape({ ...base, padding: 'valid' })).toEqual({ height: 3, width: 3 });
    expect(depthwiseConv2dOutputShape({ ...base, strideHeight: 1, strideWidth: 1 })).toEqual({ height: 7, width: 10 });
  });
});

describe('depthwise conv2d with fused perturbation', () => {
  const specs = (key: number): PerturbSpec[] => [
    { key, start: 0, dist: 'gaussian', signedEps: 40, oneQ: 36, ...toSpecMult(1 / 36) },
    { key, start: 1000, dist: 'rademacher', signedEps: -3, oneQ: 36, ...toSpecMult(1 / 36) },
    // Huge εq: most perturbed weights clip to the grid's limits.
    { key, start: 7, dist: 'gaussian', signedEps: -200000, oneQ: 36, ...toSpecMult(1 / 36) },
  ];

  it('equals perturbing the weights by the reference formula, then running unperturbed, in every build', () => {
    const r = rng(31);
    for (const bits of [16, 8] as const) {
      for (const spec of specs(0x9e3779b9 >>> 0)) {
        for (const [C, M] of [[13, 1], [7, 2]] as const) {
          const c = randomCase(r, C, M, 3, 3, 2, 'same', bits);
          const perturbed = perturbWeightsRef(c.weights, bits, spec);
          const expected = reference(c, perturbed);
          const original = new Uint8Array(c.weights.buffer.slice(0));
          c.p.perturb = spec;
          for (const b of benches) {
            const { out, weightsAfter } = runDevice(b, c);
            const firstBad = out.findIndex((v, i) => v !== expected[i]);
            expect({ build: b.build, bits, dist: spec.dist, firstBad }).toEqual({ build: b.build, bits, dist: spec.dist, firstBad: -1 });
            expect(Buffer.compare(Buffer.from(weightsAfter), Buffer.from(original))).toBe(0);
          }
          // The perturbation changed something, so the check above could fail.
          expect(perturbed.some((v, i) => v !== c.weights[i])).toBe(true);
        }
      }
    }
  });

  it('+ε and −ε runs differ and the unperturbed run is neither', () => {
    const r = rng(8);
    const c = randomCase(r, 16, 1, 3, 3, 1, 'same', 16);
    c.multiplier = Int32Array.of(quantizeMultiplier(1 / 4000).multiplier);
    c.shift = Int32Array.of(quantizeMultiplier(1 / 4000).shift);
    const b = benches[1]!;
    const plain = runDevice(b, c).out;
    const spec: PerturbSpec = { key: 12345, start: 0, dist: 'gaussian', signedEps: 500, oneQ: 36, ...toSpecMult(1 / 36) };
    c.p.perturb = spec;
    const plus = runDevice(b, c).out;
    c.p.perturb = { ...spec, signedEps: -500 };
    const minus = runDevice(b, c).out;
    expect(Buffer.compare(Buffer.from(plus), Buffer.from(minus))).not.toBe(0);
    expect(Buffer.compare(Buffer.from(plus), Buffer.from(plain))).not.toBe(0);
  });
});

function toSpecMult(scale: number): { multiplier: number; shift: number } {
  return quantizeMultiplier(scale);
}

describe('depthwise conv2d scratch and argument checks', () => {
  it('uses exactly depthwiseConv2dScratchBytes: bytes after the scratch stay untouched, one byte less is a ShapeError', () => {
    const r = rng(3);
    for (const [C, M, kH, kW] of [[13, 2, 5, 5], [16, 1, 3, 3], [1, 1, 1, 1], [33, 3, 10, 4]] as const) {
      const c = randomCase(r, C, M, kH, kW, 1, 'same', 16);
      c.p.perturb = { key: 1, start: 0, dist: 'gaussian', signedEps: 10, oneQ: 36, ...toSpecMult(1 / 36) };
      const needed = depthwiseConv2dScratchBytes(c.p);
      expect(needed % 16).toBe(0);
      for (const b of benches) {
        b.arena.reset();
        const oc = C * M;
        const { height, width } = depthwiseConv2dOutputShape(c.p);
        const input = b.arena.put(c.input, 'input');
        const weights = b.arena.put(c.weights, 'weights');
        const requant = prepareRequant(b.arena, { multiplier: c.multiplier, shift: c.shift, outZeroPoint: 0 }, oc);
        const output = b.arena.alloc(c.p.batch * height * width * oc, 'output');
        const before = b.arena.alloc(64, 'guard-before');
        const scratch = b.arena.alloc(needed, 'scratch');
        const after = b.arena.alloc(256, 'guard-after');
        b.arena.u8(before).fill(0xa5);
        b.arena.u8(after).fill(0xa5);
        depthwiseConv2d(b.arena, input, weights, null, output, c.p, requant, scratch);
        expect(b.arena.u8(before).every((v) => v === 0xa5)).toBe(true);
        expect(b.arena.u8(after).every((v) => v === 0xa5)).toBe(true);
        const short = { ...scratch, bytes: needed - 1 };
        expect(() => depthwiseConv2d(b.arena, input, weights, null, output, c.p, requant, short)).toThrow(ShapeError);
        expect(() => depthwiseConv2d(b.arena, input, weights, null, output, c.p, requant, null)).toThrow(ShapeError);
      }
    }
  });

  it('rejects bad arguments with typed errors before the device runs', () => {
    const b = benches[0]!;
    b.arena.reset();
    const p: DepthwiseConv2DParams = {
      batch: 1, inHeight: 5, inWidth: 5, inChannels: 3, depthMultiplier: 2, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 1, strideWidth: 1, padding: 'same', weightBits: 16, inputZeroPoint: 0,
    };
    const input = b.arena.alloc(75, 'input');
    const weights = b.arena.alloc(9 * 6 * 2, 'weights');
    const bias = b.arena.alloc(24, 'bias');
    const output = b.arena.alloc(150, 'output');
    const scratch = b.arena.alloc(depthwiseConv2dScratchBytes(p), 'scratch');
    const requant = prepareRequant(b.arena, { multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(-8), outZeroPoint: 0 }, 6);
    const run = (q: Partial<DepthwiseConv2DParams>, over: { out?: typeof output; bias?: typeof bias | null; input?: typeof input } = {}) =>
      depthwiseConv2d(b.arena, over.input ?? input, weights, over.bias === undefined ? bias : over.bias, over.out ?? output, { ...p, ...q }, requant, scratch);
    expect(() => run({})).not.toThrow();
    expect(() => run({ padding: 'full' as never })).toThrow(ConfigError);
    expect(() => run({ weightBits: 12 as never })).toThrow(ConfigError);
    expect(() => run({ inputZeroPoint: 128 })).toThrow(ConfigError);
    expect(() => run({ strideHeight: 0 })).toThrow(ShapeError);
    expect(() => run({ depthMultiplier: 0 })).toThrow(ShapeError);
    expect(() => run({ inChannels: 2.5 })).toThrow(ShapeError);
    expect(() => run({ padding: 'valid', kernelHeight: 6 })).toThrow(ShapeError);
    expect(() => run({ inHeight: 6 })).toThrow(ShapeError); // input buffer too small
    expect(() => run({}, { bias: { ...bias, bytes: 20 } })).toThrow(ShapeError);
    expect(() => run({}, { out: input })).toThrow(ShapeError); // output overlaps input
    expect(() => run({}, { input: { name: 'outside', offset: 0, bytes: 75 } })).toThrow(ShapeError);
    expect(() => run({ perturb: { key: 1, start: 0, dist: 'uniform' as never, signedEps: 1, oneQ: 36, multiplier: 1 << 30, shift: -5 } })).toThrow(ConfigError);
    expect(() => run({ perturb: { key: 1, start: 0, dist: 'gaussian', signedEps: 2 ** 30, oneQ: 36, multiplier: 1 << 30, shift: -5 } })).toThrow(ConfigError);
    const wrongChannels = prepareRequant(b.arena, { multiplier: Int32Array.of(1, 2, 3), shift: Int32Array.of(0, 0, 0), outZeroPoint: 0 }, 3);
    expect(() => depthwiseConv2d(b.arena, input, weights, bias, output, p, wrongChannels, scratch)).toThrow(ShapeError);
    // Scratch overlapping the weights would let packing overwrite them.
    const overlapping = { name: 'scratch-over-weights', offset: weights.offset, bytes: scratch.bytes };
    expect(() => depthwiseConv2d(b.arena, input, weights, bias, output, p, requant, overlapping)).toThrow(ShapeError);
  });
});
