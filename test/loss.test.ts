import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, type Bench } from './helpers/devices.js';
import {
  crossEntropyI32, crossEntropyI8, lossSign, prepareCrossEntropy, LOSS_MAX_Q, type LogitType, type LossValue,
} from '../src/kernels/loss.js';
import { ConfigError, DataError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(8 * 1024 * 1024);
});

/** Float64 softmax cross-entropy summed over rows, with the real (unquantized) scale. */
function floatCrossEntropy(x: ArrayLike<number>, rows: number, classes: number, labels: Int32Array, scale: number): number {
  let total = 0;
  for (let i = 0; i < rows; i++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, x[i * classes + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(scale * (x[i * classes + c]! - max));
    total += Math.log(sum) - scale * (x[i * classes + labels[i]!]! - max);
  }
  return total;
}

/**
 * The documented error bound (docs/KERNELS.md, "Integer loss"): output rounding 2^-17, per row
 * 2^-25 (ln and label rounding) plus 2^-29 per class (exp), and 2^-30 relative (the Q31 scale).
 */
function lossErrorBound(rows: number, classes: number, loss: number): number {
  return 2 ** -17 + rows * (2 ** -25 + classes * 2 ** -29) + 2 ** -30 * loss;
}

interface Batch {
  type: LogitType;
  logits: Int8Array | Int32Array;
  labels: Int32Array;
  rows: number;
  classes: number;
  scale: number;
}

function runLoss(b: Bench, batch: Batch, zeroPoint = 0): LossValue {
  b.arena.reset();
  const prepared = prepareCrossEntropy({ scale: batch.scale, zeroPoint }, batch.type);
  const logits = b.arena.put(batch.logits, 'logits');
  const labels = b.arena.put(batch.labels, 'labels');
  const out = b.arena.alloc(4, 'loss');
  const run = batch.type === 'int8' ? crossEntropyI8 : crossEntropyI32;
  return run(b.arena, logits, labels, out, batch.rows, batch.classes, prepared);
}

function randomBatch(r: () => number, type: LogitType): Batch {
  const rows = randInt(r, 1, 64);
  const classes = randInt(r, 1, 100);
  const n = rows * classes;
  let logits: Int8Array | Int32Array;
  let scale: number;
  if (type === 'int8') {
    logits = new Int8Array(n);
    for (let i = 0; i < n; i++) logits[i] = randInt(r, -128, 127);
    scale = 0.1 * Math.exp((r() - 0.5) * 6); // 0.005 .. 2 nats per step
  } else {
    // int32 accumulators: spans from a few steps to the whole int32 range, scales to match.
    const span = Math.floor(2 ** (3 + r() * 28));
    logits = new Int32Array(n);
    for (let i = 0; i < n; i++) logits[i] = randInt(r, -span, span);
    scale = (2 + 20 * r()) / span;
  }
  const labels = Int32Array.from({ length: rows }, () => randInt(r, 0, classes - 1));
  return { type, logits, labels, rows, classes, scale };
}

describe('integer softmax cross-entropy', () => {
  for (const type of ['int8', 'int32'] as const) {
    it(`${type} logits: every build gives the same Q16.16 integer, within the documented bound of float64 cross-entropy`, () => {
      const r = rng(type === 'int8' ? 1 : 2);
      let worst = 0;
      for (let t = 0; t < 300; t++) {
        const batch = randomBatch(r, type);
        const results = benches.map((b) => runLoss(b, batch).q16);
        expect(new Set(results).size).toBe(1);
        const exact = floatCrossEntropy(batch.logits, batch.rows, batch.classes, batch.labels, batch.scale);
        const got = results[0]! / 2 ** 16;
        const ratio = Math.abs(got - exact) / lossErrorBound(batch.rows, batch.classes, exact);
        worst = Math.max(worst, ratio);
        expect({ t, exact, got, withinBound: ratio <= 1 }).toEqual({ t, exact, got, withinBound: true });
      }
      // The bound is not vacuous: the rounding of the output alone uses a good part of it.
      expect(worst).toBeGreaterThan(0.2);
    });
  }

  it('sign(L⁺ − L⁻) agrees with float64 whenever the float difference exceeds twice the bound', () => {
    const r = rng(77);
    let decided = 0;
    for (let t = 0; t < 400; t++) {
      const batch = randomBatch(r, t % 2 ? 'int8' : 'int32');
      // A small perturbation of the logits, as w ± εz makes.
      const other = batch.logits.slice();
      const step = batch.type === 'int8' ? 1 : Math.max(1, Math.round(0.01 / batch.scale));
      for (let k = 0; k < 3; k++) {
        const i = randInt(r, 0, other.length - 1);
        const v = other[i]! + (r() < 0.5 ? -step : step);
        other[i] = batch.type === 'int8' ? Math.max(-128, Math.min(127, v)) : Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, v));
      }
      const b = benches[t % benches.length]!;
      const plus = runLoss(b, batch);
      const minus = runLoss(b, { ...batch, logits: other });
      const fPlus = floatCrossEntropy(batch.logits, batch.rows, batch.classes, batch.labels, batch.scale);
      const fMinus = floatCrossEntropy(other, batch.rows, batch.classes, batch.labels, batch.scale);
      const bound = lossErrorBound(batch.rows, batch.classes, Math.max(fPlus, fMinus));
      if (Math.abs(fPlus - fMinus) > 2 * bound) {
        decided++;
        expect(lossSign(plus, minus)).toBe(Math.sign(fPlus - fMinus));
      }
    }
    expect(decided).toBeGreaterThan(200);
  });

  it('depends on logit differences only: shifting every int8 logit of a row leaves the integer loss unchanged', () => {
    const r = rng(5);
    for (let t = 0; t < 50; t++) {
      const rows = randInt(r, 1, 16), classes = randInt(r, 2, 30);
      const logits = Int8Array.from({ length: rows * classes }, () => randInt(r, -100, 100));
      const labels = Int32Array.from({ length: rows }, () => randInt(r, 0, classes - 1));
      const shifted = Int8Array.from(logits, (v, i) => v + ((Math.floor(i / classes) * 7) % 27) - 13);
      const batch: Batch = { type: 'int8', logits, labels, rows, classes, scale: 0.07 };
      for (const b of benches) {
        expect(runLoss(b, { ...batch, logits: shifted }, 5).q16).toBe(runLoss(b, batch, -3).q16);
      }
    }
  });

  it('equal logits give rows·ln(classes); one class gives 0', () => {
    for (const b of benches) {
      const rows = 8, classes = 10;
      const batch: Batch = { type: 'int8', logits: new Int8Array(rows * classes).fill(17), labels: new Int32Array(rows).fill(3), rows, classes, scale: 0.1 };
      expect(Math.abs(runLoss(b, batch).q16 - rows * Math.log(classes) * 2 ** 16)).toBeLessThanOrEqual(1);
      const single: Batch = { type: 'int32', logits: Int32Array.of(5, -9, 2 ** 31 - 1), labels: new Int32Array(3), rows: 3, classes: 1, scale: 0.5 };
      expect(runLoss(b, single).q16).toBe(0);
    }
  });

  it('saturates at 2^31 − 1 instead of wrapping when the summed loss is too large for Q16.16', () => {
    for (const b of benches) {
      // Each row: label logit 2^32 − 1 steps below the max at 8 nats per step.
      const rows = 1000, classes = 2;
      const logits = new Int32Array(rows * classes);
      for (let i = 0; i < rows; i++) logits.set([2 ** 31 - 1, -(2 ** 31)], i * classes);
      const loss = runLoss(b, { type: 'int32', logits, labels: new Int32Array(rows).fill(1), rows, classes, scale: 8 });
      expect(loss).toEqual({ q16: LOSS_MAX_Q, nats: LOSS_MAX_Q / 2 ** 16, saturated: true });
      // Just under the limit it does not saturate: 30,000 nats fit in Q16.16.
      const small = runLoss(b, { type: 'int32', logits: Int32Array.of(0, -3000), labels: Int32Array.of(1), rows: 1, classes: 2, scale: 10 });
      expect(small.saturated).toBe(false);
      expect(Math.abs(small.nats - 30000)).toBeLessThan(1e-3);
    }
  });

  it('refuses out-of-range labels with a DataError naming the row, and writes nothing', () => {
    for (const b of benches) {
      b.arena.reset();
      const prepared = prepareCrossEntropy({ scale: 0.1, zeroPoint: 0 }, 'int8');
      const logits = b.arena.put(new Int8Array(12), 'logits');
      const out = b.arena.put(Int32Array.of(-42), 'loss');
      for (const bad of [4, -1, 2 ** 31 - 1]) {
        const labels = b.arena.put(Int32Array.of(0, 3, bad), 'labels');
        expect(() => crossEntropyI8(b.arena, logits, labels, out, 3, 4, prepared)).toThrow(DataError);
        expect(() => crossEntropyI8(b.arena, logits, labels, out, 3, 4, prepared)).toThrow(new RegExp(`row 2 has label ${bad}, expected a class index in \\[0, 3\\]`));
        expect(b.arena.i32(out)[0]).toBe(-42);
      }
    }
  });

  it('refuses bad scales, zero points, shapes, buffers and mismatched prepared types', () => {
    expect(() => prepareCrossEntropy({ scale: 0, zeroPoint: 0 }, 'int8')).toThrow(ConfigError);
    expect(() => prepareCrossEntropy({ scale: NaN, zeroPoint: 0 }, 'int8')).toThrow(ConfigError);
    expect(() => prepareCrossEntropy({ scale: 16, zeroPoint: 0 }, 'int8')).toThrow(/too large/);
    expect(() => prepareCrossEntropy({ scale: 1e-20, zeroPoint: 0 }, 'int32')).toThrow(/too small/);
    expect(() => prepareCrossEntropy({ scale: 0.1, zeroPoint: 128 }, 'int8')).toThrow(ConfigError);
    expect(() => prepareCrossEntropy({ scale: 0.1, zeroPoint: 0.5 }, 'int32')).toThrow(ConfigError);
    expect(prepareCrossEntropy({ scale: 15.9, zeroPoint: 0 }, 'int8').shift).toBe(30);
    const b = benches[0]!;
    b.arena.reset();
    const p8 = prepareCrossEntropy({ scale: 0.1, zeroPoint: 0 }, 'int8');
    const p32 = prepareCrossEntropy({ scale: 0.1, zeroPoint: 0 }, 'int32');
    const logits = b.arena.alloc(40, 'logits');
    const labels = b.arena.alloc(8, 'labels');
    const out = b.arena.alloc(4, 'loss');
    expect(() => crossEntropyI8(b.arena, logits, labels, out, 2, 0, p8)).toThrow(ShapeError);
    expect(() => crossEntropyI8(b.arena, logits, labels, out, 3, 4, p8)).toThrow(ShapeError); // 3 labels need 12 B
    expect(() => crossEntropyI32(b.arena, logits, labels, out, 2, 6, p32)).toThrow(ShapeError); // 48 B of logits
    expect(() => crossEntropyI32(b.arena, logits, labels, out, 2, 4, p8)).toThrow(ConfigError);
    expect(() => crossEntropyI8(b.arena, logits, labels, { name: 'x', offset: 0, bytes: 4 }, 2, 4, p8)).toThrow(ShapeError);
  });
});

