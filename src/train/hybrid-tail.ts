// The hybrid's second backprop layer (the "tail"): the layer whose output the head reads through a
// global average pool — the last conv of a CNN (optionally through the residual add that carries the
// ReLU, as in ResNet-8) or the last hidden dense layer of an MLP. With it the hybrid learns the
// last two parameter layers by exact integer gradients and only the layers below by QZO-FF.
//
// Gradient (assembly/tail_grad.ts): from the head's δ (Q.15) and its stored weights, g = Wh^T·δ
// per feature; the pool spreads g over its positions; the ReLU/clamp of the pooled tensor (the gate)
// stops it where the forward clamped; the tail's weight gradient is g times the sum of its input
// patches over the passing positions. Real units: with s_h the head weight scale, s_x the tail's
// input scale, s_w[o] its weight scale and P positions per pool,
//   dL/dW_real[o][j] = s_h·s_x/P · G_W[o][j],   dL/db_real[o] = s_h/P · G_B[o]
// and SGD on the stored integers over N summed rows is
//   W_q ← W_q − round(G_W·c_w[o]),  c_w[o] = q·η·s_h·s_x / (P·s_w[o]·N)
//   b_q ← b_q − round(G_B·c_b[o]),  c_b[o] = q·η·s_h / (P·s_x·s_w[o]·N)      (b is stored in s_x·s_w units)
// with q the warm-up in Q15 and η in real units (HYBRID_DEFAULTS.tailLr). The tail's input and the
// gate must survive the forward pass: the session keeps them to its last op (keepTensors), so the
// plan counts them like any other buffer.
import { ConfigError } from '../errors.js';
import type { DeviceBuffer } from '../device/arena.js';
import type { QuantizedModel } from '../model/model.js';
import type { Conv2DNode, DenseNode, Pool2DNode } from '../model/layers.js';
import { resolveGraph, type Architecture } from '../model/graph.js';
import { lowerGraph, type LoweredGraph, type LoweredOp } from '../runtime/lowering.js';
import { activationClamp } from '../ops/shape.js';
import { paddedAxis } from '../kernels/geometry.js';
import type { QuantizedSession } from '../runtime/session.js';
import { applyTailStep, makeTailStep, tailFilterSize, tailGradBytes, validateTailGeometry, writeTailGeometry, type TailGeometry, type TailGradBuffers, type TailStep } from '../kernels/tail-grad.js';
import { scaleMultiplier } from './qzo-ff/step-control.js';

export interface TailInfo {
  /** The tail layer (conv2d or dense) and the tensors the gradient reads. */
  name: string;
  input: string;
  gate: string;
  geometry: TailGeometry;
  /** Positions one pooled feature averages (1 without a pool). */
  positions: number;
  inputScale: number;
  inputZero: number;
  gateLo: number;
  gateHi: number;
  weightBits: 8 | 16;
  /** Per output channel, or one for the tensor. */
  weightScales: readonly number[];
}

const producerOf = (lowered: LoweredGraph, tensor: string): LoweredOp | undefined => lowered.ops.find((op) => op.output === tensor);

/** The tail's place in the graph, from the architecture alone. */
export interface TailShape {
  name: string;
  input: string;
  gate: string;
  gateActivation: 'none' | 'relu' | 'relu6';
  geometry: TailGeometry;
  positions: number;
}

