// The three ONNX import cases of issue 20: our own QDQ export, a trailing Softmax (tf2onnx), and
// PyTorch's asymmetric padding. Each is checked against what the graph computes — our device's
// outputs, or onnxruntime-node's.
import { describe, it, expect, beforeAll } from 'vitest';
import { exportOnnx } from '../src/onnx/export.js';
import { importOnnx } from '../src/onnx/import.js';
import {
  floatValueInfo, intAttr, intsAttr,
  type NodeProto, type TensorProto,
} from '../src/model/onnx-proto.js';
import { encodeModelProto } from '../src/model/onnx-codec.js';
import { initFloatModel, loadModel, saveModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { architecturePreset } from '../src/model/presets.js';
import { resolveGraph, type Architecture } from '../src/model/graph.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { Mcu } from '../src/device/mcu.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { subset, type Dataset } from '../src/data/dataset.js';
import { loadMicroBatch, quantizeSet } from '../src/train/batches.js';
import { FormatError } from '../src/errors.js';
import { rng } from './helpers/devices.js';
import { budgetFor, node, ortRun, ourFloatForward, randomInputs, relativeError, toNchw, weights } from './helpers/onnx.js';

/** QuantizedSession's raw logits (int32 head accumulators or int8 values) over a dataset. */
async function quantizedLogits(q: QuantizedModel, data: Dataset, batch: number): Promise<Int32Array> {
  const mcu = await Mcu.create({ budget: budgetFor(QuantizedSession.plan(q, { batch })) });
  const session = new QuantizedSession(mcu, q, { batch });
  const set = quantizeSet(session, data);
  const order = Array.from({ length: set.count }, (_, i) => i);
  const out = new Int32Array(set.count * session.classes);
  for (let from = 0; from < set.count; from += batch) {
    const rows = Math.min(batch, set.count - from);
    loadMicroBatch(session, set, order, from, rows);
    session.forward();
    out.set(Array.from(session.readLogits()).slice(0, rows * session.classes), from * session.classes);
  }
  return out;
}

const canon = (a: Architecture) => resolveGraph(a).nodes.map((n) => ({ ...n.node, inputs: n.inputs }));

// ---- (a) our own QDQ export ----

describe('importOnnx(exportOnnx(quantized model)) — the QDQ round trip', () => {
  let float: FloatModel;
  let ranges: Awaited<ReturnType<typeof calibrate>>;
  let data: Dataset;

  beforeAll(async () => {
    const mnist = await loadBundledMnist();
    data = subset(mnist, Array.from({ length: 200 }, (_, i) => i));
    float = initFloatModel(architecturePreset('mnist-cnn'), 7);
    const r = rng(8);
    for (const p of Object.values(float.params)) for (let i = 0; i < p.bias.length; i++) p.bias[i] = (r() - 0.5) * 0.2;
    ranges = await calibrate(float, subset(data, Array.from({ length: 64 }, (_, i) => i)));
  });

  it.each([8, 16] as const)('%i-bit weights: the import holds exactly the dequantized weights, and re-quantizing it with the same ranges gives the same integers and bit-identical device logits', async (bits) => {
    const q = quantizeModel(float, ranges, { weightBits: bits });
    const back = importOnnx(exportOnnx(q));
    expect(back.meta.dequantized).toBe(true);
    expect(canon(back.architecture)).toEqual(canon(q.architecture));
    // Exact: every imported weight is float32(q · scale) of its channel, every bias float32(b · inScale · wScale).
    for (const [name, p] of Object.entries(q.params)) {
      const g = resolveGraph(q.architecture).nodes.find((n) => n.node.name === name)!;
      const lastAxis = g.node.kind === 'depthwise';
      const channels = p.bias.length;
      const per = p.weights.length / channels;
      const scaleOf = (i: number) => p.weightScales[p.weightScales.length === 1 ? 0 : lastAxis ? i % channels : Math.floor(i / per)]!;
      const w = back.params[name]!.weights;
      for (let i = 0; i < w.length; i++) expect(w[i]).toBe(Math.fround(p.weights[i]! * scaleOf(i)));
      const inScale = q.activations[g.node.kind === 'input' ? name : resolveGraph(q.architecture).nodes[g.inputs[0]!]!.node.name]!.scale;
      for (let c = 0; c < channels; c++) {
        const s = Math.fround(inScale * p.weightScales[p.weightScales.length === 1 ? 0 : c]!);
        expect(back.params[name]!.bias[c]).toBe(Math.fround(p.bias[c]! * s));
      }
    }
    // Same outputs: quantized again with the calibration ranges, the import is the model we exported.
    const again = quantizeModel(back, ranges, { weightBits: bits });
    for (const [name, p] of Object.entries(q.params)) {
      expect(again.params[name]!.weights).toEqual(p.weights);
      expect(again.params[name]!.bias).toEqual(p.bias);
    }
    const [a, b] = [await quantizedLogits(q, data, 50), await quantizedLogits(again, data, 50)];
    expect(b).toEqual(a);
  });
});

// ---- hand-built graphs ----

function encode(nodes: NodeProto[], initializers: TensorProto[], input: [string, (number | string)[]], output: [string, (number | string)[]]): Uint8Array {
  return encodeModelProto({
    irVersion: 8,
    producerName: 'hand',
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'hand', node: nodes, initializer: initializers, input: [floatValueInfo(...input)], output: [floatValueInfo(...output)] },
  });
}

