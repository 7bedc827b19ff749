// Host side of assembly/materialised_zo.ts: checked wrappers for the trainer's optional modes
// (materialised/masked/dithered perturbation, int32 bias perturbation and update, momentum z).
// Every argument is validated here, before the device runs, so a bad call throws with nothing written.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, DataError, ShapeError } from '../errors.js';
import { quantizeMultiplier } from './multiplier.js';
import type { ZDistribution } from './perturb-spec.js';
import { DIST_CODE, ONE_Q, requireDist, requireIndexRange, requireU32 } from './rng.js';
import { MAX_DIRECTIONS } from './update.js';
import { requireInt } from './validate.js';

export type ParamBits = 8 | 16;

/** A fixed-point factor for stochastic rounding: x·f = x·mult / 2^shift, mult in [2^30, 2^31). */
export interface DitherFactor {
  mult: number;
  shift: number;
}

/** f as mult/2^shift with 31 significant bits; f must lie in [2^-32, 2^29). */
export function makeDitherFactor(f: number, what: string): DitherFactor {
  if (!Number.isFinite(f) || f <= 0) throw new ConfigError(`${what} must be a finite number > 0, got ${f}`);
  let shift = 30 - Math.floor(Math.log2(f));
  let mult = Math.round(f * 2 ** shift);
  if (mult >= 2 ** 31) {
    shift -= 1;
    mult = Math.round(f * 2 ** shift);
  }
  if (shift < 1 || shift > 62) {
    throw new ConfigError(`${what} = ${f} is outside the stochastic-rounding range [2^-32, 2^29); check ε, η and the weight scale`);
  }
  return { mult, shift };
}

/** A (mult, shift) for requantScalar that keeps |xMax << shift| inside 32 bits. */
export function makeSmallMultiplier(f: number, xMax: number, what: string): { multiplier: number; shift: number } {
  if (!Number.isFinite(f) || f <= 0) throw new ConfigError(`${what} must be a finite number > 0, got ${f}`);
  const { multiplier, shift } = quantizeMultiplier(f);
  if (shift > 0 && xMax * 2 ** shift >= 2 ** 31) {
    throw new ConfigError(`${what} = ${f} is too large: ${xMax}·2^${shift} overflows 32 bits; lower ε or η`);
  }
  if (shift < -31) throw new ConfigError(`${what} = ${f} is too small to represent; raise ε or η`);
  return { multiplier, shift };
}

export interface MaterialisedPerturb {
  /** z source: an int8 buffer (momentum), or the stream (key, start, dist). */
  z?: DeviceBuffer | null;
  key: number;
  start?: number;
  dist: ZDistribution;
  /** ±εq (deterministic mode) or ±1 (dither mode: the sign only). */
  signedEps: number;
  /** requant multiplier/shift of 1/1q (deterministic mode). */
  multiplier: number;
  shift: number;
  mask?: DeviceBuffer | null;
  /** Stochastic rounding of εq·z: δ = floor(z·ε·Δz/Δw + u). */
  dither?: { key: number; factor: DitherFactor } | null;
}

const overlap = (a: DeviceBuffer, aBytes: number, b: DeviceBuffer, bBytes: number): boolean =>
  aBytes > 0 && bBytes > 0 && a.offset < b.offset + bBytes && b.offset < a.offset + aBytes;

function checkCommon(arena: Arena, count: number, what: string, z: DeviceBuffer | null | undefined, zBytes: number, mask: DeviceBuffer | null | undefined): void {
  requireInt(count, `${what}: count`, 0, 1 << 30);
  if (z) checkBuffer(arena.device, z, zBytes, `${what} z`);
  if (mask) checkBuffer(arena.device, mask, Math.ceil(count / 8), `${what} mask`);
}

/** perturbMaterialised's and perturbInPlace's first checks (z, mask, key, distribution, index range); returns start. */
function checkPerturbStream(arena: Arena, count: number, what: string, p: MaterialisedPerturb): number {
  checkCommon(arena, count, what, p.z, count, p.mask);
  requireU32(p.key, `${what}: key`);
  requireDist(p.dist);
  const start = p.start ?? 0;
  requireIndexRange(start, count, what);
  return start;
}

