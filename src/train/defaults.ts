// The one source of adapt's defaults: the library (train/adapt.ts) and the CLI (`lastmile adapt`
// option defaults and help) both read these, so a call without an option and a command without a
// flag train the same way. The values are the CLI's documented ones (README, docs/TRAINING.md).
export const ADAPT_DEFAULTS = {
  /** Perturbation size ε in real units. */
  epsilon: 1e-3,
  /** Directions per step m (2m forward passes) of the paper's methods (qzo-ff, ff-float): the paper's m = 3. */
  directions: 3,
  /**
   * m for the hybrid. Its last two layers learn from exact gradients, so the body's sign-SPSA estimate
   * matters less: on the tuning episodes (seeds 9000–9003, bench/hybrid-tune.ts) m = 1 ends level with
   * m = 3 (MNIST −0.8, Fashion +0.3 points, no early damage) at a third of the forward passes per step
   * (docs/TRAINING.md "Directions per step").
   */
  hybridDirections: 1,
  /** QZO-FF / float-ZO learning rate η. */
  lr: 3e-3,
  /** Zeroth-order steps. */
  steps: 1000,
  /** Samples per forward call on the device. */
  microBatch: 5,
  dist: 'gaussian' as const,
  seed: 1,
  /** The training method (docs/TRAINING.md "The default method is the hybrid"); where the hybrid cannot run, the default falls back to qzo-ff with a note (method-choice.ts). */
  method: 'hybrid' as 'qzo-ff' | 'hybrid',
  /** Adam's η for --method bp; the baseline every comparison prints is BP_RECIPE (bp-recipe.ts), with this η. */
  bpLr: 1e-2,
  /** Run the layers before the first trained one once per sample when the cache fits (train/qzo-ff/prefix.ts). */
  reusePrefix: true,
};

/** The default m of a method: the hybrid's own, else the paper's. */
export function defaultDirections(method: string | undefined): number {
  return (method ?? ADAPT_DEFAULTS.method) === 'hybrid' ? ADAPT_DEFAULTS.hybridDirections : ADAPT_DEFAULTS.directions;
}
