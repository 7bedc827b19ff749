// A QZO-FF run plan for an already-quantized model (an imported int8 .tflite), the way the CLI's
// `adapt --head replace` prepares one (src/train/adapt-int8.ts): the trainable layers move to the
// 16-bit grid under 16w8a, a new prototype head over the training images replaces the model's own,
// then the same SRAM plans as planRun. No calibration: the file brings its activation grids.
import { ConfigError } from '../../src/errors.js';
import { sampleSize, type Dataset } from '../../src/data/dataset.js';
import type { BuildFlavor } from '../../src/device/features.js';
import { elementCount, resolveGraph } from '../../src/model/graph.js';
import type { QuantizedModel } from '../../src/model/model.js';
import { BackpropSession } from '../../src/runtime/backprop-session.js';
import { QuantizedSession } from '../../src/runtime/session.js';
import { liftModelTo16 } from '../../src/tflite/requantize.js';
import { dequantizeModel, withQuantizedPrototypeHead } from '../../src/train/adapt-int8.js';
import { ADAPT_DEFAULTS } from '../../src/train/defaults.js';
import type { PlanRunOptions, RunPlan } from '../../src/train/prepare-run.js';
import { qzoFfSramBuffers, type QzoFfConfig } from '../../src/train/qzo-ff.js';
import { selectionTrainerOptions, trainableLayers } from '../../src/train/selection.js';

export async function planImportedRun(model: QuantizedModel, o: Omit<PlanRunOptions, 'backbone'> & { build?: BuildFlavor | 'auto' }): Promise<RunPlan> {
  const graph = resolveGraph(model.architecture);
  if (graph.nodes[graph.nodes.length - 1]!.node.kind !== 'dense') throw new ConfigError(`model '${model.architecture.name}' does not end in a dense classifier head; QZO-FF adaptation on the page trains classifiers`);
  const inputSize = elementCount(graph.inputShape);
  if (sampleSize(o.support) !== inputSize) throw new ConfigError(`the images hold ${sampleSize(o.support)} values (28×28×1); model '${model.architecture.name}' takes [${graph.inputShape.join(', ')}] = ${inputSize}: on-page training needs data of that shape`);
  const bits = o.precision === '16w8a' ? 16 : 8;
  const micro = Math.min(o.microBatch, o.support.labels.length);
  // Only the layers QZO-FF trains move to the 16-bit grid; frozen layers stay int8 in flash.
  const base = o.precision === '16w8a' ? liftModelTo16(model, new Set(trainableLayers(graph, o.selection))) : model;
  const quantized = await withQuantizedPrototypeHead(base, o.support, bits, o.build);
  const trainable = trainableLayers(resolveGraph(quantized.architecture), o.selection);
  const trainerConfig: QzoFfConfig = { ...o.trainer, ...selectionTrainerOptions(o.selection), ...o.enhancements };
  const sessionOptions = { batch: micro, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(micro, { model: quantized, trainable, config: trainerConfig }) };
  const proto = dequantizeModel(quantized);
  const plans = {
    ff: QuantizedSession.plan(quantized, sessionOptions),
    infer: QuantizedSession.plan(quantized, { batch: micro }),
    bp: BackpropSession.plan(proto, { batch: micro, trainable: new Set(trainable), optimizer: { kind: 'adam', lr: ADAPT_DEFAULTS.bpLr } }),
  };
  return { precision: o.precision, proto, quantized, trainable, trainerConfig, microBatch: micro, sessionOptions, plans };
}
