import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { makeAllBenches, makeBench, rng, type Bench } from './helpers/devices.js';
import * as ref from './reference/f32-ref.js';
import {
  denseF32, denseBackwardF32, conv2dF32, conv2dBackwardF32, conv2dF32ScratchBytes, conv2dF32Geometry,
  depthwiseConv2dF32, depthwiseConv2dBackwardF32, depthwiseConv2dF32Geometry,
  avgPool2dF32, avgPool2dBackwardF32, maxPool2dF32, maxPool2dBackwardF32, pool2dF32Geometry,
  globalAvgPoolF32, globalAvgPoolBackwardF32, reluF32, reluBackwardF32, softmaxCrossEntropyF32,
  sgdStepF32, adamStepF32,
  type Conv2DF32Params, type DepthwiseConv2DF32Params, type Pool2DF32Params, type PaddingF32,
} from '../src/kernels/f32.js';
import { ConfigError, DataError, LastmileError, ShapeError } from '../src/errors.js';
import type { Arena, DeviceBuffer } from '../src/device/arena.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(16 << 20);
});

// ------------------------------------------------------------------------------------ helpers

const rand = (r: () => number, n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
const nans = (n: number): Float32Array => new Float32Array(n).fill(NaN);
const plus = (a: ArrayLike<number>, b: ArrayLike<number>): Float64Array => Float64Array.from(a, (v, i) => v + b[i]!);
const read = (a: Arena, buf: DeviceBuffer): Float32Array => a.f32(buf).slice();

type Out = Record<string, Float32Array | number>;

function bitDiff(a: Float32Array, b: Float32Array): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let count = 0;
  let first = -1;
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) {
      count++;
      if (first < 0) first = i;
    }
  }
  return count ? `${count} of ${a.length} values differ, first [${first}]: ${a[first]} vs ${b[first]}` : null;
}

/** Runs `run` on every build from an empty arena; every output must equal scalar's bit for bit. */
function onEveryBuild<T extends Out>(run: (b: Bench) => T): T {
  const results = benches.map((b) => {
    b.arena.reset();
    return run(b);
  });
  const base = results[0]!;
  results.slice(1).forEach((res, i) => {
    for (const key of Object.keys(base)) {
      const a = base[key]!;
      const b = res[key]!;
      const diff = typeof a === 'number' ? (Object.is(a, b) ? null : `${a} vs ${String(b)}`) : bitDiff(a, b as Float32Array);
      expect(diff, `${benches[i + 1]!.build} build vs scalar build, output '${key}'`).toBeNull();
    }
  });
  return base;
}

/**
 * |got - want| <= tol · mag elementwise, where mag = Σ|terms| of each output (the scale of f32
 * summation error). NaN/Inf in got always fails.
 */
function expectClose(what: string, got: Float32Array, want: ArrayLike<number>, mag: ArrayLike<number>, tol = 1e-5): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let failure: string | null = null;
  for (let i = 0; i < got.length && !failure; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!Number.isFinite(got[i]!) || !(err <= tol * mag[i]!)) {
      failure = `[${i}]: got ${got[i]}, want ${want[i]} (error ${err.toExponential(2)}, allowed ${(tol * mag[i]!).toExponential(2)})`;
    }
  }
  expect(failure, what).toBeNull();
}

/** Central differences of a scalar loss over entries of a host tensor the loss re-uploads. */
function finiteDiff(values: Float32Array, loss: () => number, h: number): Float64Array {
  const fd = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const orig = values[i]!;
    values[i] = orig + h;
    const up = values[i]!;
    const lp = loss();
    values[i] = orig - h;
    const down = values[i]!;
    const lm = loss();
    values[i] = orig;
    // The actual step is what f32 stored, not h.
    fd[i] = (lp - lm) / (up - down);
  }
  return fd;
}

function expectGrad(what: string, analytic: Float32Array, fd: Float64Array, atol = 1e-3, rtol = 1e-3): void {
  let failure: string | null = null;
  for (let i = 0; i < fd.length && !failure; i++) {
    if (!(Math.abs(analytic[i]! - fd[i]!) <= atol + rtol * Math.abs(fd[i]!))) {
      failure = `[${i}]: backward ${analytic[i]}, finite difference ${fd[i]}`;
    }
  }
  expect(failure, what).toBeNull();
}

const dot64 = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

const convCount = (p: Conv2DF32Params) => {
  const g = conv2dF32Geometry(p);
  return { in: p.batch * p.inHeight * p.inWidth * p.inChannels, out: p.batch * g.outHeight * g.outWidth * p.outChannels, w: p.outChannels * p.kernelHeight * p.kernelWidth * p.inChannels };
};

function scratchFor(a: Arena, bytes: number): DeviceBuffer | null {
  return bytes > 0 ? a.alloc(bytes, 'scratch') : null;
}

// ------------------------------------------------------------------------------------ dense

describe('f32 dense', () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [1, 13, 7], [3, 17, 5], [7, 33, 13], [13, 64, 17], [2, 3, 9], [5, 131, 11]];

  it('forward matches the float64 reference and all builds agree bit for bit on odd shapes', () => {
    const r = rng(11);
    for (const [M, K, N] of shapes) {
      for (const withBias of [true, false]) {
        const x = rand(r, M * K);
        const w = rand(r, N * K);
        const bias = withBias ? rand(r, N) : null;
        const out = onEveryBuild((b) => {
          const y = b.arena.put(nans(M * N), 'y');
          denseF32(b.arena, b.arena.put(x, 'x'), b.arena.put(w, 'w'), bias && b.arena.put(bias, 'b'), y, { batch: M, inFeatures: K, outFeatures: N });
          return { y: read(b.arena, y) };
        });
        const want = ref.denseRef(x, w, bias, M, K, N);
        const mag = ref.denseRef(ref.abs(x), ref.abs(w), bias && ref.abs(bias), M, K, N);
        expectClose(`dense ${M}x${K}x${N} bias=${withBias}`, out.y, want, mag);
      }
    }
  });

  it('backward overwrites dx and accumulates dw and db onto their previous values', () => {
    const r = rng(12);
    for (const [M, K, N] of shapes) {
      const x = rand(r, M * K);
      const w = rand(r, N * K);
      const dy = rand(r, M * N);
      const dw0 = rand(r, N * K);
      const db0 = rand(r, N);
      const out = onEveryBuild((b) => {
        const a = b.arena;
        const dx = a.put(nans(M * K), 'dx');
        const dw = a.put(dw0, 'dw');
        const db = a.put(db0, 'db');
        denseBackwardF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(dy, 'dy'), dx, dw, db, { batch: M, inFeatures: K, outFeatures: N });
        return { dx: read(a, dx), dw: read(a, dw), db: read(a, db) };
      });
      const g = ref.denseBackwardRef(x, w, dy, M, K, N);
      const m = ref.denseBackwardRef(ref.abs(x), ref.abs(w), ref.abs(dy), M, K, N);
      const what = `dense backward ${M}x${K}x${N}`;
      expectClose(`${what} dx`, out.dx, g.dx, m.dx);
      expectClose(`${what} dw`, out.dw, plus(dw0, g.dw), plus(ref.abs(dw0), m.dw));
      expectClose(`${what} db`, out.db, plus(db0, g.db), plus(ref.abs(db0), m.db));
    }
  });

  it('two micro-batches accumulate dw and db to the same bits as one whole batch', () => {
    const r = rng(13);
    const [M, K, N] = [13, 37, 9];
    const x = rand(r, M * K);
    const w = rand(r, N * K);
    const dy = rand(r, M * N);
    onEveryBuild((b) => {
      const a = b.arena;
      const p = (batch: number) => ({ batch, inFeatures: K, outFeatures: N });
      const whole = { dw: a.put(new Float32Array(N * K), 'dw'), db: a.put(new Float32Array(N), 'db') };
      denseBackwardF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(dy, 'dy'), null, whole.dw, whole.db, p(M));
      const split = { dw: a.put(new Float32Array(N * K), 'dw2'), db: a.put(new Float32Array(N), 'db2') };
      const wb = a.put(w, 'w2');
      denseBackwardF32(a, a.put(x.subarray(0, 6 * K), 'x1'), wb, a.put(dy.subarray(0, 6 * N), 'dy1'), null, split.dw, split.db, p(6));
      denseBackwardF32(a, a.put(x.subarray(6 * K), 'x2'), wb, a.put(dy.subarray(6 * N), 'dy2'), null, split.dw, split.db, p(M - 6));
      expect(bitDiff(read(a, split.dw), read(a, whole.dw)), `${b.build} dw`).toBeNull();
      expect(bitDiff(read(a, split.db), read(a, whole.db)), `${b.build} db`).toBeNull();
      return { dw: read(a, whole.dw) };
    });
  });
});

