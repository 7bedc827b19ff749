// 16-bit weights (QZO-FF 16w8a) back to TFLite's int8 and, the other way, int8 weights lifted
// exactly onto the 16-bit grid. Re-quantization gives each channel (or the tensor) the finest scale
// 2^j·Δ16 on which its weights fit int8 after rounding half away from zero; biases move to the new
// accumulator scale (input scale × new weight scale) the same way.
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
  // Each group takes the finest power-of-two multiple of its 16-bit scale on which its weights fit
  // int8 (power-of-two steps keep the scale exact in float32, so lifted weights come back exactly).
  const scales = new Float32Array(groups);
  const ratio = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let j = 0;
    while (maxAbs[g]! >= 127.5 * 2 ** j) j++;
    scales[g] = p.weightScales[g]! * 2 ** j;
    ratio[g] = 2 ** -j;
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

/**
 * Lifts int8 weights onto the int16 grid exactly: w16 = 2^k·w8 at Δ/2^k and bias16 = 2^k·bias8, the
 * same real values. k = 8 (w16 = 256·w8) unless a channel's bias is so large that 2^8·bias would
 * overflow int32 (its accumulator would too); that channel (or, with one per-tensor scale, the
 * layer) takes the largest k that fits: still exact, on a coarser 16-bit grid.
 */
export function liftParamsTo16(p: QuantizedParams, channelAxisLast: boolean): QuantizedParams {
  if (p.weightBits === 16) return p;
  const channels = p.bias.length;
  const perChannel = p.weightScales.length > 1;
  const shiftFor = (maxBias: number) => {
    let k = 8;
    while (k > 0 && maxBias * 2 ** k > 2 ** 31 - 1) k--;
    return k;
  };
  const factor = perChannel
    ? Array.from(p.bias, (b) => 2 ** shiftFor(Math.abs(b)))
    : new Array<number>(channels).fill(2 ** shiftFor(p.bias.reduce((m, b) => Math.max(m, Math.abs(b)), 0)));
  const per = p.weights.length / channels;
  const channelOf = (i: number) => (channelAxisLast ? i % channels : Math.floor(i / per));
  const weights = Int16Array.from(p.weights as Int8Array, (w, i) => w * factor[channelOf(i)]!);
  const weightScales = Float32Array.from(p.weightScales, (s, c) => s / factor[c]!);
  const bias = Int32Array.from(p.bias, (b, c) => b * factor[c]!);
  return { weightBits: 16, weights, weightScales, bias };
}

/** Lifts the named layers (default: all) to 16-bit weights; the others keep their int8 weights. */
export function liftModelTo16(model: QuantizedModel, layers?: ReadonlySet<string>): QuantizedModel {
  const params: Record<string, QuantizedParams> = {};
  for (const n of paramNodes(resolveGraph(model.architecture))) {
    const name = n.node.name;
    const p = model.params[name]!;
    params[name] = !layers || layers.has(name) ? liftParamsTo16(p, n.node.kind === 'depthwise') : p;
  }
  return { ...model, params, meta: { ...model.meta, weightBits: 16 } };
}
