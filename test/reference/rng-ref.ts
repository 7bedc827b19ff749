// Plain-TypeScript port of the device's random stream (assembly/rng.ts), written the slow and
// obvious way: the Gaussian magnitude is a binary search over the committed thresholds, not the
// device's guide table, so agreement checks the table as well as the hash.
import { readFileSync } from 'node:fs';

const tableSource = readFileSync(new URL('../../assembly/gaussian_table.ts', import.meta.url), 'utf8');
const thresholdBlock = /GAUSS_THRESHOLDS = memory\.data<u32>\(\[([^\]]*)\]/.exec(tableSource);
if (!thresholdBlock) throw new Error('assembly/gaussian_table.ts: GAUSS_THRESHOLDS not found');
/** T[k], k = 0..126, and the 2^31 sentinel: magnitude = #{k : u31 >= T[k]}. */
export const GAUSS_THRESHOLDS: readonly number[] = thresholdBlock[1]!.match(/0x[0-9a-f]+/g)!.map((h) => parseInt(h, 16));
if (GAUSS_THRESHOLDS.length !== 128) throw new Error(`expected 128 thresholds, found ${GAUSS_THRESHOLDS.length}`);

export function hash32Ref(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

export function streamKeyRef(seed: number, tensorId: number): number {
  const mixedId = (Math.imul(tensorId >>> 0, 0x9e3779b9) + 0x7f4a7c15) >>> 0;
  return hash32Ref((hash32Ref((seed ^ 0x5bd1e995) >>> 0) ^ mixedId) >>> 0);
}

export function uniformAtRef(key: number, index: number): number {
  return hash32Ref((hash32Ref((index ^ key) >>> 0) + key) >>> 0);
}

export function gaussianMagnitudeRef(u31: number): number {
  let lo = 0;
  let hi = 127; // answer in [0, 127]: the count of thresholds <= u31
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u31 >= GAUSS_THRESHOLDS[mid]!) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function zAtRef(key: number, index: number, dist: 'gaussian' | 'rademacher', oneQ: number): number {
  const u = uniformAtRef(key, index >>> 0);
  const negative = u >>> 31 === 1;
  if (dist === 'rademacher') return negative ? -oneQ : oneQ;
  const mag = gaussianMagnitudeRef(u & 0x7fffffff);
  return negative ? -mag | 0 : mag; // | 0: no -0
}

export function fillZRef(count: number, key: number, start: number, dist: 'gaussian' | 'rademacher', oneQ: number): Int8Array {
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) out[i] = zAtRef(key, (start + i) >>> 0, dist, oneQ);
  return out;
}

/** erf(x) to ~1e-15: Maclaurin series below 2.5, Lentz continued fraction for erfc above. */
export function erfRef(x: number): number {
  if (x < 0) return -erfRef(-x);
  if (x < 2.5) {
    let sum = x;
    let term = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-18 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const a = n / 2;
    d = 1 / (x + a * d);
    c = x + a / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return 1 - Math.exp(-x * x) / (f * Math.sqrt(Math.PI));
}

/**
 * Exact probabilities of the int8 Gaussian z (index k + 127 for z = k), from N(0, 1) itself:
 * z = round(Z/Δz) clipped to ±127, Δz = 3.5/127.
 */
export function gaussianBinProbabilities(): Float64Array {
  const dz = 3.5 / 127;
  const below = (k: number) => erfRef(((k + 0.5) * dz) / Math.SQRT2); // P(|Z| < (k + 0.5)Δz)
  const p = new Float64Array(255);
  p[127] = below(0);
  for (let k = 1; k <= 126; k++) p[127 + k] = p[127 - k] = (below(k) - below(k - 1)) / 2;
  p[254] = p[0] = (1 - below(126)) / 2;
  return p;
}
