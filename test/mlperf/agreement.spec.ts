// Our int8 inference of the four MLPerf Tiny models against an independent implementation, Arm NN's
// CpuRef backend. Every operator, run alone on the same int8 input in both, agrees within 1 LSB on
// every output. End to end (200 random int8 inputs per model) the per-layer ±1 differences
// compound, so we report exact-match share, largest difference and top-1 agreement, and bound them.
import { afterAll, describe, expect, it } from 'vitest';
import { importTflite } from '../../src/tflite/import.js';
import { createInt8Runner } from '../../src/runtime/int8-run.js';
import { writeTflite } from '../../src/tflite/writer.js';
import { resolveGraph } from '../../src/model/graph.js';
import type { QuantizedModel } from '../../src/model/model.js';
import { armnnRunMany, compare, mlperfModel, randomInt8, MLPERF_MODELS, type Agreement } from './armnn.js';

const SAMPLES = Number(process.env.MLPERF_SAMPLES ?? 200);
const LAYER_SAMPLES = 20;
const report: Record<string, unknown>[] = [];

/** The model without its final softmax: the head's int8 output. */
const withoutSoftmax = (m: QuantizedModel): QuantizedModel => ({ ...m, meta: { ...m.meta, tflite: { ...(m.meta.tflite as object), softmax: undefined } } });

/** One-operator models for every node (ADD reads the same tensor twice), with its real quantization. */
function singleLayerModels(m: QuantizedModel): { name: string; model: QuantizedModel }[] {
  const g = resolveGraph(m.architecture);
  const out: { name: string; model: QuantizedModel }[] = [];
  for (const n of g.nodes.slice(1)) {
    if (n.node.kind === 'flatten') continue;
    const source = g.nodes[n.inputs[0]!]!;
    const node = { ...n.node, inputs: n.node.kind === 'add' ? ['input', 'input'] : ['input'] };
    out.push({
      name: `${n.node.name} (${n.node.kind})`,
      model: {
        kind: 'quantized', architecture: { name: n.node.name, nodes: [{ kind: 'input', name: 'input', shape: source.outShape }, node] },
        params: m.params[n.node.name] ? { [n.node.name]: m.params[n.node.name]! } : {},
        activations: { input: m.activations[source.node.name]!, [n.node.name]: m.activations[n.node.name]! }, meta: {},
      },
    });
  }
  return out;
}

describe('MLPerf Tiny int8 models vs Arm NN CpuRef', () => {
  for (const name of MLPERF_MODELS) {
    it(`${name}: every operator within 1 LSB; end to end on ${SAMPLES} random inputs`, async () => {
      const { path, bytes } = mlperfModel(name);
      const model = importTflite(bytes, path) as QuantizedModel;
      expect(model.kind).toBe('quantized');

      const layers = singleLayerModels(model);
      const layerInputs: Int8Array[] = [];
      const layerOurs: Int8Array[] = [];
      let layerSize: number[] = [];
      for (const [i, l] of layers.entries()) {
        const r = await createInt8Runner(l.model);
        const x = randomInt8(LAYER_SAMPLES * r.inputSize, 1000 + i);
        layerInputs.push(x);
        layerOurs.push(r.run(x));
        layerSize.push(r.outputSize);
      }
      const runner = await createInt8Runner(model);
      const logitsRunner = await createInt8Runner(withoutSoftmax(model));
      const x = randomInt8(SAMPLES * runner.inputSize, 42);
      const ours = runner.run(x);
      const oursLogits = logitsRunner.run(x);
      const refs = armnnRunMany([
        { model: path, inputs: x },
        { model: writeTflite(model, { dropSoftmax: true }), inputs: x },
        ...layers.map((l, i) => ({ model: writeTflite(l.model), inputs: layerInputs[i]! })),
      ]);

      const perLayer = layers.map((l, i) => ({ layer: l.name, ...compare(layerOurs[i]!, refs[i + 2]!, layerSize[i]!) }));
      const worst = perLayer.reduce((a, b) => (b.maxAbsDiff > a.maxAbsDiff ? b : a));
      const layerExact = perLayer.reduce((s, l) => s + l.exact, 0) / perLayer.reduce((s, l) => s + l.values, 0);
      const e2e: Agreement = compare(ours, refs[0]!, runner.outputSize);
      const logits: Agreement = compare(oursLogits, refs[1]!, logitsRunner.outputSize);
      report.push({
        model: name, layers: perLayer.length, layerMaxDiff: worst.maxAbsDiff, layerExact: +layerExact.toFixed(4),
        samples: e2e.samples, outputExact: +e2e.exactShare.toFixed(4), outputMaxDiff: e2e.maxAbsDiff, top1Agree: e2e.argmaxAgree,
        headExact: +logits.exactShare.toFixed(4), headMaxDiff: logits.maxAbsDiff,
      });
      for (const l of perLayer) expect(l.maxAbsDiff, `${name} ${l.layer}`).toBeLessThanOrEqual(1);
      expect(layerExact).toBeGreaterThan(0.99);
      // End to end: measured bounds (see docs/TFLITE.md), with the top-1 decision almost always shared.
      expect(e2e.argmaxAgree / e2e.samples).toBeGreaterThanOrEqual(name === 'ad01_int8' ? 0.7 : 0.95);
      expect(logits.maxAbsDiff).toBeLessThanOrEqual(name === 'ic_resnet8_int8' ? 10 : 3);
    });
  }
  afterAll(() => {
    console.log('\nMLPerf Tiny agreement with Arm NN CpuRef (layer* = each operator alone, 20 random inputs each; output/head = whole model)');
    console.table(report);
  });
});
