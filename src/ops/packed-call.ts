// Whether a call of a layer with packed weights can run on them: the panels hold the stored
// weights (and, unless packed with separateBias, the stored bias), so a call that perturbs or
// swaps what they hold must pack per call. A separate bias comes with every call, so swapping
// only the bias (the trainer's perturbed bias) still runs on the panels.
import type { PerturbSpec } from '../kernels/perturb-spec.js';
import type { ParamSource } from './types.js';

export type PanelsServe = (perturb: PerturbSpec | undefined, src: ParamSource | undefined) => boolean;

const storedOnly: PanelsServe = (perturb, src) => !perturb && !src;
const storedWeights: PanelsServe = (perturb, src) => !perturb && !src?.weights && !src?.blocks;

export const panelsServe = (separateBias: boolean): PanelsServe => (separateBias ? storedWeights : storedOnly);