// ---- (b) a trailing Softmax ----

/** What tf2onnx writes for a Keras classifier ending in Dense(softmax): MatMul + Add + Softmax. */
function softmaxClassifier(axis?: number): Uint8Array {
  return encode(
    [node('MatMul', ['x', 'w'], 'mm'), node('Add', ['mm', 'b'], 'logits'), node('Softmax', ['logits'], 'probs', axis === undefined ? [] : [intAttr('axis', axis)])],
    [weights('w', [12, 5], 1), weights('b', [5], 2)],
    ['x', ['N', 12]], ['probs', ['N', 5]],
  );
}

describe('a trailing Softmax', () => {
  it('is dropped: the import outputs the logits before it (same top-1 as onnxruntime\'s probabilities) and says so in meta', async () => {
    const bytes = softmaxClassifier();
    const model = importOnnx(bytes);
    expect(model.meta.droppedSoftmax).toBe(true);
    expect(model.architecture.nodes.map((n) => n.kind)).toEqual(['input', 'dense']);
    const batch = 6;
    const x = randomInputs(batch * 12, 3);
    const probs = await ortRun(bytes, x, [batch, 12], 'x', 'probs');
    const logits = await ourFloatForward(model, x, batch);
    // softmax(our logits) is onnxruntime's output.
    const soft = new Float32Array(logits.length);
    for (let r = 0; r < batch; r++) {
      const row = logits.subarray(r * 5, r * 5 + 5);
      const m = Math.max(...row);
      const e = Array.from(row, (v) => Math.exp(v - m));
      const sum = e.reduce((s, v) => s + v, 0);
      e.forEach((v, c) => (soft[r * 5 + c] = v / sum));
    }
    expect(relativeError(soft, probs)).toBeLessThan(1e-5);
  });

  it('axis 1 is the same class axis; another axis, or a Softmax in the middle of the graph, is a FormatError', () => {
    expect(importOnnx(softmaxClassifier(1)).meta.droppedSoftmax).toBe(true);
    expect(() => importOnnx(softmaxClassifier(0))).toThrow(FormatError);
    const middle = encode(
      [node('MatMul', ['x', 'w'], 'mm'), node('Softmax', ['mm'], 'p'), node('MatMul', ['p', 'w2'], 'y')],
      [weights('w', [12, 5], 1), weights('w2', [5, 3], 2)],
      ['x', ['N', 12]], ['y', ['N', 3]],
    );
    expect(() => importOnnx(middle)).toThrow(/Softmax/);
  });

  it('a model without a Softmax keeps meta free of the flag', () => {
    const model = importOnnx(exportOnnx(initFloatModel(architecturePreset('mlp'), 1)));
    expect(model.meta.droppedSoftmax).toBeUndefined();
  });
});

// ---- (c) PyTorch's padding ----

