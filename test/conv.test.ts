import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt8, randomInt16, randomInt32, type Bench } from './helpers/devices.js';
import { conv2dAccRef, outSizeRef, perturbWeightsRef, requantizeRowsRef, type Weights } from './reference/conv-ref.js';
import { conv2d, conv2dOutputShape, conv2dScratchBytes, prepareConv2d, type Conv2DParams } from '../src/kernels/conv.js';
import { prepareRequant, type OutputQuant } from '../src/kernels/requant.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import type { DeviceBuffer } from '../src/device/arena.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(64 * 1024 * 1024);
});

type Shape = Omit<Conv2DParams, 'weightBits' | 'inputZeroPoint' | 'perturb'>;

interface ConvCase {
  p: Conv2DParams;
  input: Int8Array;
  weights: Weights;
  bias: Int32Array | null;
  quant: OutputQuant;
}

const CANARY = 0x5a;
const CANARY_BYTES = 64;

const kSize = (s: Shape) => s.kernelHeight * s.kernelWidth * s.inChannels;

function outBytes(p: Conv2DParams): number {
  const { height, width } = conv2dOutputShape(p);
  return p.batch * height * width * p.outChannels;
}

/** Runs one case; output and scratch are followed by canary bytes that must survive. */
/** How a case is run once its buffers are in place (conv2d by default). */
type ConvCall = (...args: Parameters<typeof conv2d>) => void;

function runConv(b: Bench, c: ConvCase, scratchBytes = conv2dScratchBytes(c.p), call: ConvCall = conv2d): { out: Int8Array; weightsAfter: Uint8Array } {
  b.arena.reset();
  const input = b.arena.put(c.input, 'input');
  const weights = b.arena.put(c.weights, 'weights');
  const bias = c.bias ? b.arena.put(c.bias, 'bias') : null;
  const n = outBytes(c.p);
  const outAlloc = b.arena.alloc(n + CANARY_BYTES, 'out+canary');
  const output: DeviceBuffer = { name: 'out', offset: outAlloc.offset, bytes: n };
  const requant = prepareRequant(b.arena, c.quant, c.p.outChannels);
  const scratchAlloc = b.arena.alloc(scratchBytes + CANARY_BYTES, 'scratch+canary');
  const scratch: DeviceBuffer = { name: 'scratch', offset: scratchAlloc.offset, bytes: scratchBytes };
  const mem = b.device.bytes;
  mem.fill(CANARY, output.offset, output.offset + n + CANARY_BYTES);
  mem.fill(CANARY, scratch.offset + scratchBytes, scratch.offset + scratchBytes + CANARY_BYTES);
  call(b.arena, input, weights, bias, output, c.p, requant, scratch);
  expect(mem.subarray(output.offset + n, output.offset + n + CANARY_BYTES).every((v) => v === CANARY)).toBe(true);
  expect(mem.subarray(scratch.offset + scratchBytes, scratch.offset + scratchBytes + CANARY_BYTES).every((v) => v === CANARY)).toBe(true);
  return { out: b.arena.i8(output).slice(), weightsAfter: b.arena.u8(weights).slice() };
}

function expectedConv(c: ConvCase, weights: Weights = c.weights): Int8Array {
  const acc = conv2dAccRef(c.input, weights, c.bias, c.p, c.p.inputZeroPoint);
  const q = c.quant;
  return requantizeRowsRef(acc, c.p.outChannels, q.multiplier, q.shift, q.outZeroPoint, q.actMin ?? -128, q.actMax ?? 127);
}

function randomQuant(r: () => number, s: Shape, bits: 8 | 16, perChannel: boolean, clamp: 'none' | 'relu' | 'relu6'): OutputQuant {
  const wMax = bits === 16 ? 32767 : 127;
  const count = perChannel ? s.outChannels : 1;
  const multiplier = new Int32Array(count);
  const shift = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const q = quantizeMultiplier((0.5 + 1.5 * r()) / (Math.sqrt(kSize(s)) * wMax * 4));
    multiplier[i] = q.multiplier;
    shift[i] = q.shift;
  }
  const outZeroPoint = randInt(r, -20, 20);
  if (clamp === 'relu') return { multiplier, shift, outZeroPoint, actMin: outZeroPoint, actMax: 127 };
  if (clamp === 'relu6') return { multiplier, shift, outZeroPoint, actMin: outZeroPoint, actMax: outZeroPoint + 60 };
  return { multiplier, shift, outZeroPoint };
}