// ------------------------------------------------------------------------------------ conv2d

const conv = (
  name: string, batch: number, inHeight: number, inWidth: number, inChannels: number, outChannels: number,
  kernelHeight: number, kernelWidth: number, strideHeight: number, strideWidth: number, padding: PaddingF32,
): Conv2DF32Params & { name: string } => ({
  name, batch, inHeight, inWidth, inChannels, outChannels, kernelHeight, kernelWidth, strideHeight, strideWidth, padding,
});

const convCases = [
  conv('3x3 same, 3->4 channels', 1, 5, 5, 3, 4, 3, 3, 1, 1, 'same'),
  conv('3x3 stride 2 same, 1 channel, batch 2', 2, 7, 6, 1, 3, 3, 3, 2, 2, 'same'),
  conv('5x5 stride 2 valid, 7->13 channels', 1, 9, 9, 7, 13, 5, 5, 2, 2, 'valid'),
  conv('2x3 kernel, strides 1x2, same (asymmetric padding), 13 channels', 1, 6, 7, 13, 5, 2, 3, 1, 2, 'same'),
  conv('1x1 pointwise, 17->7 channels, batch 2', 2, 5, 5, 17, 7, 1, 1, 1, 1, 'same'),
  conv('1x1 stride 2 valid', 1, 7, 7, 5, 6, 1, 1, 2, 2, 'valid'),
  conv('1x1 strides 2x1 same', 1, 5, 6, 3, 9, 1, 1, 2, 1, 'same'),
  conv('5x5 kernel larger than a 3x3 input, same', 1, 3, 3, 4, 3, 5, 5, 1, 1, 'same'),
  conv('1x3 valid on a 1x13 row, 16 channels', 2, 1, 13, 16, 8, 1, 3, 1, 1, 'valid'),
];

function runConvForward(b: Bench, p: Conv2DF32Params, x: Float32Array, w: Float32Array, bias: Float32Array | null, chunkRows?: number) {
  const a = b.arena;
  const y = a.put(nans(convCount(p).out), 'y');
  const scratch = scratchFor(a, conv2dF32ScratchBytes(p, { chunkRows }));
  conv2dF32(a, a.put(x, 'x'), a.put(w, 'w'), bias && a.put(bias, 'b'), y, scratch, p);
  return read(a, y);
}

function runConvBackward(b: Bench, p: Conv2DF32Params, x: Float32Array, w: Float32Array, dy: Float32Array, dw0: Float32Array, db0: Float32Array, chunkRows?: number) {
  const a = b.arena;
  const dx = a.put(nans(x.length), 'dx');
  const dw = a.put(dw0, 'dw');
  const db = a.put(db0, 'db');
  const scratch = scratchFor(a, conv2dF32ScratchBytes(p, { pass: 'backward', chunkRows }));
  conv2dBackwardF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(dy, 'dy'), dx, dw, db, scratch, p);
  return { dx: read(a, dx), dw: read(a, dw), db: read(a, db) };
}

describe('f32 conv2d (NHWC, OHWI, TFLite padding)', () => {
  it('computes TFLite output sizes and padding', () => {
    const g = (inH: number, k: number, s: number, padding: PaddingF32) =>
      conv2dF32Geometry({ batch: 1, inHeight: inH, inWidth: inH, inChannels: 1, outChannels: 1, kernelHeight: k, kernelWidth: k, strideHeight: s, strideWidth: s, padding });
    expect(g(7, 3, 2, 'same')).toEqual({ outHeight: 4, outWidth: 4, padTop: 1, padLeft: 1 });
    expect(g(6, 3, 2, 'same')).toEqual({ outHeight: 3, outWidth: 3, padTop: 0, padLeft: 0 }); // padTotal 1 -> before 0
    expect(g(5, 4, 1, 'same')).toEqual({ outHeight: 5, outWidth: 5, padTop: 1, padLeft: 1 }); // padTotal 3 -> before 1
    expect(g(9, 5, 2, 'valid')).toEqual({ outHeight: 3, outWidth: 3, padTop: 0, padLeft: 0 });
    expect(g(3, 5, 1, 'same')).toEqual({ outHeight: 3, outWidth: 3, padTop: 2, padLeft: 2 });
    for (const c of convCases) {
      const h = ref.geometryRef(c.inHeight, c.kernelHeight, c.strideHeight, c.padding);
      const w = ref.geometryRef(c.inWidth, c.kernelWidth, c.strideWidth, c.padding);
      expect(conv2dF32Geometry(c), c.name).toEqual({ outHeight: h.out, outWidth: w.out, padTop: h.pad, padLeft: w.pad });
    }
  });

  it('forward matches the float64 reference and all builds agree bit for bit', () => {
    const r = rng(21);
    for (const p of convCases) {
      const n = convCount(p);
      const x = rand(r, n.in);
      const w = rand(r, n.w);
      const bias = rand(r, p.outChannels);
      const out = onEveryBuild((b) => ({ y: runConvForward(b, p, x, w, bias) }));
      expectClose(p.name, out.y, ref.conv2dRef(x, w, bias, p, p.outChannels), ref.conv2dRef(ref.abs(x), ref.abs(w), ref.abs(bias), p, p.outChannels));
    }
  });

  it('backward (dInput overwritten, dWeights and dBias accumulated) matches the reference in every build', () => {
    const r = rng(22);
    for (const p of convCases) {
      const n = convCount(p);
      const x = rand(r, n.in);
      const w = rand(r, n.w);
      const dy = rand(r, n.out);
      const dw0 = rand(r, n.w);
      const db0 = rand(r, p.outChannels);
      const out = onEveryBuild((b) => runConvBackward(b, p, x, w, dy, dw0, db0));
      const g = ref.conv2dBackwardRef(x, w, dy, p, p.outChannels);
      const m = ref.conv2dBackwardRef(ref.abs(x), ref.abs(w), ref.abs(dy), p, p.outChannels);
      expectClose(`${p.name}: dx`, out.dx, g.dx, m.dx);
      expectClose(`${p.name}: dw`, out.dw, plus(dw0, g.dw), plus(ref.abs(dw0), m.dw));
      expectClose(`${p.name}: db`, out.db, plus(db0, g.db), plus(ref.abs(db0), m.db));
    }
  });

  it('results do not depend on the scratch size (panels of 1, 5 or all output pixels give the same bits)', () => {
    const r = rng(23);
    for (const p of convCases.filter((c) => conv2dF32ScratchBytes(c) > 0)) {
      const n = convCount(p);
      const x = rand(r, n.in);
      const w = rand(r, n.w);
      const dy = rand(r, n.out);
      const bias = rand(r, p.outChannels);
      const zw = new Float32Array(n.w);
      const zb = new Float32Array(p.outChannels);
      onEveryBuild((b) => {
        const base = runConvForward(b, p, x, w, bias);
        const baseBack = runConvBackward(b, p, x, w, dy, zw, zb);
        for (const rows of [1, 5, 1 << 20]) {
          b.arena.reset();
          expect(bitDiff(runConvForward(b, p, x, w, bias, rows), base), `${p.name}, ${rows} rows, y`).toBeNull();
          b.arena.reset();
          const back = runConvBackward(b, p, x, w, dy, zw, zb, rows);
          expect(bitDiff(back.dx, baseBack.dx), `${p.name}, ${rows} rows, dx`).toBeNull();
          expect(bitDiff(back.dw, baseBack.dw), `${p.name}, ${rows} rows, dw`).toBeNull();
        }
        return { y: base };
      });
    }
  });

  it('backward with only dWeights (a first layer) or only dInput needs one panel and gives the same bits', () => {
    const p = convCases[0]!;
    const n = convCount(p);
    const r = rng(24);
    const x = rand(r, n.in);
    const w = rand(r, n.w);
    const dy = rand(r, n.out);
    onEveryBuild((b) => {
      const full = runConvBackward(b, p, x, w, dy, new Float32Array(n.w), new Float32Array(p.outChannels));
      const a = b.arena;
      a.reset();
      const onePanel = conv2dF32ScratchBytes(p, { pass: 'backward', inputGrad: false });
      expect(onePanel * 2).toBe(conv2dF32ScratchBytes(p, { pass: 'backward' }));
      expect(conv2dF32ScratchBytes(p, { pass: 'backward', weightGrad: false })).toBe(onePanel);
      const [xb, wb, dyb] = [a.put(x, 'x'), a.put(w, 'w'), a.put(dy, 'dy')];
      const dw = a.put(new Float32Array(n.w), 'dw');
      conv2dBackwardF32(a, xb, wb, dyb, null, dw, null, a.alloc(onePanel, 'scratch'), p);
      const dx = a.put(nans(n.in), 'dx');
      conv2dBackwardF32(a, xb, wb, dyb, dx, null, null, a.alloc(onePanel, 'scratch2'), p);
      expect(bitDiff(read(a, dw), full.dw), `${b.build} dw`).toBeNull();
      expect(bitDiff(read(a, dx), full.dx), `${b.build} dx`).toBeNull();
      return { dw: read(a, dw), dx: read(a, dx) };
    });
  });
});

