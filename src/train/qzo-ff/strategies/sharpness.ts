// Sharpness-aware perturbation: one probe pair picks an ascent direction s0, and the step's
// directions are evaluated around the neighbour w + ρ·s0·z0 instead of w.
import { lossSign } from '../../../kernels/loss.js';
import { PROBE_DIRECTION, directionSeed, type BatchLoss, type TrainerParts } from '../tensor.js';
import { perturbBiasIntoPanel, perturbIntoPanel } from './tensor-kinds.js';
import { perturbedLoss } from './per-tensor.js';

/** s0 = sign(L(w+εz0) − L(w−εz0)); neighbour = w + s0·ρ·z0 in each tensor's neighbour buffer. */
export function probeNeighbour(parts: TrainerParts, loss: BatchLoss, step: number): void {
  const seed = directionSeed(parts.config.seed, step, PROBE_DIRECTION);
  const lPlus = perturbedLoss(parts, loss, { seed, slot: -1, sign: 1, aroundNeighbour: false });
  const lMinus = perturbedLoss(parts, loss, { seed, slot: -1, sign: -1, aroundNeighbour: false });
  const s0 = lossSign(lPlus, lMinus);
  for (const t of parts.tensors) {
    const n = t.neighbour!;
    if (s0 === 0) {
      // No ascent direction: the neighbour is the point itself.
      parts.session.mcu.device.bytes.copyWithin(n.offset, t.stored.offset, t.stored.offset + n.bytes);
      continue;
    }
    const write = t.part === 'b' ? perturbBiasIntoPanel : perturbIntoPanel;
    write(parts, t, { base: t.stored, dst: n, seed, sign: s0, factor: t.rho!, z: null });
  }
}
