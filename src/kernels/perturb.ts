// Host side of weight perturbation: build a PerturbSpec from real-valued ε and the weight scale
// (the one place εq, 1q and the 1/1q multiplier are derived), and perturb a whole tensor into a
// scratch panel with the device's perturb_w16 / perturb_w8.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import type { Device } from '../device/device.js';
import { ConfigError, ShapeError } from '../errors.js';
import { quantizeMultiplier } from './multiplier.js';
import { validatePerturb, type PerturbSpec, type ZDistribution } from './perturb-spec.js';
import { DIST_CODE, ONE_Q, requireDist, requireIndexRange, streamKey } from './rng.js';
import { requireInt } from './validate.js';

export type WeightBits = 8 | 16;

export interface PerturbOptions {
  seed: number;
  tensorId: number;
  /** Real perturbation size ε (the paper's example: 1e-3). */
  epsilon: number;
  /** Δw: the real value of one weight LSB. */
  weightScale: number;
  dist: ZDistribution;
  /** +1 for w + εz, −1 for w − εz. */
  sign: 1 | -1;
  weightBits: WeightBits;
  /** Stream index of the tensor's element 0 (default 0). */
  start?: number;
}

export function requireWeightBits(bits: number): asserts bits is WeightBits {
  if (bits !== 8 && bits !== 16) throw new ConfigError(`weight width must be 8 or 16 bits, got ${bits}`);
}

function requirePositiveFinite(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${what} must be a finite number > 0, got ${value}`);
  }
}

/** εq = round(ε/Δw), 1q = round(127/3.5) and the TFLM multiplier/shift of 1/1q. */
export function makePerturbSpec(options: PerturbOptions, device: Device): PerturbSpec {
  const { epsilon, weightScale, sign, weightBits } = options;
  requirePositiveFinite(epsilon, 'ε');
  requirePositiveFinite(weightScale, 'weight scale Δw');
  requireDist(options.dist);
  requireWeightBits(weightBits);
  if (sign !== 1 && sign !== -1) throw new ConfigError(`perturbation sign must be +1 or −1, got ${sign}`);
  const epsQ = Math.round(epsilon / weightScale);
  if (epsQ === 0) {
    throw new ConfigError(
      `ε = ${epsilon} is below half a weight LSB (Δw = ${weightScale}): use 16-bit weights or a larger ε`,
    );
  }
  const { multiplier, shift } = quantizeMultiplier(1 / ONE_Q);
  const start = options.start ?? 0;
  const spec: PerturbSpec = {
    key: streamKey(device, options.seed, options.tensorId),
    start,
    dist: options.dist,
    signedEps: sign * epsQ,
    oneQ: ONE_Q,
    multiplier,
    shift,
  };
  validatePerturb(spec, weightBits);
  return spec;
}

const overlaps = (a: DeviceBuffer, aBytes: number, b: DeviceBuffer, bBytes: number): boolean =>
  aBytes > 0 && bBytes > 0 && a.offset < b.offset + bBytes && b.offset < a.offset + aBytes;

/**
 * dst[i] = clamp(requant(src[i]·1q + εq·z(start + i))) for i < count. The source (the stored
 * weights) is only read: dst must be a separate scratch panel.
 */
export function perturbWeights(
  arena: Arena, src: DeviceBuffer, dst: DeviceBuffer, count: number, bits: WeightBits, spec: PerturbSpec,
): void {
  requireWeightBits(bits);
  requireInt(count, 'perturbWeights: count', 0, 1 << 30);
  validatePerturb(spec, bits);
  requireIndexRange(spec.start, count, 'perturbWeights');
  const bytes = count * (bits / 8);
  checkBuffer(arena.device, src, bytes, 'perturbWeights src');
  checkBuffer(arena.device, dst, bytes, 'perturbWeights dst');
  if (overlaps(src, bytes, dst, bytes)) {
    throw new ShapeError(
      `perturbWeights: dst '${dst.name}' overlaps src '${src.name}'; perturbed weights go to a separate scratch panel so the stored weights are never written`,
    );
  }
  arena.device.kernel(bits === 16 ? 'perturb_w16' : 'perturb_w8')(
    src.offset, dst.offset, count, spec.key | 0, spec.start | 0, DIST_CODE[spec.dist], spec.signedEps, spec.oneQ, spec.multiplier, spec.shift,
  );
}
