// 16-bit weights (QZO-FF 16w8a) back to TFLite's int8 and, the other way, int8 weights lifted
// exactly onto the 16-bit grid. Re-quantization gives each channel (or the tensor) the finest scale
// 2^j·Δ16 on which its weights fit int8 after rounding half away from zero; biases move to the new
// accumulator scale (input scale × new weight scale) the same way.
import type { QuantizedModel, QuantizedParams } from '../model/model.js';
import { paramNodes, resolveGraph } from '../model/graph.js';
import { outputChannelIsLastAxis } from '../ops/registry.js';

/** Round half away from zero (TFLite's rounding). */
const roundAway = (x: number) => Math.sign(x) * Math.round(Math.abs(x));
const clampI32 = (x: number) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, x));

export function requantizeParamsTo8(p: QuantizedParams, channelAxisLast: boolean, channels: number, liftShifts?: readonly number[]): QuantizedParams {
  if (p.weightBits === 8) return p;
  const w16 = p.weights as Int16Array;
  const perChannel = p.weightScales.length > 1;
  const groups = perChannel ? channels : 1;
  const per = w16.length / channels;
  const groupOf = (i: number) => (!perChannel ? 0 : channelAxisLast ? i % channels : Math.floor(i / per));
  const maxAbs = new Float64Array(groups);
  const maxBias = new Float64Array(groups);
  const onLiftGrid = Array.from({ length: groups }, () => true);
  const liftOf = (g: number) => liftShifts?.[liftShifts.length === 1 ? 0 : g];
  for (let i = 0; i < w16.length; i++) {
    const g = groupOf(i);
    maxAbs[g] = Math.max(maxAbs[g]!, Math.abs(w16[i]!));
    const k = liftOf(g);
    if (k === undefined || w16[i]! % 2 ** k !== 0) onLiftGrid[g] = false;
  }
  for (let c = 0; c < p.bias.length; c++) {
    const g = perChannel ? c : 0;
    maxBias[g] = Math.max(maxBias[g]!, Math.abs(p.bias[c]!));
    const k = liftOf(g);
    if (k === undefined || p.bias[c]! % 2 ** k !== 0) onLiftGrid[g] = false;
  }
  // A group still on the grid it was lifted from goes back to exactly its int8 weights; any other
  // takes the finest power-of-two multiple 2^j·Δ16 of its 16-bit scale on which its weights fit int8
  // and its biases int32 (power-of-two steps keep every scale exact in float32).
  const scales = new Float32Array(groups);
  const ratio = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let j = 0;
    if (onLiftGrid[g]) j = liftOf(g)!;
    else while (maxAbs[g]! >= 127.5 * 2 ** j || maxBias[g]! * 2 ** -j > 2 ** 31 - 1) j++;
    scales[g] = p.weightScales[g]! * 2 ** j;
    ratio[g] = 2 ** -j;
  }
  const weights = new Int8Array(w16.length);
  for (let i = 0; i < w16.length; i++) weights[i] = Math.max(-127, Math.min(127, roundAway(w16[i]! * ratio[groupOf(i)]!)));
  const bias = new Int32Array(p.bias.length);
  for (let c = 0; c < bias.length; c++) bias[c] = clampI32(roundAway(p.bias[c]! * ratio[perChannel ? c : 0]!));
  return { weightBits: 8, weights, weightScales: scales, bias };
}

/** Per-layer lift shifts k (w16 = 2^k·w8), one per scale group, kept in model.meta.liftShifts. */
export function liftShiftsOf(model: { meta: Record<string, unknown> }): Record<string, number[]> {
  const m = model.meta.liftShifts;
  return m && typeof m === 'object' ? (m as Record<string, number[]>) : {};
}

/** The model with every 16-bit layer re-quantized to int8 (8-bit layers untouched). */
export function requantizeModelTo8(model: QuantizedModel): QuantizedModel {
  const graph = resolveGraph(model.architecture);
  const params: Record<string, QuantizedParams> = {};
  for (const n of paramNodes(graph)) {
    params[n.node.name] = requantizeParamsTo8(model.params[n.node.name]!, outputChannelIsLastAxis(n.node.kind), n.biasLength!, liftShiftsOf(model)[n.node.name]);
  }
  const { liftShifts: _lifted, ...meta } = model.meta;
  return { ...model, params, meta: { ...meta, weightBits: 8 } };
}

/**
 * Lifts int8 weights onto the int16 grid exactly: w16 = 2^k·w8 at Δ/2^k and bias16 = 2^k·bias8, the
 * same real values. k = 8 (w16 = 256·w8) unless a channel's bias is so large that 2^8·bias would
 * overflow int32 (its accumulator would too); that channel (or, with one per-tensor scale, the
 * layer) takes the largest k that fits: still exact, on a coarser 16-bit grid.
 */
export function liftParamsTo16(p: QuantizedParams, channelAxisLast: boolean): QuantizedParams & { liftShifts?: number[] } {
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
  const liftShifts = (perChannel ? factor : factor.slice(0, 1)).map((f) => Math.log2(f));
  return { weightBits: 16, weights, weightScales, bias, liftShifts };
}

/** Lifts the named layers (default: all) to 16-bit weights; the others keep their int8 weights. */
export function liftModelTo16(model: QuantizedModel, layers?: ReadonlySet<string>): QuantizedModel {
  const params: Record<string, QuantizedParams> = {};
  const liftShifts: Record<string, number[]> = { ...liftShiftsOf(model) };
  for (const n of paramNodes(resolveGraph(model.architecture))) {
    const name = n.node.name;
    const p = model.params[name]!;
    if (layers && !layers.has(name)) {
      params[name] = p;
      continue;
    }
    const { liftShifts: shifts, ...lifted } = liftParamsTo16(p, outputChannelIsLastAxis(n.node.kind));
    params[name] = lifted;
    if (shifts) liftShifts[name] = shifts;
  }
  return { ...model, params, meta: { ...model.meta, weightBits: 16, liftShifts } };
}
