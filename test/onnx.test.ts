// ONNX export and import, checked against an outside runtime: onnxruntime-node runs what
// exportOnnx() writes, and must compute what our device computes — the float graph within 1e-4 of
// our f32 forward, the QDQ graph the same top-1 as QuantizedSession. importOnnx() must read back
// our own exports bit for bit, and PyTorch/Keras-style NCHW graphs built here by hand.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { exportOnnx, ONNX_OPSET, ONNX_OPSET_INT16 } from '../src/onnx/export.js';
import { importOnnx } from '../src/onnx/import.js';
import { decodeModelProto, encodeModelProto } from '../src/model/onnx-codec.js';
import {
  DataType, floatAttr, floatTensor, floatValueInfo, int64Tensor, intAttr, intsAttr, stringAttr, tensorAttr,
  type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from '../src/model/onnx-proto.js';
import { initFloatModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { architecturePreset, ARCHITECTURE_PRESETS } from '../src/model/presets.js';
import { elementCount, resolveGraph, type Architecture } from '../src/model/graph.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { Mcu } from '../src/device/mcu.js';
import { trainBackprop } from '../src/train/backprop.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { subset, type Dataset } from '../src/data/dataset.js';
import { loadMicroBatch, quantizeSet } from '../src/train/batches.js';
import { FormatError } from '../src/errors.js';
import { rng } from './helpers/devices.js';
import { budgetFor, node, ortRun, ourFloatForward, randomInputs, relativeError, toNchw, weights } from './helpers/onnx.js';

// ---- helpers ----

function argmaxRows(logits: ArrayLike<number>, rows: number, classes: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[r * classes + c]! > logits[r * classes + best]!) best = c;
    out.push(best);
  }
  return out;
}

/** Give every bias a distinct non-zero value, so a lost or misplaced bias shows. */
function withBiases(model: FloatModel, seed: number): FloatModel {
  const r = rng(seed);
  for (const p of Object.values(model.params)) for (let i = 0; i < p.bias.length; i++) p.bias[i] = r() - 0.5;
  return model;
}

/**
 * Every layer kind and layout corner in one graph: ReLU6, depthwise ×2 with stride 2, 'same'
 * average pooling whose windows overlap the padding (count_include_pad matters), a residual add
 * with a standalone ReLU the lowering fuses, 'same' max pooling with an odd pad pixel, an explicit
 * flatten and an implicit one (dense straight after a 3×3 map: the NHWC/CHW permutation matters).
 */
const coverage: Architecture = {
  name: 'coverage',
  nodes: [
    { kind: 'input', name: 'input', shape: [12, 12, 3] },
    { kind: 'conv2d', name: 'c1', filters: 8, kernel: [3, 3], stride: [1, 1], padding: 'same', activation: 'relu6' },
    { kind: 'depthwise', name: 'dw', depthMultiplier: 2, kernel: [3, 3], stride: [2, 2], padding: 'same', activation: 'relu' },
    { kind: 'avgpool', name: 'ap', pool: [3, 3], stride: [1, 1], padding: 'same' },
    { kind: 'conv2d', name: 'c2', filters: 16, kernel: [1, 1], stride: [1, 1], padding: 'valid', activation: 'none' },
    { kind: 'add', name: 'sum', inputs: ['c2', 'ap'], activation: 'none' },
    { kind: 'relu', name: 'sum_relu' },
    { kind: 'maxpool', name: 'mp', pool: [3, 3], stride: [2, 2], padding: 'same' },
    { kind: 'flatten', name: 'flat' },
    { kind: 'dense', name: 'fcA', units: 20, activation: 'relu' },
    { kind: 'dense', name: 'fcB', units: 20, activation: 'none', inputs: ['mp'] },
    { kind: 'add', name: 'fcsum', inputs: ['fcA', 'fcB'], activation: 'relu' },
    { kind: 'dense', name: 'head', units: 5, activation: 'none' },
  ],
};

// ---- float export ----

