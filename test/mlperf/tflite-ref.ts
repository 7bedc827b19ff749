// TFLite's int8 reference arithmetic for a whole imported model, from the test's own references
// (test/reference: BigInt gemmlowp, naive conv / depthwise / FC / pooling / Add loops written
// from TFLite's reference_integer_ops, the gemmlowp softmax): shares no code with the device
// kernels or the session, only the imported model's integers. Also the same layers with Arm NN
// CpuRef's arithmetic (dequantize, compute in real numbers, round once: q = round(r / s) + zp),
// to show where the two differ.
import { resolveGraph } from '../../src/model/graph.js';
import type { Conv2DNode, DepthwiseConv2DNode, Pool2DNode } from '../../src/model/layers.js';
import type { QuantizedModel } from '../../src/model/model.js';
import { conv2dAccRef, fullyConnectedAccRef, requantizeRowsRef } from '../reference/conv-ref.js';
import { addRef, avgPool2dRef, axisRef, prepareAddRef, quantizeMultiplierRef, type PaddingRef } from '../reference/layers-ref.js';
import { softmaxRef } from '../reference/softmax-ref.js';
import type { PreparedSoftmax } from '../../src/kernels/softmax.js';

/** TFLite CalculateActivationRangeQuantized. */
function clampOf(activation: string, scale: number, zp: number): { lo: number; hi: number } {
  if (activation === 'relu') return { lo: Math.max(-128, zp), hi: 127 };
  if (activation === 'relu6') return { lo: Math.max(-128, zp), hi: Math.min(127, zp + Math.round(6 / scale)) };
  return { lo: -128, hi: 127 };
}

function padding(p: unknown): PaddingRef {
  if (p !== 'same' && p !== 'valid') throw new Error(`reference handles SAME/VALID padding only, got ${JSON.stringify(p)}`);
  return p;
}

/** Depthwise accumulators [b][oy][ox][oc] (weights [kH][kW][C·M]), TFLite's DepthwiseConvPerChannel loops. */
function depthwiseAccRef(x: Int8Array, w: ArrayLike<number>, bias: Int32Array, batch: number, inH: number, inW: number, inC: number, n: DepthwiseConv2DNode, zin: number): Int32Array {
  const [kH, kW] = n.kernel;
  const [sH, sW] = n.stride;
  const M = n.depthMultiplier;
  const h = axisRef(inH, kH, sH, padding(n.padding));
  const v = axisRef(inW, kW, sW, padding(n.padding));
  const outC = inC * M;
  const acc = new Int32Array(batch * h.out * v.out * outC);
  let at = 0;
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < h.out; oy++)
      for (let ox = 0; ox < v.out; ox++)
        for (let oc = 0; oc < outC; oc++) {
          const ic = Math.floor(oc / M);
          let sum = 0;
          for (let fy = 0; fy < kH; fy++) {
            const iy = oy * sH - h.pad + fy;
            if (iy < 0 || iy >= inH) continue;
            for (let fx = 0; fx < kW; fx++) {
              const ix = ox * sW - v.pad + fx;
              if (ix < 0 || ix >= inW) continue;
              sum = (sum + Math.imul(x[((b * inH + iy) * inW + ix) * inC + ic]! - zin, w[(fy * kW + fx) * outC + oc]!)) | 0;
            }
          }
          acc[at++] = (sum + bias[oc]!) | 0;
        }
  return acc;
}

/** Round half away from zero (C's std::round, which Arm NN's Quantize uses). */
const roundAway = (v: number): number => Math.sign(v) * Math.round(Math.abs(v));

/** Average pooling the Arm NN way: mean of (q − zp), rounded once, + zp (input and output share quantization). */
function avgPoolRealRef(x: Int8Array, batch: number, inH: number, inW: number, C: number, n: Pool2DNode, zp: number): Int8Array {
  const h = axisRef(inH, n.pool[0], n.stride[0], padding(n.padding));
  const w = axisRef(inW, n.pool[1], n.stride[1], padding(n.padding));
  const out = new Int8Array(batch * h.out * w.out * C);
  let at = 0;
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < h.out; oy++)
      for (let ox = 0; ox < w.out; ox++)
        for (let c = 0; c < C; c++) {
          let sum = 0;
          let count = 0;
          for (let fy = 0; fy < n.pool[0]; fy++)
            for (let fx = 0; fx < n.pool[1]; fx++) {
              const iy = oy * n.stride[0] - h.pad + fy;
              const ix = ox * n.stride[1] - w.pad + fx;
              if (iy < 0 || iy >= inH || ix < 0 || ix >= inW) continue;
              sum += x[((b * inH + iy) * inW + ix) * C + c]! - zp;
              count++;
            }
          out[at++] = Math.min(127, Math.max(-128, roundAway(sum / count) + zp));
        }
  return out;
}

/** Which rounding a layer's requantization uses. */
export type Arithmetic = 'tflite' | 'armnn';

/**
 * One layer: int8 inputs → int8 output, TFLite's reference arithmetic or Arm NN's (real-valued
 * requantization rounded once). Layers with no requantization (pooling, reshape) are the same in both
 * except pooling's rounding (TFLite rounds the mean of q, Arm NN the mean of q − zp).
 */
