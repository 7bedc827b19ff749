import { describe, expect, it } from 'vitest';
import { addFeatureStats, centerWeightGradient, correctBias, divRound, emptyFeatureStats, featureMean, meanSquare } from '../src/train/hybrid-center.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

describe('centred head updates (hybrid-center.ts)', () => {
  it('rounds half away from zero and measures the mean and the centred mean square exactly', () => {
    expect([divRound(5, 2), divRound(-5, 2), divRound(4, 3), divRound(-4, 3), divRound(0, 7)]).toEqual([3, -3, 1, -1, 0]);
    const r = rng(1);
    const rows = 7, features = 5, zero = -128;
    const f = Int8Array.from({ length: rows * features }, () => int(r, -128, 127));
    const stats = emptyFeatureStats(features);
    addFeatureStats(stats, new Uint8Array(f.buffer), 0, rows, features, zero);
    const m = featureMean(stats);
    let direct = 0;
    for (let d = 0; d < features; d++) {
      let s = 0;
      for (let i = 0; i < rows; i++) s += f[i * features + d]! - zero;
      expect(m[d]).toBe(divRound(s, rows));
      for (let i = 0; i < rows; i++) direct += (f[i * features + d]! - zero - m[d]!) ** 2;
    }
    expect(meanSquare(stats, m)).toBe(Math.floor(direct / rows));
    expect(meanSquare(stats, m)).toBeLessThan(meanSquare(stats, new Int32Array(features)));
  });

  it('the centred weight gradient is Σδ·(f − z_f − m), and the bias correction keeps b + W·m exactly', () => {
    const r = rng(2);
    const classes = 3, features = 4, rows = 6, zero = -128;
    const delta = Array.from({ length: rows * classes }, () => int(r, -32768, 32767));
    const f = Array.from({ length: rows * features }, () => int(r, -128, 127));
    const m = Int32Array.from({ length: features }, () => int(r, 0, 200));
    const gW = new Int32Array(classes * features);
    const gB = new Int32Array(classes);
    const want = new Float64Array(classes * features);
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < classes; c++) {
        gB[c]! += delta[i * classes + c]!;
        for (let d = 0; d < features; d++) {
          gW[c * features + d]! += delta[i * classes + c]! * (f[i * features + d]! - zero);
          want[c * features + d]! += delta[i * classes + c]! * (f[i * features + d]! - zero - m[d]!);
        }
      }
    }
    centerWeightGradient(gW, gB, m);
    expect(Array.from(gW)).toEqual(Array.from(want));
    const before = Int16Array.from({ length: classes * features }, () => int(r, -3000, 3000));
    const after = before.map((w) => w + int(r, -50, 50));
    const bias = Int32Array.from({ length: classes }, () => int(r, -100000, 100000));
    const offset = (w: ArrayLike<number>, b: Int32Array) => Array.from(b, (x, c) => x + m.reduce((s, md, d) => s + w[c * features + d]! * md, 0));
    const kept = offset(before, bias);
    correctBias(bias, before, after, m);
    expect(offset(after, bias)).toEqual(kept);
  });
});