describe('float ONNX export runs in onnxruntime-node like our f32 forward', () => {
  it.each(['mnist-cnn', 'resnet8', 'ds-cnn'])('%s: logits agree within 1e-4 relative on random inputs', async (preset) => {
    const model = withBiases(initFloatModel(architecturePreset(preset), 11), 12);
    const graph = resolveGraph(model.architecture);
    const batch = 4;
    const x = randomInputs(batch * elementCount(graph.inputShape), 13);
    const ours = await ourFloatForward(model, x, batch);
    const theirs = await ortRun(exportOnnx(model), x, [batch, ...graph.inputShape]);
    const error = relativeError(theirs, ours);
    console.log(`[onnx] float ${preset}: max |onnxruntime − ours| = ${error.toExponential(2)} of the largest logit`);
    expect(error).toBeLessThan(1e-4);
  });

  it('a graph with every layer kind (relu6, depthwise ×2, same pools, residual add, CHW flatten permutation) agrees within 1e-4', async () => {
    const model = withBiases(initFloatModel(coverage, 21), 22);
    const batch = 5;
    const x = randomInputs(batch * 12 * 12 * 3, 23);
    const ours = await ourFloatForward(model, x, batch);
    const theirs = await ortRun(exportOnnx(model), x, [batch, 12, 12, 3]);
    const error = relativeError(theirs, ours);
    console.log(`[onnx] float coverage graph: max |onnxruntime − ours| = ${error.toExponential(2)} of the largest logit`);
    expect(error).toBeLessThan(1e-4);
  });

  it('declares opset 13 / IR 8, input "input" NHWC with dynamic batch N and output "logits"', () => {
    const proto = decodeModelProto(exportOnnx(initFloatModel(architecturePreset('mnist-cnn'), 1)), 'export');
    expect(proto.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', ONNX_OPSET]]);
    expect(Number(proto.irVersion)).toBe(8);
    const dims = (v: ValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(proto.graph!.input!.map((i) => [i.name, dims(i)])).toEqual([['input', ['N', 28, 28, 1]]]);
    expect(proto.graph!.output!.map((o) => [o.name, dims(o)])).toEqual([['logits', ['N', 10]]]);
    expect(proto.graph!.node![0]!.opType).toBe('Transpose');
  });

  it('returns a plain Uint8Array that owns its bytes (a Node Buffer would alias on slice())', () => {
    const bytes = exportOnnx(initFloatModel(architecturePreset('mlp'), 1));
    expect(bytes.constructor).toBe(Uint8Array);
    const copy = bytes.slice();
    copy[0] = copy[0]! ^ 0xff;
    expect(bytes[0]).not.toBe(copy[0]);
  });
});

// ---- round trip ----

describe('importOnnx(exportOnnx(model)) gives the model back', () => {
  it.each(ARCHITECTURE_PRESETS)('%s: same architecture, bit-identical weights and biases', (preset) => {
    const model = withBiases(initFloatModel(architecturePreset(preset), 31), 32);
    const back = importOnnx(exportOnnx(model));
    const canon = (a: Architecture) => resolveGraph(a).nodes.map((n) => ({ ...n.node, inputs: n.inputs }));
    expect(canon(back.architecture)).toEqual(canon(model.architecture));
    expect(Object.keys(back.params).sort()).toEqual(Object.keys(model.params).sort());
    for (const [name, p] of Object.entries(model.params)) {
      expect(back.params[name]!.weights).toEqual(p.weights);
      expect(back.params[name]!.bias).toEqual(p.bias);
    }
  });

  it('the coverage graph imports to a model that computes the same logits on our device', async () => {
    const model = withBiases(initFloatModel(coverage, 41), 42);
    const back = importOnnx(exportOnnx(model));
    const batch = 3;
    const x = randomInputs(batch * 12 * 12 * 3, 43);
    const [a, b] = [await ourFloatForward(model, x, batch), await ourFloatForward(back, x, batch)];
    expect(relativeError(b, a)).toBeLessThan(1e-6);
  });
});

// ---- QDQ export ----

/** Top-1 of QuantizedSession over a dataset, plus the dequantized logits. */
async function sessionTop1(q: QuantizedModel, data: Dataset, batch: number): Promise<{ top1: number[]; logits: Float32Array }> {
  const mcu = await Mcu.create({ budget: budgetFor(QuantizedSession.plan(q, { batch })) });
  const session = new QuantizedSession(mcu, q, { batch });
  const set = quantizeSet(session, data);
  const order = Array.from({ length: set.count }, (_, i) => i);
  const top1: number[] = [];
  const logits = new Float32Array(set.count * session.classes);
  for (let from = 0; from < set.count; from += batch) {
    const rows = Math.min(batch, set.count - from);
    loadMicroBatch(session, set, order, from, rows);
    session.forward();
    const raw = session.readLogits();
    for (let i = 0; i < rows * session.classes; i++) logits[from * session.classes + i] = raw[i]! * session.logitsScale;
    top1.push(...argmaxRows(raw, rows, session.classes));
  }
  return { top1, logits };
}

describe('QDQ export of a quantized model', () => {
  let trained: FloatModel;
  let ranges: Awaited<ReturnType<typeof calibrate>>;
  let heldOut: Dataset;

  beforeAll(async () => {
    const mnist = await loadBundledMnist();
    const train = subset(mnist, Array.from({ length: 2000 }, (_, i) => i));
    heldOut = subset(mnist, Array.from({ length: 1000 }, (_, i) => 2000 + i));
    const start = initFloatModel(architecturePreset('mnist-cnn'), 1);
    const result = await trainBackprop(start, train, { trainable: Object.keys(start.params), optimizer: { kind: 'adam', lr: 3e-3 }, batch: 32, steps: 150, seed: 1 });
    trained = result.model;
    ranges = await calibrate(trained, subset(train, Array.from({ length: 512 }, (_, i) => i)));
  });

  it.each([16, 8] as const)("the issue's check: %i-bit weights, onnxruntime's top-1 agrees with QuantizedSession on ≥ 99%% of 1,000 held-out MNIST images", async (bits) => {
    const q = quantizeModel(trained, ranges, { weightBits: bits });
    const ours = await sessionTop1(q, heldOut, 50);
    const theirs = await ortRun(exportOnnx(q), heldOut.images, [1000, 28, 28, 1]);
    const ortTop1 = argmaxRows(theirs, 1000, 10);
    const agree = ortTop1.filter((c, i) => c === ours.top1[i]).length;
    const accuracy = (top1: number[]) => top1.filter((c, i) => c === heldOut.labels[i]).length / 10;
    console.log(`[onnx] ${bits}-bit weights: top-1 agreement ${agree}/1000; accuracy QuantizedSession ${accuracy(ours.top1)}%, onnxruntime ${accuracy(ortTop1)}%; max |logit diff| ${Math.max(...theirs.map((v, i) => Math.abs(v - ours.logits[i]!))).toExponential(2)}`);
    expect(agree).toBeGreaterThanOrEqual(990);
    // A model that learned nothing would agree trivially (constant predictions).
    expect(accuracy(ours.top1)).toBeGreaterThan(40);
  });

  it('16-bit weights are int16 DequantizeLinear initializers at opset 21, 8-bit ones int8 at opset 13; biases int32', () => {
    for (const bits of [16, 8] as const) {
      const q = quantizeModel(trained, ranges, { weightBits: bits });
      const proto = decodeModelProto(exportOnnx(q), 'export');
      expect(Number(proto.opsetImport[0]!.version)).toBe(bits === 16 ? ONNX_OPSET_INT16 : ONNX_OPSET);
      const init = new Map(proto.graph!.initializer!.map((t) => [t.name, t]));
      for (const layer of Object.keys(q.params)) {
        expect(init.get(`${layer}/weight_quantized`)!.dataType).toBe(bits === 16 ? DataType.INT16 : DataType.INT8);
        expect(init.get(`${layer}/bias_quantized`)!.dataType).toBe(DataType.INT32);
      }
      // Per-channel conv scales (axis 0), a per-tensor head.
      expect(init.get('conv1/weight_scale')!.dims!.map(Number)).toEqual([8]);
      expect(init.get('logits/weight_scale')!.dims).toEqual([]);
      const ops = new Set(proto.graph!.node!.map((n) => n.opType));
      expect([...ops].sort()).toEqual(['Conv', 'DequantizeLinear', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'QuantizeLinear', 'Relu', 'Transpose']);
    }
  });

  it('the coverage graph, quantized with 8-bit weights, tracks QuantizedSession within a few output steps', async () => {
    const model = withBiases(initFloatModel(coverage, 51), 52);
    const count = 200;
    const data: Dataset = { name: 'random', shape: [12, 12, 3], images: randomInputs(count * 432, 53), labels: new Int32Array(count), classes: 5 };
    const q = quantizeModel(model, await calibrate(model, data), { weightBits: 8 });
    const ours = await sessionTop1(q, data, 20);
    const theirs = await ortRun(exportOnnx(q), data.images, [count, 12, 12, 3]);
    const range = Math.max(...ours.logits) - Math.min(...ours.logits);
    const meanDiff = theirs.reduce((s, v, i) => s + Math.abs(v - ours.logits[i]!), 0) / theirs.length;
    const agree = argmaxRows(theirs, count, 5).filter((c, i) => c === ours.top1[i]).length;
    console.log(`[onnx] coverage graph 8-bit: mean |logit diff| ${(meanDiff / range).toExponential(2)} of the logit range, top-1 agreement ${agree}/${count}`);
    expect(meanDiff / range).toBeLessThan(0.01);
    expect(agree / count).toBeGreaterThanOrEqual(0.95);
  });
});

// ---- importing graphs other exporters write ----

interface HandGraph {
  nodes: NodeProto[];
  initializers: TensorProto[];
  input: [string, (number | string)[]];
  output: [string, (number | string)[]];
  opset?: number;
}

function encodeHand(g: HandGraph): Uint8Array {
  return encodeModelProto({
    irVersion: 8,
    producerName: 'hand',
    opsetImport: [{ domain: '', version: g.opset ?? 13 }],
    graph: { name: 'hand', node: g.nodes, initializer: g.initializers, input: [floatValueInfo(g.input[0], g.input[1])], output: [floatValueInfo(g.output[0], g.output[1])] },
  });
}

/** What torch.onnx.export writes for a small CNN (BatchNorm kept, ReLU after MaxPool, CHW Flatten, Linear). */
function pytorchStyle(): HandGraph {
  return {
    input: ['x', ['batch', 3, 10, 10]],
    output: ['y', ['batch', 4]],
    initializers: [
      weights('conv1.weight', [6, 3, 3, 3], 1), weights('conv1.bias', [6], 2),
      weights('conv2.weight', [8, 6, 3, 3], 3),
      weights('bn.weight', [8], 4, 1), weights('bn.bias', [8], 5), weights('bn.running_mean', [8], 6),
      floatTensor('bn.running_var', [8], Array.from({ length: 8 }, (_, i) => 0.5 + i / 8)),
      weights('dw.weight', [16, 1, 3, 3], 7), weights('dw.bias', [16], 8),
      weights('fc1.weight', [12, 144], 9, 0.1), weights('fc1.bias', [12], 10),
      weights('fc2.weight', [12, 4], 11), weights('fc2.bias', [4], 12),
    ],
    nodes: [
      node('Conv', ['x', 'conv1.weight', 'conv1.bias'], 'c1', [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1]), intsAttr('strides', [1, 1])], '/conv1/Conv'),
      node('MaxPool', ['c1'], 'p1', [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])], '/pool/MaxPool'),
      node('Relu', ['p1'], 'r1', [], '/Relu'),
      node('Conv', ['r1', 'conv2.weight'], 'c2', [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [0, 0, 0, 0])], '/conv2/Conv'),
      node('BatchNormalization', ['c2', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], 'b2', [floatAttr('epsilon', 1e-3)], '/bn/BatchNormalization'),
      node('Constant', [], 'clip.min', [tensorAttr('value', floatTensor('', [], [0]))], '/Constant'),
      node('Constant', [], 'clip.max', [tensorAttr('value', floatTensor('', [], [6]))], '/Constant_1'),
      node('Clip', ['b2', 'clip.min', 'clip.max'], 'r2', [], '/Clip'),
      node('Conv', ['r2', 'dw.weight', 'dw.bias'], 'c3', [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1]), intAttr('group', 8)], '/dw/Conv'),
      node('Relu', ['c3'], 'r3', [], '/Relu_1'),
      node('Flatten', ['r3'], 'f', [intAttr('axis', 1)], '/Flatten'),
      node('Gemm', ['f', 'fc1.weight', 'fc1.bias'], 'g1', [intAttr('transB', 1), floatAttr('alpha', 1), floatAttr('beta', 1)], '/fc1/Gemm'),
      node('Relu', ['g1'], 'r4', [], '/Relu_2'),
      node('MatMul', ['r4', 'fc2.weight'], 'm', [], '/fc2/MatMul'),
      node('Add', ['m', 'fc2.bias'], 'y', [], '/fc2/Add'),
    ],
  };
}

