// 16-bit weights (QZO-FF 16w8a) back to TFLite's int8. A channel whose weights are all still on
// the lifted grid (w16 = 256·w8) comes back exactly with scale 256·Δ16; otherwise the channel keeps
// scale 256·Δ16 while its weights fit int8 after rounding, and takes max|w|·Δ16/127 when they do
// not. Biases move to the new accumulator scale (input scale × new weight scale).
import { ConfigError } from '../errors.js';
import type { QuantizedModel, QuantizedParams } from '../model/model.js';
import { paramNodes, resolveGraph } from '../model/graph.js';

/** Round half away from zero (TFLite's rounding). */
const roundAway = (x: number) => Math.sign(x) * Math.round(Math.abs(x));
const clampI32 = (x: number) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, x));

export function requantizeParamsTo8(p: QuantizedParams, channelAxisLast: boolean, channels: number): QuantizedParams {
  if (p.weightBits === 8) return p;
  const w16 = p.weights as Int16Array;
  const perChannel = p.weightScales.length > 1;
  const groups = perChannel ? channels : 1;
  const per = w16.length / channels;
  const groupOf = (i: number) => (!perChannel ? 0 : channelAxisLast ? i % channels : Math.floor(i / per));
  const maxAbs = new Float64Array(groups);
  for (let i = 0; i < w16.length; i++) maxAbs[groupOf(i)] = Math.max(maxAbs[groupOf(i)]!, Math.abs(w16[i]!));
  const scales = new Float32Array(groups);
  const ratio = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    const s16 = p.weightScales[g]!;
    if (maxAbs[g]! <= 127 * 256 + 127) {
      scales[g] = s16 * 256;
      ratio[g] = 1 / 256;
    } else {
      scales[g] = (maxAbs[g]! * s16) / 127;
      ratio[g] = s16 / scales[g]!;
    }
  }
  const weights = new Int8Array(w16.length);
  for (let i = 0; i < w16.length; i++) weights[i] = Math.max(-127, Math.min(127, roundAway(w16[i]! * ratio[groupOf(i)]!)));
  const bias = new Int32Array(p.bias.length);
  for (let c = 0; c < bias.length; c++) bias[c] = clampI32(roundAway(p.bias[c]! * ratio[perChannel ? c : 0]!));
  return { weightBits: 8, weights, weightScales: scales, bias };
}

/** The model with every 16-bit layer re-quantized to int8 (8-bit layers untouched). */
export function requantizeModelTo8(model: QuantizedModel): QuantizedModel {
  const graph = resolveGraph(model.architecture);
  const params: Record<string, QuantizedParams> = {};
  for (const n of paramNodes(graph)) {
    params[n.node.name] = requantizeParamsTo8(model.params[n.node.name]!, n.node.kind === 'depthwise', n.biasLength!);
  }
  return { ...model, params, meta: { ...model.meta, weightBits: 8 } };
}

/** Lifts int8 weights onto the int16 grid exactly: w16 = 256·w8 at Δ/256, bias16 = 256·bias8. */
export function liftParamsTo16(p: QuantizedParams): QuantizedParams {
  if (p.weightBits === 16) return p;
  const weights = Int16Array.from(p.weights as Int8Array, (w) => w * 256);
  const weightScales = Float32Array.from(p.weightScales, (s) => s / 256);
  if (p.bias.some((b) => Math.abs(b) >= 2 ** 23)) throw new ConfigError('a bias of 2^23 or more cannot be lifted onto the 16-bit weight grid exactly (256·bias overflows int32)');
  const bias = Int32Array.from(p.bias, (b) => b * 256);
  return { weightBits: 16, weights, weightScales, bias };
}

export function liftModelTo16(model: QuantizedModel): QuantizedModel {
  const params: Record<string, QuantizedParams> = {};
  for (const [name, p] of Object.entries(model.params)) params[name] = liftParamsTo16(p);
  return { ...model, params, meta: { ...model.meta, weightBits: 16 } };
}
