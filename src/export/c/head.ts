// The hybrid head as the exported C needs it: its shape, and the SGD factors c_w and c_b as integer
// multiplier/shift pairs. The factors depend on the rows summed (N = passes × batch), so they are
// derived here — by the same float expressions and the same makeHeadStep rounding as the emulator's
// trainer (src/train/hybrid.ts) — for every batch size up to the exported one; the device only
// reads integers.
import { ConfigError } from '../../errors.js';
import { DELTA_FRAC_BITS, makeHeadStep, type HeadStep } from '../../kernels/head-grad.js';
import { HYBRID_HEAD_LR, type HybridTrainer } from '../../train/hybrid.js';

export interface HeadFactor {
  multiplier: number;
  /** Right shift in [1, 62]; 0 marks a batch size the factor cannot be expressed for. */
  totalShift: number;
}

export interface ExportedHead {
  layer: string;
  classes: number;
  features: number;
  featureZero: number;
  weightBits: 8 | 16;
  lr: number;
  /** Forwards whose sums one step adds up: 2m when the body trains by QZO-FF, 1 for the head alone. */
  passes: number;
  /** Index n − 1: the factors of a step on n samples, n in [1, the exported step batch]. */
  weightSteps: HeadFactor[];
  biasSteps: HeadFactor[];
}

/** c_w = η·s_f/(N·2^15·Δw) and c_b = η/(N·2^15·s_f·Δw) for N rows, as HybridTrainer's stepFactors. */
export function headStepFactors(head: HybridTrainer['head'], lr: number, rows: number): { w: HeadStep; b: HeadStep } {
  const unit = rows * 2 ** DELTA_FRAC_BITS;
  return {
    w: makeHeadStep((lr * head.featureScale) / (unit * head.weightScale), `hybrid head weight step of '${head.name}'`),
    b: makeHeadStep(lr / (unit * head.featureScale * head.weightScale), `hybrid head bias step of '${head.name}'`),
  };
}

export function exportHead(trainer: HybridTrainer, stepBatch: number, passes: number, headLr?: number): ExportedHead {
  const h = trainer.head;
  const lr = headLr ?? HYBRID_HEAD_LR;
  const weightSteps: HeadFactor[] = [];
  const biasSteps: HeadFactor[] = [];
  for (let n = 1; n <= stepBatch; n++) {
    let f: { w: HeadStep; b: HeadStep } | null = null;
    try {
      f = headStepFactors(h, lr, passes * n);
    } catch (e) {
      // The exported batch itself was validated by the trainer; a smaller n whose factor no grid can
      // hold is refused by the device at run time (lm_qzo_step returns 1) rather than by the export.
      if (!(e instanceof ConfigError) || n === stepBatch) throw e;
    }
    weightSteps.push(f ? { multiplier: f.w.multiplier, totalShift: f.w.totalShift } : { multiplier: 0, totalShift: 0 });
    biasSteps.push(f ? { multiplier: f.b.multiplier, totalShift: f.b.totalShift } : { multiplier: 0, totalShift: 0 });
  }
  return { layer: h.name, classes: h.classes, features: h.features, featureZero: h.featureZero, weightBits: h.weightBits, lr, passes, weightSteps, biasSteps };
}