// ------------------------------------------------------------------------------------ depthwise

const dw = (
  name: string, batch: number, inHeight: number, inWidth: number, inChannels: number, depthMultiplier: number,
  kernelHeight: number, kernelWidth: number, strideHeight: number, strideWidth: number, padding: PaddingF32,
): DepthwiseConv2DF32Params & { name: string } => ({
  name, batch, inHeight, inWidth, inChannels, depthMultiplier, kernelHeight, kernelWidth, strideHeight, strideWidth, padding,
});

const dwCases = [
  dw('3x3 same, 1 channel', 1, 5, 5, 1, 1, 3, 3, 1, 1, 'same'),
  dw('3x3 stride 2 same, 13 channels, batch 2', 2, 7, 6, 13, 1, 3, 3, 2, 2, 'same'),
  dw('3x3 valid, 16 channels', 1, 6, 6, 16, 1, 3, 3, 1, 1, 'valid'),
  dw('5x5 stride 2 same, 17 channels', 1, 9, 8, 17, 1, 5, 5, 2, 2, 'same'),
  dw('depth multiplier 2, 3 channels', 1, 5, 6, 3, 2, 3, 3, 1, 1, 'same'),
  dw('depth multiplier 3, 7 channels, 2x3 kernel, strides 2x1', 2, 6, 5, 7, 3, 2, 3, 2, 1, 'same'),
];

const dwCount = (p: DepthwiseConv2DF32Params) => {
  const g = depthwiseConv2dF32Geometry(p);
  const oc = p.inChannels * p.depthMultiplier;
  return { in: p.batch * p.inHeight * p.inWidth * p.inChannels, out: p.batch * g.outHeight * g.outWidth * oc, w: p.kernelHeight * p.kernelWidth * oc, oc };
};

describe('f32 depthwise conv2d', () => {
  it('forward matches the float64 reference and all builds agree bit for bit', () => {
    const r = rng(31);
    for (const p of dwCases) {
      const n = dwCount(p);
      const x = rand(r, n.in);
      const w = rand(r, n.w);
      const bias = rand(r, n.oc);
      const out = onEveryBuild((b) => {
        const a = b.arena;
        const y = a.put(nans(n.out), 'y');
        depthwiseConv2dF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(bias, 'b'), y, p);
        return { y: read(a, y) };
      });
      expectClose(p.name, out.y, ref.depthwiseRef(x, w, bias, p, p.depthMultiplier), ref.depthwiseRef(ref.abs(x), ref.abs(w), ref.abs(bias), p, p.depthMultiplier));
    }
  });

  it('backward matches the float64 reference and all builds agree bit for bit', () => {
    const r = rng(32);
    for (const p of dwCases) {
      const n = dwCount(p);
      const x = rand(r, n.in);
      const w = rand(r, n.w);
      const dy = rand(r, n.out);
      const dw0 = rand(r, n.w);
      const db0 = rand(r, n.oc);
      const out = onEveryBuild((b) => {
        const a = b.arena;
        const dx = a.put(nans(n.in), 'dx');
        const dwb = a.put(dw0, 'dw');
        const db = a.put(db0, 'db');
        depthwiseConv2dBackwardF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(dy, 'dy'), dx, dwb, db, p);
        return { dx: read(a, dx), dw: read(a, dwb), db: read(a, db) };
      });
      const g = ref.depthwiseBackwardRef(x, w, dy, p, p.depthMultiplier);
      const m = ref.depthwiseBackwardRef(ref.abs(x), ref.abs(w), ref.abs(dy), p, p.depthMultiplier);
      expectClose(`${p.name}: dx`, out.dx, g.dx, m.dx);
      expectClose(`${p.name}: dw`, out.dw, plus(dw0, g.dw), plus(ref.abs(dw0), m.dw));
      expectClose(`${p.name}: db`, out.db, plus(db0, g.db), plus(ref.abs(db0), m.db));
    }
  });
});

// ------------------------------------------------------------------------------------ pooling

const pool = (
  name: string, batch: number, inHeight: number, inWidth: number, channels: number,
  filterHeight: number, filterWidth: number, strideHeight: number, strideWidth: number, padding: PaddingF32,
): Pool2DF32Params & { name: string } => ({ name, batch, inHeight, inWidth, channels, filterHeight, filterWidth, strideHeight, strideWidth, padding });

const poolCases = [
  pool('2x2 stride 2 valid, 1 channel', 1, 6, 6, 1, 2, 2, 2, 2, 'valid'),
  pool('3x3 stride 2 same (overlapping windows), 13 channels, batch 2', 2, 7, 7, 13, 3, 3, 2, 2, 'same'),
  pool('3x3 stride 1 same, 5 channels', 1, 5, 6, 5, 3, 3, 1, 1, 'same'),
  pool('2x3 filter, strides 1x2, valid, 8 channels', 1, 5, 7, 8, 2, 3, 1, 2, 'valid'),
  pool('4x4 filter on a 3x3 input, same, 3 channels', 1, 3, 3, 3, 4, 4, 1, 1, 'same'),
];

const poolCount = (p: Pool2DF32Params) => {
  const g = pool2dF32Geometry(p);
  return { in: p.batch * p.inHeight * p.inWidth * p.channels, out: p.batch * g.outHeight * g.outWidth * p.channels };
};

function runPools(b: Bench, p: Pool2DF32Params, x: Float32Array, dy: Float32Array) {
  const a = b.arena;
  const n = poolCount(p);
  const xb = a.put(x, 'x');
  const dyb = a.put(dy, 'dy');
  const bufs = { avg: a.put(nans(n.out), 'avg'), max: a.put(nans(n.out), 'max'), dAvg: a.put(nans(n.in), 'dAvg'), dMax: a.put(nans(n.in), 'dMax') };
  avgPool2dF32(a, xb, bufs.avg, p);
  maxPool2dF32(a, xb, bufs.max, p);
  avgPool2dBackwardF32(a, dyb, bufs.dAvg, p);
  maxPool2dBackwardF32(a, xb, dyb, bufs.dMax, p);
  return { avg: read(a, bufs.avg), max: read(a, bufs.max), dAvg: read(a, bufs.dAvg), dMax: read(a, bufs.dMax) };
}

