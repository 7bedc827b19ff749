// An outside reference: onnxruntime-node (CPU EP) runs the same quantized layers as ONNX
// QLinearMatMul / QLinearConv models, and our int8 kernels must agree with it within 1 LSB.
// The CPU EP has int8-activation variants of both ops, so the models here are int8 throughout.
// ORT requantizes in float (acc · scale, round half to even); TFLM's integer multiply-and-shift
// rounds twice, so a small fraction of outputs sitting near a half-way point may differ by one.
// A naive integer reference of TFLM's formula is checked against both sides: it validates the
// ONNX builders, and pins our kernels to the exact formula they implement.
import { describe, it, expect, beforeAll } from 'vitest';
import * as ort from 'onnxruntime-node';
import { makeAllBenches, rng, randInt, randomInt8, randomInt32, type Bench } from './helpers/devices.js';
import { requantizeRef } from './reference/tflm.js';
import {
  buildQLinearConv,
  buildQLinearMatMul,
  convOutputShape,
  int8ToUint8,
  nchwToNhwc,
  nhwcToNchw,
  tflitePadding,
  type ConvGeometry,
  type QuantElem,
} from './reference/onnx-build.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { prepareRequant, type OutputQuant } from '../src/kernels/requant.js';
import { fullyConnected, fullyConnectedScratchBytes, type FullyConnectedParams } from '../src/kernels/gemm.js';
import { conv2d, conv2dOutputShape, conv2dScratchBytes, type Conv2DParams } from '../src/kernels/conv.js';
import {
  depthwiseConv2d,
  depthwiseConv2dOutputShape,
  depthwiseConv2dScratchBytes,
  type DepthwiseConv2DParams,
} from '../src/kernels/depthwise.js';

/** Measured 0.05% (QLinearMatMul) and 0.1–0.2% (QLinearConv, depthwise); a rounding or zero-point bug shows as tens of %. */
const MAX_OFF_BY_ONE_FRACTION = 0.005;

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(16 * 1024 * 1024);
});

// ---- naive integer reference (TFLM: acc = bias + Σ (x − zp_x)·w, then requantize) ----

function fullyConnectedAccRef(x: Int8Array, w: Int8Array, bias: Int32Array | null, m: number, k: number, n: number, zp: number): Int32Array {
  const acc = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j]! : 0;
      for (let q = 0; q < k; q++) s += (x[i * k + q]! - zp) * w[j * k + q]!;
      acc[i * n + j] = s;
    }
  }
  return acc;
}

/** NHWC in, NHWC out; weights OHWI, or [kH][kW][C·m] when depthwise; padding contributes 0. */
function convAccRef(g: ConvGeometry, x: Int8Array, w: Int8Array, bias: Int32Array | null, zp: number): Int32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outChannels: O, kernelHeight: KH, kernelWidth: KW } = g;
  const { height: OH, width: OW } = convOutputShape(g);
  const padTop = tflitePadding(H, KH, g.strideHeight, g.padding).before;
  const padLeft = tflitePadding(W, KW, g.strideWidth, g.padding).before;
  const multiplier = O / C;
  const acc = new Int32Array(g.batch * OH * OW * O);
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        for (let o = 0; o < O; o++) {
          let s = bias ? bias[o]! : 0;
          for (let ky = 0; ky < KH; ky++) {
            const iy = oy * g.strideHeight - padTop + ky;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < KW; kx++) {
              const ix = ox * g.strideWidth - padLeft + kx;
              if (ix < 0 || ix >= W) continue;
              const pixel = ((b * H + iy) * W + ix) * C;
              if (g.depthwise) {
                s += (x[pixel + Math.floor(o / multiplier)]! - zp) * w[(ky * KW + kx) * O + o]!;
              } else {
                for (let c = 0; c < C; c++) s += (x[pixel + c]! - zp) * w[((o * KH + ky) * KW + kx) * C + c]!;
              }
            }
          }
          acc[((b * OH + oy) * OW + ox) * O + o] = s;
        }
      }
    }
  }
  return acc;
}

