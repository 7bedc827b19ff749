// The hybrid head as the exported C needs it: its shape and the constants of its step. The step
// factors c_w and c_b depend on η, which by default comes from the device's own features on the first
// step (η = headStep/(s_f²·V)), and on the rows summed; so the device derives them in double with the
// emulator's order of operations (src/train/hybrid.ts stepFactors, makeHeadStep), from constants
// emitted here as exact hexadecimal floating-point literals.
import { ConfigError } from '../../errors.js';
import { HYBRID_DEFAULTS, headStepFactors, type HybridTrainer } from '../../train/hybrid.js';

export interface ExportedHead {
  layer: string;
  classes: number;
  features: number;
  featureZero: number;
  weightBits: 8 | 16;
  /** A fixed η (--head-lr), or null: η = headStep/(s_f²·V) measured on the device's first step. */
  lr: number | null;
  headStep: number;
  featureScale: number;
  /** s_f² as the emulator computes it (featureScale ** 2), so the device need not. */
  featureScaleSq: number;
  weightScale: number;
  center: boolean;
  /** Q15 warm-up steps of the head's multipliers. */
  warmup: number;
  /** Forwards whose sums one step adds up: 2m when the body trains by QZO-FF, 1 for the head alone. */
  passes: number;
}

export { headStepFactors };

/** A double as an exact C99 hexadecimal floating-point literal (finite values). */
export function cDouble(x: number): string {
  if (!Number.isFinite(x)) throw new ConfigError(`internal: cannot write ${x} as a C double`);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x);
  const hi = v.getUint32(0);
  const lo = v.getUint32(4);
  const sign = hi >>> 31 ? '-' : '';
  const exp = (hi >>> 20) & 0x7ff;
  const frac = ((hi & 0xfffff).toString(16).padStart(5, '0') + lo.toString(16).padStart(8, '0'));
  // Subnormals: 0x0.<frac>p-1022; normals: 0x1.<frac>p(exp − 1023).
  return exp === 0 ? `${sign}0x0.${frac}p-1022` : `${sign}0x1.${frac}p${exp - 1023}`;
}

export function exportHead(trainer: HybridTrainer, stepBatch: number, passes: number, headLr?: number): ExportedHead {
  const h = trainer.head;
  // A fixed η is validated for the exported batch here (as the trainer does for one row); an η from the
  // features is only known on the device, which refuses a step whose factors fall outside the range.
  if (headLr !== undefined) headStepFactors(h, headLr, passes * stepBatch);
  return {
    layer: h.name, classes: h.classes, features: h.features, featureZero: h.featureZero, weightBits: h.weightBits,
    lr: headLr ?? null, headStep: HYBRID_DEFAULTS.headStep, featureScale: h.featureScale, featureScaleSq: h.featureScale ** 2,
    weightScale: h.weightScale, center: HYBRID_DEFAULTS.center, warmup: HYBRID_DEFAULTS.warmup, passes,
  };
}
