// Which images train and which are held out, from the page's class list: each class may take its
// training images from the bundled set (a seeded share of that class) and from the user's drawings.
// Held-out images are the bundled images not used for training; drawn classes have none.
import type { Dataset } from '../../src/data/dataset.js';
import { imageValues, splitSampleSet, toDataset, type SampleSet } from './samples.js';

export interface ClassPlan {
  name: string;
  /** Class index in the bundled sample set, or null for a class that exists only as drawings. */
  bundled: number | null;
  /** The user's examples, already downsampled to the model's input (values in [0, 1]). */
  drawn: readonly Float32Array[];
}

export interface TrainingData {
  train: Dataset;
  /** Null when no class has bundled images. */
  heldOut: Dataset | null;
}

export const INPUT_SHAPE: [number, number, number] = [28, 28, 1];

export function assembleTrainingData(samples: SampleSet | null, classes: readonly ClassPlan[], split: { shotsPerClass: number; seed: number }): TrainingData {
  if (classes.length < 2) throw new Error(`a classifier needs at least 2 classes, the page has ${classes.length}: load the bundled samples or add classes`);
  const names = classes.map((c) => c.name);
  const usesBundled = classes.some((c) => c.bundled !== null);
  if (usesBundled && !samples) throw new Error('the bundled samples are not loaded yet');
  const parts = usesBundled ? splitSampleSet(samples!, split) : { train: [], heldOut: [] };
  const trainImages: Float32Array[] = [];
  const trainLabels: number[] = [];
  const heldImages: Float32Array[] = [];
  const heldLabels: number[] = [];
  classes.forEach((c, label) => {
    if (c.bundled !== null) {
      for (const i of parts.train) if (samples!.labels[i] === c.bundled) trainImages.push(imageValues(samples!, i)), trainLabels.push(label);
      for (const i of parts.heldOut) if (samples!.labels[i] === c.bundled) heldImages.push(imageValues(samples!, i)), heldLabels.push(label);
    }
    for (const d of c.drawn) trainImages.push(d), trainLabels.push(label);
    if (c.bundled === null && c.drawn.length === 0) throw new Error(`class '${c.name}' has no examples yet: draw a few or remove it`);
  });
  return {
    train: toDataset('page-train', trainImages, trainLabels, names, INPUT_SHAPE),
    heldOut: heldImages.length ? toDataset('page-held-out', heldImages, heldLabels, names, INPUT_SHAPE) : null,
  };
}
