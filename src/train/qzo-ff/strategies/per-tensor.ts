// The general path: each trained tensor is perturbed by its kind (fused spec, weight panel or bias
// panel), and the forward reads the panels in place of the stored tensors.
import type { DeviceBuffer } from '../../../device/arena.js';
import type { ParamSource } from '../../../runtime/session.js';
import type { PerturbSpec } from '../../../kernels/perturb-spec.js';
import type { BatchLoss, TrainerParts } from '../tensor.js';
import { perturbByKind, tensorKind } from './tensor-kinds.js';

export interface PerturbedLossOptions {
  seed: number;
  /** Momentum's z slot of this direction; -1 for the sharpness probe, which draws z from its stream. */
  slot: number;
  sign: 1 | -1;
  /** Perturb around the sharpness neighbour instead of the stored tensor. */
  aroundNeighbour: boolean;
}

/** Loss at (base ± ε·z) with base the stored tensor or the sharpness neighbour. */
export function perturbedLoss(parts: TrainerParts, loss: BatchLoss, o: PerturbedLossOptions): number {
  const arena = parts.session.mcu.sram;
  const fused = new Map<string, PerturbSpec>();
  const sources = new Map<string, ParamSource>();
  const restores: (() => void)[] = [];
  const atLayer = new Map<string, () => () => void>();
  // The layer perturbed in place right now: undone when the forward moves to its next op.
  let undoLayer: (() => void) | null = null;
  const source = (n: string): ParamSource | undefined => {
    if (undoLayer) {
      const undo = undoLayer;
      undoLayer = null;
      undo();
    }
    const apply = atLayer.get(n);
    if (apply) undoLayer = apply();
    return sources.get(n);
  };
  try {
    for (const t of parts.tensors) {
      const base = o.aroundNeighbour && t.neighbour ? t.neighbour : t.stored;
      const z: DeviceBuffer | null = o.slot >= 0 && t.z ? arena.sub(t.z, o.slot * t.count, t.count, `${t.z.name}[${o.slot}]`) : null;
      const p = perturbByKind[tensorKind(t)](parts, t, { base, dst: t.panel, seed: o.seed, sign: o.sign, factor: t.eps, z });
      if (p.restore) restores.push(p.restore);
      if (p.atLayer) atLayer.set(t.layer, p.atLayer);
      if (p.fused) fused.set(t.layer, p.fused);
      if (p.read !== t.stored) sources.set(t.layer, { ...sources.get(t.layer), [t.part === 'w' ? 'weights' : 'bias']: p.read });
      if (p.blocks) sources.set(t.layer, { ...sources.get(t.layer), blocks: p.blocks });
    }
    return loss((n) => fused.get(n), sources.size || atLayer.size ? source : undefined);
  } finally {
    // In-place perturbations are undone whatever happened, so the stored tensors leave as they came.
    if (undoLayer) (undoLayer as () => void)();
    for (const r of restores.reverse()) r();
  }
}

export function perTensorDirectionLoss(parts: TrainerParts, loss: BatchLoss, seed: number, slot: number): (sign: 1 | -1) => number {
  return (sign) => perturbedLoss(parts, loss, { seed, slot, sign, aroundNeighbour: true });
}
