// 8w8a with a residual: the update of an int8 weight tensor that keeps its sub-LSB remainder in a
// per-weight residual (assembly/residual.ts), so small steps accumulate instead of rounding to 0.
// The perturbation is the plain fused one (εq ≥ 1 LSB, see QzoFfTrainer.perturbFactor); only the
// update differs, so the forward passes read the int8 weights as in plain 8w8a.
import { updateWithResidual } from '../../../kernels/residual-update.js';
import type { TensorState, TrainerParts } from '../tensor.js';
import type { TensorUpdate } from './tensor-kinds.js';

export function residualUpdate(parts: TrainerParts, t: TensorState, u: TensorUpdate, keys: number[]): () => void {
  const residual = t.residual!;
  const arena = parts.session.mcu.sram;
  const step = {
    keys: parts.keysBuf, signs: parts.signsBuf, keyValues: keys, signValues: u.signs, dist: parts.config.dist,
    multiplier: u.factor.multiplier, shift: u.factor.shift, bits: residual.bits, mask: t.mask,
  };
  return () => updateWithResidual(arena, t.stored, residual.buffer, t.count, step);
}