function randomCase(r: () => number, s: Shape, bits: 8 | 16): ConvCase {
  const k = kSize(s);
  const wMax = bits === 16 ? 32767 : 127;
  const biasScale = Math.round(Math.sqrt(k) * 128 * wMax * 0.3);
  return {
    p: { ...s, weightBits: bits, inputZeroPoint: randInt(r, -128, 127) },
    input: randomInt8(r, s.batch * s.inHeight * s.inWidth * s.inChannels),
    weights: bits === 16 ? randomInt16(r, s.outChannels * k) : randomInt8(r, s.outChannels * k, -127, 127),
    bias: r() < 0.8 ? randomInt32(r, s.outChannels, -biasScale, biasScale) : null,
    quant: randomQuant(r, s, bits, r() < 0.6, (['none', 'relu', 'relu6'] as const)[randInt(r, 0, 2)]!),
  };
}

function label(p: Conv2DParams): string {
  return `${p.batch}x${p.inHeight}x${p.inWidth}x${p.inChannels} k${p.kernelHeight}x${p.kernelWidth} s${p.strideHeight}x${p.strideWidth} ${p.padding} →${p.outChannels} w${p.weightBits}`;
}

function expectAllBuildsMatch(c: ConvCase, expected: Int8Array): void {
  for (const b of benches) {
    const { out } = runConv(b, c);
    expect({ case: label(c.p), build: b.build, out: Array.from(out) }).toEqual({ case: label(c.p), build: b.build, out: Array.from(expected) });
  }
}

const shape = (
  batch: number, h: number, w: number, c: number, o: number, kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid',
): Shape => ({ batch, inHeight: h, inWidth: w, inChannels: c, outChannels: o, kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padding });

