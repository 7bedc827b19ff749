// How a kernel perturbs weights on the fly: wq± = requant(wq·1q ± εq·zq), z regenerated from a
// counter-based stream (assembly/rng.ts) at each weight's logical index. Kernels that pack
// weights (GEMM, conv, depthwise) take an optional PerturbSpec and apply it while packing, so
// the stored weights are never written and no full perturbed copy is needed.
import { ConfigError } from '../errors.js';

export type ZDistribution = 'gaussian' | 'rademacher';

export interface PerturbSpec {
  /** u32 stream key for (seed, tensor id): the device's rng_stream_key. */
  key: number;
  /** Stream index of the tensor's element 0 (normally 0); element i uses index start + i. */
  start: number;
  dist: ZDistribution;
  /** +εq or −εq on the tensor's weight grid. */
  signedEps: number;
  /** 1q = round(1/Δz): 1.0 on the z grid (36 for z_max = 3.5). */
  oneQ: number;
  /** TFLM multiplier/shift of 1/1q, which brings wq·1q ± εq·zq back to the weight grid. */
  multiplier: number;
  shift: number;
  /**
   * The tensor's z already drawn (fillZ with this key, start and dist) into an int8 buffer of at least
   * start + count bytes, count the kernel's weight count: the kernel reads z there instead of
   * regenerating it, so a direction's z is drawn once for both of its passes. The values are the same.
   */
  z?: { offset: number; bytes: number } | null;
}

/** The device's code for z read from a buffer (assembly/rng.ts DIST_BUFFER). */
const DIST_BUFFER = 2;

const DIST_CODE: Record<ZDistribution, number> = { gaussian: 0, rademacher: 1 };

// Module level, not a closure inside validatePerturb: every perturbed kernel call validates its spec.
const intIn = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi;

/** Checks a spec can never overflow the 32-bit sum for the given weight width. */
export function validatePerturb(p: PerturbSpec, weightBits: 8 | 16): void {
  if (!intIn(p.key, 0, 0xffffffff)) throw new ConfigError(`perturbation key must be a u32, got ${p.key}`);
  if (!intIn(p.start, 0, 0xffffffff)) throw new ConfigError(`perturbation start index must be a u32, got ${p.start}`);
  if (!(p.dist in DIST_CODE)) throw new ConfigError(`perturbation distribution must be 'gaussian' or 'rademacher', got '${p.dist}'`);
  if (!intIn(p.oneQ, 1, 127)) throw new ConfigError(`1q must be an integer in [1, 127], got ${p.oneQ}`);
  if (!intIn(p.shift, -31, 30)) throw new ConfigError(`perturbation shift must be in [-31, 30], got ${p.shift}`);
  if (!intIn(p.multiplier, 0, 2 ** 31 - 1)) throw new ConfigError(`perturbation multiplier must be in [0, 2^31), got ${p.multiplier}`);
  const wMax = weightBits === 16 ? 32767 : 127;
  const limit = Math.floor((2 ** 31 - 1 - wMax * p.oneQ) / 127);
  if (!intIn(p.signedEps, -limit, limit)) {
    throw new ConfigError(`εq = ${p.signedEps} would overflow the 32-bit perturbation sum (|εq| <= ${limit} for ${weightBits}-bit weights)`);
  }
}

/**
 * The 8 integer arguments every perturbing kernel takes, in order; all zero = no perturbation.
 * `count` (the weights the kernel perturbs) bounds a z buffer's reads.
 */
export function perturbArgs(p: PerturbSpec | undefined, weightBits: 8 | 16, count?: number): number[] {
  if (!p) return [0, 0, 0, 0, 0, 0, 0, 0];
  validatePerturb(p, weightBits);
  if (p.z) {
    const { offset, bytes } = p.z;
    if (!Number.isInteger(offset) || offset <= 0 || offset > 0xffffffff) throw new ConfigError(`z buffer offset must be a positive u32, got ${offset}`);
    const needed = p.start + (count ?? 1);
    if (!Number.isInteger(bytes) || bytes < needed) throw new ConfigError(`z buffer holds ${bytes} B but the perturbation reads z up to index ${needed - 1}`);
    return [1, offset | 0, p.start | 0, DIST_BUFFER, p.signedEps, p.oneQ, p.multiplier, p.shift];
  }
  return [1, p.key | 0, p.start | 0, DIST_CODE[p.dist], p.signedEps, p.oneQ, p.multiplier, p.shift];
}