/** Their last checks (εq, dither key), then the kernels' shared trailing arguments from z onwards. */
function perturbKernelArgs(what: string, p: MaterialisedPerturb, start: number): number[] {
  if (!Number.isInteger(p.signedEps) || p.signedEps === 0 || Math.abs(p.signedEps) > 2 ** 20) throw new ConfigError(`${what}: signed εq must be a non-zero integer of at most 2^20, got ${p.signedEps}`);
  const d = p.dither ?? null;
  if (d) requireU32(d.key, `${what}: dither key`);
  return [
    p.z ? p.z.offset : 0, p.key | 0, start | 0, DIST_CODE[p.dist],
    p.signedEps, ONE_Q, p.multiplier, p.shift, p.mask ? p.mask.offset : 0,
    d ? d.key | 0 : 0, d ? d.factor.mult : 0, d ? d.factor.shift : 0,
  ];
}

/** dst = perturbed src (masked elements copied unchanged). src is only read: dst is a separate panel. */
export function perturbMaterialised(arena: Arena, src: DeviceBuffer, dst: DeviceBuffer, count: number, bits: ParamBits, p: MaterialisedPerturb): void {
  const what = 'perturbMaterialised';
  const start = checkPerturbStream(arena, count, what, p);
  const bytes = count * (bits / 8);
  checkBuffer(arena.device, src, bytes, `${what} src`);
  checkBuffer(arena.device, dst, bytes, `${what} dst`);
  if (overlap(src, bytes, dst, bytes)) throw new ShapeError(`${what}: dst '${dst.name}' overlaps src '${src.name}'; the stored weights must never be written by a perturbation`);
  const args = perturbKernelArgs(what, p, start);
  arena.device.kernel(bits === 16 ? 'zo_perturb_w16' : 'zo_perturb_w8')(src.offset, dst.offset, count, ...args);
}

/**
 * The perturbation perturbMaterialised writes into a panel, written over w itself: the trainable
 * elements' stored values are saved (in order) into backup first, and restoreInPlace puts them back
 * bit for bit. Meant for one layer at a time, so one backup sized to the largest layer's trainable
 * elements serves every layer. `trainable` is how many elements the mask keeps (count when dense).
 */
export function perturbInPlace(arena: Arena, w: DeviceBuffer, backup: DeviceBuffer, count: number, trainable: number, bits: ParamBits, p: MaterialisedPerturb): void {
  const what = 'perturbInPlace';
  const start = checkPerturbStream(arena, count, what, p);
  requireInt(trainable, `${what}: trainable count`, 0, count);
  const bytes = count * (bits / 8);
  checkBuffer(arena.device, w, bytes, `${what} weights`);
  checkBuffer(arena.device, backup, trainable * (bits / 8), `${what} backup`);
  if (overlap(w, bytes, backup, trainable * (bits / 8))) throw new ShapeError(`${what}: backup '${backup.name}' overlaps the weights '${w.name}'`);
  const args = perturbKernelArgs(what, p, start);
  const saved = arena.device.kernel('zo_perturb_inplace')(w.offset, count, bits === 16 ? 1 : 0, backup.offset, trainable, ...args) as number;
  if (saved !== trainable) {
    if (saved >= 0) arena.device.kernel('zo_restore_inplace')(w.offset, count, bits === 16 ? 1 : 0, backup.offset, p.mask ? p.mask.offset : 0);
    throw new ShapeError(`${what}: '${w.name}' has ${saved < 0 ? 'more' : saved} trainable elements, not the ${trainable} its backup was sized for; the weights were left unchanged`);
  }
}

