// Host side of the QZO-FF update: wq ← clamp(wq − requant(gq, c)) with gq = Σ_j s_j·z_j.
// Prepare once per tensor (c as a multiplier/shift, a staging area for the m keys and signs);
// each step writes the new keys and signs there and runs update_w16 / update_w8 in place.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import { quantizeMultiplier } from './multiplier.js';
import type { ZDistribution } from './perturb-spec.js';
import { requireWeightBits, type WeightBits } from './perturb.js';
import { DELTA_Z, DIST_CODE, ONE_Q, requireDist, requireIndexRange, requireU32 } from './rng.js';
import { requireInt } from './validate.js';

/** At most this many directions per step (sign-m-SPSA; the paper's default is m = 3). */
export const MAX_DIRECTIONS = 8;

/** m as every trainer accepts it: an integer in [1, MAX_DIRECTIONS]. */
export function requireDirections(m: number): void {
  if (!Number.isInteger(m) || m < 1 || m > MAX_DIRECTIONS) {
    throw new ConfigError(`m (directions per step) must be an integer in [1, ${MAX_DIRECTIONS}], got ${m}; the paper uses 3`);
  }
}
/** Largest |gq| the update can see: m Gaussian z at the clip value 127. */
const maxGradient = (m: number): number => m * 127;
/** c ≥ 2^16 would move a weight by more than the whole int16 grid per unit of gq. */
const MAX_UPDATE_SHIFT = 16;

export interface UpdateMultiplier {
  /** c = η·Δz/Δw/m, the real factor from gq (z units) to weight LSBs. */
  c: number;
  multiplier: number;
  shift: number;
}

/** c = η·Δz/Δw/m as a TFLM multiplier/shift; refuses c that is not usable on the device. */
export function makeUpdateMultiplier(lr: number, weightScale: number, m: number): UpdateMultiplier {
  requireInt(m, 'number of directions m', 1, MAX_DIRECTIONS);
  if (!Number.isFinite(weightScale) || weightScale <= 0) {
    throw new ConfigError(`weight scale Δw must be a finite number > 0, got ${weightScale}`);
  }
  const c = (lr * DELTA_Z) / weightScale / m;
  if (!Number.isFinite(c) || !(c > 0)) {
    throw new ConfigError(`update factor c = η·Δz/Δw/m = ${c} (η = ${lr}, Δw = ${weightScale}, m = ${m}) must be finite and > 0; use a positive learning rate`);
  }
  const { multiplier, shift } = quantizeMultiplier(c);
  if (shift > MAX_UPDATE_SHIFT) {
    throw new ConfigError(`update factor c = ${c} is ≥ 2^${MAX_UPDATE_SHIFT}: one step would cross the whole weight grid; lower η (= ${lr})`);
  }
  const largestStep = (multiplier / 2 ** 31) * 2 ** shift * maxGradient(m);
  if (largestStep < 0.5) {
    throw new ConfigError(
      `update factor c = ${c} is too small: even the largest gradient (|gq| = ${maxGradient(m)}) moves a weight by ${largestStep.toPrecision(3)} LSB, ` +
        `which rounds to 0, so no weight would ever change; raise η (= ${lr}) or use a finer weight grid (16-bit weights)`,
    );
  }
  return { c, multiplier, shift };
}

export interface UpdateConfig {
  /** Number of directions m per step, 1..8. */
  directions: number;
  dist: ZDistribution;
  multiplier: number;
  shift: number;
  /** Rademacher magnitude (default ONE_Q, as the perturbation used). */
  oneQ?: number;
}

export interface PreparedUpdate {
  readonly directions: number;
  readonly dist: ZDistribution;
  readonly oneQ: number;
  readonly multiplier: number;
  readonly shift: number;
  /** Staging for the step's m u32 keys and m i32 signs. */
  readonly keys: DeviceBuffer;
  readonly signs: DeviceBuffer;
}

/** Where a step's keys and signs are staged (m·4 bytes each); the planner may provide them. */
export interface UpdateStaging {
  keys: DeviceBuffer;
  signs: DeviceBuffer;
}

/**
 * Validates c and m once. The staging buffers come from `staging` when the caller's memory plan
 * holds them, else from the arena (2·m·4 bytes).
 */
