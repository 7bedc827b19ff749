// Momentum-guided sampling: before the directions, each direction's z = β·z1 + (1−β)·z2 is
// materialised in int8 from the history ĝ; after the update, ĝ ← clip(round(Σ s_i·z_i / m)).
import { streamKey } from '../../../kernels/rng.js';
import { momentumCoefficients, momentumHistory, momentumZ } from '../../../kernels/materialised-zo.js';
import { MOMENTUM_SALT, directionSeed, type TrainerParts } from '../tensor.js';
import type { Schedulable } from '../../qzo-ff.js';

export const atStep = (v: Schedulable, step: number): number => (typeof v === 'function' ? v(step) : v);

export function drawMomentumDirections(parts: TrainerParts, momentum: { alpha: Schedulable; beta: Schedulable }, step: number): void {
  const device = parts.session.mcu.device;
  const arena = parts.session.mcu.sram;
  const coeffs = momentumCoefficients(atStep(momentum.alpha, step), atStep(momentum.beta, step));
  for (let i = 0; i < parts.config.directions; i++) {
    const seed = directionSeed(parts.config.seed, step, i);
    for (const t of parts.tensors) {
      const keys: [number, number] = [streamKey(device, seed, t.tensorId), streamKey(device, (seed ^ MOMENTUM_SALT) >>> 0, t.tensorId)];
      momentumZ(arena, arena.sub(t.z!, i * t.count, t.count, `${t.z!.name}[${i}]`), t.history!, t.count, keys, coeffs);
    }
  }
}

export function advanceMomentumHistory(parts: TrainerParts, signs: readonly number[]): void {
  const arena = parts.session.mcu.sram;
  for (const t of parts.tensors) if (t.history) momentumHistory(arena, t.history, t.count, t.z!, parts.signsBuf, signs);
}
