// Seeded host-side randomness for data order, episodes and initialisation (never for z: the device
// generates perturbations). mulberry32: tiny, fast, and the same sequence on every platform.

export type Random = () => number;

export function mulberry32(seed: number): Random {
  const state = new Mulberry32(seed);
  return () => state.next();
}

/**
 * The same generator as mulberry32() with its whole state in one public number, so a checkpoint can
 * save it and a resumed run continue the identical sequence.
 */
export class Mulberry32 {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Standard normal draws (Box–Muller) from a seeded uniform stream. */
export function gaussian(random: Random): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** In-place Fisher–Yates shuffle. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
