// How each kind of trained tensor is perturbed and updated, looked up by kind:
//   fused  weights whose ε·z goes into weight packing (a PerturbSpec; the paper's path),
//   panel  weights perturbed in place, layer by layer (a dense layer block by block of output units) as the
//          forward reaches them, with their trainable values saved in the backup and restored after they ran
//          (sparse mask, dither, momentum's z),
//   bias   int32 biases, perturbed in place (exactly undone after the forward pass), so no panel.
import type { DeviceBuffer } from '../../../device/arena.js';
import { ONE_Q, streamKey } from '../../../kernels/rng.js';
import type { PerturbSpec } from '../../../kernels/perturb-spec.js';
import { perturbBias, perturbBiasInPlace, perturbInPlace, perturbMaterialised, restoreBiasInPlace, restoreInPlace, updateBias, updateMaterialised, type MaterialisedPerturb, type StagedDirections } from '../../../kernels/materialised-zo.js';
import type { UnitBlocks } from '../../../ops/types.js';
import type { BackupBlocks } from '../backup-blocks.js';
import { DITHER_SALT, PROBE_DIRECTION, directionSeed, type PerturbFactor, type TensorState, type TrainerParts, type UpdateFactor } from '../tensor.js';
import { fusedUpdate } from './fused.js';
import { residualUpdate } from './residual.js';

export type TensorKind = 'fused' | 'panel' | 'bias';
export const tensorKind = (t: TensorState): TensorKind => (t.part === 'b' ? 'bias' : t.panel ? 'panel' : 'fused');

/** One perturbation of a tensor: base ± factor·z, written to dst (or fused when dst is null). */
export interface TensorPerturbation {
  base: DeviceBuffer;
  dst: DeviceBuffer | null;
  seed: number;
  sign: 1 | -1;
  factor: PerturbFactor;
  /** Momentum's stored z for this direction, or null to draw z from the stream. */
  z: DeviceBuffer | null;
}

/**
 * The buffer the forward reads (or a fused spec over `base`). `restore` undoes an in-place perturbation
 * made now; `atLayer` makes one when the forward reaches the layer and returns its undo.
 */
type Perturbed = { read: DeviceBuffer; fused?: PerturbSpec; restore?: () => void; atLayer?: () => () => void; blocks?: UnitBlocks };

/** The dither stream of a direction, apart from its z stream. */
const ditherKey = (parts: TrainerParts, seed: number, t: TensorState) => streamKey(parts.session.mcu.device, (seed ^ DITHER_SALT) >>> 0, t.tensorId);

/** base ± ε·z into dst through the materialising kernel (mask and dither applied there). */
export function perturbIntoPanel(parts: TrainerParts, t: TensorState, p: TensorPerturbation & { dst: DeviceBuffer }): Perturbed {
  const key = streamKey(parts.session.mcu.device, p.seed, t.tensorId);
  perturbMaterialised(parts.session.mcu.sram, p.base, p.dst, t.count, t.bits as 8 | 16, {
    z: p.z, key, dist: parts.config.dist, signedEps: p.sign * p.factor.epsQ, ...parts.inverseOneQ, mask: t.mask,
    dither: p.factor.dither ? { key: ditherKey(parts, p.seed, t), factor: p.factor.dither } : null,
  });
  return { read: p.dst };
}

export function perturbBiasIntoPanel(parts: TrainerParts, t: TensorState, p: TensorPerturbation & { dst: DeviceBuffer }): Perturbed {
  const key = streamKey(parts.session.mcu.device, p.seed, t.tensorId);
  perturbBias(parts.session.mcu.sram, p.base, p.dst, t.count, { z: p.z, key, dist: parts.config.dist, sign: p.sign, ...p.factor.bias! });
  return { read: p.dst };
}

/** base ± ε·z written over base when the forward reaches the layer; its trainable values wait in the backup. */
export function perturbWeightsAtLayer(parts: TrainerParts, t: TensorState, p: TensorPerturbation): Perturbed {
  const arena = parts.session.mcu.sram;
  const backup = t.panel!;
  const key = streamKey(parts.session.mcu.device, p.seed, t.tensorId);
  const args = {
    z: p.z, key, dist: parts.config.dist, signedEps: p.sign * p.factor.epsQ, ...parts.inverseOneQ, mask: t.mask,
    dither: p.factor.dither ? { key: ditherKey(parts, p.seed, t), factor: p.factor.dither } : null,
  };
  const bits = t.bits as 8 | 16;
  if (t.blocks) return { read: p.base, blocks: perturbBlocksInPlace(parts, t, t.blocks, p.base, args) };
  return {
    read: p.base,
    atLayer: () => {
      perturbInPlace(arena, p.base, backup, t.count, t.trained, bits, args);
      return () => restoreInPlace(arena, p.base, backup, t.count, t.trained, bits, t.mask);
    },
  };
}

