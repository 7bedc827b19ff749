// A step's mode, composed from the configured strategies. To add a training mode: give it a file here
// that hooks one of the StepMode points (before the directions, the direction loss, the per-tensor
// perturbation/update by kind, after the update) and wire it below; step.ts does not change.
import { streamKey } from '../../../kernels/rng.js';
import type { StepMode } from '../step.js';
import type { StepInstruments, PlannedUpdate } from '../instruments.js';
import type { BatchLoss, TrainerParts } from '../tensor.js';
import { fusedDirectionLoss } from './fused.js';
import { perTensorDirectionLoss } from './per-tensor.js';
import { probeNeighbour } from './sharpness.js';
import { advanceMomentumHistory, drawMomentumDirections } from './momentum.js';
import { tensorKind, updateByKind } from './tensor-kinds.js';
import { scaleMultiplier } from '../step-control.js';

/** The mode of step `step` on one batch (`loss` evaluates that batch). */
export function stepMode(parts: TrainerParts, loss: BatchLoss, io: StepInstruments, step: number): StepMode {
  const { config, tensors } = parts;
  // The paper's path applies when nothing is materialised: every tensor fused, no neighbour.
  const paperPath = !config.sharpness && tensors.every((t) => tensorKind(t) === 'fused');
  return {
    beforeDirections(step) {
      if (config.sharpness) {
        io.time('sharpness probe', 'forward', () => {
          probeNeighbour(parts, loss, step);
          io.phase('probe', { step });
        });
      }
      if (config.momentum) drawMomentumDirections(parts, config.momentum, step);
    },
    directionLoss(seed, slot) {
      return paperPath ? fusedDirectionLoss(parts, loss, io.time, seed, slot) : perTensorDirectionLoss(parts, loss, seed, slot);
    },
    planUpdates(seeds, signs, lr, scaleQ15) {
      const device = parts.session.mcu.device;
      const planned: PlannedUpdate[] = [];
      for (const t of tensors) {
        let factor;
        try {
          factor = parts.updateFactor(t, lr);
        } catch (e) {
          if (lr < config.lr) continue; // a decayed rate that no longer moves any weight: skip, not fail
          throw e;
        }
        factor = { ...factor, multiplier: scaleMultiplier(factor.multiplier, scaleQ15) };
        if (factor.multiplier === 0) continue; // scaled below one multiplier step: this tensor does not move
        const keys = seeds.map((s) => streamKey(device, s, t.tensorId));
        planned.push({ layer: t.layer, run: updateByKind[tensorKind(t)](parts, t, { signs, factor, step }, keys) });
      }
      return planned;
    },
    afterUpdates(signs) {
      advanceMomentumHistory(parts, signs);
    },
  };
}