describe('conv2d (qs8, TFLM Conv2D semantics)', () => {
  it('scalar, simd and relaxed builds equal the TS reference bit for bit over kernels 1x1/3x3/5x5/10x4, strides 1/2, same/valid, channels 1..17', () => {
    const r = rng(11);
    const shapes: Shape[] = [
      shape(1, 5, 5, 1, 1, 3, 3, 1, 1, 'same'),
      shape(2, 7, 5, 3, 7, 3, 3, 1, 1, 'same'),
      shape(1, 9, 6, 13, 13, 3, 3, 2, 2, 'same'),
      shape(3, 8, 11, 7, 17, 3, 3, 2, 1, 'valid'),
      shape(1, 6, 6, 17, 3, 5, 5, 1, 1, 'same'),
      shape(2, 9, 7, 3, 8, 5, 5, 2, 2, 'valid'),
      shape(1, 13, 7, 1, 16, 10, 4, 2, 2, 'same'), // DS-CNN's stem kernel
      shape(1, 12, 5, 2, 9, 10, 4, 1, 1, 'valid'),
      shape(4, 5, 3, 13, 7, 1, 1, 1, 1, 'same'), // 1×1: read in place, no im2col
      shape(2, 7, 9, 17, 13, 1, 1, 2, 2, 'valid'),
      shape(1, 6, 6, 8, 24, 1, 1, 2, 1, 'same'),
      shape(5, 3, 3, 7, 1, 3, 3, 1, 1, 'same'),
      shape(1, 4, 4, 3, 5, 7, 7, 1, 1, 'same'), // kernel larger than the input: mostly padding
      shape(1, 11, 1, 5, 6, 3, 1, 2, 1, 'same'), // width 1
      shape(3, 1, 9, 4, 11, 1, 3, 1, 2, 'same'), // height 1
    ];
    shapes.forEach((s, i) => {
      const c = randomCase(r, s, i % 2 === 0 ? 16 : 8);
      expectAllBuildsMatch(c, expectedConv(c));
    });
  });

  it('matches on ResNet-8-like and MobileNet-like layers with per-channel ReLU6 outputs', () => {
    const r = rng(12);
    for (const s of [shape(1, 16, 16, 16, 16, 3, 3, 1, 1, 'same'), shape(2, 12, 10, 32, 40, 1, 1, 1, 1, 'same'), shape(1, 17, 15, 16, 32, 3, 3, 2, 2, 'same')]) {
      for (const bits of [16, 8] as const) {
        const c = randomCase(r, s, bits);
        c.quant = randomQuant(r, s, bits, true, 'relu6');
        const expected = expectedConv(c);
        expect(new Set(expected).size).toBeGreaterThan(8);
        expectAllBuildsMatch(c, expected);
      }
    }
  });

  it('handles the extremes: all inputs -128 with zin = 127 (padding contributes 0, not -255) and weights ±32767', () => {
    const s = shape(2, 6, 5, 13, 9, 3, 3, 1, 1, 'same');
    const k = kSize(s);
    const weights = Int16Array.from({ length: s.outChannels * k }, (_, i) => (i % 5 === 0 ? -32767 : 32767));
    const c: ConvCase = {
      p: { ...s, weightBits: 16, inputZeroPoint: 127 },
      input: new Int8Array(s.batch * s.inHeight * s.inWidth * s.inChannels).fill(-128),
      weights,
      bias: null,
      // |acc| reaches 9·13·255·32767 ≈ 2^30: shifts of -22..-24 bring that into int8.
      quant: { multiplier: Int32Array.from({ length: s.outChannels }, (_, i) => (1 << 30) + i * 99991), shift: Int32Array.from({ length: s.outChannels }, (_, i) => -22 - (i % 3)), outZeroPoint: 0 },
    };
    const expected = expectedConv(c);
    // Corner, edge and interior pixels see different numbers of real taps: outputs must differ.
    expect(new Set(expected).size).toBeGreaterThan(3);
    expectAllBuildsMatch(c, expected);
    // Biases at the int32 limits make the accumulators wrap, as TFLM's do.
    const wrapping: ConvCase = { ...c, bias: Int32Array.from({ length: s.outChannels }, (_, i) => (i % 2 ? 2 ** 31 - 1 : -(2 ** 31))) };
    expectAllBuildsMatch(wrapping, expectedConv(wrapping));
    const w8: ConvCase = { ...c, p: { ...c.p, weightBits: 8, inputZeroPoint: -128 }, input: new Int8Array(c.input.length).fill(127), weights: Int8Array.from(weights, (w) => (w > 0 ? 127 : -127)) };
    expectAllBuildsMatch(w8, expectedConv(w8));
  });

  it("follows TFLite's padding rules: out = ceil(in/stride) for same, the odd extra pad after", () => {
    const p = (h: number, k: number, s: number, padding: 'same' | 'valid'): Conv2DParams => ({
      ...shape(1, h, h, 1, 1, k, k, s, s, padding), weightBits: 8, inputZeroPoint: 0,
    });
    expect(conv2dOutputShape(p(5, 3, 2, 'same'))).toEqual({ height: 3, width: 3 });
    expect(conv2dOutputShape(p(5, 3, 2, 'valid'))).toEqual({ height: 2, width: 2 });
    expect(conv2dOutputShape(p(6, 3, 2, 'same'))).toEqual({ height: 3, width: 3 });
    expect(conv2dOutputShape(p(32, 3, 1, 'same'))).toEqual({ height: 32, width: 32 });
    expect(conv2dOutputShape(p(7, 7, 3, 'valid'))).toEqual({ height: 1, width: 1 });
    expect(conv2dOutputShape({ ...shape(1, 49, 10, 1, 64, 10, 4, 2, 2, 'same'), weightBits: 8, inputZeroPoint: 0 })).toEqual({ height: 25, width: 5 });
    for (let h = 1; h < 12; h++) {
      for (const k of [1, 2, 3, 4, 5]) {
        for (const s of [1, 2, 3]) {
          for (const padding of ['same', 'valid'] as const) {
            if (padding === 'valid' && k > h) continue;
            expect(conv2dOutputShape(p(h, k, s, padding)).height).toBe(outSizeRef(padding, h, k, s));
          }
        }
      }
    }
    // Even kernel, 'same', in = 6, stride 2: padTotal = 1 goes after, so the first window starts
    // at row 0. An asymmetric input makes the placement visible in the output.
    const r = rng(13);
    const c = randomCase(r, shape(1, 6, 6, 2, 3, 2, 2, 2, 2, 'same'), 16);
    expectAllBuildsMatch(c, expectedConv(c));
  });
});

