import { describe, it, expect, beforeAll } from 'vitest';
import { CORRUPTIONS, RANDOM_CORRUPTIONS, SEVERITY_PARAMS, corrupt, poisson, plasmaFractal } from '../src/data/corruptions.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { subset, type Dataset } from '../src/data/dataset.js';
import { mulberry32 } from '../src/util/random.js';
import { ConfigError } from '../src/errors.js';

let digits: Dataset;
beforeAll(async () => {
  // Two of each digit: the interleaved bundled set makes the first 20 class-balanced.
  digits = subset(await loadBundledMnist(), Array.from({ length: 20 }, (_, i) => i), 'mnist-20');
});

const bytes = (d: Dataset): Buffer => Buffer.from(d.images.buffer, d.images.byteOffset, d.images.byteLength);
const meanAbsChange = (a: Dataset, b: Dataset): number => {
  let s = 0;
  for (let i = 0; i < a.images.length; i++) s += Math.abs(a.images[i]! - b.images[i]!);
  return s / a.images.length;
};

/** A 1-sample dataset from a function of (x, y), single channel. */
function pattern(h: number, w: number, f: (x: number, y: number) => number): Dataset {
  const images = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) images[y * w + x] = f(x, y);
  return { name: 'pattern', shape: [h, w, 1], images, labels: Int32Array.of(0), classes: 1 };
}