describe('f32 pooling', () => {
  it('avg and max pool, forward and backward, match the float64 reference in every build', () => {
    const r = rng(41);
    for (const p of poolCases) {
      const n = poolCount(p);
      const x = rand(r, n.in);
      const dy = rand(r, n.out);
      const out = onEveryBuild((b) => runPools(b, p, x, dy));
      expectClose(`${p.name}: avg`, out.avg, ref.avgPoolRef(x, p), ref.avgPoolRef(ref.abs(x), p));
      expect(bitDiff(out.max, Float32Array.from(ref.maxPoolRef(x, p))), `${p.name}: max is exact`).toBeNull();
      expectClose(`${p.name}: avg backward`, out.dAvg, ref.avgPoolBackwardRef(dy, p), ref.avgPoolBackwardRef(ref.abs(dy), p));
      expectClose(`${p.name}: max backward`, out.dMax, ref.maxPoolBackwardRef(x, dy, p), ref.maxPoolBackwardRef(x, ref.abs(dy), p));
    }
  });

  it('max pool routes the gradient to the first of tied maxima, and keeps -0 when it comes first', () => {
    const r = rng(42);
    const p = poolCases[1]!;
    const n = poolCount(p);
    // Values from {0, 1, 2}: most windows hold ties.
    const x = Float32Array.from({ length: n.in }, () => Math.floor(r() * 3));
    const dy = Float32Array.from({ length: n.out }, (_, i) => 1 + i); // distinct, so a wrong route shows
    const out = onEveryBuild((b) => runPools(b, p, x, dy));
    expect(Array.from(out.dMax)).toEqual(Array.from(ref.maxPoolBackwardRef(x, dy, p)));
    // 5 channels: four SIMD lanes and a scalar tail. Pixel 0 holds -0, pixel 1 holds +0.
    const single = pool('1x2 window', 1, 1, 2, 5, 1, 2, 1, 2, 'valid');
    const signed = Float32Array.from({ length: 10 }, (_, i) => (i < 5 ? -0 : 0));
    const zeros = onEveryBuild((b) => runPools(b, single, signed, Float32Array.of(1, 2, 3, 4, 5)));
    expect(Array.from(zeros.max, (v) => Object.is(v, -0))).toEqual([true, true, true, true, true]);
    expect(Array.from(zeros.dMax)).toEqual([1, 2, 3, 4, 5, 0, 0, 0, 0, 0]);
  });

  it('global average pool, forward and backward, matches the reference in every build', () => {
    const r = rng(43);
    for (const [batch, H, W, C] of [[1, 1, 1, 1], [2, 3, 5, 7], [3, 7, 7, 17], [1, 4, 4, 16]] as const) {
      const x = rand(r, batch * H * W * C);
      const dy = rand(r, batch * C);
      const out = onEveryBuild((b) => {
        const a = b.arena;
        const y = a.put(nans(batch * C), 'y');
        const dx = a.put(nans(x.length), 'dx');
        const p = { batch, inHeight: H, inWidth: W, channels: C };
        globalAvgPoolF32(a, a.put(x, 'x'), y, p);
        globalAvgPoolBackwardF32(a, a.put(dy, 'dy'), dx, p);
        return { y: read(a, y), dx: read(a, dx) };
      });
      expectClose(`gap ${batch}x${H}x${W}x${C}`, out.y, ref.globalAvgPoolRef(x, batch, H * W, C), ref.globalAvgPoolRef(ref.abs(x), batch, H * W, C));
      expectClose(`gap backward ${batch}x${H}x${W}x${C}`, out.dx, ref.globalAvgPoolBackwardRef(dy, batch, H * W, C), ref.globalAvgPoolBackwardRef(ref.abs(dy), batch, H * W, C), 1e-7);
    }
  });
});

// ------------------------------------------------------------------------------------ activations

describe('f32 relu / relu6', () => {
  it('forward in place and backward masked by the forward output, exact in every build', () => {
    const r = rng(51);
    const specials = [-0, 0, 6, -1e-30, 1e-30, 5.999999, 6.000001, -7, 7, 1e30];
    const x = Float32Array.from([...specials, ...rand(r, 37, -3, 9)]);
    const dy = rand(r, x.length);
    for (const kind of ['relu', 'relu6'] as const) {
      const six = kind === 'relu6';
      const out = onEveryBuild((b) => {
        const a = b.arena;
        const y = a.put(x, 'y');
        reluF32(a, y, x.length, kind);
        const dx = a.put(nans(x.length), 'dx');
        reluBackwardF32(a, y, a.put(dy, 'dy'), dx, x.length, kind);
        // In place over dy gives the same values.
        const dyInPlace = a.put(dy, 'dy2');
        reluBackwardF32(a, y, dyInPlace, dyInPlace, x.length, kind);
        return { y: read(a, y), dx: read(a, dx), inPlace: read(a, dyInPlace) };
      });
      expect(Array.from(out.y), kind).toEqual(Array.from(Float32Array.from(ref.reluRef(x, six))));
      expect(Object.is(out.y[0], 0), `${kind}(-0) is +0`).toBe(true);
      const want = Float32Array.from(ref.reluBackwardRef(out.y, dy, six));
      expect(bitDiff(out.dx, want), `${kind} backward`).toBeNull();
      expect(bitDiff(out.inPlace, want), `${kind} backward in place`).toBeNull();
      expect(out.dx[2], `${kind}: gradient at y = 6`).toBe(six ? 0 : dy[2]);
    }
  });

  it('NaN stays NaN through relu, so a diverged activation is not hidden', () => {
    for (const b of benches) {
      b.arena.reset();
      const y = b.arena.put(Float32Array.of(NaN, 1, NaN, -1, NaN), 'y');
      reluF32(b.arena, y, 5, 'relu6');
      expect(Array.from(read(b.arena, y)).map(Number.isNaN), b.build).toEqual([true, false, true, false, true]);
    }
  });
});

// ------------------------------------------------------------------------------------ loss

function runCe(b: Bench, logits: Float32Array, labels: Int32Array, batch: number, classes: number, reduction: 'mean' | 'sum') {
  const a = b.arena;
  const d = a.put(nans(batch * classes), 'dLogits');
  const loss = softmaxCrossEntropyF32(a, a.put(logits, 'logits'), a.put(labels, 'labels'), d, { batch, classes, reduction });
  return { loss, d: read(a, d) };
}

describe('f32 softmax cross-entropy', () => {
  it('loss (mean and sum) and dLogits match the float64 reference and are bit-identical across builds', () => {
    const r = rng(61);
    for (const [batch, classes] of [[1, 1], [1, 2], [7, 3], [13, 10], [5, 17]] as const) {
      const logits = rand(r, batch * classes, -5, 5);
      const labels = Int32Array.from({ length: batch }, () => Math.floor(r() * classes));
      for (const reduction of ['mean', 'sum'] as const) {
        const out = onEveryBuild((b) => runCe(b, logits, labels, batch, classes, reduction));
        const want = ref.softmaxCeRef(logits, labels, batch, classes, reduction === 'mean');
        expect(Math.abs(out.loss - want.loss), `${batch}x${classes} ${reduction} loss`).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want.loss)));
        // f64 inside, one rounding to f32 at the end.
        expectClose(`${batch}x${classes} ${reduction} dLogits`, out.d, want.grad, Float64Array.from(want.grad, (g) => Math.abs(g) * 2 ** -23 / 1e-5 + 1e-30));
      }
    }
  });

  it('is numerically stable for logits of ±1000 and 3e38 (max subtraction)', () => {
    const logits = Float32Array.of(1000, -1000, 999, 3e38, 3e38, -3e38);
    const labels = Int32Array.of(2, 0);
    const out = onEveryBuild((b) => runCe(b, logits, labels, 2, 3, 'sum'));
    // Row 1 (label 999): log(1 + e^-1 + e^-2000) + 1 = log(1 + e). Row 2 (label 3e38): log 2.
    const want = Math.log(1 + Math.exp(1)) + Math.log(2);
    expect(out.loss).toBeCloseTo(want, 12);
    expect(Array.from(out.d).every(Number.isFinite)).toBe(true);
  });

  it("Math.exp and Math.log give the same bits in every build over a wide range of logits", () => {
    const r = rng(62);
    const [batch, classes] = [64, 33];
    const logits = rand(r, batch * classes, -80, 80);
    const labels = Int32Array.from({ length: batch }, () => Math.floor(r() * classes));
    // onEveryBuild compares the f64 loss with Object.is and dLogits bit for bit.
    const out = onEveryBuild((b) => runCe(b, logits, labels, batch, classes, 'sum'));
    expect(Number.isFinite(out.loss)).toBe(true);
  });

  it('rejects labels outside [0, classes) with a DataError', () => {
    const a = benches[0]!.arena;
    for (const bad of [3, -1, 1 << 30]) {
      a.reset();
      const call = () =>
        softmaxCrossEntropyF32(a, a.put(new Float32Array(6), 'l'), a.put(Int32Array.of(0, bad), 'y'), null, { batch: 2, classes: 3, reduction: 'mean' });
      expect(call, `label ${bad}`).toThrow(DataError);
      expect(call).toThrow(/labels\[1\] = /);
    }
  });
});

// ------------------------------------------------------------------------------------ optimizers

