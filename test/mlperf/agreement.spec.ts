// Our int8 inference of the four MLPerf Tiny models against two references, on random int8 inputs.
//
// 1. TFLite's reference arithmetic (test/mlperf/tflite-ref.ts, the test's own BigInt/naive-loop
//    transcription of reference_integer_ops and gemmlowp): our whole-model outputs must be identical,
//    bit for bit. This is what fails if one of our kernels breaks.
// 2. Arm NN's CpuRef backend (Debian python3-pyarmnn), an implementation we did not write. It
//    requantizes in real arithmetic, rounding once (q = round(r / s) + zp), where TFLite uses an
//    integer multiplier with two roundings, so single outputs differ by 1 LSB and the differences
//    compound through a network. Hence, with Arm NN's model run once with every layer's tensor bound
//    as an output: (a) every layer, fed the very int8 tensors Arm NN fed its own copy of the layer
//    (the softmax included), agrees within 1 LSB on every output; (b) where it differs, Arm NN's value
//    is the once-rounded real value (checked with the test's real-arithmetic version of each layer);
//    (c) end to end we report exact share, largest difference and top-1 agreement, and bound them.
//    Every operator alone on uniformly random int8 inputs is checked within 1 LSB too.
import { afterAll, describe, expect, it } from 'vitest';
import { importTflite } from '../../src/tflite/import.js';
import { createInt8Runner, outputStage } from '../../src/runtime/int8-run.js';
import { writeTflite } from '../../src/tflite/writer.js';
import { resolveGraph } from '../../src/model/graph.js';
import type { QuantizedModel } from '../../src/model/model.js';
import { armnnRunMany, compare, mlperfModel, randomInt8, MLPERF_MODELS, type Agreement } from './armnn.js';
import { layerwise, withoutSoftmax } from './layerwise.js';
import { referenceLayer, referenceModel } from './tflite-ref.js';

const SAMPLES = Number(process.env.MLPERF_SAMPLES ?? 200);
const LAYER_SAMPLES = 20;
const report: Record<string, unknown>[] = [];
const growth: Record<string, unknown>[] = [];

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

const pct = (a: Agreement) => +(100 * a.exactShare).toFixed(2);

