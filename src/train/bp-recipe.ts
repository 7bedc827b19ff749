// The one backprop baseline every comparison uses (adapt's "f32 backprop, same data" line, the
// experiments, the reports): f32 Adam at a fixed η, full batch, trained until the full-batch training
// loss plateaus. η was chosen once on tuning episodes whose seeds (9000+) no reported experiment uses
// (bench/bp-recipe.ts reproduces the grid; docs/TRAINING.md has the table).
import type { Dataset } from '../data/dataset.js';
import type { FloatModel } from '../model/model.js';
import type { Budget } from '../device/mcu.js';
import type { BuildFlavor } from '../device/features.js';
import { ConfigError } from '../errors.js';
import type { OptimizerSpec } from '../runtime/backprop-session.js';
import { trainBackprop, type BackpropResult } from './backprop.js';
import { ADAPT_DEFAULTS } from './defaults.js';

export interface BpRecipe {
  optimizer: 'adam';
  lr: number;
  /**
   * Stop once `patience` steps in a row have not brought the full-batch loss below
   * best·(1 − minRelativeGain) − minAbsoluteGain (best: the lowest loss that last counted as progress).
   * The absolute part ends runs whose loss decays towards 0 on a support set the model already fits:
   * a purely relative rule never stops those.
   */
  patience: number;
  minRelativeGain: number;
  /** In nats per sample. */
  minAbsoluteGain: number;
  /** Hard cap on optimizer steps. */
  maxSteps: number;
}

export const BP_RECIPE: Readonly<BpRecipe> = Object.freeze({ optimizer: 'adam', lr: ADAPT_DEFAULTS.bpLr, patience: 50, minRelativeGain: 1e-4, minAbsoluteGain: 1e-3, maxSteps: 2000 });

export const bpOptimizer = (recipe: BpRecipe = BP_RECIPE): OptimizerSpec => ({ kind: recipe.optimizer, lr: recipe.lr });

export type StopRule = Pick<BpRecipe, 'patience' | 'minRelativeGain' | 'minAbsoluteGain' | 'maxSteps'>;

/** One line for reports: what the baseline was. */
export const describeBpRecipe = (recipe: BpRecipe = BP_RECIPE, steps?: number): string =>
  `Adam η=${recipe.lr}, full batch, to loss plateau${steps === undefined ? '' : ` (${steps} steps)`}`;

/**
 * The stopping rule as a pure function of the loss history (losses[i] is the full-batch loss before
 * step i's update): true once `patience` consecutive steps have not improved the best loss so far by
 * the relative gain, or the cap is reached.
 */
export function plateauReached(losses: readonly number[], recipe: StopRule = BP_RECIPE): boolean {
  if (losses.length >= recipe.maxSteps) return true;
  let best = Number.POSITIVE_INFINITY;
  let since = 0;
  for (const l of losses) {
    if (best === Number.POSITIVE_INFINITY || l < best * (1 - recipe.minRelativeGain) - recipe.minAbsoluteGain) {
      best = l;
      since = 0;
    } else since++;
  }
  return since >= recipe.patience;
}

/** An incremental form of plateauReached for a training loop (same decisions, O(1) per step). */
export function plateauTracker(recipe: StopRule = BP_RECIPE): (loss: number) => boolean {
  let best = Number.POSITIVE_INFINITY;
  let since = 0;
  let count = 0;
  return (loss) => {
    count++;
    if (best === Number.POSITIVE_INFINITY || loss < best * (1 - recipe.minRelativeGain) - recipe.minAbsoluteGain) {
      best = loss;
      since = 0;
    } else since++;
    return since >= recipe.patience || count >= recipe.maxSteps;
  };
}

export interface RecipeRunOptions {
  trainable: readonly string[];
  seed: number;
  recipe?: BpRecipe;
  /**
   * Mini-batch training (--split full, --epochs): the recipe's optimizer and η on batches of this
   * size for exactly `steps` steps (the same epoch budget the compared method gets); the plateau
   * rule needs a full-batch loss and is not used.
   */
  miniBatch?: { batch: number; steps: number };
  budget?: Budget;
  build?: BuildFlavor | 'auto';
  onStep?: (step: number, loss: number) => void;
}

/** The baseline: train `model` on `data` with the recipe. */
export async function trainBackpropRecipe(model: FloatModel, data: Dataset, o: RecipeRunOptions): Promise<BackpropResult> {
  const recipe = o.recipe ?? BP_RECIPE;
  if (!(Number.isFinite(recipe.lr) && recipe.lr > 0)) throw new ConfigError(`backprop recipe: η must be a finite number > 0, got ${recipe.lr}`);
  if (!(Number.isInteger(recipe.maxSteps) && recipe.maxSteps >= 1)) throw new ConfigError(`backprop recipe: the step cap must be an integer ≥ 1, got ${recipe.maxSteps}`);
  const common = { trainable: o.trainable, optimizer: bpOptimizer(recipe), seed: o.seed, ...(o.budget ? { budget: o.budget } : {}), ...(o.build ? { build: o.build } : {}), ...(o.onStep ? { onStep: o.onStep } : {}) };
  if (o.miniBatch) return trainBackprop(model, data, { ...common, batch: o.miniBatch.batch, steps: o.miniBatch.steps });
  const stop = plateauTracker(recipe);
  return trainBackprop(model, data, { ...common, batch: data.labels.length, steps: recipe.maxSteps, stop: (_step, loss) => stop(loss) });
}