/** Why the architecture has no tail the hybrid can backprop into (a reason), or where it is. */
export function tailShape(architecture: Architecture): TailShape | string {
  const lowered = lowerGraph(resolveGraph(architecture));
  const head = lowered.ops[lowered.ops.length - 1]!;
  let positions = 1;
  const pool = producerOf(lowered, head.inputs[0]!);
  if (!pool) return 'the head reads the model input directly';
  let gateTensor = head.inputs[0]!;
  if (pool.node.node.kind === 'globalavgpool' || pool.node.node.kind === 'avgpool') {
    const [h, w] = pool.node.inShapes[0] as [number, number, number];
    if (pool.node.node.kind === 'avgpool') {
      const n = pool.node.node as Pool2DNode;
      if (n.pool[0] !== h || n.pool[1] !== w || n.padding !== 'valid') return `the pool '${n.name}' before the head is not global (window ${n.pool.join('×')} over ${h}×${w})`;
    }
    positions = h * w;
    gateTensor = pool.inputs[0]!;
  }
  const gateOp = producerOf(lowered, gateTensor);
  if (!gateOp) return 'the pooled tensor is the model input';
  let tail = gateOp;
  if (gateOp.node.node.kind === 'add') {
    const first = producerOf(lowered, gateOp.inputs[0]!);
    if (!first || (first.node.node.kind !== 'conv2d' && first.node.node.kind !== 'dense') || first.activation !== 'none') {
      return `the add '${gateOp.node.node.name}' before the pool does not take a conv or dense layer without activation as its first input`;
    }
    tail = first;
  }
  const kind = tail.node.node.kind;
  const name = tail.node.node.name;
  if (kind !== 'conv2d' && kind !== 'dense') return `the layer '${name}' before the head is a ${kind}, not a conv2d or dense layer`;
  let geometry: TailGeometry;
  if (kind === 'conv2d') {
    const n = tail.node.node as Conv2DNode;
    const [h, w, c] = tail.node.inShapes[0] as [number, number, number];
    const ay = paddedAxis(h, n.kernel[0], n.stride[0], n.padding, 0);
    const ax = paddedAxis(w, n.kernel[1], n.stride[1], n.padding, 1);
    geometry = { inHeight: h, inWidth: w, inChannels: c, outHeight: ay.out, outWidth: ax.out, outChannels: n.filters, kernelHeight: n.kernel[0], kernelWidth: n.kernel[1], strideHeight: n.stride[0], strideWidth: n.stride[1], padTop: ay.padBefore, padLeft: ax.padBefore };
  } else {
    const n = tail.node.node as DenseNode;
    const features = (tail.node.inShapes[0] as number[]).reduce((x, y) => x * y, 1);
    if (positions !== 1) return `the dense layer '${name}' feeds a pool`;
    geometry = { inHeight: 1, inWidth: 1, inChannels: features, outHeight: 1, outWidth: 1, outChannels: n.units, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0 };
  }
  if (geometry.outHeight * geometry.outWidth !== positions) return `the pool before the head averages ${positions} positions but '${name}' writes ${geometry.outHeight * geometry.outWidth}`;
  try {
    validateTailGeometry(geometry);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return { name, input: tail.inputs[0]!, gate: gateTensor, gateActivation: gateOp.activation as TailShape['gateActivation'], geometry, positions };
}

/** Why the tail pattern does not apply to this quantized model (a reason), or the tail with its quantization. */
export function findTail(model: QuantizedModel): TailInfo | string {
  const shape = tailShape(model.architecture);
  if (typeof shape === 'string') return shape;
  const p = model.params[shape.name];
  if (!p) return `layer '${shape.name}' has no parameters`;
  if (p.weightBits !== 8 && p.weightBits !== 16) return `layer '${shape.name}' has ${p.weightBits}-bit weights`;
  const inQ = model.activations[shape.input]!;
  const gateQ = model.activations[shape.gate]!;
  const clamp = activationClamp(shape.gateActivation, gateQ.scale, gateQ.zeroPoint);
  return {
    name: shape.name, input: shape.input, gate: shape.gate, geometry: shape.geometry, positions: shape.positions, inputScale: inQ.scale, inputZero: inQ.zeroPoint,
    gateLo: clamp.actMin, gateHi: clamp.actMax, weightBits: p.weightBits as 8 | 16, weightScales: [...p.weightScales],
  };
}

/** The tail, or a ConfigError saying why the model has none the hybrid can train. */
export function requireTail(model: QuantizedModel): TailInfo {
  const t = findTail(model);
  if (typeof t === 'string') throw new ConfigError(`the hybrid cannot backprop into the layer below the head: ${t}; use --bp-layers 1`);
  return t;
}

/** The tail's SRAM beside the head's: its gradient sums, one filter of patch sums, g and the geometry. */
export function tailSramBuffers(t: TailInfo): { name: string; bytes: number }[] {
  const b = tailGradBytes(t.geometry);
  return [
    { name: 'tail-geometry', bytes: b.geometry },
    { name: 'tail-g', bytes: b.g },
    { name: 'tail-patch', bytes: b.patch },
    { name: 'tail-grad-w', bytes: b.gradW },
    { name: 'tail-grad-b', bytes: b.gradB },
  ];
}

/** Tensors the forward must keep to its end so the tail gradient can read them. */
export const tailKeptTensors = (t: TailInfo): string[] => [t.input, t.gate];

/** c_w[o], c_b[o] for η (real units), N summed rows and the head's weight scale (one per channel, or one). */
export function tailStepFactors(t: TailInfo, lr: number, rows: number, headWeightScale: number): { w: TailStep; b: TailStep }[] {
  return t.weightScales.map((sw) => ({
    w: makeTailStep((lr * headWeightScale * t.inputScale) / (t.positions * sw * rows), `hybrid tail weight step of '${t.name}'`),
    b: makeTailStep((lr * headWeightScale) / (t.positions * t.inputScale * sw * rows), `hybrid tail bias step of '${t.name}'`),
  }));
}

export function tailBuffers(session: QuantizedSession): TailGradBuffers {
  const get = (name: string): DeviceBuffer => {
    const b = session.extra.get(name);
    if (!b) throw new ConfigError(`the session was not prepared for the hybrid's tail: pass tailSramBuffers(tail) in its extraSram (missing '${name}')`);
    return b;
  };
  return { geometry: get('tail-geometry'), g: get('tail-g'), patch: get('tail-patch'), gradW: get('tail-grad-w'), gradB: get('tail-grad-b') };
}

export function initTail(session: QuantizedSession, t: TailInfo, buffers: TailGradBuffers): void {
  writeTailGeometry(session.mcu.sram, buffers.geometry, t.geometry);
  const mem = session.mcu.device.bytes;
  for (const b of [buffers.gradW, buffers.gradB]) mem.fill(0, b.offset, b.offset + b.bytes);
}

/** One SGD step on the tail's stored weights and bias from the sums, which it clears. */
export function applyTail(session: QuantizedSession, t: TailInfo, buffers: TailGradBuffers, factors: { w: TailStep; b: TailStep }[], q15: number): void {
  const weights = session.weights.get(t.name)!;
  const bias = session.biases.get(t.name)!;
  const k = tailFilterSize(t.geometry);
  const cout = t.geometry.outChannels;
  const scaled = (s: TailStep): TailStep => ({ ...s, multiplier: scaleMultiplier(s.multiplier, q15) });
  if (factors.length === 1) {
    applyTailStep(session.mcu.sram, weights, 0, t.weightBits, cout * k, buffers.gradW, 0, scaled(factors[0]!.w));
    applyTailStep(session.mcu.sram, bias, 0, 32, cout, buffers.gradB, 0, scaled(factors[0]!.b));
    return;
  }
  for (let o = 0; o < cout; o++) {
    applyTailStep(session.mcu.sram, weights, o * k * (t.weightBits / 8), t.weightBits, k, buffers.gradW, o * k * 8, scaled(factors[o]!.w));
    applyTailStep(session.mcu.sram, bias, o * 4, 32, 1, buffers.gradB, o * 8, scaled(factors[o]!.b));
  }
}
