// One QZO-FF step, the paper's path top to bottom (Feng et al., NeurIPS 2024):
//   for i in 1..m:  L⁺_i = L(w + εz_i; B),  L⁻_i = L(w − εz_i; B),  s_i = sign(L⁺_i − L⁻_i)
//   w ← clamp(w − round(c · Σ_i s_i·z_i))
// How z reaches the forward pass and which kernel applies the update are the mode's business
// (strategies/); phase hooks, profiling and the deferred exception are the instruments' (instruments.ts).
import { lossSign } from '../../kernels/loss.js';
import { directionSeed } from './tensor.js';
import type { StepInstruments, PlannedUpdate } from './instruments.js';

/** What a training mode supplies around the fixed path of a step. */
export interface StepMode {
  /** Work before the directions (sharpness probe, momentum's z); may write scratch, never weights. */
  beforeDirections(step: number): void;
  /** Set up direction `slot` (seed `seed`) and return L(w + sign·ε·z) on the step's batch. */
  directionLoss(seed: number, slot: number): (sign: 1 | -1) => number;
  /** One update per trained tensor, every argument derived and validated; nothing is written yet. */
  planUpdates(seeds: readonly number[], signs: readonly number[], lr: number, scaleQ15: number): PlannedUpdate[];
  /** State carried to the next step once the weights are written (momentum's history). */
  afterUpdates(signs: readonly number[]): void;
}

export interface StepOutcome {
  signs: number[];
  /** Σ_i (L⁺_i + L⁻_i)/2, Q16.16 nats summed over the batch. */
  lossSum: number;
  /** L⁺_i − L⁻_i per direction (Q16.16, summed over the batch). */
  diffs: number[];
  /** Σ_i (L⁺_i + L⁻_i), integer: the guarded step's reference (2m times the mean loss). */
  pairSum: number;
  /** An exception a hook threw during the committed update, to re-throw once the step is counted. */
  deferred: unknown;
}

/** `scale` (step-control.ts) turns the step's loss differences into a Q15 factor on the update (1 = 2^15). */
export function qzoFfStep(
  mode: StepMode, io: StepInstruments, run: { seed: number; step: number; directions: number; lr: number; scale?: (diffs: readonly number[]) => number },
): StepOutcome {
  const { step } = run;
  mode.beforeDirections(step);
  const seeds: number[] = [];
  const signs: number[] = [];
  const diffs: number[] = [];
  let lossSum = 0;
  let pairSum = 0;
  for (let i = 0; i < run.directions; i++) {
    const seed = directionSeed(run.seed, step, i);
    const lossAt = mode.directionLoss(seed, i);
    const lPlus = lossAt(1);
    io.phase('between-forwards', { step, direction: i });
    const lMinus = lossAt(-1);
    seeds.push(seed);
    signs.push(lossSign(lPlus, lMinus));
    diffs.push(lPlus - lMinus);
    lossSum += (lPlus + lMinus) / 2;
    pairSum += lPlus + lMinus;
    io.phase('after-direction', { step, direction: i });
  }
  const updates = mode.planUpdates(seeds, signs, run.lr, run.scale ? run.scale(diffs) : 1 << 15);
  io.phase('before-update', { step });
  const deferred = io.commit(step, updates, () => mode.afterUpdates(signs));
  return { signs, lossSum, diffs, pairSum, deferred };
}
