// Distribution shifts for out-of-distribution adaptation, in the style of CIFAR-10-C (Hendrycks &
// Dietterich, 2019) and MNIST-C (Mu & Gilmer, 2019): each corruption at severities 1..5, a pure
// function of (dataset, name, severity, seed) returning a new Dataset clamped to [0, 1].
//
// Randomness comes from one mulberry32 stream per call, consumed image by image in order, and the
// stream does not depend on severity: severity 5 draws the same noise pattern, blur angle or fog
// texture as severity 1, only scaled. That makes severities directly comparable (and the
// monotonicity tests meaningful) — the only thing that changes along the axis is the strength.
//
// Geometric corruptions (rotate, shear, scale) sample with bilinear interpolation and fill what
// comes from outside the image with 0, MNIST's background.
import { checkDatasetShape } from '../util/guards.js';
import { ConfigError, DataError } from '../errors.js';
import { gaussian, mulberry32, type Random } from '../util/random.js';
import { sampleSize, type Dataset } from './dataset.js';

type Severity = 1 | 2 | 3 | 4 | 5;
type Params<T> = readonly [T, T, T, T, T];

/**
 * Severity tables. Noise, Gaussian blur, contrast, brightness and fog are CIFAR-10-C's
 * (make_cifar_c.py). Motion blur keeps CIFAR-10-C's radii but not its σ: there severities 3 and 4
 * share σ = 2 and differ only in radius 6 vs 8, where the trail weights exp(−i²/2σ²) are below
 * 1e-3, so the two are nearly the same image; σ here grows with every severity. The geometric
 * ones are ours, chosen so severity 1 is barely visible on a 28×28 digit and severity 5 is still
 * mostly recognisable, as MNIST-C intends.
 */
export const SEVERITY_PARAMS = {
  /** Standard deviation of additive N(0, σ²). */
  gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.1],
  /** Photon count scale λ: x ↦ Poisson(λ·x) / λ (fewer photons, more noise). */
  shot_noise: [500, 250, 100, 75, 50],
  /** Fraction of values replaced by 0 or 1 (half each). */
  impulse_noise: [0.01, 0.02, 0.03, 0.05, 0.07],
  /** Standard deviation of the Gaussian kernel, in pixels (truncated at 4σ, as skimage). */
  gaussian_blur: [0.4, 0.6, 0.7, 0.8, 1],
  /** [radius, σ] in pixels of a one-sided trail of 2·radius+1 Gaussian-weighted taps (ImageMagick's kernel width) at a random angle in [−45°, 45°]. */
  motion_blur: [[6, 1], [6, 1.5], [6, 2], [8, 2.5], [9, 3]],
  /** Factor on the deviation from each channel's mean over the image. */
  contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
  /** Added to HSV value (grey: to the level). */
  brightness: [0.05, 0.1, 0.15, 0.2, 0.3],
  /** Counter-clockwise rotation about the centre, in degrees. */
  rotate: [15, 30, 45, 60, 75],
  /** Horizontal shear factor about the centre row (x' = x + k·(y − cy)). */
  shear: [0.1, 0.2, 0.3, 0.4, 0.5],
  /** Zoom-out factor about the centre (content shrinks to this fraction). */
  scale: [0.9, 0.8, 0.7, 0.6, 0.5],
  /** [strength, roughness decay] of a plasma-fractal haze: x ↦ (x + a·fog)·max/(max + a). */
  fog: [[0.2, 3], [0.5, 3], [0.75, 2.5], [1, 2], [1.5, 1.75]],
} as const satisfies Record<string, Params<number | readonly [number, number]>>;

export type CorruptionName = keyof typeof SEVERITY_PARAMS;

export const CORRUPTIONS: readonly CorruptionName[] = Object.freeze(Object.keys(SEVERITY_PARAMS) as CorruptionName[]);

/** Corruptions whose output depends on the seed (the rest ignore it). */
export const RANDOM_CORRUPTIONS: readonly CorruptionName[] = Object.freeze(['gaussian_noise', 'shot_noise', 'impulse_noise', 'motion_blur', 'fog'] as CorruptionName[]);

