// Test helpers: one device per build, a seeded PRNG for test data, and a runner that feeds the
// same inputs to every build so results can be compared bit for bit.
import { Device } from '../../src/device/device.js';
import { Arena } from '../../src/device/arena.js';
import type { BuildFlavor } from '../../src/device/features.js';

export const ALL_BUILDS: BuildFlavor[] = ['scalar', 'simd', 'relaxed'];

export interface Bench {
  build: BuildFlavor;
  device: Device;
  arena: Arena;
}

export async function makeBench(build: BuildFlavor, arenaBytes = 32 * 1024 * 1024): Promise<Bench> {
  const device = await Device.create({ build, arenaBytes });
  return { build, device, arena: new Arena(device) };
}

export async function makeAllBenches(arenaBytes?: number): Promise<Bench[]> {
  return Promise.all(ALL_BUILDS.map((b) => makeBench(b, arenaBytes)));
}

/** mulberry32: small, fast, seeded; for generating test inputs only. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export function randomInt8(r: () => number, n: number, lo = -128, hi = 127): Int8Array {
  const a = new Int8Array(n);
  for (let i = 0; i < n; i++) a[i] = randInt(r, lo, hi);
  return a;
}

export function randomInt16(r: () => number, n: number, lo = -32767, hi = 32767): Int16Array {
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = randInt(r, lo, hi);
  return a;
}

export function randomInt32(r: () => number, n: number, lo = -(2 ** 31), hi = 2 ** 31 - 1): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = randInt(r, lo, hi);
  return a;
}