describe('integer softmax cross-entropy, far tails', () => {
  it('a logit so far below the maximum that its Q5.26 argument is −2^32 (low 32 bits zero) adds nothing in every build', () => {
    // scale 2^-10 is the multiplier 2^16 exactly: a = d·2^16, so d = −2^16 gives a = −2^32.
    const batch: Batch = { type: 'int32', logits: Int32Array.from([0, -65536, -65536, -65536, -65536, -131072, -65536, -65536]), labels: Int32Array.from([0]), rows: 1, classes: 8, scale: 2 ** -10 };
    for (const b of benches) expect(runLoss(b, batch).q16).toBe(0);
  });
});

describe('exp on negative Q5.26 values', () => {
  it('four lanes at a time (SIMD builds) give the scalar build\'s value for every element, edges included', () => {
    const r = rng(7);
    const edges = [-(2 ** 31), -(2 ** 31) + 1, -1, -2, -(2 ** 22), -(2 ** 22) - 1, -(2 ** 22) + 1, -(2 ** 26), -(2 ** 30), -(2 ** 30) - 1];
    for (let bit = 0; bit < 31; bit++) edges.push(-(2 ** bit), -(2 ** bit) - 1, -(2 ** bit) + 1);
    const n = 40_003; // not a multiple of 4: the scalar tail runs too
    const src = new Int32Array(n);
    for (let i = 0; i < n; i++) src[i] = i < edges.length ? edges[i]! : -randInt(r, 1, 2 ** 31 - 1);
    const outputs = benches.map((b) => {
      b.arena.reset();
      const input = b.arena.put(src, 'a');
      const out = b.arena.alloc(4 * n, 'exp');
      b.device.kernel('exp_negative_q26')(input.offset, out.offset, n);
      return new Int32Array(b.device.memory.buffer, out.offset, n).slice();
    });
    for (const o of outputs.slice(1)) expect(Buffer.from(o.buffer).equals(Buffer.from(outputs[0]!.buffer))).toBe(true);
    // And they are exp: within 3 LSB of Q0.31 wherever the value is representable.
    for (let i = 0; i < n; i += 97) expect(Math.abs(outputs[0]![i]! - Math.exp(src[i]! / 2 ** 26) * 2 ** 31)).toBeLessThan(3);
  });
});

describe('lossSign', () => {
  it('is the integer sign of L⁺ − L⁻ and refuses non-integers', () => {
    expect(lossSign(5, 3)).toBe(1);
    expect(lossSign(3, 5)).toBe(-1);
    expect(lossSign(7, 7)).toBe(0);
    expect(lossSign({ q16: 2 ** 31 - 1, nats: 0, saturated: true }, { q16: 2 ** 31 - 2, nats: 0, saturated: false })).toBe(1);
    expect(() => lossSign(1.5, 1)).toThrow(DataError);
    expect(() => lossSign(NaN, 1)).toThrow(DataError);
  });
});