function requantizeAllRef(acc: Int32Array, channels: number, q: OutputQuant): Int8Array {
  const perChannel = q.multiplier.length > 1;
  return Int8Array.from(acc, (v, i) => {
    const c = perChannel ? i % channels : 0;
    return requantizeRef(v, q.multiplier[c]!, q.shift[c]!, q.outZeroPoint, -128, 127);
  });
}

// ---- quantization of a random layer: scales chosen so outputs spread over the int8 range ----

interface LayerQuant {
  inputScale: number;
  weightScales: number[];
  outputScale: number;
  outZeroPoint: number;
  /** TFLM multipliers for inputScale · weightScale[c] / outputScale, computed from the float32 scales ORT sees. */
  requant: OutputQuant;
}

function chooseQuant(r: () => number, acc: Int32Array, scaleCount: number): LayerQuant {
  const rms = Math.sqrt(acc.reduce((a, v) => a + v * v, 0) / Math.max(1, acc.length)) || 1;
  const inputScale = Math.fround(0.01 + r() * 0.1);
  const base = 0.001 + r() * 0.01;
  const weightScales = Array.from({ length: scaleCount }, () => Math.fround(base * (0.7 + 0.6 * r())));
  // Typical |output| of 20..80 LSB: most values in range, a few saturating.
  const outputScale = Math.fround((inputScale * base * rms) / (20 + r() * 60));
  const outZeroPoint = randInt(r, -20, 20);
  const multiplier = new Int32Array(scaleCount);
  const shift = new Int32Array(scaleCount);
  weightScales.forEach((ws, c) => {
    const q = quantizeMultiplier((inputScale * ws) / outputScale);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  });
  return { inputScale, weightScales, outputScale, outZeroPoint, requant: { multiplier, shift, outZeroPoint } };
}

// ---- running ORT and our kernels ----

async function runOrt(model: Uint8Array, type: QuantElem, data: Int8Array | Uint8Array, dims: number[]): Promise<{ data: Int8Array | Uint8Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(model);
  try {
    const { y } = await session.run({ x: new ort.Tensor(type, data, dims) });
    return { data: y!.data as Int8Array | Uint8Array, dims: y!.dims };
  } finally {
    await session.release();
  }
}

function runFullyConnected(b: Bench, x: Int8Array, w: Int8Array, bias: Int32Array | null, p: FullyConnectedParams, q: OutputQuant): Int8Array {
  const { arena } = b;
  arena.reset();
  const input = arena.put(x, 'x');
  const weights = arena.put(w, 'w');
  const biasBuffer = bias ? arena.put(bias, 'bias') : null;
  const output = arena.alloc(p.batch * p.outFeatures, 'y');
  const requant = prepareRequant(arena, q, p.outFeatures);
  const scratchBytes = fullyConnectedScratchBytes(p);
  fullyConnected(arena, input, weights, biasBuffer, output, p, requant, scratchBytes > 0 ? arena.alloc(scratchBytes, 'scratch') : null);
  return arena.i8(output).slice();
}

function runConv(b: Bench, g: ConvGeometry, x: Int8Array, w: Int8Array, bias: Int32Array | null, zp: number, q: OutputQuant): { y: Int8Array; height: number; width: number } {
  const { arena } = b;
  arena.reset();
  const input = arena.put(x, 'x');
  const weights = arena.put(w, 'w');
  const biasBuffer = bias ? arena.put(bias, 'bias') : null;
  const requant = prepareRequant(arena, q, g.outChannels);
  const common = {
    batch: g.batch, inHeight: g.inHeight, inWidth: g.inWidth, inChannels: g.inChannels, kernelHeight: g.kernelHeight,
    kernelWidth: g.kernelWidth, strideHeight: g.strideHeight, strideWidth: g.strideWidth, padding: g.padding,
    weightBits: 8 as const, inputZeroPoint: zp,
  };
  if (g.depthwise) {
    const p: DepthwiseConv2DParams = { ...common, depthMultiplier: g.outChannels / g.inChannels };
    const { height, width } = depthwiseConv2dOutputShape(p);
    const output = arena.alloc(g.batch * height * width * g.outChannels, 'y');
    const scratchBytes = depthwiseConv2dScratchBytes(p);
    depthwiseConv2d(arena, input, weights, biasBuffer, output, p, requant, scratchBytes > 0 ? arena.alloc(scratchBytes, 'scratch') : null);
    return { y: arena.i8(output).slice(), height, width };
  }
  const p: Conv2DParams = { ...common, outChannels: g.outChannels };
  const { height, width } = conv2dOutputShape(p);
  const output = arena.alloc(g.batch * height * width * g.outChannels, 'y');
  const scratchBytes = conv2dScratchBytes(p);
  conv2d(arena, input, weights, biasBuffer, output, p, requant, scratchBytes > 0 ? arena.alloc(scratchBytes, 'scratch') : null);
  return { y: arena.i8(output).slice(), height, width };
}

