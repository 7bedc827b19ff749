// adapt()'s default method — the hybrid (train/hybrid.ts: integer backprop for the head and, where the
// model has one, the layer below it; QZO-FF with the hybrid's own m for the rest) — on one episode,
// with the query accuracy after chosen steps. The convergence curves need the session between steps,
// which adapt() does not hand out, so this lays the run out from adapt's own pieces in adapt's order:
// planRun with adapt's default options (16w8a, full fine-tuning, the frozen-prefix cache on the device
// budget, ADAPT_DEFAULTS' ε/η/dist and defaultDirections('hybrid')), the head-only fallback when the
// tail's sums do not fit, checkRunFits, startSession, HybridTrainer stepping the quantized support set.
// Its final accuracy is what adapt({ method: 'hybrid', steps, seed }) reports as `after`
// (test/experiments.test.ts holds the two equal).
import type { Dataset } from '../data/dataset.js';
import type { FloatModel } from '../model/model.js';
import { quantizeSet } from '../train/batches.js';
import { ADAPT_DEFAULTS, defaultDirections } from '../train/defaults.js';
import { evaluate } from '../train/evaluate.js';
import { HYBRID_DEFAULTS, HybridTrainer } from '../train/hybrid.js';
import { checkRunFits, planDefaultHybrid, planRun, startSession, type RunBudget } from '../train/prepare-run.js';
import type { HybridRecipe } from './fewshot.js';

export interface DefaultRunOptions {
  backbone: FloatModel;
  support: Dataset;
  query: Dataset;
  device: RunBudget;
  steps: number;
  /** adapt()'s seed (the trainer's directions). */
  seed: number;
  /** Steps after which the query accuracy is measured (step 0: before training; the last step always). */
  evalAt: readonly number[];
}

export interface DefaultRun {
  zeroShot: number;
  after: number;
  losses: number[];
  /** [step, query accuracy %], step 0 first. */
  curve: [number, number][];
  /** The hybrid that ran: the layers learned by backprop as the model and budget resolved them, and its defaults. */
  recipe: HybridRecipe;
}

export async function defaultRun(o: DefaultRunOptions): Promise<DefaultRun> {
  const method = 'hybrid' as const;
  const micro = Math.min(ADAPT_DEFAULTS.microBatch, o.support.labels.length);
  const planWith = (bpLayers: 1 | 2 | undefined) => planRun({
    backbone: o.backbone, support: o.support, precision: '16w8a', selection: { kind: 'full' }, microBatch: micro,
    ...(ADAPT_DEFAULTS.reusePrefix ? { prefixCache: { sramBytes: o.device.sramBytes } } : {}),
    method, ...(bpLayers !== undefined ? { bpLayers } : {}),
    trainer: { epsilon: ADAPT_DEFAULTS.epsilon, directions: defaultDirections(method), dist: ADAPT_DEFAULTS.dist, lr: ADAPT_DEFAULTS.lr, schedule: undefined, seed: o.seed },
  });
  // As adapt(): where the tail's gradient sums do not fit the device, the default learns the head alone by backprop.
  const { run } = await planDefaultHybrid(planWith, o.device.sramBytes);
  checkRunFits(run, o.device);
  const session = await startSession(run, o.device);
  const query = quantizeSet(session, o.query);
  const zeroShot = evaluate(session, query).accuracy;
  const trainer = new HybridTrainer(session, run.trainable, { ...run.trainerConfig });
  const set = quantizeSet(session, o.support);
  const at = new Set(o.evalAt);
  const curve: [number, number][] = [[0, zeroShot]];
  const losses: number[] = [];
  while (trainer.step < o.steps) {
    const r = trainer.trainStep(set);
    losses.push(r.loss);
    if (at.has(r.step) || r.step === o.steps) curve.push([r.step, evaluate(session, query).accuracy]);
  }
  const after = o.steps === 0 ? zeroShot : curve.at(-1)![1];
  const recipe: HybridRecipe = {
    bpLayers: run.bpLayers!, tailLr: HYBRID_DEFAULTS.tailLr, headStep: HYBRID_DEFAULTS.headStep, warmup: HYBRID_DEFAULTS.warmup, center: HYBRID_DEFAULTS.center, directions: run.trainerConfig.directions,
  };
  return { zeroShot, after, losses, curve, recipe };
}