describe('f32 optimizers', () => {
  it('SGD (plain, momentum, weight decay) matches the float64 reference over three steps in every build', () => {
    const r = rng(71);
    const n = 37;
    const w0 = rand(r, n);
    const grads = [rand(r, n), rand(r, n), rand(r, n)];
    for (const [momentum, wd] of [[0, 0], [0.9, 0], [0.9, 0.01], [0, 0.1]] as const) {
      const out = onEveryBuild((b) => {
        const a = b.arena;
        const w = a.put(w0, 'w');
        const v = a.put(new Float32Array(n), 'v');
        for (const g of grads) sgdStepF32(a, w, a.put(g, 'g'), momentum ? v : null, { count: n, lr: 0.1, momentum, weightDecay: wd });
        return { w: read(a, w), v: read(a, v) };
      });
      let s = { w: Float64Array.from(w0), v: new Float64Array(n) };
      for (const g of grads) s = ref.sgdRef(s.w, g, s.v, 0.1, momentum, wd);
      expectClose(`sgd momentum ${momentum} wd ${wd}`, out.w, s.w, Float64Array.from(s.w, (v) => 1 + Math.abs(v)), 1e-6);
    }
  });

  it('Adam and AdamW match torch.optim formulas over three steps in every build', () => {
    const r = rng(72);
    const n = 41;
    const w0 = rand(r, n);
    const grads = [rand(r, n), rand(r, n, -1e-3, 1e-3), rand(r, n)];
    for (const decoupled of [false, true]) {
      const opts = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
      const out = onEveryBuild((b) => {
        const a = b.arena;
        const w = a.put(w0, 'w');
        const m = a.put(new Float32Array(n), 'm');
        const v = a.put(new Float32Array(n), 'v');
        grads.forEach((g, i) => adamStepF32(a, w, a.put(g, 'g'), m, v, { count: n, step: i + 1, decoupledWeightDecay: decoupled, ...opts }));
        return { w: read(a, w), m: read(a, m), v: read(a, v) };
      });
      let s = { w: Float64Array.from(w0), m: new Float64Array(n), v: new Float64Array(n) };
      grads.forEach((g, i) => (s = ref.adamRef(s.w, g, s.m, s.v, { ...opts, decoupled, step: i + 1 })));
      // Each step moves w by about lr; f32 rounding of that step is the error scale.
      expectClose(`adam decoupled=${decoupled}`, out.w, s.w, Float64Array.from(s.w, (v) => 1 + Math.abs(v)), 1e-6);
      expect(Math.max(...Array.from(out.w, (v, i) => Math.abs(v - w0[i]!))), 'weights moved').toBeGreaterThan(0.02);
    }
  });
});

// ------------------------------------------------------------------------------------ gradient checks

describe('backward kernels agree with finite differences of the forward kernels', () => {
  const b = () => benches[0]!;

  it('dense: dx, dw, db', () => {
    const r = rng(81);
    const [M, K, N] = [2, 5, 3];
    const x = rand(r, M * K);
    const w = rand(r, N * K);
    const bias = rand(r, N);
    const probe = rand(r, M * N); // L = Σ probe·y, so dL/dy = probe
    const p = { batch: M, inFeatures: K, outFeatures: N };
    const loss = () => {
      const a = b().arena;
      a.reset();
      const y = a.alloc(M * N * 4, 'y');
      denseF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(bias, 'b'), y, p);
      return dot64(read(a, y), probe);
    };
    const a = b().arena;
    a.reset();
    const dx = a.alloc(M * K * 4, 'dx');
    const dwb = a.put(new Float32Array(N * K), 'dw');
    const db = a.put(new Float32Array(N), 'db');
    denseBackwardF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(probe, 'dy'), dx, dwb, db, p);
    const grads = { dx: read(a, dx), dw: read(a, dwb), db: read(a, db) };
    expectGrad('dx', grads.dx, finiteDiff(x, loss, 1e-2));
    expectGrad('dw', grads.dw, finiteDiff(w, loss, 1e-2));
    expectGrad('db', grads.db, finiteDiff(bias, loss, 1e-2));
  });

  it('conv2d (3x3 stride 2 same and 1x1 stride 2): dx, dw, db', () => {
    const r = rng(82);
    for (const p of [conv('', 1, 5, 4, 2, 3, 3, 3, 2, 2, 'same'), conv('', 1, 5, 5, 3, 2, 1, 1, 2, 2, 'valid')]) {
      const n = convCount(p);
      const x = rand(r, n.in);
      const w = rand(r, n.w);
      const bias = rand(r, p.outChannels);
      const probe = rand(r, n.out);
      const loss = () => {
        b().arena.reset();
        return dot64(runConvForward(b(), p, x, w, bias), probe);
      };
      b().arena.reset();
      const g = runConvBackward(b(), p, x, w, probe, new Float32Array(n.w), new Float32Array(p.outChannels));
      const what = `conv ${p.kernelHeight}x${p.kernelWidth}`;
      expectGrad(`${what} dx`, g.dx, finiteDiff(x, loss, 1e-2));
      expectGrad(`${what} dw`, g.dw, finiteDiff(w, loss, 1e-2));
      expectGrad(`${what} db`, g.db, finiteDiff(bias, loss, 1e-2));
    }
  });

  it('depthwise conv2d with depth multiplier 1 and 2: dx, dw, db', () => {
    const r = rng(83);
    for (const p of [dw('', 1, 4, 5, 5, 1, 3, 3, 2, 1, 'same'), dw('', 1, 4, 4, 2, 2, 3, 2, 1, 2, 'same')]) {
      const n = dwCount(p);
      const x = rand(r, n.in);
      const w = rand(r, n.w);
      const bias = rand(r, n.oc);
      const probe = rand(r, n.out);
      const loss = () => {
        const a = b().arena;
        a.reset();
        const y = a.alloc(n.out * 4, 'y');
        depthwiseConv2dF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(bias, 'b'), y, p);
        return dot64(read(a, y), probe);
      };
      const a = b().arena;
      a.reset();
      const dx = a.alloc(n.in * 4, 'dx');
      const dwb = a.put(new Float32Array(n.w), 'dw');
      const db = a.put(new Float32Array(n.oc), 'db');
      depthwiseConv2dBackwardF32(a, a.put(x, 'x'), a.put(w, 'w'), a.put(probe, 'dy'), dx, dwb, db, p);
      const g = { dx: read(a, dx), dw: read(a, dwb), db: read(a, db) };
      expectGrad(`depthwise x${p.depthMultiplier} dx`, g.dx, finiteDiff(x, loss, 1e-2));
      expectGrad(`depthwise x${p.depthMultiplier} dw`, g.dw, finiteDiff(w, loss, 1e-2));
      expectGrad(`depthwise x${p.depthMultiplier} db`, g.db, finiteDiff(bias, loss, 1e-2));
    }
  });

  it('avg pool, max pool, global average pool and relu6: dx', () => {
    const r = rng(84);
    const p = pool('', 1, 5, 5, 2, 3, 3, 2, 2, 'same');
    const n = poolCount(p);
    // Distinct values 0.05 apart: a ±0.01 probe never changes a window's arg-max.
    const x = Float32Array.from(Array.from({ length: n.in }, (_, i) => i * 0.05).sort(() => r() - 0.5));
    const probe = rand(r, n.out);
    const pooled = (kind: 'avg' | 'max') => () => {
      b().arena.reset();
      return dot64(runPools(b(), p, x, probe)[kind], probe);
    };
    b().arena.reset();
    const g = runPools(b(), p, x, probe);
    expectGrad('avg pool dx', g.dAvg, finiteDiff(x, pooled('avg'), 1e-2));
    expectGrad('max pool dx', g.dMax, finiteDiff(x, pooled('max'), 1e-2));

    const gp = { batch: 2, inHeight: 3, inWidth: 2, channels: 5 };
    const gx = rand(r, 60);
    const gprobe = rand(r, 10);
    const gapLoss = () => {
      const a = b().arena;
      a.reset();
      const y = a.alloc(40, 'y');
      globalAvgPoolF32(a, a.put(gx, 'x'), y, gp);
      return dot64(read(a, y), gprobe);
    };
    const a = b().arena;
    a.reset();
    const gdx = a.alloc(240, 'dx');
    globalAvgPoolBackwardF32(a, a.put(gprobe, 'dy'), gdx, gp);
    expectGrad('global avg pool dx', read(a, gdx), finiteDiff(gx, gapLoss, 1e-2));

    // Inputs at least 0.05 away from the kinks at 0 and 6.
    const rx = Float32Array.from(rand(r, 29, -2, 8), (v) => (Math.abs(v) < 0.05 || Math.abs(v - 6) < 0.05 ? v + 0.2 : v));
    const rprobe = rand(r, 29);
    const reluLoss = () => {
      const a2 = b().arena;
      a2.reset();
      const y = a2.put(rx, 'y');
      reluF32(a2, y, 29, 'relu6');
      return dot64(read(a2, y), rprobe);
    };
    a.reset();
    const y = a.put(rx, 'y');
    reluF32(a, y, 29, 'relu6');
    const rdx = a.alloc(29 * 4, 'dx');
    reluBackwardF32(a, y, a.put(rprobe, 'dy'), rdx, 29, 'relu6');
    expectGrad('relu6 dx', read(a, rdx), finiteDiff(rx, reluLoss, 1e-2));
  });

  it('softmax cross-entropy (mean): dLogits', () => {
    const r = rng(85);
    const [batch, classes] = [3, 5];
    const logits = rand(r, batch * classes, -3, 3);
    const labels = Int32Array.of(4, 0, 2);
    const loss = () => {
      b().arena.reset();
      return runCe(b(), logits, labels, batch, classes, 'mean').loss;
    };
    b().arena.reset();
    expectGrad('dLogits', runCe(b(), logits, labels, batch, classes, 'mean').d, finiteDiff(logits, loss, 1e-3), 1e-5, 1e-3);
  });

  it('a tiny CNN chained from these kernels (conv, relu, max pool, global pool, dense, CE): dLoss/dConvWeights', () => {
    const r = rng(90); // a seed whose kink margins (asserted below) hold
    const cp = conv('', 2, 6, 6, 2, 4, 3, 3, 1, 1, 'same');
    const pp = pool('', 2, 6, 6, 4, 2, 2, 2, 2, 'valid');
    const gp = { batch: 2, inHeight: 3, inWidth: 3, channels: 4 };
    const fp = { batch: 2, inFeatures: 4, outFeatures: 3 };
    const x = rand(r, 2 * 36 * 2);
    const cw = rand(r, 4 * 9 * 2, -0.5, 0.5);
    const cb = rand(r, 4, 0, 0.1);
    const fw = rand(r, 12, -4, 4); // large head weights: conv-weight gradients well above f32 noise
    const fb = rand(r, 3);
    const labels = Int32Array.of(1, 2);
    const h = 1e-3;
    const forward = (a: Arena) => {
      const t = {
        x: a.put(x, 'x'), cw: a.put(cw, 'cw'), cb: a.put(cb, 'cb'), fw: a.put(fw, 'fw'), fb: a.put(fb, 'fb'), labels: a.put(labels, 'labels'),
        conv: a.alloc(2 * 36 * 4 * 4, 'conv'), pool: a.alloc(2 * 9 * 4 * 4, 'pool'), gap: a.alloc(8 * 4, 'gap'), logits: a.alloc(6 * 4, 'logits'),
        dLogits: a.alloc(6 * 4, 'dLogits'), scratch: scratchFor(a, conv2dF32ScratchBytes(cp, { pass: 'backward' })),
      };
      conv2dF32(a, t.x, t.cw, t.cb, t.conv, t.scratch, cp);
      const preActivation = read(a, t.conv);
      reluF32(a, t.conv, 2 * 36 * 4);
      maxPool2dF32(a, t.conv, t.pool, pp);
      globalAvgPoolF32(a, t.pool, t.gap, gp);
      denseF32(a, t.gap, t.fw, t.fb, t.logits, fp);
      const loss = softmaxCrossEntropyF32(a, t.logits, t.labels, t.dLogits, { batch: 2, classes: 3, reduction: 'sum' });
      return { t, loss, preActivation };
    };
    const loss = () => {
      b().arena.reset();
      return forward(b().arena).loss;
    };
    const a = b().arena;
    a.reset();
    const { t, preActivation: z } = forward(a);
    // Finite differences are only valid away from kinks. Moving one conv weight by h moves each
    // pre-activation by at most h·max|x| <= h, so no relu may sit within h of 0 and no pooling
    // window's top two (positive) values within 2h of each other.
    expect(Math.min(...Array.from(z, Math.abs)), 'distance of the nearest relu kink').toBeGreaterThan(h);
    let minGap = Infinity;
    for (let n = 0; n < 2; n++)
      for (let oy = 0; oy < 3; oy++)
        for (let ox = 0; ox < 3; ox++)
          for (let c = 0; c < 4; c++) {
            const win = [0, 1, 2, 3].map((k) => Math.max(0, z[((n * 6 + 2 * oy + (k >> 1)) * 6 + 2 * ox + (k & 1)) * 4 + c]!)).sort((p, q) => q - p);
            if (win[0]! > 0) minGap = Math.min(minGap, win[0]! - win[1]!);
          }
    expect(minGap, 'smallest max-pool gap').toBeGreaterThan(2 * h);
    const dGap = a.alloc(8 * 4, 'dGap');
    denseBackwardF32(a, t.gap, t.fw, t.dLogits, dGap, null, null, fp);
    const dPool = a.alloc(2 * 9 * 4 * 4, 'dPool');
    globalAvgPoolBackwardF32(a, dGap, dPool, gp);
    const dConv = a.alloc(2 * 36 * 4 * 4, 'dConv');
    maxPool2dBackwardF32(a, t.conv, dPool, dConv, pp); // the relu output is the pool's input
    reluBackwardF32(a, t.conv, dConv, dConv, 2 * 36 * 4);
    const dcw = a.put(new Float32Array(cw.length), 'dcw');
    conv2dBackwardF32(a, t.x, t.cw, dConv, null, dcw, null, t.scratch, cp);
    const grad = read(a, dcw);
    expect(Math.max(...Array.from(grad, Math.abs)), 'gradient scale').toBeGreaterThan(0.05);
    expectGrad('dLoss/dConvWeights', grad, finiteDiff(cw, loss, h), 3e-4, 1e-2);
  });
});