// ---- agreement bookkeeping ----

class Agreement {
  total = 0;
  offByOne = 0;
  worst = 0;
  add(ours: Int8Array, theirs: ArrayLike<number>): void {
    expect(ours.length).toBe(theirs.length);
    for (let i = 0; i < ours.length; i++) {
      const d = Math.abs(ours[i]! - theirs[i]!);
      this.total++;
      if (d === 1) this.offByOne++;
      this.worst = Math.max(this.worst, d);
    }
  }
  /** Within 1 LSB everywhere, rarely off by one, and over enough outputs to mean something. */
  check(minTotal: number): void {
    expect(this.total).toBeGreaterThanOrEqual(minTotal);
    expect(this.worst).toBeLessThanOrEqual(1);
    expect(this.offByOne / this.total).toBeLessThanOrEqual(MAX_OFF_BY_ONE_FRACTION);
  }
}

function randomGeometry(r: () => number, depthwise: boolean): ConvGeometry {
  const kernelHeight = randInt(r, 1, 5);
  const kernelWidth = r() < 0.7 ? kernelHeight : randInt(r, 1, 5);
  const padding = r() < 0.5 ? ('same' as const) : ('valid' as const);
  const inChannels = randInt(r, 1, 19);
  return {
    batch: randInt(r, 1, 2),
    inHeight: randInt(r, padding === 'valid' ? kernelHeight : 1, 11),
    inWidth: randInt(r, padding === 'valid' ? kernelWidth : 1, 11),
    inChannels,
    outChannels: depthwise ? inChannels * randInt(r, 1, 3) : randInt(r, 1, 21),
    kernelHeight,
    kernelWidth,
    strideHeight: randInt(r, 1, 3),
    strideWidth: randInt(r, 1, 3),
    padding,
    depthwise,
  };
}