describe('conv2d packed in chunks', () => {
  it('gives identical results under any packing budget and panel width (im2col rows re-gathered per chunk), with and without perturbation', () => {
    const r = rng(15);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    for (const s of [shape(2, 7, 6, 5, 29, 3, 3, 1, 1, 'same'), shape(1, 6, 5, 11, 21, 1, 1, 2, 1, 'same'), shape(1, 9, 9, 3, 17, 5, 5, 2, 2, 'valid')]) {
      const c = randomCase(r, s, 16);
      const expected = expectedConv(c);
      const perturbed: ConvCase = { ...c, p: { ...c.p, perturb: { key: 5, start: 77, dist: 'rademacher', signedEps: -400, oneQ, multiplier, shift } } };
      const perturbedOut = runConv(benches[0]!, perturbed).out;
      for (const budget of [0, 3000]) {
        // Narrow panels (4 or 2 columns) pack the same weights for the narrow micro-kernel.
        for (const panelColumns of [8, 4, 2] as const) {
          const small = (x: ConvCase): ConvCase => ({ ...x, p: { ...x.p, packedWeightBudget: budget, panelColumns } });
          if (budget === 0) expect(conv2dScratchBytes(small(c).p)).toBeLessThan(conv2dScratchBytes(c.p));
          for (const b of benches) {
            expect(Array.from(runConv(b, small(c)).out)).toEqual(Array.from(expected));
            expect(Array.from(runConv(b, small(perturbed)).out)).toEqual(Array.from(perturbedOut));
          }
        }
      }
    }
  });
});

describe('conv2d on blocks of output channels', () => {
  /** The whole output assembled from calls on consecutive blocks of `block` channels each. */
  function runInBlocks(b: Bench, c: ConvCase, block: number): { out: Int8Array; calls: number } {
    let calls = 0;
    const { out } = runConv(b, c, undefined, (...args) => {
      const run = prepareConv2d(...args);
      for (let start = 0; start < c.p.outChannels; start += block, calls++) run(start, Math.min(c.p.outChannels, start + block));
    });
    return { out, calls };
  }

  it('assembles exactly the whole call for any block size and panel width, with and without a fused perturbation, in every build', () => {
    const r = rng(31);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    for (const s of [shape(1, 7, 6, 5, 21, 3, 3, 1, 1, 'same'), shape(2, 5, 5, 9, 13, 1, 1, 1, 1, 'same')]) {
      const base = randomCase(r, s, 16);
      const perturbed: ConvCase = { ...base, p: { ...base.p, perturb: { key: 9, start: 123, dist: 'gaussian', signedEps: 600, oneQ, multiplier, shift } } };
      for (const c of [base, perturbed]) {
        const whole = Array.from(runConv(benches[0]!, c).out);
        for (const panelColumns of [8, 2] as const) {
          for (const block of [1, 3, 8]) {
            for (const b of benches) {
              const { out, calls } = runInBlocks(b, { ...c, p: { ...c.p, panelColumns } }, block);
              expect({ case: label(c.p), block, panelColumns, build: b.build, out: Array.from(out) }).toEqual({ case: label(c.p), block, panelColumns, build: b.build, out: whole });
              expect(calls).toBe(Math.ceil(c.p.outChannels / block));
            }
          }
        }
      }
    }
  });

  it('refuses an empty, reversed or out-of-range block with a typed error', () => {
    const b = benches[0]!;
    const c = randomCase(rng(32), shape(1, 4, 4, 3, 6, 3, 3, 1, 1, 'same'), 16);
    b.arena.reset();
    const run = prepareConv2d(b.arena, b.arena.put(c.input, 'x'), b.arena.put(c.weights, 'w'), null, b.arena.alloc(outBytes(c.p), 'y'), c.p, prepareRequant(b.arena, c.quant, 6), b.arena.alloc(conv2dScratchBytes(c.p), 's'));
    for (const [start, end] of [[0, 0], [3, 2], [-1, 2], [0, 7], [1.5, 3]]) expect(() => run(start!, end!)).toThrow(ShapeError);
  });
});