// ------------------------------------------------------------------------------------ end to end

describe('end to end', () => {
  it('a 2-layer MLP (2-16-2, relu) trained by SGD on the device separates XOR quadrants: >= 97% held-out accuracy, identical weights in every build', () => {
    const r = rng(7);
    // Points in [-1, 1]^2 at least 0.1 from both axes; label 1 where x·y > 0 (not linearly separable).
    const sample = (n: number) => {
      const xs = new Float32Array(2 * n);
      const ys = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const u = (0.1 + 0.9 * r()) * (r() < 0.5 ? -1 : 1);
        const v = (0.1 + 0.9 * r()) * (r() < 0.5 ? -1 : 1);
        xs[2 * i] = u;
        xs[2 * i + 1] = v;
        ys[i] = u * v > 0 ? 1 : 0;
      }
      return { xs, ys };
    };
    const train = sample(512);
    const test = sample(512);
    const H = 16;
    const B = 32;
    const steps = 320;
    const init = { w1: rand(r, H * 2, -Math.sqrt(3), Math.sqrt(3)), b1: new Float32Array(H), w2: rand(r, 2 * H, -Math.sqrt(6 / H), Math.sqrt(6 / H)), b2: new Float32Array(2) };

    const out = onEveryBuild((b) => {
      const a = b.arena;
      const params = (Object.keys(init) as (keyof typeof init)[]).map((k) => ({
        w: a.put(init[k], k), g: a.alloc(init[k].length * 4, `d${k}`), v: a.put(new Float32Array(init[k].length), `v${k}`), n: init[k].length,
      }));
      const [w1, b1, w2, b2] = params as [typeof params[0], typeof params[0], typeof params[0], typeof params[0]];
      const accuracy = (set: { xs: Float32Array; ys: Int32Array }) => {
        const n = set.ys.length;
        const mark = a.mark();
        const h = a.alloc(n * H * 4, 'h');
        const logits = a.alloc(n * 8, 'logits');
        denseF32(a, a.put(set.xs, 'x'), w1.w, b1.w, h, { batch: n, inFeatures: 2, outFeatures: H });
        reluF32(a, h, n * H);
        denseF32(a, h, w2.w, b2.w, logits, { batch: n, inFeatures: H, outFeatures: 2 });
        const l = read(a, logits);
        a.release(mark);
        let correct = 0;
        for (let i = 0; i < n; i++) correct += Number((l[2 * i + 1]! > l[2 * i]! ? 1 : 0) === set.ys[i]);
        return correct / n;
      };
      const x = a.alloc(B * 8, 'x');
      const labels = a.alloc(B * 4, 'labels');
      const h = a.alloc(B * H * 4, 'h');
      const logits = a.alloc(B * 8, 'logits');
      const dLogits = a.alloc(B * 8, 'dLogits');
      const dh = a.alloc(B * H * 4, 'dh');
      const before = accuracy(test);
      let firstLoss = 0;
      let lastLoss = 0;
      for (let step = 0; step < steps; step++) {
        const start = (step * B) % train.ys.length;
        a.f32(x).set(train.xs.subarray(2 * start, 2 * (start + B)));
        a.i32(labels).set(train.ys.subarray(start, start + B));
        denseF32(a, x, w1.w, b1.w, h, { batch: B, inFeatures: 2, outFeatures: H });
        reluF32(a, h, B * H);
        denseF32(a, h, w2.w, b2.w, logits, { batch: B, inFeatures: H, outFeatures: 2 });
        const loss = softmaxCrossEntropyF32(a, logits, labels, dLogits, { batch: B, classes: 2, reduction: 'mean' });
        if (step < 16) firstLoss += loss / 16;
        if (step >= steps - 16) lastLoss += loss / 16;
        for (const p of params) a.f32(p.g).fill(0);
        denseBackwardF32(a, h, w2.w, dLogits, dh, w2.g, b2.g, { batch: B, inFeatures: H, outFeatures: 2 });
        reluBackwardF32(a, h, dh, dh, B * H);
        denseBackwardF32(a, x, w1.w, dh, null, w1.g, b1.g, { batch: B, inFeatures: 2, outFeatures: H });
        for (const p of params) sgdStepF32(a, p.w, p.g, p.v, { count: p.n, lr: 0.05, momentum: 0.9 });
      }
      return {
        before, after: accuracy(test), firstLoss, lastLoss,
        w1: read(a, w1.w), b1: read(a, b1.w), w2: read(a, w2.w), b2: read(a, b2.w),
      };
    });
    expect(out.before).toBeLessThan(0.8);
    expect(out.after).toBeGreaterThanOrEqual(0.97);
    expect(out.lastLoss).toBeLessThan(out.firstLoss / 5);
  });
});