/** torch.nn.Conv2d(2, 4, 3, stride=2, padding=1) on a size×size input, then MaxPool2d(3, 2, padding=1), Flatten, Linear. */
function pytorchStem(size: number): Uint8Array {
  const out1 = Math.floor((size + 2 - 3) / 2) + 1;
  const out2 = Math.floor((out1 + 2 - 3) / 2) + 1;
  const sym = [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1])];
  return encode(
    [
      node('Conv', ['x', 'conv.weight', 'conv.bias'], 'c', sym),
      node('Relu', ['c'], 'r'),
      node('MaxPool', ['r'], 'p', sym),
      node('Flatten', ['p'], 'f', [intAttr('axis', 1)]),
      node('Gemm', ['f', 'fc.weight', 'fc.bias'], 'y', [intAttr('transB', 1)]),
    ],
    [weights('conv.weight', [4, 2, 3, 3], 11), weights('conv.bias', [4], 12), weights('fc.weight', [3, 4 * out2 * out2], 13, 0.1), weights('fc.bias', [3], 14)],
    ['x', ['N', 2, size, size]], ['y', ['N', 3]],
  );
}

/** Conv 3×3/2 pads [1,1,1,1] (PyTorch padding=1) on 8×8, a depthwise conv with pads [0,1,2,1], an average pool 2×2/2 with pads [1,1,0,0]. */
function asymmetric(): Uint8Array {
  return encode(
    [
      node('Conv', ['x', 'conv.weight', 'conv.bias'], 'c', [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1])]),
      node('Relu', ['c'], 'r'),
      node('Conv', ['r', 'dw.weight', 'dw.bias'], 'd', [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [0, 1, 2, 1]), intAttr('group', 4)]),
      node('AveragePool', ['d'], 'a', [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 0, 0])]),
      node('Flatten', ['a'], 'f', [intAttr('axis', 1)]),
      node('Gemm', ['f', 'fc.weight', 'fc.bias'], 'y', [intAttr('transB', 1)]),
    ],
    [weights('conv.weight', [4, 2, 3, 3], 21), weights('conv.bias', [4], 22), weights('dw.weight', [4, 1, 3, 3], 23), weights('dw.bias', [4], 24), weights('fc.weight', [3, 4 * 2 * 2], 25), weights('fc.bias', [3], 26)],
    ['x', ['N', 2, 8, 8]], ['y', ['N', 3]],
  );
}