/** Undoes perturbInPlace: the saved trainable elements go back into w. */
export function restoreInPlace(arena: Arena, w: DeviceBuffer, backup: DeviceBuffer, count: number, trainable: number, bits: ParamBits, mask: DeviceBuffer | null): void {
  const what = 'restoreInPlace';
  checkCommon(arena, count, what, null, 0, mask);
  requireInt(trainable, `${what}: trainable count`, 0, count);
  checkBuffer(arena.device, w, count * (bits / 8), `${what} weights`);
  checkBuffer(arena.device, backup, trainable * (bits / 8), `${what} backup`);
  arena.device.kernel('zo_restore_inplace')(w.offset, count, bits === 16 ? 1 : 0, backup.offset, mask ? mask.offset : 0);
}

export interface StagedDirections {
  /** The m u32 stream keys (ignored when z is given) and i32 signs, staged in SRAM. */
  keys: DeviceBuffer;
  signs: DeviceBuffer;
  keyValues: ArrayLike<number>;
  signValues: ArrayLike<number>;
  /** m int8 z vectors, z_j at z + j·count (momentum), or null to regenerate from the keys. */
  z?: DeviceBuffer | null;
}

function stage(arena: Arena, s: StagedDirections, count: number, what: string): number {
  const m = s.signValues.length;
  requireInt(m, `${what}: directions m`, 1, MAX_DIRECTIONS);
  if (s.keyValues.length !== m) throw new ShapeError(`${what}: ${s.keyValues.length} keys for ${m} signs`);
  for (let j = 0; j < m; j++) {
    requireU32(s.keyValues[j]!, `${what}: key[${j}]`);
    const v = s.signValues[j];
    if (v !== -1 && v !== 0 && v !== 1) throw new ConfigError(`${what}: sign[${j}] must be −1, 0 or +1, got ${v}`);
  }
  checkBuffer(arena.device, s.keys, m * 4, `${what} keys`);
  checkBuffer(arena.device, s.signs, m * 4, `${what} signs`);
  if (s.z) checkBuffer(arena.device, s.z, m * count, `${what} z`);
  new Uint32Array(arena.device.memory.buffer, s.keys.offset, m).set(Array.from(s.keyValues, (k) => k >>> 0));
  new Int32Array(arena.device.memory.buffer, s.signs.offset, m).set(Array.from(s.signValues));
  return m;
}

export interface MaterialisedUpdate {
  dist: ZDistribution;
  start?: number;
  multiplier: number;
  shift: number;
  mask?: DeviceBuffer | null;
  /** Stochastic rounding of c·g: (multiplier, shift) is then a DitherFactor. */
  ditherKey?: number | null;
}

/** In place: w ← clamp(w − step(Σ s_j z_j)) over trainable elements, z from buffers or streams. */
export function updateMaterialised(arena: Arena, w: DeviceBuffer, count: number, bits: ParamBits, dirs: StagedDirections, u: MaterialisedUpdate): void {
  const what = 'updateMaterialised';
  checkCommon(arena, count, what, null, 0, u.mask);
  requireDist(u.dist);
  const start = u.start ?? 0;
  requireIndexRange(start, count, what);
  checkBuffer(arena.device, w, count * (bits / 8), `${what} weights`);
  const dither = u.ditherKey !== undefined && u.ditherKey !== null;
  if (dither) requireU32(u.ditherKey!, `${what}: dither key`);
  if (dither ? !(u.shift >= 1 && u.shift <= 62) : !(u.shift >= -31 && u.shift <= 16)) throw new ConfigError(`${what}: shift ${u.shift} is out of range; build it with makeUpdateMultiplier or makeDitherFactor`);
  const m = stage(arena, dirs, count, what);
  arena.device.kernel(bits === 16 ? 'zo_update_w16' : 'zo_update_w8')(
    w.offset, count, start | 0, dirs.z ? dirs.z.offset : 0, count, dirs.keys.offset, dirs.signs.offset, m,
    DIST_CODE[u.dist], ONE_Q, u.multiplier, dither ? 0 : u.shift, u.mask ? u.mask.offset : 0,
    dither ? u.ditherKey! | 0 : 0, dither ? u.shift : 0,
  );
}