describe('conv2d with a fused perturbation', () => {
  it('equals perturbing the OHWI weights with the reference formula and running unperturbed; stored weights stay bit-identical', () => {
    const r = rng(21);
    const oneQ = 36;
    const { multiplier, shift } = quantizeMultiplier(1 / oneQ);
    const cases: [Shape, 8 | 16, 'gaussian' | 'rademacher', number][] = [
      [shape(1, 7, 6, 3, 13, 3, 3, 1, 1, 'same'), 16, 'gaussian', 0],
      [shape(2, 5, 5, 7, 9, 1, 1, 1, 1, 'same'), 8, 'rademacher', 1000],
      [shape(1, 9, 8, 5, 17, 5, 5, 2, 2, 'valid'), 16, 'rademacher', 2 ** 32 - 17 * 125], // indices end at 2^32 − 1
      [shape(1, 8, 6, 4, 7, 3, 3, 2, 1, 'same'), 8, 'gaussian', 31],
    ];
    for (const [s, bits, dist, start] of cases) {
      const key = benches[0]!.device.kernel('rng_stream_key')(randInt(r, 0, 1e9), 7) >>> 0;
      const spec: PerturbSpec = { key, start, dist, signedEps: r() < 0.5 ? -700 : 30, oneQ, multiplier, shift };
      if (bits === 8) spec.signedEps = Math.sign(spec.signedEps) * 25;
      const base = randomCase(r, s, bits);
      const c: ConvCase = { ...base, p: { ...base.p, perturb: spec } };
      const count = c.weights.length;
      const b0 = benches[0]!;
      b0.arena.reset();
      const zBuf = b0.arena.alloc(count, 'z');
      b0.device.kernel('rng_fill_z')(zBuf.offset, count, key | 0, start | 0, dist === 'gaussian' ? 0 : 1, oneQ);
      const z = b0.arena.i8(zBuf).slice();
      const perturbed = perturbWeightsRef(c.weights, z, spec.signedEps, oneQ, multiplier, shift, bits);
      expect(Array.from(perturbed)).not.toEqual(Array.from(c.weights));
      const expected = expectedConv(c, perturbed);
      const stored = new Uint8Array(c.weights.buffer.slice(0));
      for (const b of benches) {
        const { out, weightsAfter } = runConv(b, c);
        expect({ build: b.build, out: Array.from(out) }).toEqual({ build: b.build, out: Array.from(expected) });
        expect(Buffer.compare(Buffer.from(weightsAfter), Buffer.from(stored))).toBe(0);
        const plain = runConv(b, { ...c, weights: perturbed, p: { ...c.p, perturb: undefined } }).out;
        expect(Array.from(plain)).toEqual(Array.from(out));
      }
    }
  });
});