/** One image as channel-interleaved [h][w][c] values; corruptions write `out` from `src`. */
interface Image {
  src: Float32Array;
  out: Float32Array;
  h: number;
  w: number;
  c: number;
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Bilinear sample of channel ch at real coordinates (x, y); 0 outside the image. */
function sampleBilinear(im: Image, x: number, y: number, ch: number, edge: 'zero' | 'clamp'): number {
  const { src, h, w, c } = im;
  if (edge === 'clamp') {
    x = Math.min(Math.max(x, 0), w - 1);
    y = Math.min(Math.max(y, 0), h - 1);
  }
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  // Skip taps with zero weight so a sample exactly on the last row/column needs no neighbour.
  let v = (1 - fx) * (1 - fy) * pixelOrZero(src, h, w, c, x0, y0, ch);
  if (fx > 0) v += fx * (1 - fy) * pixelOrZero(src, h, w, c, x0 + 1, y0, ch);
  if (fy > 0) v += (1 - fx) * fy * pixelOrZero(src, h, w, c, x0, y0 + 1, ch);
  if (fx > 0 && fy > 0) v += fx * fy * pixelOrZero(src, h, w, c, x0 + 1, y0 + 1, ch);
  return v;
}

// A plain function rather than a closure per sample: motion blur calls this ~10 times per value.
function pixelOrZero(src: Float32Array, h: number, w: number, c: number, x: number, y: number, ch: number): number {
  return x < 0 || y < 0 || x >= w || y >= h ? 0 : src[(y * w + x) * c + ch]!;
}

/** out(p) = src(inverse(p)), with coordinates relative to the image centre. */
function warp(im: Image, inverse: (dx: number, dy: number) => [number, number]): void {
  const cx = (im.w - 1) / 2;
  const cy = (im.h - 1) / 2;
  for (let y = 0; y < im.h; y++) {
    for (let x = 0; x < im.w; x++) {
      const [sx, sy] = inverse(x - cx, y - cy);
      for (let ch = 0; ch < im.c; ch++) im.out[(y * im.w + x) * im.c + ch] = clamp01(sampleBilinear(im, cx + sx, cy + sy, ch, 'zero'));
    }
  }
}

/** Separable Gaussian blur with edge replication (no dark border on bright images). */
function gaussianBlur(im: Image, sigma: number): void {
  // scipy's radius for skimage's default truncate = 4: int(4σ + 0.5).
  const radius = Math.max(1, Math.floor(4 * sigma + 0.5));
  const kernel: number[] = [];
  for (let i = -radius; i <= radius; i++) kernel.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const total = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= total;
  const { src, h, w, c } = im;
  const tmp = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) s += kernel[k + radius]! * src[(y * w + Math.min(w - 1, Math.max(0, x + k))) * c + ch]!;
        tmp[(y * w + x) * c + ch] = s;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) s += kernel[k + radius]! * tmp[(Math.min(h - 1, Math.max(0, y + k)) * w + x) * c + ch]!;
        im.out[(y * w + x) * c + ch] = clamp01(s);
      }
    }
  }
}

/** log(k!) — exact sums for small k, Stirling's series beyond (error < 1e-10 for k ≥ 30). */
const LOG_FACTORIAL: number[] = [0];
for (let k = 1; k < 30; k++) LOG_FACTORIAL.push(LOG_FACTORIAL[k - 1]! + Math.log(k));
function logFactorial(k: number): number {
  if (k < 30) return LOG_FACTORIAL[k]!;
  const n = k;
  return n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + 1 / (12 * n) - 1 / (360 * n ** 3) + 1 / (1260 * n ** 5);
}

/**
 * Exact Poisson draws from a seeded uniform stream: Knuth's product method for small means, and
 * Hörmann's PTRS transformed rejection (the algorithm NumPy uses) for λ ≥ 10, which costs O(1)
 * per draw where the product method would cost O(λ) at shot noise's λ = 500.
 */
export function poisson(random: Random, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = random();
    while (p > limit) {
      k++;
      p *= random();
    }
    return k;
  }
  const slam = Math.sqrt(lambda);
  const loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = random() - 0.5;
    const v = random();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logFactorial(k)) return k;
  }
}

/**
 * A plasma fractal (diamond-square on a torus) of side `size` (a power of two), normalised to
 * [0, 1]: CIFAR-10-C's fog texture. Each halving of the step divides the random displacement by
 * `decay`² (CIFAR-10-C multiplies by wibble twice), so a smaller decay keeps more fine detail (rougher fog).
 */