/** dst = sat32(src ± requant(z, ε·Δz/Δb)) for an int32 bias vector. */
export function perturbBias(arena: Arena, src: DeviceBuffer, dst: DeviceBuffer, count: number, p: { z?: DeviceBuffer | null; key: number; start?: number; dist: ZDistribution; sign: 1 | -1; multiplier: number; shift: number }): void {
  const what = 'perturbBias';
  checkCommon(arena, count, what, p.z, count, null);
  requireU32(p.key, `${what}: key`);
  requireDist(p.dist);
  const start = p.start ?? 0;
  requireIndexRange(start, count, what);
  checkBuffer(arena.device, src, count * 4, `${what} src`);
  checkBuffer(arena.device, dst, count * 4, `${what} dst`);
  if (overlap(src, count * 4, dst, count * 4)) throw new ShapeError(`${what}: dst '${dst.name}' overlaps src '${src.name}'; the stored bias must never be written by a perturbation`);
  if (p.sign !== 1 && p.sign !== -1) throw new ConfigError(`${what}: sign must be ±1, got ${p.sign}`);
  if (p.shift > 23) throw new ConfigError(`${what}: shift ${p.shift} would overflow 127·2^shift; build it with makeSmallMultiplier`);
  arena.device.kernel('zo_perturb_bias_i32')(src.offset, dst.offset, count, p.z ? p.z.offset : 0, p.key | 0, start | 0, DIST_CODE[p.dist], p.sign, ONE_Q, p.multiplier, p.shift);
}

export interface BiasPerturbation {
  z?: DeviceBuffer | null;
  key: number;
  start?: number;
  dist: ZDistribution;
  sign: 1 | -1;
  multiplier: number;
  shift: number;
}

function checkBiasPerturbation(arena: Arena, b: DeviceBuffer, count: number, p: BiasPerturbation, what: string): number {
  checkCommon(arena, count, what, p.z, count, null);
  requireU32(p.key, `${what}: key`);
  requireDist(p.dist);
  const start = p.start ?? 0;
  requireIndexRange(start, count, what);
  checkBuffer(arena.device, b, count * 4, `${what} bias`);
  if (p.z && overlap(p.z, count, b, count * 4)) throw new ShapeError(`${what}: z '${p.z.name}' overlaps the bias '${b.name}'`);
  if (p.sign !== 1 && p.sign !== -1) throw new ConfigError(`${what}: sign must be ±1, got ${p.sign}`);
  if (p.shift > 23) throw new ConfigError(`${what}: shift ${p.shift} would overflow 127·2^shift; build it with makeSmallMultiplier`);
  return start;
}

/**
 * b ← b ± requant(z) in place: the values perturbBias would write into a panel, with no panel. Undo
 * it with restoreBiasInPlace (same arguments) once the forward pass has read it. Throws DataError,
 * with b unchanged, if an element would saturate (a bias within 127·ε·Δz/Δb LSBs of the int32 limits),
 * since a saturated element could not be restored exactly.
 */
export function perturbBiasInPlace(arena: Arena, b: DeviceBuffer, count: number, p: BiasPerturbation): void {
  const what = 'perturbBiasInPlace';
  const start = checkBiasPerturbation(arena, b, count, p, what);
  const failed = arena.device.kernel('zo_perturb_bias_inplace_i32')(b.offset, count, p.z ? p.z.offset : 0, p.key | 0, start | 0, DIST_CODE[p.dist], p.sign, ONE_Q, p.multiplier, p.shift) as number;
  if (failed !== 0) throw new DataError(`${what}: bias '${b.name}' element ${failed - 1} is too close to the int32 limits to be perturbed and restored exactly; the bias was left unchanged`);
}

