// Sparse update masks (Feng et al. 2024 train ~10% of the weights; MIT tiny-training does the same by
// budget). The mask is fixed when training starts, built on the host from the pre-trained weights,
// and copied into an SRAM bitmap (bit i & 7 of byte i >> 3 = weight i trains) that the device's
// perturbation and update kernels read.
import { ConfigError } from '../errors.js';
import { mulberry32 } from '../util/random.js';

export interface SparseConfig {
  /** Fraction of each weight tensor that trains (default 0.1). At least one weight always trains. */
  fraction?: number;
  /**
   * 'magnitude': the largest |w| (ties by index); 'small': the smallest |w| (Sparse MeZO, arXiv
   * 2402.15751: small weights tolerate zeroth-order noise best); 'random': a seeded uniform choice.
   */
  by: 'magnitude' | 'small' | 'random';
  /** Seed of the random choice (default 0); mixed with the tensor id so layers differ. */
  seed?: number;
  /**
   * Mask the perturbation too (default true): frozen weights are not perturbed, so the loss
   * difference measures only the trainable subspace. Costs a perturbed scratch panel per tensor;
   * false perturbs all weights in the fused kernels (no panel) and masks only the update.
   */
  maskPerturbation?: boolean;
}

/** How many of `count` weights a config keeps. */
export function sparseKeepCount(count: number, config: SparseConfig): number {
  const fraction = config.fraction ?? 0.1;
  if (!(fraction > 0 && fraction <= 1)) throw new ConfigError(`sparse fraction must be in (0, 1], got ${fraction}`);
  return Math.max(1, Math.round(fraction * count));
}

/** The bitmap (ceil(count / 8) bytes) of the weights that train. */
export function buildSparseMask(weights: ArrayLike<number>, config: SparseConfig, tensorId: number): Uint8Array {
  if (config.by !== 'magnitude' && config.by !== 'small' && config.by !== 'random') throw new ConfigError(`sparse 'by' must be 'magnitude', 'small' or 'random', got '${String(config.by)}'`);
  const count = weights.length;
  const keep = sparseKeepCount(count, config);
  const order = Array.from({ length: count }, (_, i) => i);
  if (config.by === 'magnitude') {
    order.sort((a, b) => Math.abs(weights[b]!) - Math.abs(weights[a]!) || a - b);
  } else if (config.by === 'small') {
    order.sort((a, b) => Math.abs(weights[a]!) - Math.abs(weights[b]!) || a - b);
  } else {
    const random = mulberry32(((config.seed ?? 0) ^ Math.imul(tensorId + 1, 0x9e3779b1)) >>> 0);
    // Partial Fisher–Yates: the first `keep` entries are a uniform sample without replacement.
    for (let i = 0; i < keep; i++) {
      const j = i + Math.floor(random() * (count - i));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  }
  const mask = new Uint8Array(Math.ceil(count / 8));
  for (let k = 0; k < keep; k++) {
    const i = order[k]!;
    mask[i >> 3]! |= 1 << (i & 7);
  }
  return mask;
}