/** What tf2onnx writes for a small Keras model: NHWC input, SAME_UPPER, Transpose back before Reshape. */
function kerasStyle(): HandGraph {
  return {
    input: ['image', ['unk__1', 8, 8, 2]],
    output: ['dense', ['unk__1', 3]],
    initializers: [
      weights('conv/kernel', [5, 2, 3, 3], 21), weights('conv/bias', [5], 22),
      int64Tensor('flat/shape', [2], [-1, 80]),
      weights('dense/kernel', [80, 3], 23, 0.2), weights('dense/bias', [3], 24),
    ],
    nodes: [
      node('Transpose', ['image'], 'nchw', [intsAttr('perm', [0, 3, 1, 2])]),
      node('Conv', ['nchw', 'conv/kernel', 'conv/bias'], 'conv', [intsAttr('strides', [2, 2]), stringAttr('auto_pad', 'SAME_UPPER')]),
      node('Relu', ['conv'], 'relu'),
      node('Transpose', ['relu'], 'nhwc', [intsAttr('perm', [0, 2, 3, 1])]),
      node('Reshape', ['nhwc', 'flat/shape'], 'flat'),
      node('MatMul', ['flat', 'dense/kernel'], 'mm'),
      node('Add', ['mm', 'dense/bias'], 'dense'),
    ],
  };
}