export function plasmaFractal(size: number, decay: number, random: Random): Float64Array {
  const map = new Float64Array(size * size);
  const at = (y: number, x: number): number => map[(((y % size) + size) % size) * size + (((x % size) + size) % size)]!;
  let wibble = 100;
  for (let step = size; step >= 2; step >>= 1) {
    const half = step >> 1;
    // wibble · U(−wibble, wibble), as CIFAR-10-C writes it: the displacement shrinks by decay² per level.
    const jitter = (): number => wibble * (2 * random() - 1) * wibble;
    // Squares: each cell's centre from its four corners.
    for (let y = 0; y < size; y += step) {
      for (let x = 0; x < size; x += step) {
        map[(y + half) * size + x + half] = (at(y, x) + at(y + step, x) + at(y, x + step) + at(y + step, x + step)) / 4 + jitter();
      }
    }
    // Diamonds: each edge midpoint from the two corners and two centres around it.
    for (let y = 0; y < size; y += step) {
      for (let x = 0; x < size; x += step) {
        map[y * size + x + half] = (at(y, x) + at(y, x + step) + at(y - half, x + half) + at(y + half, x + half)) / 4 + jitter();
        map[(y + half) * size + x] = (at(y, x) + at(y + step, x) + at(y + half, x - half) + at(y + half, x + half)) / 4 + jitter();
      }
    }
    wibble /= decay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of map) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  for (let i = 0; i < map.length; i++) map[i] = hi > lo ? (map[i]! - lo) / (hi - lo) : 0;
  return map;
}

/** The severity's entry of a five-entry table (severity is checked to be 1..5 before any apply runs). */
function pick<T>(table: readonly T[], s: Severity): T {
  return table[s - 1]!;
}

type Apply = (im: Image, severity: Severity, random: Random) => void;

