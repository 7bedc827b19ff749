// Pre-training a backbone with f32 backprop on the device (Adam), on a subset of classes — how the
// shipped backbones are made (see models/README.md for the exact commands).
import { checkDatasetShape, checkOptionsObject } from '../util/guards.js';
import { checkSeed } from './guards.js';
import { ConfigError } from '../errors.js';
import { selectClasses, subset, type Dataset } from '../data/dataset.js';
import { initFloatModel, type FloatModel } from '../model/model.js';
import type { DenseNode } from '../model/layers.js';
import { architecturePreset } from '../model/presets.js';
import type { BuildFlavor } from '../device/features.js';
import { evaluateFloat, trainBackprop } from './backprop.js';
import { mulberry32, shuffle } from '../util/random.js';
import { isClassifierHead } from '../ops/registry.js';

export interface PretrainOptions {
  architecture: string;
  data: Dataset;
  /** Source classes to learn (relabelled 0..k−1). */
  classes: number[];
  epochs: number;
  batch?: number;
  lr?: number;
  seed?: number;
  /** Fraction of the data held out for validation. */
  validation?: number;
  build?: BuildFlavor | 'auto';
  onEpoch?: (epoch: number, loss: number) => void;
  /** After every optimizer step (1-based `step` of `total`), for progress displays. */
  onStep?: (step: number, total: number, loss: number) => void;
}

export interface PretrainResult {
  model: FloatModel;
  validationAccuracy: number;
  trainSamples: number;
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  checkOptionsObject(o, 'pretrain');
  checkDatasetShape(o.data, 'data');
  if (o.seed !== undefined) checkSeed(o.seed);
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new ConfigError(`epochs must be a positive integer, got ${o.epochs}`);
  const seed = o.seed ?? 1;
  const arch = architecturePreset(o.architecture);
  const head = arch.nodes[arch.nodes.length - 1] as DenseNode;
  if (!isClassifierHead(head)) throw new ConfigError(`architecture '${o.architecture}' has no dense classifier head to pre-train`);
  head.units = o.classes.length;
  const data = selectClasses(o.data, o.classes);
  const order = shuffle(Array.from({ length: data.labels.length }, (_, i) => i), mulberry32(seed));
  const nVal = Math.floor(data.labels.length * (o.validation ?? 0.1));
  const val = subset(data, order.slice(0, nVal));
  const train = subset(data, order.slice(nVal));
  const batch = o.batch ?? 32;
  const stepsPerEpoch = Math.floor(train.labels.length / batch);
  let model = initFloatModel(arch, seed, {});
  const trainable = Object.keys(model.params);
  const losses: number[] = [];
  const r = await trainBackprop(model, train, {
    trainable, optimizer: { kind: 'adam', lr: o.lr ?? 3e-3 }, batch, steps: stepsPerEpoch * o.epochs, seed, build: o.build,
    onStep: (step, loss) => {
      losses.push(loss);
      o.onStep?.(step + 1, stepsPerEpoch * o.epochs, loss);
      if ((step + 1) % stepsPerEpoch === 0) {
        const recent = losses.slice(-stepsPerEpoch);
        o.onEpoch?.((step + 1) / stepsPerEpoch, recent.reduce((a, b) => a + b, 0) / recent.length);
      }
    },
  });
  model = r.model;
  const validationAccuracy = nVal > 0 ? (await evaluateFloat(model, val, o.build)).accuracy : NaN;
  model.meta = {
    pretrainedOn: o.data.name,
    classes: o.classes,
    classNames: o.classes.map((c) => o.data.classNames?.[c] ?? String(c)),
    epochs: o.epochs,
    batch,
    lr: o.lr ?? 3e-3,
    seed,
    trainSamples: train.labels.length,
    validationAccuracy,
  };
  return { model, validationAccuracy, trainSamples: train.labels.length };
}