describe('MLPerf Tiny int8 models: TFLite reference arithmetic and Arm NN CpuRef', () => {
  for (const name of MLPERF_MODELS) {
    it(`${name}: bit-exact to TFLite's arithmetic; within 1 LSB of Arm NN per layer on ${SAMPLES} random inputs`, async () => {
      const { path, bytes } = mlperfModel(name);
      const model = importTflite(bytes, path) as QuantizedModel;
      expect(model.kind).toBe('quantized');
      const graph = resolveGraph(model.architecture);

      const runner = await createInt8Runner(model);
      const logitsRunner = await createInt8Runner(withoutSoftmax(model));
      const x = randomInt8(SAMPLES * runner.inputSize, 42);
      const ours = runner.run(x);
      const oursLogits = logitsRunner.run(x);

      // 1. TFLite's reference arithmetic, whole model: identical.
      const ref = referenceModel(model, x, SAMPLES, outputStage(model).softmax);
      const vsTflite = compare(ours, ref.output, runner.outputSize);
      expect(vsTflite.exact, `${name}: outputs equal to TFLite's reference arithmetic`).toBe(vsTflite.values);

      // 2. Arm NN: each operator alone on random inputs, then the whole model (original file).
      const layers = singleLayerModels(model);
      const layerInputs: Int8Array[] = [];
      const layerOurs: Int8Array[] = [];
      const layerSize: number[] = [];
      for (const [i, l] of layers.entries()) {
        const r = await createInt8Runner(l.model);
        const xi = randomInt8(LAYER_SAMPLES * r.inputSize, 1000 + i);
        layerInputs.push(xi);
        layerOurs.push(r.run(xi));
        layerSize.push(r.outputSize);
      }
      const refs = armnnRunMany([
        { model: path, inputs: x },
        { model: writeTflite(model, { dropSoftmax: true }), inputs: x },
        ...layers.map((l, i) => ({ model: writeTflite(l.model), inputs: layerInputs[i]! })),
      ]);
      const perOp = layers.map((l, i) => ({ layer: l.name, ...compare(layerOurs[i]!, refs[i + 2]!, layerSize[i]!) }));
      for (const l of perOp) expect(l.maxAbsDiff, `${name} ${l.layer} alone`).toBeLessThanOrEqual(1);
      const opExact = perOp.reduce((s, l) => s + l.exact, 0) / perOp.reduce((s, l) => s + l.values, 0);

      // 2a/b. Layer by layer on the whole-model inputs.
      const { rows, armnn } = await layerwise(model, x, SAMPLES);
      let sameExact = 0;
      let sameValues = 0;
      let sameMax = 0;
      for (const r of rows) {
        expect(r.same.maxAbsDiff, `${name} ${r.layer} on Arm NN's own input`).toBeLessThanOrEqual(1);
        sameExact += r.same.exact;
        sameValues += r.same.values;
        sameMax = Math.max(sameMax, r.same.maxAbsDiff);
        let armnnRule: number | undefined;
        if (r.kind !== 'softmax') {
          const node = graph.nodes.find((n) => n.node.name === r.layer)!;
          const ins = node.inputs.map((i) => {
            let n = graph.nodes[i]!;
            while (n.node.kind === 'flatten') n = graph.nodes[n.inputs[0]!]!;
            return armnn.get(n.node.name)!;
          });
          const real = compare(referenceLayer(model, r.layer, ins, SAMPLES, 'armnn'), armnn.get(r.layer)!, r.same.values / SAMPLES);
          armnnRule = pct(real);
          // Arm NN's value is the once-rounded real value (float32 sums can tip a near tie).
          if (r.kind !== 'avgpool') expect(real.exactShare, `${name} ${r.layer}: Arm NN rounds the real value once`).toBeGreaterThan(0.999);
        }
        growth.push({ model: name, layer: r.layer, kind: r.kind, sameInputExact: pct(r.same), sameInputMax: r.same.maxAbsDiff, armnnIsRoundedReal: armnnRule, carriedExact: pct(r.carried), carriedMax: r.carried.maxAbsDiff });
      }

      // 2c. End to end.
      const e2e = compare(ours, refs[0]!, runner.outputSize);
      const logits = compare(oursLogits, refs[1]!, logitsRunner.outputSize);
      report.push({
        model: name, tfliteExact: pct(vsTflite), opsAlone: perOp.length, opAloneMax: Math.max(...perOp.map((l) => l.maxAbsDiff)), opAloneExact: +(100 * opExact).toFixed(2),
        layersSameInput: rows.length, sameInputExact: +((100 * sameExact) / sameValues).toFixed(2), sameInputMax: sameMax,
        samples: e2e.samples, outputExact: pct(e2e), outputMax: e2e.maxAbsDiff, top1: e2e.argmaxAgree, headExact: pct(logits), headMax: logits.maxAbsDiff,
      });
      expect(opExact).toBeGreaterThan(0.99);
      // End to end: measured bounds (see docs/TFLITE.md), with the top-1 decision almost always shared.
      expect(e2e.argmaxAgree / e2e.samples).toBeGreaterThanOrEqual(name === 'ad01_int8' ? 0.7 : 0.95);
      expect(logits.maxAbsDiff).toBeLessThanOrEqual(name === 'ic_resnet8_int8' ? 10 : 3);
    });
  }
  afterAll(() => {
    console.log('\nPer layer, whole-model random inputs (same input = the layer fed Arm NN\'s own input tensor; carried = our model cut after the layer, differences of earlier layers included)');
    console.table(growth);
    console.log('\nMLPerf Tiny: ours vs TFLite reference arithmetic (tfliteExact) and vs Arm NN CpuRef (op alone: 20 random inputs per operator; same input / output / head: whole model)');
    console.table(report);
  });
});
