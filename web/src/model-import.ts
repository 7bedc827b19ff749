// A .tflite file chosen on the page: bounded, parsed by the library's browser-safe reader and
// importer (typed FormatError / UnsupportedError for anything it cannot take), then summarised.
import { FormatError } from '../../src/errors.js';
import { elementCount, resolveGraph } from '../../src/model/graph.js';
import type { FloatModel, QuantizedModel } from '../../src/model/model.js';
import { QuantizedSession } from '../../src/runtime/session.js';
import { importTflite } from '../../src/tflite/import.js';
import type { ImportedModelSummary } from './protocol.js';

/** Microcontroller models are kilobytes to a few MiB; refuse anything larger before parsing it. */
export const PAGE_MODEL_MAX_BYTES = 16 << 20;

export function importModelFile(bytes: Uint8Array, name: string): FloatModel | QuantizedModel {
  if (bytes.length > PAGE_MODEL_MAX_BYTES) throw new FormatError(`${name} is ${(bytes.length / 1048576).toFixed(1)} MiB; the page loads models up to ${PAGE_MODEL_MAX_BYTES >> 20} MiB`);
  if (!/\.tflite$/i.test(name)) throw new FormatError(`${name}: the page loads TensorFlow Lite flatbuffers (.tflite)`);
  return importTflite(bytes, name);
}

export function describeImportedModel(model: FloatModel | QuantizedModel): ImportedModelSummary {
  const graph = resolveGraph(model.architecture);
  const parameters = Object.values(model.params).reduce((s, p) => s + p.weights.length + p.bias.length, 0);
  const plan = model.kind === 'quantized' ? QuantizedSession.plan(model, { batch: 1 }) : null;
  const shape = graph.inputShape;
  return {
    architecture: model.architecture.name,
    parameters,
    pretrainedOn: 'the imported file',
    kind: model.kind,
    inputShape: shape,
    layers: graph.nodes.map((n) => `${n.node.name}: ${n.node.kind} → [${n.outShape.join('×')}]`),
    plan: plan ? { sramBytes: plan.sramBytes, flashBytes: plan.flashBytes } : null,
    trainsOnPage: elementCount(shape) === 784 && shape.length === 3 && shape[0] === 28 && shape[1] === 28 && shape[2] === 1,
  };
}