describe('conv2d scratch and argument checks', () => {
  it('works with a scratch buffer of exactly conv2dScratchBytes and rejects a smaller one', () => {
    const r = rng(31);
    for (const s of [shape(1, 6, 7, 5, 11, 3, 3, 1, 1, 'same'), shape(2, 4, 4, 9, 3, 1, 1, 1, 1, 'same'), shape(1, 20, 6, 1, 64, 10, 4, 2, 2, 'same')]) {
      const c = randomCase(r, s, 16);
      const bytes = conv2dScratchBytes(c.p);
      for (const b of benches) expect(Array.from(runConv(b, c, bytes).out)).toEqual(Array.from(expectedConv(c)));
      expect(() => runConv(benches[1]!, c, bytes - 1)).toThrow(ShapeError);
    }
  });

  it('keeps scratch independent of batch and image size (4 im2col rows, not a whole im2col matrix)', () => {
    const base: Conv2DParams = { ...shape(1, 32, 32, 16, 16, 3, 3, 1, 1, 'same'), weightBits: 16, inputZeroPoint: 0 };
    const bytes = conv2dScratchBytes(base);
    expect(conv2dScratchBytes({ ...base, batch: 8, inHeight: 96, inWidth: 96 })).toBe(bytes);
    // Packed weights (16 × 144 int16 + headers) + a 4-row tile + 4 im2col rows: a few KB.
    expect(bytes).toBeLessThan(8 * 1024);
    // A 1×1 conv gathers nothing: its scratch is the GEMM's alone.
    const pointwise = { ...base, kernelHeight: 1, kernelWidth: 1 };
    expect(conv2dScratchBytes(pointwise)).toBeLessThan(conv2dScratchBytes({ ...pointwise, kernelWidth: 2 }));
  });

  it('rejects bad geometry, zero points, widths, buffers and perturbations with typed errors and no trap', () => {
    const b = benches[0]!;
    const r = rng(41);
    const p: Conv2DParams = { ...shape(1, 6, 5, 3, 4, 3, 3, 1, 1, 'same'), weightBits: 16, inputZeroPoint: 2 };
    b.arena.reset();
    const input = b.arena.put(randomInt8(r, 6 * 5 * 3), 'input');
    const weights = b.arena.put(randomInt16(r, 4 * 27), 'weights');
    const bias = b.arena.put(randomInt32(r, 4, -100, 100), 'bias');
    const output = b.arena.alloc(6 * 5 * 4, 'output');
    const requant = prepareRequant(b.arena, { multiplier: Int32Array.of(1 << 30), shift: Int32Array.of(-8), outZeroPoint: 0 }, 4);
    const scratch = b.arena.alloc(conv2dScratchBytes(p), 'scratch');
    const call = (q: Partial<Conv2DParams>, bufs: Partial<Record<'input' | 'weights' | 'output' | 'scratch', DeviceBuffer | null>> = {}) => () =>
      conv2d(b.arena, bufs.input ?? input, bufs.weights ?? weights, bias, bufs.output ?? output, { ...p, ...q }, requant, bufs.scratch === undefined ? scratch : bufs.scratch);
    expect(call({})).not.toThrow();
    expect(call({ batch: 0 })).toThrow(ShapeError);
    expect(call({ inHeight: 1.5 })).toThrow(ShapeError);
    expect(call({ strideWidth: 0 })).toThrow(ShapeError);
    expect(call({ kernelHeight: 0 })).toThrow(ShapeError);
    expect(call({ padding: 'full' as 'same' })).toThrow(ConfigError);
    expect(call({ padding: 'valid', kernelHeight: 7 })).toThrow(ShapeError); // kernel taller than the input
    expect(call({ weightBits: 4 as 8 })).toThrow(ConfigError);
    expect(call({ inputZeroPoint: 200 })).toThrow(ConfigError);
    expect(call({ outChannels: 5 })).toThrow(ShapeError); // weights too small for 5 filters
    expect(call({ inChannels: 4 })).toThrow(ShapeError); // input too small
    expect(call({}, { input: { name: 'outside', offset: 16, bytes: 90 } })).toThrow(ShapeError);
    expect(call({}, { output: { name: 'alias', offset: input.offset, bytes: 120 } })).toThrow(ShapeError);
    expect(call({}, { scratch: null })).toThrow(ShapeError);
    expect(call({}, { scratch: { name: 'alias', offset: output.offset, bytes: scratch.bytes } })).toThrow(ShapeError);
    const perturb: PerturbSpec = { key: 3, start: 0, dist: 'rademacher', signedEps: 10, oneQ: 36, multiplier: 1 << 30, shift: -5 };
    expect(call({ perturb })).not.toThrow();
    expect(call({ perturb: { ...perturb, dist: 'uniform' as 'gaussian' } })).toThrow(ConfigError);
    expect(call({ perturb: { ...perturb, start: 2 ** 32 - 4 * 27 + 1 } })).toThrow(ConfigError); // indices would wrap
    expect(call({ packedWeightBudget: Number.NaN })).toThrow(ConfigError);
    const wrong = prepareRequant(b.arena, { multiplier: new Int32Array(3).fill(1 << 30), shift: new Int32Array(3), outZeroPoint: 0 }, 3);
    expect(() => conv2d(b.arena, input, weights, bias, output, p, wrong, scratch)).toThrow(ShapeError);
  });
});