export function prepareUpdate(arena: Arena, config: UpdateConfig, name = 'update', staging?: UpdateStaging): PreparedUpdate {
  requireInt(config.directions, `${name}: number of directions m`, 1, MAX_DIRECTIONS);
  requireDist(config.dist);
  const oneQ = config.oneQ ?? ONE_Q;
  if (!Number.isInteger(oneQ) || oneQ < 1 || oneQ > 127) throw new ConfigError(`${name}: 1q must be an integer in [1, 127], got ${oneQ}`);
  if (!Number.isInteger(config.multiplier) || config.multiplier <= 0 || config.multiplier > 2 ** 31 - 1) {
    throw new ConfigError(`${name}: multiplier must be an integer in [1, 2^31), got ${config.multiplier}; build it with makeUpdateMultiplier`);
  }
  if (!Number.isInteger(config.shift) || config.shift < -31 || config.shift > MAX_UPDATE_SHIFT) {
    throw new ConfigError(`${name}: shift must be an integer in [-31, ${MAX_UPDATE_SHIFT}], got ${config.shift}; build it with makeUpdateMultiplier`);
  }
  const bytes = config.directions * 4;
  if (staging) {
    checkBuffer(arena.device, staging.keys, bytes, `${name}: key staging`);
    checkBuffer(arena.device, staging.signs, bytes, `${name}: sign staging`);
    if (staging.keys.offset < staging.signs.offset + bytes && staging.signs.offset < staging.keys.offset + bytes) {
      throw new ShapeError(`${name}: key staging '${staging.keys.name}' and sign staging '${staging.signs.name}' overlap`);
    }
  }
  return {
    directions: config.directions,
    dist: config.dist,
    oneQ,
    multiplier: config.multiplier,
    shift: config.shift,
    keys: staging?.keys ?? arena.alloc(bytes, `${name}.keys`),
    signs: staging?.signs ?? arena.alloc(bytes, `${name}.signs`),
  };
}

export interface UpdateStep {
  /** Stream key of each direction z_j (as the perturbation used). */
  keys: ArrayLike<number>;
  /** s_j = sign(L⁺_j − L⁻_j) ∈ {−1, 0, +1}. */
  signs: ArrayLike<number>;
  /** Stream index of weights[0] (default 0). */
  start?: number;
  /** Bitmap, bit i & 7 of byte i >> 3 set = weight i is trained; null/undefined = all. */
  mask?: DeviceBuffer | null;
  /**
   * The directions' z already drawn into int8 buffers (fillZ with keys[j]), read instead of
   * regenerated: one buffer per direction, or at m = 1 the buffer itself.
   */
  z?: DeviceBuffer | readonly DeviceBuffer[] | null;
}

const isBufferList = (z: DeviceBuffer | readonly DeviceBuffer[]): z is readonly DeviceBuffer[] => Array.isArray(z);

/** In place: weights[i] ← clamp(weights[i] − requant(Σ_j s_j·z_j[start + i], c)) for i < count. */
export function updateWeights(
  arena: Arena, prepared: PreparedUpdate, weights: DeviceBuffer, count: number, bits: WeightBits, step: UpdateStep,
): void {
  requireWeightBits(bits);
  requireInt(count, 'updateWeights: count', 0, 1 << 30);
  const m = prepared.directions;
  if (step.keys.length !== m || step.signs.length !== m) {
    throw new ShapeError(`updateWeights: prepared for ${m} directions, got ${step.keys.length} keys and ${step.signs.length} signs`);
  }
  for (let j = 0; j < m; j++) {
    requireU32(step.keys[j]!, `updateWeights: key[${j}]`);
    const s = step.signs[j];
    if (s !== -1 && s !== 0 && s !== 1) throw new ConfigError(`updateWeights: sign[${j}] must be −1, 0 or +1, got ${s}`);
  }
  const start = step.start ?? 0;
  requireIndexRange(start, count, 'updateWeights');
  const device = arena.device;
  const weightBytes = count * (bits / 8);
  checkBuffer(device, weights, weightBytes, 'updateWeights weights');
  checkBuffer(device, prepared.keys, m * 4, 'updateWeights keys (prepared)');
  checkBuffer(device, prepared.signs, m * 4, 'updateWeights signs (prepared)');
  const mask = step.mask ?? null;
  if (mask) {
    const maskBytes = Math.ceil(count / 8);
    checkBuffer(device, mask, maskBytes, 'updateWeights mask');
    if (count > 0 && mask.offset < weights.offset + weightBytes && weights.offset < mask.offset + maskBytes) {
      throw new ShapeError(`updateWeights: mask '${mask.name}' overlaps the weights '${weights.name}' it selects`);
    }
  }
  const z = step.z ? (isBufferList(step.z) ? step.z : [step.z]) : null;
  if (z) {
    if (z.length !== m) throw new ConfigError(`updateWeights: ${z.length} z buffer(s) for m = ${m} directions (one per direction)`);
    for (const buffer of z) {
      checkBuffer(device, buffer, start + count, 'updateWeights z');
      if (count > 0 && buffer.offset < weights.offset + weightBytes && weights.offset < buffer.offset + start + count) {
        throw new ShapeError(`updateWeights: z buffer '${buffer.name}' overlaps the weights '${weights.name}'`);
      }
    }
  }
  // With z buffers each direction's kernel "key" is its buffer's address (DIST_BUFFER = 2 in assembly/rng.ts).
  const stagedKeys = new Uint32Array(device.memory.buffer, prepared.keys.offset, m);
  const stagedSigns = new Int32Array(device.memory.buffer, prepared.signs.offset, m);
  for (let j = 0; j < m; j++) {
    stagedKeys[j] = z ? z[j]!.offset : step.keys[j]!;
    stagedSigns[j] = step.signs[j]!;
  }
  device.kernel(bits === 16 ? 'update_w16' : 'update_w8')(
    weights.offset, count, start | 0, prepared.keys.offset, prepared.signs.offset, m,
    z ? 2 : DIST_CODE[prepared.dist], prepared.oneQ, prepared.multiplier, prepared.shift, mask ? mask.offset : 0,
  );
}
