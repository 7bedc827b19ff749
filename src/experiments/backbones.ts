// The backbones the experiments start from. The small CNN files ship from `lastmile pretrain`; the
// ResNet-8 ones are the MLPerf Tiny preset with its input resized to 28×28×1 (the preset is built for
// 32×32×3 CIFAR-10, and `pretrain()` takes a preset name only), pre-trained here with the same recipe
// as `pretrain()`: f32 Adam on the device kernels, a seeded 10% held out for validation.
import { ConfigError } from '../errors.js';
import { selectClasses, subset, type Dataset } from '../data/dataset.js';
import type { Architecture } from '../model/graph.js';
import type { DenseNode, InputNode } from '../model/layers.js';
import { initFloatModel, type FloatModel } from '../model/model.js';
import { architecturePreset } from '../model/presets.js';
import { evaluateFloat, trainBackprop } from '../train/backprop.js';
import { mulberry32, shuffle } from '../util/random.js';
import { loadData } from '../data/source.js';
import { isClassifierHead, isGraphInput } from '../ops/registry.js';

export type DataName = 'mnist' | 'fashion-mnist';
export type BackboneArch = 'mnist-cnn' | 'resnet8';

export interface BackboneSpec {
  file: string;
  arch: BackboneArch;
  data: DataName;
  classes: number[];
  epochs: number;
  seed: number;
}

/** Every backbone the experiments use, by key. The first two are made by `lastmile pretrain` (models/README.md). */
export const BACKBONES: Record<string, BackboneSpec> = {
  'cnn-mnist': { file: 'models/mnist-cnn-digits04.lmdl', arch: 'mnist-cnn', data: 'mnist', classes: [0, 1, 2, 3, 4], epochs: 4, seed: 1 },
  'cnn-fashion': { file: 'models/fashion-cnn-classes04.lmdl', arch: 'mnist-cnn', data: 'fashion-mnist', classes: [0, 1, 2, 3, 4], epochs: 4, seed: 1 },
  'resnet8-mnist': { file: 'models/resnet8-mnist-digits04.lmdl', arch: 'resnet8', data: 'mnist', classes: [0, 1, 2, 3, 4], epochs: 4, seed: 1 },
  'resnet8-fashion': { file: 'models/resnet8-fashion-classes04.lmdl', arch: 'resnet8', data: 'fashion-mnist', classes: [0, 1, 2, 3, 4], epochs: 2, seed: 1 },
};

/** A preset with its input node replaced by the data's shape and its head sized to `classes`. */
export function presetFor(name: string, inputShape: readonly number[], classes: number): Architecture {
  const arch = architecturePreset(name);
  const input = arch.nodes[0] as InputNode;
  if (!isGraphInput(input)) throw new ConfigError(`preset '${name}' does not start with an input node`);
  input.shape = [...inputShape];
  const head = arch.nodes[arch.nodes.length - 1] as DenseNode;
  if (!isClassifierHead(head)) throw new ConfigError(`preset '${name}' has no dense head`);
  head.units = classes;
  return arch;
}

/**
 * The held-out validation part of the pre-training split, reproduced exactly (same shuffle as
 * pretrain(): mulberry32(seed) over the selected classes, the first `fraction` held out). For the
 * bundled MNIST, which has no separate test split, this is the only part of classes 0–4 the
 * backbone never trained on.
 */
export function heldOut(data: Dataset, classes: readonly number[], seed: number, fraction = 0.1): { train: Dataset; validation: Dataset } {
  const d = selectClasses(data, classes);
  const order = shuffle(Array.from({ length: d.labels.length }, (_, i) => i), mulberry32(seed));
  const nVal = Math.floor(d.labels.length * fraction);
  return { validation: subset(d, order.slice(0, nVal)), train: subset(d, order.slice(nVal)) };
}

export interface PretrainedBackbone {
  model: FloatModel;
  validationAccuracy: number;
  trainSamples: number;
  seconds: number;
}

/** pretrain()'s recipe (Adam 3e-3, batch 32, 10% held out) on a preset resized to the data. */
export async function pretrainBackbone(spec: BackboneSpec, onEpoch?: (epoch: number, loss: number) => void): Promise<PretrainedBackbone> {
  const t0 = performance.now();
  const data = await loadData(spec.data, 'train');
  const { train, validation } = heldOut(data, spec.classes, spec.seed);
  const batch = 32;
  const lr = 3e-3;
  const stepsPerEpoch = Math.floor(train.labels.length / batch);
  const init = initFloatModel(presetFor(spec.arch, data.shape, spec.classes.length), spec.seed, {});
  const losses: number[] = [];
  const r = await trainBackprop(init, train, {
    trainable: Object.keys(init.params), optimizer: { kind: 'adam', lr }, batch, steps: stepsPerEpoch * spec.epochs, seed: spec.seed,
    onStep: (step, loss) => {
      losses.push(loss);
      if ((step + 1) % stepsPerEpoch === 0) onEpoch?.((step + 1) / stepsPerEpoch, losses.slice(-stepsPerEpoch).reduce((a, b) => a + b, 0) / stepsPerEpoch);
    },
  });
  const validationAccuracy = (await evaluateFloat(r.model, validation)).accuracy;
  r.model.meta = {
    pretrainedOn: data.name, classes: spec.classes, classNames: spec.classes.map((c) => data.classNames?.[c] ?? String(c)),
    epochs: spec.epochs, batch, lr, seed: spec.seed, trainSamples: train.labels.length, validationAccuracy,
    recipe: `lastmile experiment backbones (preset ${spec.arch}, input ${data.shape.join('×')}, classes ${spec.classes.join(',')}, ${spec.epochs} epochs, Adam ${lr}, batch ${batch}, seed ${spec.seed})`,
  };
  return { model: r.model, validationAccuracy, trainSamples: train.labels.length, seconds: (performance.now() - t0) / 1000 };
}