describe('corruptions', () => {
  it('lists the eleven corruptions, five severities each', () => {
    expect([...CORRUPTIONS]).toEqual(['gaussian_noise', 'shot_noise', 'impulse_noise', 'gaussian_blur', 'motion_blur', 'contrast', 'brightness', 'rotate', 'shear', 'scale', 'fog']);
    for (const name of CORRUPTIONS) expect(SEVERITY_PARAMS[name]).toHaveLength(5);
  });

  it('are deterministic by seed: same seed, same bytes; another seed changes the random ones only', () => {
    for (const name of CORRUPTIONS) {
      const a = corrupt(digits, name, 3, 7);
      const b = corrupt(digits, name, 3, 7);
      expect(bytes(a).equals(bytes(b)), name).toBe(true);
      const c = corrupt(digits, name, 3, 8);
      expect(bytes(a).equals(bytes(c)), name).toBe(!RANDOM_CORRUPTIONS.includes(name));
    }
  });

  it('change the clean digits more at every higher severity, for every corruption', () => {
    for (const name of CORRUPTIONS) {
      const changes = [1, 2, 3, 4, 5].map((s) => meanAbsChange(digits, corrupt(digits, name, s, 11)));
      expect(changes[0], `${name} severity 1 changes nothing`).toBeGreaterThan(0);
      for (let s = 1; s < 5; s++) expect(changes[s], `${name}: severity ${s + 1} vs ${s} (${changes.map((c) => c.toFixed(4)).join(', ')})`).toBeGreaterThan(changes[s - 1]!);
    }
  });

  it('keep values in [0, 1], shapes, labels and class names, and leave the input untouched', () => {
    const before = Buffer.from(bytes(digits));
    for (const name of CORRUPTIONS) {
      for (const s of [1, 5]) {
        const d = corrupt(digits, name, s, 3);
        expect(d.shape).toEqual(digits.shape);
        expect(Array.from(d.labels)).toEqual(Array.from(digits.labels));
        expect(d.classNames).toEqual(digits.classNames);
        expect(d.images.length).toBe(digits.images.length);
        expect(d.name).toBe(`mnist-20-${name}-${s}`);
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of d.images) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        expect(lo, name).toBeGreaterThanOrEqual(0);
        expect(hi, name).toBeLessThanOrEqual(1);
      }
    }
    expect(bytes(digits).equals(before)).toBe(true);
  });

  it('work on RGB images too (3 interleaved channels), still in [0, 1]', () => {
    const rgb: Dataset = {
      name: 'rgb', shape: [8, 8, 3], classes: 2, labels: Int32Array.of(0, 1),
      images: Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => ((i * 37) % 101) / 100),
    };
    for (const name of CORRUPTIONS) {
      const d = corrupt(rgb, name, 4, 1);
      expect(d.shape).toEqual([8, 8, 3]);
      for (const v of d.images) expect(v >= 0 && v <= 1, name).toBe(true);
      expect(meanAbsChange(rgb, d), name).toBeGreaterThan(0);
    }
  });

  it('rotate turns a ramp counter-clockwise by the severity angle (30° at severity 2)', () => {
    // 9×9, centre (4, 4). A horizontal ramp I = 0.5 + 0.05·(x − 4) is linear, so bilinear sampling
    // reproduces it exactly: the rotated image is 0.5 + 0.05·(cos θ·dx − sin θ·dy).
    expect(SEVERITY_PARAMS.rotate[1]).toBe(30);
    const ramp = pattern(9, 9, (x) => 0.5 + 0.05 * (x - 4));
    const r = corrupt(ramp, 'rotate', 2, 0).images;
    // Centre stays.
    expect(r[4 * 9 + 4]).toBeCloseTo(0.5, 6);
    // 4 above the centre (dx 0, dy −4) shows the source at dx = 4·sin 30° = 2: 0.5 + 0.05·2.
    expect(r[0 * 9 + 4]).toBeCloseTo(0.6, 6);
    // 4 below shows dx = −2.
    expect(r[8 * 9 + 4]).toBeCloseTo(0.4, 6);
    // 2 right of the centre (dx 2, dy 0) shows dx = 2·cos 30° = √3.
    expect(r[4 * 9 + 6]).toBeCloseTo(0.5 + 0.05 * Math.sqrt(3), 6);
    // A corner maps outside the source and is background.
    expect(r[0]).toBe(0);
  });

  it('rotate moves a dot right of the centre up and to the right by 45° at severity 3', () => {
    // 15×15, centre (7, 7), a single bright pixel at dx = 4: it should land at 4·(cos 45°, −sin 45°)
    // = (2.83, −2.83), i.e. spread over pixels x ∈ {9, 10}, y ∈ {4, 5}; the brightest is (10, 4).
    const dot = pattern(15, 15, (x, y) => (x === 11 && y === 7 ? 1 : 0));
    const r = corrupt(dot, 'rotate', 3, 0).images;
    let best = 0;
    for (let i = 1; i < r.length; i++) if (r[i]! > r[best]!) best = i;
    expect([best % 15, Math.floor(best / 15)]).toEqual([10, 4]);
    expect(r[7 * 15 + 11]).toBe(0);
  });

  it('contrast and brightness follow their formulas exactly', () => {
    const flat = pattern(2, 2, (x, y) => [0.2, 0.4, 0.6, 0.8][y * 2 + x]!);
    const c = corrupt(flat, 'contrast', 5, 0).images; // factor 0.15 around mean 0.5
    expect(Array.from(c)).toEqual([0.2, 0.4, 0.6, 0.8].map((v) => expect.closeTo((v - 0.5) * 0.15 + 0.5, 6)));
    const b = corrupt(flat, 'brightness', 5, 0).images; // + 0.3, clamped
    expect(Array.from(b)).toEqual([0.5, 0.7, 0.9, 1].map((v) => expect.closeTo(v, 6)));
  });

  it('contrast uses each channel\'s own mean on RGB images', () => {
    const rgb: Dataset = { name: 'rgb', shape: [1, 2, 3], classes: 1, labels: Int32Array.of(0), images: Float32Array.of(0.2, 0.5, 0.9, 0.4, 0.5, 0.7) };
    // Means per channel: 0.3, 0.5, 0.8; factor 0.5 at severity 2.
    expect(Array.from(corrupt(rgb, 'contrast', 2, 0).images)).toEqual([0.25, 0.5, 0.85, 0.35, 0.5, 0.75].map((v) => expect.closeTo(v, 6)));
  });

  it('gaussian blur at σ = 1 (severity 5) keeps 1/(2π) of a lone dot at its centre (kernel truncated at 4σ)', () => {
    // A normalised 2-D Gaussian peaks at 1/(2πσ²); truncation at 4σ moves that by < 1e-5, at 3σ by 9e-5.
    const dot = pattern(13, 13, (x, y) => (x === 6 && y === 6 ? 1 : 0));
    const b = corrupt(dot, 'gaussian_blur', 5, 0).images;
    expect(b[6 * 13 + 6]).toBeCloseTo(1 / (2 * Math.PI), 4);
    expect(b[6 * 13 + 10]).toBeGreaterThan(0); // 4 px away is inside the kernel
    expect(b[6 * 13 + 11]).toBe(0); // 5 px away is not
  });

  it('shear and scale keep the centre and move content by their factors', () => {
    // Vertical ramp under horizontal shear: unchanged (shear only moves along x).
    const vramp = pattern(9, 9, (_, y) => 0.1 * y);
    expect(Array.from(corrupt(vramp, 'shear', 5, 0).images.subarray(9 * 4, 9 * 5))).toEqual(Array(9).fill(expect.closeTo(0.4, 6)));
    // Horizontal ramp under shear 0.5: row 0 (dy = −4) shows the source shifted by k·dy = −2, so
    // output x = 4 shows source x = 6.
    const sramp = pattern(9, 9, (x) => 0.5 + 0.05 * (x - 4));
    expect(corrupt(sramp, 'shear', 5, 0).images[0 * 9 + 4]).toBeCloseTo(0.6, 6);
    expect(corrupt(sramp, 'shear', 5, 0).images[8 * 9 + 4]).toBeCloseTo(0.4, 6);
    // Horizontal ramp zoomed out by 0.5: slope doubles, so dx = 2 shows the source at dx = 4.
    const hramp = pattern(9, 9, (x) => 0.5 + 0.1 * (x - 4));
    const z = corrupt(hramp, 'scale', 5, 0).images;
    expect(z[4 * 9 + 4]).toBeCloseTo(0.5, 6);
    expect(z[4 * 9 + 6]).toBeCloseTo(0.9, 6);
    expect(z[4 * 9 + 7]).toBe(0); // dx = 3 samples dx = 6: outside
  });

  it('shot noise is Poisson: mean and variance match λ at small and large λ', () => {
    for (const lambda of [3, 40, 500]) {
      const random = mulberry32(lambda);
      const n = 20000;
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const k = poisson(random, lambda);
        expect(Number.isInteger(k) && k >= 0).toBe(true);
        s += k;
        s2 += k * k;
      }
      const mean = s / n;
      const variance = s2 / n - mean * mean;
      // Standard error of the mean is √(λ/n); allow 5 of them. Variance within 6 %.
      expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / n));
      expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.06);
    }
  });

  it('fog texture spans [0, 1] and gets rougher as the decay shrinks', () => {
    const roughness = (decay: number): number => {
      const t = plasmaFractal(32, decay, mulberry32(5));
      expect(Math.min(...t)).toBe(0);
      expect(Math.max(...t)).toBe(1);
      let s = 0;
      for (let y = 0; y < 32; y++) for (let x = 0; x < 31; x++) s += Math.abs(t[y * 32 + x + 1]! - t[y * 32 + x]!);
      return s;
    };
    expect(roughness(1.75)).toBeGreaterThan(roughness(3));
  });

  it('unknown names, severities outside 1..5 and non-integer seeds are ConfigErrors listing the valid ones', () => {
    expect(() => corrupt(digits, 'frost', 1, 0)).toThrow(ConfigError);
    expect(() => corrupt(digits, 'frost', 1, 0)).toThrow(/unknown corruption 'frost'; valid: gaussian_noise, shot_noise, .*fog/);
    for (const s of [0, 6, 2.5, Number.NaN]) expect(() => corrupt(digits, 'contrast', s, 0)).toThrow(/valid: 1, 2, 3, 4, 5/);
    expect(() => corrupt(digits, 'contrast', 1, 0.5)).toThrow(ConfigError);
  });
});
