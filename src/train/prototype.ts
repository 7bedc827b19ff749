// Prototype (nearest class-mean) head for classes the backbone never saw — the SimpleShot/ProtoNet
// starting point the paper adapts from. Features are the head's input, computed by the float model
// on the device; the new head scores a sample by its (scaled) negative squared distance to each
// class mean: logit_c = τ·(f·μ_c − ‖μ_c‖²/2), the same argmax as the nearest mean.
import { ConfigError, DataError } from '../errors.js';
import { sampleSize, validateDataset, type Dataset } from '../data/dataset.js';
import { resolveGraph } from '../model/graph.js';
import type { DenseNode } from '../model/layers.js';
import type { FloatModel } from '../model/model.js';
import { BackpropSession } from '../runtime/backprop-session.js';
import { lowerGraph } from '../runtime/lowering.js';
import { Mcu } from '../device/mcu.js';
import type { BuildFlavor } from '../device/features.js';
import { isClassifierHead } from '../ops/registry.js';

/** Logit gap the temperature aims for between a typical class mean and the origin. */
const TARGET_LOGIT_SCALE = 8;

export async function embed(model: FloatModel, data: Dataset, build?: BuildFlavor | 'auto'): Promise<{ features: Float32Array; dim: number }> {
  validateDataset(data);
  const graph = resolveGraph(model.architecture);
  const lowered = lowerGraph(graph);
  const head = lowered.ops[lowered.ops.length - 1]!;
  if (!isClassifierHead(head.node.node)) throw new ConfigError(`model '${model.architecture.name}' does not end in a dense head`);
  const featureTensor = head.inputs[0]!;
  const dim = head.node.weightShape![1]!;
  const batch = Math.min(32, data.labels.length);
  const plan = BackpropSession.plan(model, { batch, trainable: new Set(), optimizer: { kind: 'sgd', lr: 1 } });
  const mcu = await Mcu.create({ budget: { sramBytes: plan.sramBytes + 16, flashBytes: plan.flashBytes + 16 }, build });
  const session = new BackpropSession(mcu, model, { batch, trainable: new Set(), optimizer: { kind: 'sgd', lr: 1 } });
  const size = sampleSize(data);
  const features = new Float32Array(data.labels.length * dim);
  for (let from = 0; from < data.labels.length; from += batch) {
    const rows = Math.min(batch, data.labels.length - from);
    const x = new Float32Array(batch * size);
    x.set(data.images.subarray(from * size, (from + rows) * size));
    session.setBatch(x, new Int32Array(batch));
    session.forwardObserved((t, values) => {
      if (t === featureTensor) features.set(values.subarray(0, rows * dim), from * dim);
    });
  }
  return { features, dim };
}

/** A copy of `model` whose head is replaced by a prototype classifier over support's classes. */
export async function withPrototypeHead(model: FloatModel, support: Dataset, build?: BuildFlavor | 'auto'): Promise<FloatModel> {
  const { features, dim } = await embed(model, support, build);
  const k = support.classes;
  const means = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  support.labels.forEach((c, i) => {
    counts[c] = counts[c]! + 1;
    for (let d = 0; d < dim; d++) means[c * dim + d] = means[c * dim + d]! + features[i * dim + d]!;
  });
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) throw new DataError(`class ${c} of '${support.name}' has no support images`);
    for (let d = 0; d < dim; d++) means[c * dim + d]! /= counts[c]!;
  }
  let meanSq = 0;
  for (let c = 0; c < k; c++) for (let d = 0; d < dim; d++) meanSq += means[c * dim + d]! ** 2 / k;
  const tau = TARGET_LOGIT_SCALE / Math.max(meanSq, 1e-12);
  const weights = new Float32Array(k * dim);
  const bias = new Float32Array(k);
  for (let c = 0; c < k; c++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) {
      const m = means[c * dim + d]!;
      weights[c * dim + d] = tau * m;
      sq += m * m;
    }
    bias[c] = (-tau * sq) / 2;
  }
  const nodes = model.architecture.nodes.map((n) => ({ ...n }));
  const head = nodes[nodes.length - 1] as DenseNode;
  head.units = k;
  const architecture = { ...model.architecture, nodes };
  return {
    ...model,
    architecture,
    params: { ...model.params, [head.name]: { weights, bias } },
    meta: { ...model.meta, classNames: support.classNames, head: 'prototype' },
  };
}