/** Undoes perturbBiasInPlace with the same arguments (exact: that call saturated nothing). */
export function restoreBiasInPlace(arena: Arena, b: DeviceBuffer, count: number, p: BiasPerturbation): void {
  const start = checkBiasPerturbation(arena, b, count, p, 'restoreBiasInPlace');
  arena.device.kernel('zo_restore_bias_i32')(b.offset, count, p.z ? p.z.offset : 0, p.key | 0, start | 0, DIST_CODE[p.dist], p.sign, ONE_Q, p.multiplier, p.shift);
}

/** In place: b ← sat32(b − requant(Σ s_j z_j, η·Δz/Δb/m)). */
export function updateBias(arena: Arena, b: DeviceBuffer, count: number, dirs: StagedDirections, u: { dist: ZDistribution; start?: number; multiplier: number; shift: number }): void {
  const what = 'updateBias';
  checkCommon(arena, count, what, null, 0, null);
  requireDist(u.dist);
  const start = u.start ?? 0;
  requireIndexRange(start, count, what);
  checkBuffer(arena.device, b, count * 4, `${what} bias`);
  if (u.shift > 20) throw new ConfigError(`${what}: shift ${u.shift} would overflow 1016·2^shift; build it with makeSmallMultiplier`);
  const m = stage(arena, dirs, count, what);
  arena.device.kernel('zo_update_bias_i32')(b.offset, count, start | 0, dirs.z ? dirs.z.offset : 0, count, dirs.keys.offset, dirs.signs.offset, m, DIST_CODE[u.dist], ONE_Q, u.multiplier, u.shift);
}

/** Q15 coefficients of z = β√α·n1 + (1−β)·h + (1−β)√(1−α)·n2. */
export function momentumCoefficients(alpha: number, beta: number): [number, number, number] {
  if (!(alpha >= 0 && alpha <= 1)) throw new ConfigError(`momentum α must be in [0, 1], got ${alpha}`);
  if (!(beta >= 0 && beta <= 1)) throw new ConfigError(`momentum β must be in [0, 1], got ${beta}`);
  const q = (x: number) => Math.round(x * 2 ** 15);
  return [q(beta * Math.sqrt(alpha)), q(1 - beta), q((1 - beta) * Math.sqrt(1 - alpha))];
}

/** dst = momentum-guided int8 z from the history hist and two Gaussian streams. */
export function momentumZ(arena: Arena, dst: DeviceBuffer, hist: DeviceBuffer, count: number, keys: [number, number], coeffs: [number, number, number], start = 0): void {
  const what = 'momentumZ';
  requireInt(count, `${what}: count`, 0, 1 << 30);
  requireU32(keys[0], `${what}: key1`);
  requireU32(keys[1], `${what}: key2`);
  requireIndexRange(start, count, what);
  for (const c of coeffs) requireInt(c, `${what}: Q15 coefficient`, 0, 2 ** 15);
  checkBuffer(arena.device, dst, count, `${what} dst`);
  checkBuffer(arena.device, hist, count, `${what} history`);
  arena.device.kernel('zo_momentum_z')(dst.offset, hist.offset, count, keys[0] | 0, keys[1] | 0, start | 0, coeffs[0], coeffs[1], coeffs[2]);
}

/** hist = clip(round(Σ s_j z_j / m)) from m stored z vectors (z_j at z + j·count). */
export function momentumHistory(arena: Arena, hist: DeviceBuffer, count: number, z: DeviceBuffer, signs: DeviceBuffer, signValues: ArrayLike<number>): void {
  const what = 'momentumHistory';
  const m = signValues.length;
  requireInt(m, `${what}: directions m`, 1, MAX_DIRECTIONS);
  requireInt(count, `${what}: count`, 0, 1 << 30);
  checkBuffer(arena.device, hist, count, `${what} history`);
  checkBuffer(arena.device, z, m * count, `${what} z`);
  checkBuffer(arena.device, signs, m * 4, `${what} signs`);
  new Int32Array(arena.device.memory.buffer, signs.offset, m).set(Array.from(signValues));
  arena.device.kernel('zo_history')(hist.offset, count, z.offset, count, signs.offset, m);
}
