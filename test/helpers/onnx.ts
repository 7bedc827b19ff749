// Shared by the ONNX tests (test/onnx.test.ts, test/onnx-import-cases.test.ts): running a graph on
// our device and in onnxruntime-node, comparing the outputs, and building ONNX graphs by hand.
import { expect } from 'vitest';
import * as ort from 'onnxruntime-node';
import { floatTensor, type AttributeProto, type NodeProto, type TensorProto } from '../../src/model/onnx-proto.js';
import type { FloatModel } from '../../src/model/model.js';
import { elementCount } from '../../src/model/graph.js';
import { BackpropSession } from '../../src/runtime/backprop-session.js';
import { Mcu } from '../../src/device/mcu.js';
import { rng } from './devices.js';

/** A budget just large enough for a session's plan (16-byte granules, as the MCU allocates). */
export const budgetFor = (plan: { sramBytes: number; flashBytes: number }) => ({
  sramBytes: Math.max(16, Math.ceil(plan.sramBytes / 16) * 16),
  flashBytes: Math.max(16, Math.ceil(plan.flashBytes / 16) * 16),
});

/** Our f32 device forward (the backprop reference path's kernels) on NHWC samples. */
export async function ourFloatForward(model: FloatModel, x: Float32Array, batch: number): Promise<Float32Array> {
  const options = { batch, trainable: new Set<string>(), optimizer: { kind: 'sgd' as const, lr: 1 } };
  const mcu = await Mcu.create({ budget: budgetFor(BackpropSession.plan(model, options)) });
  const session = new BackpropSession(mcu, model, options);
  session.setBatch(x, new Int32Array(batch));
  session.forward();
  return session.readLogits();
}

/** One run of an ONNX model in onnxruntime-node: the named output for a float input. */
export async function ortRun(bytes: Uint8Array, x: Float32Array, dims: number[], input = 'input', output = 'logits'): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const result = await session.run({ [input]: new ort.Tensor('float32', x, dims) });
  return result[output]!.data as Float32Array;
}

export function randomInputs(count: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: count }, () => r());
}

/** max |a − b| relative to max |b|: the float paths may sum in different orders. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** NHWC → NCHW for float samples. */
export function toNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
    out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch]!;
  }
  return out;
}

/** A hand-built ONNX node with one output (named after it unless `name` is given). */
export const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = [], name = output): NodeProto => ({ opType, name, input, output: [output], attribute });

/** A float initializer of seeded values in ±scale. */
export function weights(name: string, dims: number[], seed: number, scale = 0.3): TensorProto {
  const r = rng(seed);
  return floatTensor(name, dims, Array.from({ length: elementCount(dims) }, () => (r() - 0.5) * 2 * scale));
}