const APPLY: Record<CorruptionName, Apply> = {
  gaussian_noise(im, s, random) {
    const sigma = pick(SEVERITY_PARAMS.gaussian_noise, s);
    const normal = gaussian(random);
    for (let i = 0; i < im.src.length; i++) im.out[i] = clamp01(im.src[i]! + sigma * normal());
  },
  shot_noise(im, s, random) {
    const lambda = pick(SEVERITY_PARAMS.shot_noise, s);
    for (let i = 0; i < im.src.length; i++) im.out[i] = clamp01(poisson(random, im.src[i]! * lambda) / lambda);
  },
  impulse_noise(im, s, random) {
    const amount = pick(SEVERITY_PARAMS.impulse_noise, s);
    // Two draws per value at every severity, so the stream (and so every other value's fate)
    // does not depend on the amount: a value hit at severity s is hit at every higher severity.
    for (let i = 0; i < im.src.length; i++) {
      const hit = random();
      const salt = random() < 0.5;
      im.out[i] = hit < amount ? (salt ? 1 : 0) : clamp01(im.src[i]!);
    }
  },
  gaussian_blur(im, s) {
    gaussianBlur(im, pick(SEVERITY_PARAMS.gaussian_blur, s));
  },
  motion_blur(im, s, random) {
    const [radius, sigma] = pick(SEVERITY_PARAMS.motion_blur, s);
    const length = 2 * radius + 1;
    const angle = ((random() * 90 - 45) * Math.PI) / 180;
    const weights: number[] = [];
    for (let i = 0; i < length; i++) weights.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
    const total = weights.reduce((a, b) => a + b, 0);
    const dx = Math.cos(angle);
    const dy = Math.sin(angle);
    for (let y = 0; y < im.h; y++) {
      for (let x = 0; x < im.w; x++) {
        for (let ch = 0; ch < im.c; ch++) {
          let v = 0;
          // One-sided trail like ImageMagick's -motion-blur (which CIFAR-10-C calls through Wand).
          for (let i = 0; i < length; i++) v += weights[i]! * sampleBilinear(im, x - i * dx, y - i * dy, ch, 'clamp');
          im.out[(y * im.w + x) * im.c + ch] = clamp01(v / total);
        }
      }
    }
  },
  contrast(im, s) {
    const factor = pick(SEVERITY_PARAMS.contrast, s);
    const { src, out, c } = im;
    for (let ch = 0; ch < c; ch++) {
      let mean = 0;
      for (let i = ch; i < src.length; i += c) mean += src[i]!;
      mean /= src.length / c;
      for (let i = ch; i < src.length; i += c) out[i] = clamp01((src[i]! - mean) * factor + mean);
    }
  },
  brightness(im, s) {
    const add = pick(SEVERITY_PARAMS.brightness, s);
    const { src, out, c } = im;
    for (let p = 0; p < src.length; p += c) {
      // Adding to HSV's V with H and S fixed scales (r, g, b) by V'/V; a black pixel (S undefined)
      // becomes grey at the added value. For one channel this is just x + add.
      let v = 0;
      for (let ch = 0; ch < c; ch++) v = Math.max(v, src[p + ch]!);
      const target = Math.min(1, v + add);
      for (let ch = 0; ch < c; ch++) out[p + ch] = v === 0 ? target : clamp01((src[p + ch]! * target) / v);
    }
  },
  rotate(im, s) {
    const theta = (pick(SEVERITY_PARAMS.rotate, s) * Math.PI) / 180;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    // Counter-clockwise as displayed (y grows downwards): output offset (dx, dy) shows the source
    // at the offset rotated back, (cos·dx − sin·dy, sin·dx + cos·dy).
    warp(im, (dx, dy) => [cos * dx - sin * dy, sin * dx + cos * dy]);
  },
  shear(im, s) {
    const k = pick(SEVERITY_PARAMS.shear, s);
    warp(im, (dx, dy) => [dx - k * dy, dy]);
  },
  scale(im, s) {
    const f = pick(SEVERITY_PARAMS.scale, s);
    warp(im, (dx, dy) => [dx / f, dy / f]);
  },
  fog(im, s, random) {
    const [strength, decay] = pick(SEVERITY_PARAMS.fog, s);
    let size = 2;
    while (size < Math.max(im.h, im.w)) size *= 2;
    const texture = plasmaFractal(size, decay, random);
    let max = 0;
    for (const v of im.src) max = Math.max(max, v);
    // CIFAR-10-C renormalises by the clean maximum so the haze lightens dark parts without simply
    // saturating bright ones; an all-black image has no maximum to keep, so use 1.
    if (max === 0) max = 1;
    for (let y = 0; y < im.h; y++) {
      for (let x = 0; x < im.w; x++) {
        const haze = strength * texture[y * size + x]!;
        for (let ch = 0; ch < im.c; ch++) {
          const i = (y * im.w + x) * im.c + ch;
          im.out[i] = clamp01(((im.src[i]! + haze) * max) / (max + strength));
        }
      }
    }
  },
};

/**
 * A new Dataset with every image corrupted by `name` at `severity` (1..5); deterministic in
 * `seed`. Shapes, labels and class names are kept.
 */
export function corrupt(data: Dataset, name: string, severity: number, seed: number): Dataset {
  checkDatasetShape(data, 'data');
  if (!(CORRUPTIONS as readonly string[]).includes(name)) throw new ConfigError(`unknown corruption '${name}'; valid: ${CORRUPTIONS.join(', ')}`);
  if (!Number.isInteger(severity) || severity < 1 || severity > 5) throw new ConfigError(`corruption severity must be an integer in 1..5 (valid: 1, 2, 3, 4, 5), got ${severity}`);
  if (!Number.isInteger(seed)) throw new ConfigError(`corruption seed must be an integer, got ${seed}`);
  const size = sampleSize(data);
  if (data.images.length !== data.labels.length * size) {
    throw new DataError(`dataset '${data.name}': ${data.images.length} values for ${data.labels.length} samples of ${data.shape.join('×')} (expected ${data.labels.length * size})`);
  }
  const [h, w, c] = data.shape;
  const apply = APPLY[name as CorruptionName];
  const random = mulberry32(seed);
  const images = new Float32Array(data.images.length);
  for (let n = 0; n < data.labels.length; n++) {
    apply({ src: data.images.subarray(n * size, (n + 1) * size), out: images.subarray(n * size, (n + 1) * size), h, w, c }, severity as Severity, random);
  }
  return {
    ...data,
    name: `${data.name}-${name}-${severity}`,
    shape: [h, w, c],
    images,
    labels: data.labels.slice(),
    ...(data.classNames ? { classNames: [...data.classNames] } : {}),
  };
}