describe('importOnnx of graphs written by other exporters', () => {
  it('a PyTorch-style NCHW CNN (BatchNorm, ReLU after MaxPool, Clip, grouped conv, CHW Flatten, Gemm, MatMul+Add) runs like onnxruntime', async () => {
    const g = pytorchStyle();
    const bytes = encodeHand(g);
    const model = importOnnx(bytes);
    const kinds = model.architecture.nodes.map((n) => `${n.kind}${'activation' in n && n.activation !== 'none' ? `+${n.activation}` : ''}`);
    expect(kinds).toEqual(['input', 'conv2d+relu', 'maxpool', 'conv2d+relu6', 'depthwise+relu', 'dense+relu', 'dense']);
    expect(model.architecture.nodes[0]).toMatchObject({ shape: [10, 10, 3] });
    expect(model.architecture.nodes.find((n) => n.kind === 'depthwise')).toMatchObject({ depthMultiplier: 2, padding: 'same' });
    const batch = 3;
    const nhwc = randomInputs(batch * 300, 61);
    const theirs = await ortRun(bytes, toNchw(nhwc, batch, 10, 10, 3), [batch, 3, 10, 10], 'x', 'y');
    const ours = await ourFloatForward(model, nhwc, batch);
    expect(relativeError(ours, theirs)).toBeLessThan(1e-4);
  });

  it('opset 10 Clip with min/max attributes imports as ReLU6', () => {
    const g = pytorchStyle();
    g.opset = 10;
    const clip = g.nodes.find((n) => n.opType === 'Clip')!;
    clip.input = ['b2'];
    clip.attribute = [floatAttr('min', 0), floatAttr('max', 6)];
    const model = importOnnx(encodeHand(g));
    expect(model.architecture.nodes[3]).toMatchObject({ kind: 'conv2d', activation: 'relu6' });
  });

  it('a Keras/tf2onnx-style NHWC graph (SAME_UPPER, Transpose back to NHWC, Reshape, MatMul+Add) runs like onnxruntime', async () => {
    const g = kerasStyle();
    const bytes = encodeHand(g);
    const model = importOnnx(bytes);
    expect(model.architecture.nodes.map((n) => n.kind)).toEqual(['input', 'conv2d', 'dense']);
    expect(model.architecture.nodes[0]).toMatchObject({ shape: [8, 8, 2] });
    const batch = 4;
    const x = randomInputs(batch * 128, 62);
    const theirs = await ortRun(bytes, x, [batch, 8, 8, 2], 'image', 'dense');
    const ours = await ourFloatForward(model, x, batch);
    expect(relativeError(ours, theirs)).toBeLessThan(1e-4);
  });
});