export function referenceLayer(model: QuantizedModel, name: string, inputs: Int8Array[], batch: number, arithmetic: Arithmetic): Int8Array {
  const graph = resolveGraph(model.architecture);
  const node = graph.nodes.find((n) => n.node.name === name)!;
  const n = node.node;
  const inName = graph.nodes[node.inputs[0]!]!.node.name;
  const inShape = graph.nodes[node.inputs[0]!]!.outShape;
  const qi = model.activations[inName]!;
  const qo = model.activations[name]!;
  const act = 'activation' in n ? (n.activation as string) : 'none';
  const { lo, hi } = clampOf(act, qo.scale, qo.zeroPoint);
  const x = inputs[0]!;
  const requant = (acc: Int32Array, channels: number, weightScales: Float32Array | number[]): Int8Array => {
    if (arithmetic === 'tflite') {
      const ms = Array.from(weightScales, (s) => quantizeMultiplierRef((qi.scale * s) / qo.scale));
      return requantizeRowsRef(acc, channels, Int32Array.from(ms, (m) => m.multiplier), Int32Array.from(ms, (m) => m.shift), qo.zeroPoint, lo, hi);
    }
    const out = new Int8Array(acc.length);
    for (let i = 0; i < acc.length; i++) {
      const s = weightScales[weightScales.length === 1 ? 0 : i % channels]!;
      const q = roundAway((acc[i]! * qi.scale * s) / qo.scale) + qo.zeroPoint;
      out[i] = Math.min(hi, Math.max(lo, q));
    }
    return out;
  };
  switch (n.kind) {
    case 'conv2d': {
      const c = n as Conv2DNode;
      const p = model.params[name]!;
      const acc = conv2dAccRef(x, p.weights, p.bias, {
        batch, inHeight: inShape[0]!, inWidth: inShape[1]!, inChannels: inShape[2]!, outChannels: c.filters,
        kernelHeight: c.kernel[0], kernelWidth: c.kernel[1], strideHeight: c.stride[0], strideWidth: c.stride[1], padding: padding(c.padding),
      }, qi.zeroPoint);
      return requant(acc, c.filters, p.weightScales);
    }
    case 'depthwise': {
      const d = n as DepthwiseConv2DNode;
      const p = model.params[name]!;
      const acc = depthwiseAccRef(x, p.weights, p.bias, batch, inShape[0]!, inShape[1]!, inShape[2]!, d, qi.zeroPoint);
      return requant(acc, inShape[2]! * d.depthMultiplier, p.weightScales);
    }
    case 'dense': {
      const p = model.params[name]!;
      const units = p.bias.length;
      const acc = fullyConnectedAccRef(x, p.weights, p.bias, batch, x.length / batch, units, qi.zeroPoint);
      return requant(acc, units, p.weightScales);
    }
    case 'avgpool': {
      const a = n as Pool2DNode;
      if (arithmetic === 'armnn') return avgPoolRealRef(x, batch, inShape[0]!, inShape[1]!, inShape[2]!, a, qi.zeroPoint);
      return avgPool2dRef({ batch, inH: inShape[0]!, inW: inShape[1]!, C: inShape[2]!, fH: a.pool[0], fW: a.pool[1], strideH: a.stride[0], strideW: a.stride[1], padding: padding(a.padding), actMin: -128, actMax: 127, input: x });
    }
    case 'add': {
      const qb = model.activations[graph.nodes[node.inputs[1]!]!.node.name]!;
      const y = inputs[1]!;
      const out = new Int8Array(x.length);
      if (arithmetic === 'tflite') {
        const p = prepareAddRef(qi.scale, qi.zeroPoint, qb.scale, qb.zeroPoint, qo.scale, qo.zeroPoint);
        for (let i = 0; i < x.length; i++) out[i] = addRef(x[i]!, y[i]!, p, lo, hi);
      } else {
        for (let i = 0; i < x.length; i++) {
          const r = (x[i]! - qi.zeroPoint) * qi.scale + (y[i]! - qb.zeroPoint) * qb.scale;
          out[i] = Math.min(hi, Math.max(lo, roundAway(r / qo.scale) + qo.zeroPoint));
        }
      }
      return out;
    }
    case 'flatten':
      return x;
    default:
      throw new Error(`reference has no ${n.kind} layer`);
  }
}

/** The whole model (head requantized to int8, then the softmax if given) with TFLite's reference arithmetic. */
export function referenceModel(model: QuantizedModel, x: Int8Array, batch: number, softmax?: PreparedSoftmax): { output: Int8Array; tensors: Map<string, Int8Array> } {
  const graph = resolveGraph(model.architecture);
  const tensors = new Map<string, Int8Array>([[graph.nodes[0]!.node.name, x]]);
  for (const node of graph.nodes.slice(1)) {
    const ins = node.inputs.map((i) => tensors.get(graph.nodes[i]!.node.name)!);
    tensors.set(node.node.name, referenceLayer(model, node.node.name, ins, batch, 'tflite'));
  }
  let output = tensors.get(graph.nodes[graph.nodes.length - 1]!.node.name)!;
  if (softmax) {
    const classes = output.length / batch;
    const probabilities = new Int8Array(output.length);
    for (let r = 0; r < batch; r++) probabilities.set(softmaxRef(output.subarray(r * classes, (r + 1) * classes), softmax), r * classes);
    output = probabilities;
  }
  return { output, tensors };
}
