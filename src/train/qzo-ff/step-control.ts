// Step-size control of a QZO-FF step, all integer so the device (and the exported C) computes the same:
//   spread   the update is scaled by how strong this step's loss signal is against the run's usual one
//            (after FZOO, arXiv 2506.09034): A = Σ_i |L⁺_i − L⁻_i| / m (Q16.16 nats summed over the
//            batch, integer division), R = running mean of A (R += (A − R) >> SPREAD_SHIFT, R = A on the
//            first step), scale = min(1, A / R) in Q15. A weak or noisy difference gives a small step.
//   warm-up  scale ×= min(1, (step + 1) / W) in Q15: the first steps, taken before the signs are known
//            to agree, move the weights by a fraction of η.
//   batch    scale ×= √(B/N) in Q15 (integer square root of B·2^30/N) for steps on B of N samples: a
//            mini-batch's signs are noisier, so its steps are shorter (the automatic η for mini-batches).
// The scales multiply the update kernel's multiplier (multiplier·q15 >> 15, exact in 64-bit), never ε.
// The guarded step (reject a step that raises the batch loss) is the trainer's: qzo-ff.ts.
import { ConfigError } from '../../errors.js';

/** One in Q15. */
export const Q15_ONE = 1 << 15;
/** The running spread R moves by 1/2^SPREAD_SHIFT of the gap each step (≈ the last 8 steps). */
export const SPREAD_SHIFT = 3;

export interface StepControlConfig {
  /** Scale each step by min(1, A/R) (loss-spread scaling). */
  spread?: boolean;
  /** Linear warm-up over this many steps (0 or absent: none). */
  warmup?: number;
  /** Scale steps on mini-batches by √(batch / set size). */
  batch?: boolean;
  /** The guard compares with L(w) measured by one more forward before the update, not the mean of the 2m losses. */
  strictGuard?: boolean;
  /** Guarded step: one more forward on the batch after the update; a step that raises the loss is undone. */
  guard?: boolean;
}

/** What the controls carry from step to step (checkpointed with the trainer's state). */
export interface ControlState {
  /** Running spread R (Q16.16 nats summed over the batch); 0 before the first step. */
  spread: number;
}

export function validateControl(c: StepControlConfig): void {
  if (c.warmup !== undefined && !(Number.isInteger(c.warmup) && c.warmup >= 0 && c.warmup <= 1_000_000)) {
    throw new ConfigError(`warm-up must be a whole number of steps in [0, 1000000], got ${c.warmup}`);
  }
}

/** min(1, (step + 1)/W) in Q15 (1 without warm-up). */
export function warmupQ15(step: number, warmup: number | undefined): number {
  if (!warmup || step + 1 >= warmup) return Q15_ONE;
  return Math.floor(((step + 1) * Q15_ONE) / warmup);
}

/** ⌊√x⌋ of a non-negative safe integer, by Newton's method on integers (as C does on uint64_t). */
export function isqrt(x: number): number {
  if (x < 2) return x;
  let r = x;
  let y = Math.floor((r + 1) / 2);
  while (y < r) {
    r = y;
    y = Math.floor((r + Math.floor(x / r)) / 2);
  }
  return r;
}

/** √(B/N) in Q15 for a step on `batch` of `set` samples (1 for the whole set). */
export function batchQ15(batch: number, set: number): number {
  if (batch >= set) return Q15_ONE;
  return isqrt(Math.floor((batch * 2 ** 30) / set));
}

/** A = Σ|L⁺_i − L⁻_i| / m (integer division; each difference saturates at 2^31 − 1). */
export function spreadOf(diffs: readonly number[]): number {
  let sum = 0;
  for (const d of diffs) sum += Math.min(2 ** 31 - 1, Math.abs(d));
  return Math.floor(sum / diffs.length);
}

/** The next running spread: R = A on the first step, else R + ((A − R) >> SPREAD_SHIFT) (arithmetic shift). */
export function nextSpread(running: number, a: number): number {
  if (running === 0) return a;
  return running + Math.floor((a - running) / 2 ** SPREAD_SHIFT);
}

/** min(1, A/R) in Q15, with R the running spread including this step. */
export function spreadQ15(a: number, running: number): number {
  if (running <= 0 || a >= running) return Q15_ONE;
  return Math.floor((a * Q15_ONE) / running);
}

/** This step's Q15 scale of the update and the state after it. */
export function stepScale(
  c: StepControlConfig, state: ControlState, step: number, diffs: readonly number[], batch = { size: 1, set: 1 },
): { q15: number; state: ControlState } {
  let q15 = warmupQ15(step, c.warmup);
  if (c.batch) q15 = Math.floor((q15 * batchQ15(batch.size, batch.set)) / Q15_ONE);
  let next = state;
  if (c.spread) {
    const a = spreadOf(diffs);
    const running = nextSpread(state.spread, a);
    next = { spread: running };
    q15 = Math.floor((q15 * spreadQ15(a, running)) / Q15_ONE);
  }
  return { q15, state: next };
}

/** multiplier·q15 >> 15 (q15 ≤ 1); 0 means the step moves nothing on this tensor. */
export function scaleMultiplier(multiplier: number, q15: number): number {
  if (q15 >= Q15_ONE) return multiplier;
  return Math.floor((multiplier * q15) / Q15_ONE);
}