// ---- what the importer refuses ----

/** The PyTorch-style graph with one node changed. */
function variant(change: (g: HandGraph) => void): Uint8Array {
  const g = pytorchStyle();
  change(g);
  return encodeHand(g);
}

const setAttr = (g: HandGraph, nodeName: string, attr: AttributeProto) => {
  const n = g.nodes.find((x) => x.name === nodeName)!;
  n.attribute = [...(n.attribute ?? []).filter((a) => a.name !== attr.name), attr];
};

function expectFormatError(bytes: Uint8Array, ...patterns: RegExp[]): void {
  let error: unknown;
  try {
    importOnnx(bytes);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(FormatError);
  for (const p of patterns) expect((error as Error).message).toMatch(p);
}

describe('importOnnx refuses what lastmile cannot run, with a FormatError naming the node', () => {
  it('an unsupported operator', () => {
    expectFormatError(variant((g) => (g.nodes[g.nodes.findIndex((n) => n.name === '/Relu_1')] = node('Sigmoid', ['c3'], 'r3', [], '/Sigmoid'))), /'\/Sigmoid' \(Sigmoid\)/, /supported: Conv, Relu/);
  });

  it('dilations other than 1', () => {
    expectFormatError(variant((g) => setAttr(g, '/conv1/Conv', intsAttr('dilations', [2, 2]))), /\/conv1\/Conv/, /dilations \[2, 2\]/);
  });

  it('a group count other than 1 or the input channels', () => {
    expectFormatError(
      variant((g) => {
        g.initializers.push(weights('dw2.weight', [16, 2, 3, 3], 70));
        g.nodes[g.nodes.findIndex((n) => n.name === '/dw/Conv')] = node('Conv', ['r2', 'dw2.weight', 'dw.bias'], 'c3', [intsAttr('pads', [1, 1, 1, 1]), intAttr('group', 4)], '/dw/Conv');
      }),
      /\/dw\/Conv/, /group 4/, /group 1 \(Conv\) and group = input channels/,
    );
  });

  it('pads as large as the kernel (windows made of padding only); PyTorch-style pads import (onnx-import-cases.test.ts)', () => {
    expectFormatError(variant((g) => setAttr(g, '/conv1/Conv', intsAttr('pads', [3, 3, 3, 3]))), /\/conv1\/Conv/, /pads \[3, 3, 3, 3\]/, /cannot be expressed/);
  });

  it('AveragePool that counts padded taps', () => {
    // 3×3 stride 2 on 10×10 with pads [0, 0, 1, 1] is TFLite 'same', but ONNX would divide by 9 at the edge.
    const pool = node('AveragePool', ['c1'], 'p1', [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [0, 0, 1, 1]), intAttr('count_include_pad', 1)], '/pool/AveragePool');
    expectFormatError(variant((g) => (g.nodes[1] = pool)), /\/pool\/AveragePool/, /count_include_pad/);
  });

  it('a Relu that cannot fuse into a layer', () => {
    // ReLU after an AveragePool does not commute: avg(relu(x)) ≠ relu(avg(x)).
    expectFormatError(variant((g) => (g.nodes[1] = node('AveragePool', ['c1'], 'p1', [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])], '/pool/AveragePool'))), /'\/Relu'/, /must follow a Conv/);
  });

  it('a CHW Flatten feeding something other than a dense layer', () => {
    expectFormatError(variant((g) => {
      g.nodes.splice(g.nodes.findIndex((n) => n.name === '/Flatten') + 1);
      g.output = ['f', ['batch', 144]];
    }), /CHW-order Flatten/);
  });

  it('QDQ graphs whose weight scale is computed at run time (QDQ import is in onnx-import-cases.test.ts)', () => {
    const q = quantizeModel(initFloatModel(architecturePreset('mlp'), 1), Object.fromEntries(['input', 'fc1', 'fc2', 'logits'].map((n) => [n, { min: -1, max: 1 }])), { weightBits: 8 });
    const proto = decodeModelProto(exportOnnx(q), 'qdq');
    const dq = proto.graph!.node.find((n) => n.opType === 'DequantizeLinear' && String(n.input[0]).endsWith('weight_quantized'))!;
    dq.input[1] = 'input';
    expectFormatError(encodeModelProto(proto), /scale 'input' must be an initializer/);
  });

  it('truncated files at any length and garbage bytes', () => {
    const bytes = exportOnnx(initFloatModel(architecturePreset('mnist-cnn'), 1));
    for (const cut of [0, 1, 7, 100, 1000, bytes.length >> 1, bytes.length - 1]) expectFormatError(bytes.subarray(0, cut));
    expectFormatError(new TextEncoder().encode('this is not an onnx file at all, just text'));
    expectFormatError(new Uint8Array(64).fill(0xff));
  });

  it('random corruption never escapes as anything but a FormatError (or a valid model)', () => {
    const bytes = exportOnnx(withBiases(initFloatModel(architecturePreset('mnist-cnn'), 3), 4));
    const outcomes = { valid: 0, formatError: 0 };
    fc.assert(
      fc.property(
        // Unbiased positions: fast-check's default bias would hit mostly the header.
        fc.array(fc.tuple(fc.noBias(fc.nat({ max: bytes.length - 1 })), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.option(fc.noBias(fc.nat({ max: bytes.length - 1 })), { freq: 4 }),
        (flips, cut) => {
          const corrupt = bytes.slice(0, cut === null ? bytes.length : Math.max(1, cut));
          for (const [at, value] of flips) if (at < corrupt.length) corrupt[at] = value;
          try {
            resolveGraph(importOnnx(corrupt).architecture);
            outcomes.valid++;
          } catch (e) {
            if (!(e instanceof FormatError)) throw e;
            outcomes.formatError++;
          }
        },
      ),
      { numRuns: 400, seed: 7 },
    );
    // Both paths ran: flips inside weight data still import, flips in the structure are refused.
    expect(outcomes.valid).toBeGreaterThan(20);
    expect(outcomes.formatError).toBeGreaterThan(20);
  });

  it('auto_pad SAME_LOWER with an odd padding total (the odd pixel goes before, TFLite puts it after) imports as explicit pads', async () => {
    const g = kerasStyle();
    g.nodes[1]!.attribute = [intsAttr('strides', [2, 2]), stringAttr('auto_pad', 'SAME_LOWER')];
    const bytes = encodeHand(g);
    const model = importOnnx(bytes);
    expect(model.architecture.nodes[1]).toMatchObject({ kind: 'conv2d', padding: [1, 1, 0, 0] });
    const x = randomInputs(2 * 128, 63);
    expect(relativeError(await ourFloatForward(model, x, 2), await ortRun(bytes, x, [2, 8, 8, 2], 'image', 'dense'))).toBeLessThan(1e-4);
  });

  it('a dims field that claims a huge tensor is refused before anything is allocated', () => {
    expectFormatError(variant((g) => (g.initializers[0] = { ...g.initializers[0]!, dims: [1 << 20, 1 << 20, 3, 3] })), /more than \d+ elements/);
    expectFormatError(variant((g) => (g.initializers[0] = { ...g.initializers[0]!, dims: [6, 3, 3, 4] })), /raw_data holds 648 bytes/);
  });
});
