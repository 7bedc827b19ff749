// An in-memory labelled image set: samples as real values in [0, 1], row-major [n][H·W·C].
import { DataError } from '../errors.js';
import { checkDatasetShape, checkIndexList } from '../util/guards.js';

export interface Dataset {
  name: string;
  /** Per-sample shape [H, W, C]. */
  shape: [number, number, number];
  /** n × H·W·C values in [0, 1]. */
  images: Float32Array;
  labels: Int32Array;
  /** Number of classes the labels index into. */
  classes: number;
  /** Human-readable class names, if known. */
  classNames?: string[];
}

export const sampleSize = (d: Dataset): number => d.shape[0] * d.shape[1] * d.shape[2];
export const sampleCount = (d: Dataset): number => d.labels.length;

/** Checks sizes, labels and values at the host boundary, before anything reaches the device. */
export function validateDataset(d: Dataset): void {
  const size = sampleSize(d);
  if (d.images.length !== d.labels.length * size) {
    throw new DataError(`dataset '${d.name}': ${d.images.length} values for ${d.labels.length} samples of ${d.shape.join('×')} (expected ${d.labels.length * size})`);
  }
  for (let i = 0; i < d.labels.length; i++) {
    const l = d.labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= d.classes) throw new DataError(`dataset '${d.name}': label ${l} of sample ${i} is outside [0, ${d.classes - 1}]`);
  }
  for (let i = 0; i < d.images.length; i++) {
    const v = d.images[i]!;
    if (!Number.isFinite(v)) throw new DataError(`dataset '${d.name}': sample ${Math.floor(i / size)} contains ${v}; remove or repair it`);
  }
}

/** The samples at the given indices, in that order. */
export function subset(d: Dataset, indices: ArrayLike<number>, name?: string): Dataset {
  checkDatasetShape(d, 'subset: data');
  checkIndexList(indices, d.labels.length, 'subset: indices');
  const size = sampleSize(d);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    images.set(d.images.subarray(i * size, (i + 1) * size), j * size);
    labels[j] = d.labels[i]!;
  }
  return { ...d, name: name ?? d.name, images, labels };
}

/** Keep only the given classes, relabelled 0..k−1 in the order given. */
export function selectClasses(d: Dataset, classes: readonly number[], name?: string): Dataset {
  checkDatasetShape(d, 'selectClasses: data');
  checkIndexList(classes, Math.max(d.classes, 1), 'selectClasses: classes');
  const remap = new Map(classes.map((c, i) => [c, i]));
  const keep: number[] = [];
  for (let i = 0; i < d.labels.length; i++) if (remap.has(d.labels[i]!)) keep.push(i);
  const out = subset(d, keep, name);
  out.labels = out.labels.map((l) => remap.get(l)!);
  out.classes = classes.length;
  if (d.classNames) out.classNames = classes.map((c) => d.classNames![c]!);
  return out;
}
