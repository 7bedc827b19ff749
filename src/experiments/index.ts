// The experiment registry: name → run function, and where results live.
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';
import type { ExperimentOptions } from './common.js';
import { runConvergence } from './convergence.js';
import { runCrossDomain } from './cross-domain.js';
import { runFewshot } from './fewshot.js';
import { runMemory } from './memory.js';
import { runOod } from './ood.js';

/** In the order `all` runs them: cheapest first, so a broken setup fails fast. */
export const EXPERIMENT_NAMES = ['memory', 'convergence', 'cross-domain', 'ood', 'fewshot'] as const;
export type ExperimentName = (typeof EXPERIMENT_NAMES)[number];

export const EXPERIMENTS: Record<ExperimentName, (o: ExperimentOptions) => Promise<{ experiment: string; seconds: number }>> = {
  memory: runMemory,
  convergence: runConvergence,
  'cross-domain': runCrossDomain,
  ood: runOod,
  fewshot: runFewshot,
};

export const defaultResultsDir = (): string => join(packageRoot(), 'experiments', 'results');
export const defaultReportPath = (): string => join(packageRoot(), 'docs', 'RESULTS.md');

export { runConvergence, runCrossDomain, runFewshot, runMemory, runOod };