describe("PyTorch's padding that TFLite cannot express imports as explicit pads", () => {
  it("padding=1, stride=2 on an even size, and asymmetric pads on depthwise and average pool: our f32 forward equals onnxruntime's", async () => {
    const bytes = asymmetric();
    const model = importOnnx(bytes);
    expect(model.architecture.nodes.filter((n) => 'padding' in n).map((n) => (n as { padding: unknown }).padding)).toEqual([[1, 1, 1, 1], [0, 1, 2, 1], [1, 1, 0, 0]]);
    const batch = 3;
    const x = randomInputs(batch * 8 * 8 * 2, 27);
    const theirs = await ortRun(bytes, toNchw(x, batch, 8, 8, 2), [batch, 2, 8, 8], 'x', 'y');
    expect(relativeError(await ourFloatForward(model, x, batch), theirs)).toBeLessThan(1e-4);
    // Exported again (float), the pads are written back as they came.
    const again = importOnnx(exportOnnx(model));
    const paddings = (m: FloatModel) => m.architecture.nodes.map((n) => ('padding' in n ? n.padding : n.kind));
    expect(paddings(again)).toEqual(paddings(model));
    // And a model file keeps them.
    expect(loadModel(saveModel(model)).architecture).toEqual(model.architecture);
    // A pad as large as the kernel (a window of padding only) is a typed error naming the node, not a trap.
    const bad = { ...model, architecture: { ...model.architecture, nodes: model.architecture.nodes.map((n) => (n.kind === 'conv2d' ? { ...n, padding: [3, 0, 0, 0] as const } : n)) } };
    expect(() => resolveGraph(bad.architecture)).toThrow(/node 'c'.*padding must be 'same' or 'valid' \(or pads/);
  });

  it('the integer kernels run explicit pads too: QuantizedSession logits equal the QDQ export run by onnxruntime', async () => {
    const model = importOnnx(asymmetric());
    const images = randomInputs(40 * 8 * 8 * 2, 28);
    const data = { images, labels: new Int32Array(40), count: 40, shape: [8, 8, 2], classes: 3 } as unknown as Dataset;
    const q = quantizeModel(model, await calibrate(model, data), { weightBits: 16 });
    const mcu = await Mcu.create({ budget: budgetFor(QuantizedSession.plan(q, { batch: 40 })) });
    const session = new QuantizedSession(mcu, q, { batch: 40 });
    const set = quantizeSet(session, data);
    loadMicroBatch(session, set, Array.from({ length: 40 }, (_, i) => i), 0, 40);
    session.forward();
    const ours = Float32Array.from(session.readLogits(), (v) => v * session.logitsScale);
    const theirs = await ortRun(exportOnnx(q), images, [40, 8, 8, 2], 'input', 'logits');
    // Not bit-exact: onnxruntime averages in float and rounds once, our int8 average pool rounds its
    // integer mean (1-LSB differences). A pad on the wrong side moves whole windows and errs by far more.
    const err = relativeError(ours, theirs);
    console.log(`[onnx] explicit pads, 16-bit weights: QuantizedSession vs onnxruntime QDQ, max relative logit difference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-2);
    // The control: the same integers with TFLite's 'same' (no pixel before) on the first conv.
    const shifted: QuantizedModel = { ...q, architecture: { ...q.architecture, nodes: q.architecture.nodes.map((n) => (n.kind === 'conv2d' ? { ...n, padding: 'same' as const } : n)) } };
    const mcu2 = await Mcu.create({ budget: budgetFor(QuantizedSession.plan(shifted, { batch: 40 })) });
    const s2 = new QuantizedSession(mcu2, shifted, { batch: 40 });
    loadMicroBatch(s2, quantizeSet(s2, data), Array.from({ length: 40 }, (_, i) => i), 0, 40);
    s2.forward();
    const wrong = relativeError(Float32Array.from(s2.readLogits(), (v) => v * s2.logitsScale), theirs);
    console.log(`[onnx] same integers with 'same' padding instead: ${wrong.toExponential(2)}`);
    expect(wrong).toBeGreaterThan(10 * err);
  });

  it('pads as large as the kernel (windows of padding only) or ceil_mode beyond them stay a FormatError naming the node', () => {
    const bytes = encode(
      [node('Conv', ['x', 'w'], 'c', [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [3, 0, 0, 0])])],
      [weights('w', [2, 2, 3, 3], 29)],
      ['x', ['N', 2, 8, 8]], ['y', ['N', 2, 9, 6]],
    );
    expect(() => importOnnx(bytes)).toThrow(/node 'c' \(Conv\).*pads \[3, 0, 0, 0\]/);
  });
});

describe("PyTorch's symmetric padding 1 with stride 2", () => {
  it("on an odd size it is TFLite 'same' and imports to the graph onnxruntime runs", async () => {
    const bytes = pytorchStem(9);
    const model = importOnnx(bytes);
    expect(model.architecture.nodes.filter((n) => 'padding' in n).map((n) => (n as { padding: string }).padding)).toEqual(['same', 'same']);
    const batch = 2;
    const x = randomInputs(batch * 9 * 9 * 2, 15);
    const theirs = await ortRun(bytes, toNchw(x, batch, 9, 9, 2), [batch, 2, 9, 9], 'x', 'y');
    expect(relativeError(await ourFloatForward(model, x, batch), theirs)).toBeLessThan(1e-4);
  });

  it('on an even size (one pixel before, where TFLite pads none) it keeps the explicit pads and matches onnxruntime', async () => {
    const bytes = pytorchStem(8);
    const model = importOnnx(bytes);
    expect(model.architecture.nodes.filter((n) => 'padding' in n).map((n) => (n as { padding: unknown }).padding)).toEqual([[1, 1, 1, 1], [1, 1, 1, 1]]);
    const x = randomInputs(2 * 8 * 8 * 2, 16);
    const theirs = await ortRun(bytes, toNchw(x, 2, 8, 8, 2), [2, 2, 8, 8], 'x', 'y');
    expect(relativeError(await ourFloatForward(model, x, 2), theirs)).toBeLessThan(1e-4);
  });
});