// ------------------------------------------------------------------------------------ bad arguments

type ErrorClass = typeof ShapeError | typeof ConfigError | typeof DataError;

describe('bad arguments become typed errors, never traps', () => {
  it('rejects wrong shapes, short or foreign buffers, overlaps and bad options before touching memory', () => {
    const a = benches[1]!.arena;
    a.reset();
    const buf = (n: number, name: string) => a.put(new Float32Array(n), name);
    const x = buf(16, 'x');
    const w = buf(32, 'w');
    const bias = buf(4, 'b');
    const y = buf(8, 'y');
    const dp = { batch: 2, inFeatures: 8, outFeatures: 4 };
    denseF32(a, x, w, bias, y, dp); // the valid baseline runs
    const img = buf(2 * 5 * 5 * 3, 'img');
    const cw = buf(4 * 3 * 3 * 3, 'cw');
    const cy = buf(2 * 5 * 5 * 4, 'cy');
    const cp: Conv2DF32Params = { batch: 2, inHeight: 5, inWidth: 5, inChannels: 3, outChannels: 4, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same' };
    const scratch = a.alloc(conv2dF32ScratchBytes(cp), 'scratch');
    conv2dF32(a, img, cw, null, cy, scratch, cp);
    const pp: Pool2DF32Params = { batch: 2, inHeight: 5, inWidth: 5, channels: 3, filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2, padding: 'valid' };
    const m = buf(32, 'm');
    const v = buf(32, 'v');
    const short = buf(7, 'short');

    const cases: [string, () => unknown, ErrorClass, RegExp?][] = [
      ['an output buffer one value short', () => denseF32(a, x, w, bias, short, dp), ShapeError, /holds 28 B but the shape needs 32 B/],
      ['a buffer outside the arena', () => denseF32(a, { name: 'rogue', offset: 0, bytes: 64 }, w, bias, y, dp), ShapeError, /outside the arena/],
      ['a buffer running past the arena end', () => denseF32(a, x, w, bias, { name: 'tail', offset: a.device.arenaEnd - 16, bytes: 32 }, dp), ShapeError],
      ['a misaligned buffer', () => denseF32(a, { name: 'odd', offset: x.offset + 2, bytes: 64 }, w, bias, y, dp), ShapeError, /4-byte aligned/],
      ['an output overlapping an input', () => denseF32(a, x, w, bias, { name: 'alias', offset: x.offset + 16, bytes: 32 }, dp), ShapeError, /y 'alias' \[\d+, \+32\) overlaps x 'x'/],
      ['not a buffer', () => denseF32(a, null as never, w, bias, y, dp), ShapeError],
      ['a fractional batch', () => denseF32(a, x, w, bias, y, { ...dp, batch: 1.5 }), ShapeError, /batch must be an integer/],
      ['zero features', () => denseF32(a, x, w, bias, y, { ...dp, inFeatures: 0 }), ShapeError],
      ['a NaN dimension', () => denseF32(a, x, w, bias, y, { ...dp, outFeatures: NaN }), ShapeError],
      ['a missing parameter object', () => denseF32(a, x, w, bias, y, undefined as never), ConfigError],
      ['a layer too large to address', () => denseF32(a, x, w, bias, y, { batch: 1 << 20, inFeatures: 1 << 20, outFeatures: 1 }), ShapeError, /split the batch/],
      ['no gradient outputs', () => denseBackwardF32(a, x, w, y, null, null, null, dp), ConfigError],
      ['dx overlapping dw', () => denseBackwardF32(a, x, w, y, m, { name: 'dw', offset: m.offset, bytes: 128 }, null, dp), ShapeError],
      ["padding 'SAME'", () => conv2dF32(a, img, cw, null, cy, scratch, { ...cp, padding: 'SAME' as never }), ConfigError, /'same' or 'valid'/],
      ['a valid-padded kernel larger than the input', () => conv2dF32(a, img, cw, null, cy, scratch, { ...cp, kernelHeight: 6, padding: 'valid' }), ShapeError, /input 5 < kernel 6/],
      ['stride 0', () => conv2dF32(a, img, cw, null, cy, scratch, { ...cp, strideWidth: 0 }), ShapeError],
      ['a 3x3 conv without scratch', () => conv2dF32(a, img, cw, null, cy, null, cp), ShapeError, /conv2dF32ScratchBytes/],
      ['scratch too small for one pixel', () => conv2dF32(a, img, cw, null, cy, { ...scratch, bytes: 27 * 4 - 4 }, cp), ShapeError],
      ['scratch overlapping the output', () => conv2dF32(a, img, cw, null, cy, { name: 's', offset: cy.offset, bytes: 27 * 4 }, cp), ShapeError],
      ['a conv backward with nothing to compute', () => conv2dBackwardF32(a, img, cw, cy, null, null, null, scratch, cp), ConfigError],
      ['depth multiplier 0', () => depthwiseConv2dF32(a, img, cw, null, cy, { ...cp, depthMultiplier: 0 }), ShapeError],
      ['a pool filter of 0', () => maxPool2dF32(a, img, cy, { ...pp, filterWidth: 0 }), ShapeError],
      ['max pool backward writing into its input', () => maxPool2dBackwardF32(a, img, cy, img, pp), ShapeError],
      ["relu kind 'gelu'", () => reluF32(a, y, 8, 'gelu' as never), ConfigError],
      ['relu count 0', () => reluF32(a, y, 0), ShapeError],
      ['relu past the buffer', () => reluF32(a, y, 9), ShapeError],
      ['relu backward with dx partly over dy', () => reluBackwardF32(a, y, m, { name: 'dx', offset: m.offset + 4, bytes: 32 }, 8), ShapeError],
      ["reduction 'avg'", () => softmaxCrossEntropyF32(a, y, bias, null, { batch: 2, classes: 4, reduction: 'avg' as never }), ConfigError],
      ['lr NaN', () => sgdStepF32(a, m, x, null, { count: 16, lr: NaN }), ConfigError],
      ['a negative lr', () => sgdStepF32(a, m, x, null, { count: 16, lr: -0.1 }), ConfigError],
      ['an lr beyond the f32 range', () => sgdStepF32(a, m, x, null, { count: 16, lr: 1e39 }), ConfigError],
      ['momentum 1', () => sgdStepF32(a, m, x, v, { count: 16, lr: 0.1, momentum: 1 }), ConfigError],
      ['momentum without a velocity buffer', () => sgdStepF32(a, m, x, null, { count: 16, lr: 0.1, momentum: 0.9 }), ConfigError, /needs a velocity buffer/],
      ['velocity aliasing the weights', () => sgdStepF32(a, m, x, m, { count: 16, lr: 0.1, momentum: 0.9 }), ShapeError],
      ['beta1 = 1', () => adamStepF32(a, w, x, m, v, { count: 16, lr: 0.1, step: 1, beta1: 1 }), ConfigError],
      ['step 0', () => adamStepF32(a, w, x, m, v, { count: 16, lr: 0.1, step: 0 }), ConfigError, /first step is 1/],
      ['eps 0', () => adamStepF32(a, w, x, m, v, { count: 16, lr: 0.1, step: 1, eps: 0 }), ConfigError],
      ['m and v in one buffer', () => adamStepF32(a, w, x, m, m, { count: 16, lr: 0.1, step: 1 }), ShapeError],
      ['a non-boolean decoupledWeightDecay', () => adamStepF32(a, w, x, m, v, { count: 16, lr: 0.1, step: 1, decoupledWeightDecay: 'yes' as never }), ConfigError],
    ];
    const snapshot = a.device.bytes.slice();
    for (const [what, call, cls, message] of cases) {
      expect(call, what).toThrow(cls);
      if (message) expect(call, what).toThrow(message);
    }
    expect(Buffer.compare(a.device.bytes, snapshot), 'no failing call wrote device memory').toBe(0);
  });

  interface FuzzCase {
    kind: 'conv' | 'convBackward' | 'depthwise' | 'depthwiseBackward' | 'avg' | 'max' | 'avgBackward' | 'maxBackward';
    batch: number;
    inH: number;
    inW: number;
    C: number;
    O: number;
    mult: number;
    kH: number;
    kW: number;
    sH: number;
    sW: number;
    padding: PaddingF32;
    seed: number;
  }

  const fuzzCases = fc.record<FuzzCase>({
    kind: fc.constantFrom('conv', 'convBackward', 'depthwise', 'depthwiseBackward', 'avg', 'max', 'avgBackward', 'maxBackward'),
    batch: fc.integer({ min: 1, max: 2 }),
    inH: fc.integer({ min: 1, max: 7 }),
    inW: fc.integer({ min: 1, max: 7 }),
    C: fc.integer({ min: 1, max: 9 }),
    O: fc.integer({ min: 1, max: 6 }),
    mult: fc.integer({ min: 1, max: 3 }),
    kH: fc.integer({ min: 1, max: 4 }),
    kW: fc.integer({ min: 1, max: 4 }),
    sH: fc.integer({ min: 1, max: 3 }),
    sW: fc.integer({ min: 1, max: 3 }),
    padding: fc.constantFrom<PaddingF32>('same', 'valid'),
    seed: fc.nat(),
  });

  /**
   * Allocates and fills the buffers of one fuzz case; call(mutation) runs the wrapper with one
   * parameter replaced and/or the first input buffer shortened by one value.
   */
  function setupFuzz(a: Arena, c: FuzzCase) {
    const r = rng(c.seed);
    const put = (n: number, name: string) => a.put(rand(r, n), name);
    const out = (n: number, name: string) => a.alloc(n * 4, name);
    const spatial = { batch: c.batch, inHeight: c.inH, inWidth: c.inW, strideHeight: c.sH, strideWidth: c.sW, padding: c.padding };
    let params: Record<string, unknown>;
    let run: (p: never, first: DeviceBuffer) => void;
    let outputs: DeviceBuffer[];
    if (c.kind === 'conv' || c.kind === 'convBackward') {
      const p: Conv2DF32Params = { ...spatial, inChannels: c.C, outChannels: c.O, kernelHeight: c.kH, kernelWidth: c.kW };
      const n = convCount(p);
      const x = put(n.in, 'x');
      const w = put(n.w, 'w');
      if (c.kind === 'conv') {
        const b = put(c.O, 'b');
        const y = out(n.out, 'y');
        const s = scratchFor(a, conv2dF32ScratchBytes(p));
        run = (q, first) => conv2dF32(a, first, w, b, y, s, q);
        outputs = s ? [y, s] : [y];
      } else {
        const dy = put(n.out, 'dy');
        const [dx, dwb, db] = [out(n.in, 'dx'), put(n.w, 'dw'), put(c.O, 'db')];
        const s = scratchFor(a, conv2dF32ScratchBytes(p, { pass: 'backward' }));
        run = (q, first) => conv2dBackwardF32(a, first, w, dy, dx, dwb, db, s, q);
        outputs = s ? [dx, dwb, db, s] : [dx, dwb, db];
      }
      params = p as unknown as Record<string, unknown>;
      return { params, outputs, first: x, run };
    }
    if (c.kind === 'depthwise' || c.kind === 'depthwiseBackward') {
      const p: DepthwiseConv2DF32Params = { ...spatial, inChannels: c.C, depthMultiplier: c.mult, kernelHeight: c.kH, kernelWidth: c.kW };
      const n = dwCount(p);
      const x = put(n.in, 'x');
      const w = put(n.w, 'w');
      if (c.kind === 'depthwise') {
        const b = put(n.oc, 'b');
        const y = out(n.out, 'y');
        run = (q, first) => depthwiseConv2dF32(a, first, w, b, y, q);
        outputs = [y];
      } else {
        const dy = put(n.out, 'dy');
        const [dx, dwb, db] = [out(n.in, 'dx'), put(n.w, 'dw'), put(n.oc, 'db')];
        run = (q, first) => depthwiseConv2dBackwardF32(a, first, w, dy, dx, dwb, db, q);
        outputs = [dx, dwb, db];
      }
      return { params: p as unknown as Record<string, unknown>, outputs, first: x, run };
    }
    const p: Pool2DF32Params = { ...spatial, channels: c.C, filterHeight: c.kH, filterWidth: c.kW };
    const n = poolCount(p);
    const x = put(n.in, 'x');
    if (c.kind === 'avg' || c.kind === 'max') {
      const y = out(n.out, 'y');
      const f = c.kind === 'avg' ? avgPool2dF32 : maxPool2dF32;
      return { params: p as unknown as Record<string, unknown>, outputs: [y], first: x, run: (q: never, first: DeviceBuffer) => f(a, first, y, q) };
    }
    const dy = put(n.out, 'dy');
    const dx = out(n.in, 'dx');
    run = c.kind === 'avgBackward' ? (q, first) => avgPool2dBackwardF32(a, first, dx, q) : (q, first) => maxPool2dBackwardF32(a, first, dy, dx, q);
    return { params: p as unknown as Record<string, unknown>, outputs: [dx], first: c.kind === 'avgBackward' ? dy : x, run };
  }

  const validGeometry = (c: FuzzCase) => c.padding === 'same' || (c.inH >= c.kH && c.inW >= c.kW);

  /** Runs a case over a memory background of `fill` bytes; returns the output bytes. */
  function runOverBackground(b: Bench, c: FuzzCase, fill: number): Uint8Array[] {
    const mem = b.device.bytes;
    mem.fill(fill, b.device.arenaBase);
    b.arena.reset();
    const s = setupFuzz(b.arena, c);
    const before = mem.slice();
    s.run(s.params as never, s.first);
    // Everything outside the outputs' exact byte ranges is unchanged (alignment gaps included).
    let pos = 0;
    for (const o of [...s.outputs].sort((p, q) => p.offset - q.offset)) {
      expect(Buffer.compare(mem.subarray(pos, o.offset), before.subarray(pos, o.offset)), `${c.kind}: bytes before '${o.name}'`).toBe(0);
      pos = o.offset + o.bytes;
    }
    expect(Buffer.compare(mem.subarray(pos), before.subarray(pos)), `${c.kind}: bytes after the last output`).toBe(0);
    return s.outputs.filter((o) => o.name !== 'scratch').map((o) => mem.slice(o.offset, o.offset + o.bytes));
  }

  it('random layer geometries write only their outputs and read only their inputs (fast-check, scalar and simd)', async () => {
    const small = await Promise.all([makeBench('scalar', 256 << 10), makeBench('simd', 256 << 10)]);
    fc.assert(
      fc.property(fuzzCases.filter(validGeometry), (c) => {
        for (const b of small) {
          // A NaN background (0xff bytes) would poison any output that read outside its inputs.
          const clean = runOverBackground(b, c, 0x00);
          const poisoned = runOverBackground(b, c, 0xff);
          clean.forEach((bytes, i) => expect(Buffer.compare(bytes, poisoned[i]!), `${b.build} ${c.kind} output ${i}`).toBe(0));
        }
      }),
      { numRuns: 120, seed: 20241106 },
    );
  });

  it('corrupted parameters and short buffers always throw a LastmileError, never a trap (fast-check)', async () => {
    const [b] = await Promise.all([makeBench('simd', 256 << 10)]);
    const bad = fc.constantFrom<unknown>(0, -1, 1.5, NaN, 2 ** 31, undefined, '3', null);
    fc.assert(
      fc.property(fuzzCases, fc.nat(), bad, fc.boolean(), (c, field, value, shorten) => {
        b!.arena.reset();
        let thrown: unknown = null;
        try {
          const s = setupFuzz(b!.arena, c);
          const keys = Object.keys(s.params);
          const corrupted = shorten ? s.params : { ...s.params, [keys[field % keys.length]!]: value };
          const first = shorten ? { ...s.first, bytes: s.first.bytes - 4 } : s.first;
          s.run(corrupted as never, first);
        } catch (e) {
          thrown = e;
        }
        expect(thrown, `${c.kind} ${shorten ? 'with a short input' : `with a bad parameter`}`).toBeInstanceOf(LastmileError);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