/**
 * The same perturbation, one block of output units at a time as the op reaches it: each block's elements
 * (stream indices, mask bits and z slots of the whole layer's) perturbed in place with their trainable
 * values in the backup, restored once the block ran. The backup holds one block.
 */
function perturbBlocksInPlace(parts: TrainerParts, t: TensorState, blocks: BackupBlocks, base: DeviceBuffer, args: MaterialisedPerturb): UnitBlocks {
  const arena = parts.session.mcu.sram;
  const backup = t.panel!;
  const bits = t.bits as 8 | 16;
  const esize = bits / 8;
  const per = blocks.weightsPerUnit;
  const { key, dist, signedEps, multiplier, shift, dither } = args;
  return {
    units: blocks.units,
    enter(start, end) {
      const first = start * per;
      const count = (end - start) * per;
      const trained = blocks.trained[start / blocks.units]!;
      const w = { name: base.name, offset: base.offset + first * esize, bytes: count * esize };
      // A block starts on a mask byte (backup-blocks.ts), so its mask is a byte range of the layer's.
      const mask = t.mask ? { name: t.mask.name, offset: t.mask.offset + (first >> 3), bytes: Math.ceil(count / 8) } : null;
      const z = args.z ? { name: args.z.name, offset: args.z.offset + first, bytes: count } : null;
      perturbInPlace(arena, w, backup, count, trained, bits, { z, key, start: first, dist, signedEps, multiplier, shift, mask, dither });
      return () => restoreInPlace(arena, w, backup, count, trained, bits, mask);
    },
  };
}

/** base ± ε·z written over base itself; the forward reads base, and `restore` puts it back bit for bit. */
export function perturbBiasInBase(parts: TrainerParts, t: TensorState, p: TensorPerturbation): Perturbed {
  const arena = parts.session.mcu.sram;
  const args = { z: p.z, key: streamKey(parts.session.mcu.device, p.seed, t.tensorId), dist: parts.config.dist, sign: p.sign, ...p.factor.bias! };
  perturbBiasInPlace(arena, p.base, t.count, args);
  return { read: p.base, restore: () => restoreBiasInPlace(arena, p.base, t.count, args) };
}

export const perturbByKind: Record<TensorKind, (parts: TrainerParts, t: TensorState, p: TensorPerturbation) => Perturbed> = {
  fused: (parts, t, p) => ({
    read: p.base,
    fused: { key: streamKey(parts.session.mcu.device, p.seed, t.tensorId), start: 0, dist: parts.config.dist, signedEps: p.sign * p.factor.epsQ, oneQ: ONE_Q, ...parts.inverseOneQ },
  }),
  panel: perturbWeightsAtLayer,
  bias: perturbBiasInBase,
};

/** What an update of one tensor gets: the step's signs, its factor, the step. */
export interface TensorUpdate {
  signs: readonly number[];
  factor: UpdateFactor;
  step: number;
}

const staged = (parts: TrainerParts, t: TensorState, u: TensorUpdate, keys: number[]): StagedDirections =>
  ({ keys: parts.keysBuf, signs: parts.signsBuf, keyValues: keys, signValues: u.signs, z: t.z });

/** Weights with stored z (momentum) or a dithered update go through the materialising update kernel. */
function materialisedUpdate(parts: TrainerParts, t: TensorState, u: TensorUpdate, keys: number[]): () => void {
  const { config } = parts;
  const arena = parts.session.mcu.sram;
  const ditherKeyValue = u.factor.dither ? streamKey(parts.session.mcu.device, directionSeed(config.seed, u.step, PROBE_DIRECTION + 1), t.tensorId) : null;
  const dirs = staged(parts, t, u, keys);
  return () => updateMaterialised(arena, t.stored, t.count, t.bits as 8 | 16, dirs, { dist: config.dist, multiplier: u.factor.multiplier, shift: u.factor.shift, mask: t.mask, ditherKey: ditherKeyValue });
}

function weightUpdate(parts: TrainerParts, t: TensorState, u: TensorUpdate, keys: number[]): () => void {
  if (t.residual) return residualUpdate(parts, t, u, keys);
  return !t.z && !u.factor.dither ? fusedUpdate(parts, t, keys, u.signs, u.factor) : materialisedUpdate(parts, t, u, keys);
}

export const updateByKind: Record<TensorKind, (parts: TrainerParts, t: TensorState, u: TensorUpdate, keys: number[]) => () => void> = {
  fused: weightUpdate,
  panel: weightUpdate,
  bias: (parts, t, u, keys) => {
    const dirs = staged(parts, t, u, keys);
    return () => updateBias(parts.session.mcu.sram, t.stored, t.count, dirs, { dist: parts.config.dist, ...u.factor });
  },
};