describe('int8 kernels against onnxruntime-node (CPU EP, int8 QLinear ops)', () => {
  it('fullyConnected w8a8 agrees with QLinearMatMul within 1 LSB and equals the integer reference, in every build', async () => {
    const r = rng(2024);
    const vsOrt = new Agreement();
    const refVsOrt = new Agreement();
    for (let t = 0; t < 120; t++) {
      const m = randInt(r, 1, 19);
      const k = randInt(r, 1, 300);
      const n = randInt(r, 1, 37);
      const zp = randInt(r, -128, 127);
      const x = randomInt8(r, m * k);
      const w = randomInt8(r, n * k, -127, 127);
      const acc = fullyConnectedAccRef(x, w, null, m, k, n, zp);
      const q = chooseQuant(r, acc, 1);
      const expected = requantizeAllRef(acc, n, q.requant);
      const model = buildQLinearMatMul({
        m, k, n,
        input: { type: 'int8', scale: q.inputScale, zeroPoint: zp },
        weights: w,
        weightScale: q.weightScales[0]!,
        output: { type: 'int8', scale: q.outputScale, zeroPoint: q.outZeroPoint },
      });
      const theirs = await runOrt(model, 'int8', x, [m, k]);
      expect(theirs.dims).toEqual([m, n]);
      refVsOrt.add(expected, theirs.data);
      const p: FullyConnectedParams = { batch: m, inFeatures: k, outFeatures: n, weightBits: 8, inputZeroPoint: zp };
      for (const b of benches) {
        const ours = runFullyConnected(b, x, w, null, p, q.requant);
        expect({ build: b.build, case: t, equalsReference: Buffer.from(ours.buffer).equals(Buffer.from(expected.buffer)) })
          .toEqual({ build: b.build, case: t, equalsReference: true });
        vsOrt.add(ours, theirs.data);
      }
    }
    refVsOrt.check(10_000);
    vsOrt.check(3 * 10_000);
  });

  it('fullyConnected with bias and per-channel scales agrees with QLinearConv run as a 1×1 conv', async () => {
    const r = rng(77);
    const vsOrt = new Agreement();
    for (let t = 0; t < 60; t++) {
      const m = randInt(r, 1, 17);
      const k = randInt(r, 1, 200);
      const n = randInt(r, 1, 33);
      const zp = randInt(r, -128, 127);
      const x = randomInt8(r, m * k);
      const w = randomInt8(r, n * k, -127, 127);
      const bias = randomInt32(r, n, -20_000, 20_000);
      const q = chooseQuant(r, fullyConnectedAccRef(x, w, bias, m, k, n, zp), n);
      const geometry: ConvGeometry = {
        batch: m, inHeight: 1, inWidth: 1, inChannels: k, outChannels: n, kernelHeight: 1, kernelWidth: 1,
        strideHeight: 1, strideWidth: 1, padding: 'valid', depthwise: false,
      };
      const model = buildQLinearConv({
        geometry,
        input: { type: 'int8', scale: q.inputScale, zeroPoint: zp },
        weights: w, // [N][K] is OHWI with H = W = 1
        weightScales: q.weightScales,
        bias,
        output: { type: 'int8', scale: q.outputScale, zeroPoint: q.outZeroPoint },
      });
      const theirs = await runOrt(model, 'int8', x, [m, k, 1, 1]);
      const p: FullyConnectedParams = { batch: m, inFeatures: k, outFeatures: n, weightBits: 8, inputZeroPoint: zp };
      for (const b of benches) vsOrt.add(runFullyConnected(b, x, w, bias, p, q.requant), theirs.data);
    }
    vsOrt.check(3 * 4_000);
  });

  for (const depthwise of [false, true]) {
    const kernel = depthwise ? 'depthwiseConv2d' : 'conv2d';
    const onnx = depthwise ? 'QLinearConv with group = C' : 'QLinearConv';
    it(`${kernel} w8a8 agrees with ${onnx} within 1 LSB (per-tensor and per-channel scales, bias, strides 1-3, same/valid) and equals the integer reference`, async () => {
      const r = rng(depthwise ? 505 : 404);
      const vsOrt = new Agreement();
      const refVsOrt = new Agreement();
      let perChannelCases = 0;
      for (let t = 0; t < 100; t++) {
        const g = randomGeometry(r, depthwise);
        const zp = randInt(r, -128, 127);
        const x = randomInt8(r, g.batch * g.inHeight * g.inWidth * g.inChannels);
        const w = randomInt8(r, g.outChannels * g.kernelHeight * g.kernelWidth * (depthwise ? 1 : g.inChannels), -127, 127);
        const bias = r() < 0.8 ? randomInt32(r, g.outChannels, -20_000, 20_000) : null;
        const perChannel = t % 2 === 1;
        if (perChannel) perChannelCases++;
        const acc = convAccRef(g, x, w, bias, zp);
        const q = chooseQuant(r, acc, perChannel ? g.outChannels : 1);
        const expected = requantizeAllRef(acc, g.outChannels, q.requant);
        const model = buildQLinearConv({
          geometry: g,
          input: { type: 'int8', scale: q.inputScale, zeroPoint: zp },
          weights: w,
          weightScales: q.weightScales,
          bias,
          output: { type: 'int8', scale: q.outputScale, zeroPoint: q.outZeroPoint },
        });
        const { height, width } = convOutputShape(g);
        const theirs = await runOrt(model, 'int8', nhwcToNchw(x, g.batch, g.inHeight, g.inWidth, g.inChannels), [g.batch, g.inChannels, g.inHeight, g.inWidth]);
        expect(theirs.dims).toEqual([g.batch, g.outChannels, height, width]);
        const theirsNhwc = nchwToNhwc(theirs.data as Int8Array, g.batch, g.outChannels, height, width);
        refVsOrt.add(expected, theirsNhwc);
        for (const b of benches) {
          const ours = runConv(b, g, x, w, bias, zp, q.requant);
          expect({ build: b.build, case: t, height: ours.height, width: ours.width }).toEqual({ build: b.build, case: t, height, width });
          expect({ build: b.build, case: t, equalsReference: Buffer.from(ours.y.buffer).equals(Buffer.from(expected.buffer)) })
            .toEqual({ build: b.build, case: t, equalsReference: true });
          vsOrt.add(ours.y, theirsNhwc);
        }
      }
      expect(perChannelCases).toBe(50);
      refVsOrt.check(6_000);
      vsOrt.check(3 * 6_000);
    });
  }

  it('the uint8-activation models the benchmark times compute exactly the int8 layer, shifted by 128', async () => {
    // onnxruntime-web's fast path is u8 activations × s8 weights; the benchmark relies on this.
    const r = rng(99);
    let compared = 0;
    for (let t = 0; t < 20; t++) {
      const g = randomGeometry(r, t % 2 === 1);
      const zp = randInt(r, -128, 127);
      const x = randomInt8(r, g.batch * g.inHeight * g.inWidth * g.inChannels);
      const w = randomInt8(r, g.outChannels * g.kernelHeight * g.kernelWidth * (g.depthwise ? 1 : g.inChannels), -127, 127);
      const bias = randomInt32(r, g.outChannels, -5_000, 5_000);
      const q = chooseQuant(r, convAccRef(g, x, w, bias, zp), g.outChannels);
      const dims = [g.batch, g.inChannels, g.inHeight, g.inWidth];
      const spec = (type: QuantElem, shift: number) => ({
        geometry: g,
        input: { type, scale: q.inputScale, zeroPoint: zp + shift },
        weights: w,
        weightScales: q.weightScales,
        bias,
        output: { type, scale: q.outputScale, zeroPoint: q.outZeroPoint + shift },
      });
      const xNchw = nhwcToNchw(x, g.batch, g.inHeight, g.inWidth, g.inChannels);
      const signed = await runOrt(buildQLinearConv(spec('int8', 0)), 'int8', xNchw, dims);
      const unsigned = await runOrt(buildQLinearConv(spec('uint8', 128)), 'uint8', int8ToUint8(xNchw), dims);
      expect(Array.from(unsigned.data, (v) => v - 128)).toEqual(Array.from(signed.data));
      compared += signed.data.length;

      const m = randInt(r, 1, 16);
      const k = randInt(r, 1, 100);
      const n = randInt(r, 1, 40);
      const xm = randomInt8(r, m * k);
      const wm = randomInt8(r, n * k, -127, 127);
      const qm = chooseQuant(r, fullyConnectedAccRef(xm, wm, null, m, k, n, zp), 1);
      const matmul = (type: QuantElem, shift: number) =>
        buildQLinearMatMul({
          m, k, n,
          input: { type, scale: qm.inputScale, zeroPoint: zp + shift },
          weights: wm,
          weightScale: qm.weightScales[0]!,
          output: { type, scale: qm.outputScale, zeroPoint: qm.outZeroPoint + shift },
        });
      const signedMm = await runOrt(matmul('int8', 0), 'int8', xm, [m, k]);
      const unsignedMm = await runOrt(matmul('uint8', 128), 'uint8', int8ToUint8(xm), [m, k]);
      expect(Array.from(unsignedMm.data, (v) => v - 128)).toEqual(Array.from(signedMm.data));
      compared += signedMm.data.length;
    }
    expect(compared).toBeGreaterThan(2_000);
  });
});
