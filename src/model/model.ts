// Float and quantized models: an architecture plus its parameters (and, once quantized, the
// activation scales), with save/load through the model container.
import { FormatError, LastmileError } from '../errors.js';
import { gaussian, mulberry32 } from '../util/random.js';
import { decodeContainer, encodeContainer, type NamedTensor } from './container.js';
import { elementCount, paramNodes, resolveGraph, type Architecture, type ResolvedGraph } from './graph.js';
import { fanIn } from '../ops/registry.js';

export interface FloatParams {
  weights: Float32Array;
  bias: Float32Array;
}

export interface FloatModel {
  kind: 'float';
  architecture: Architecture;
  params: Record<string, FloatParams>;
  meta: Record<string, unknown>;
}

/** Affine int8 quantization of one activation tensor: real = scale · (q − zeroPoint). */
export interface ActivationQuant {
  scale: number;
  zeroPoint: number;
}

export type WeightBits = 8 | 16;

export interface QuantizedParams {
  weightBits: WeightBits;
  /** Symmetric weights, stored layout of the layer (conv OHWI, depthwise [kH][kW][C], dense [N][K]). */
  weights: Int8Array | Int16Array;
  /** One scale per output channel, or a single per-tensor scale. */
  weightScales: Float32Array;
  /** bias_q = round(bias / (inputScale · weightScale)). */
  bias: Int32Array;
}

export interface QuantizedModel {
  kind: 'quantized';
  architecture: Architecture;
  params: Record<string, QuantizedParams>;
  /** Quantization of every node's output tensor (the input node included), by node name. */
  activations: Record<string, ActivationQuant>;
  meta: Record<string, unknown>;
}

export type Model = FloatModel | QuantizedModel;

/** Deterministic He-normal initialisation (biases zero). */
export function initFloatModel(architecture: Architecture, seed = 1, meta: Record<string, unknown> = {}): FloatModel {
  const graph = resolveGraph(architecture);
  const next = gaussian(mulberry32(seed));
  const params: Record<string, FloatParams> = {};
  for (const n of paramNodes(graph)) {
    const shape = n.weightShape!;
    // Fan-in: everything but the output-channel axis (depthwise: the kernel window).
    const std = Math.sqrt(2 / fanIn(n.node.kind, shape));
    const weights = new Float32Array(elementCount(shape));
    for (let i = 0; i < weights.length; i++) weights[i] = next() * std;
    params[n.node.name] = { weights, bias: new Float32Array(n.biasLength!) };
  }
  return { kind: 'float', architecture, params, meta };
}

export function modelGraph(model: Model): ResolvedGraph {
  return resolveGraph(model.architecture);
}

export function saveModel(model: Model): Uint8Array {
  const tensors: NamedTensor[] = [];
  const graph = modelGraph(model);
  for (const n of paramNodes(graph)) {
    const name = n.node.name;
    if (model.kind === 'float') {
      const p = model.params[name]!;
      tensors.push({ name: `${name}/weights`, shape: n.weightShape!, data: p.weights }, { name: `${name}/bias`, shape: [n.biasLength!], data: p.bias });
    } else {
      const p = model.params[name]!;
      tensors.push(
        { name: `${name}/weights`, shape: n.weightShape!, data: p.weights },
        { name: `${name}/weightScales`, shape: [p.weightScales.length], data: p.weightScales },
        { name: `${name}/bias`, shape: [n.biasLength!], data: p.bias },
      );
    }
  }
  const header: Record<string, unknown> = { kind: model.kind, architecture: model.architecture, meta: model.meta };
  if (model.kind === 'quantized') header.activations = model.activations;
  return encodeContainer({ header, tensors });
}

export function loadModel(bytes: Uint8Array, what = 'model file'): Model {
  const { header, tensors } = decodeContainer(bytes, what);
  const kind = header.kind;
  if (kind !== 'float' && kind !== 'quantized') throw new FormatError(`${what}: unknown model kind '${String(kind)}'`);
  const architecture = header.architecture as Architecture;
  let graph: ResolvedGraph;
  try {
    graph = resolveGraph(architecture);
  } catch (e) {
    if (e instanceof LastmileError) throw new FormatError(`${what}: invalid architecture: ${e.message}`);
    throw e;
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const take = (name: string, shape: number[], dtypes: string[]) => {
    const t = byName.get(name);
    if (!t) throw new FormatError(`${what}: tensor '${name}' is missing`);
    if (t.shape.join('x') !== shape.join('x')) throw new FormatError(`${what}: tensor '${name}' has shape [${t.shape.join(', ')}], the architecture needs [${shape.join(', ')}]`);
    if (!dtypes.includes(t.data.constructor.name)) throw new FormatError(`${what}: tensor '${name}' is ${t.data.constructor.name}, expected ${dtypes.join(' or ')}`);
    return t.data;
  };
  const meta = (header.meta && typeof header.meta === 'object' ? header.meta : {}) as Record<string, unknown>;
  if (kind === 'float') {
    const params: Record<string, FloatParams> = {};
    for (const n of paramNodes(graph)) {
      params[n.node.name] = {
        weights: take(`${n.node.name}/weights`, n.weightShape!, ['Float32Array']) as Float32Array,
        bias: take(`${n.node.name}/bias`, [n.biasLength!], ['Float32Array']) as Float32Array,
      };
    }
    return { kind, architecture, params, meta };
  }
  const params: Record<string, QuantizedParams> = {};
  for (const n of paramNodes(graph)) {
    const weights = take(`${n.node.name}/weights`, n.weightShape!, ['Int8Array', 'Int16Array']) as Int8Array | Int16Array;
    const scalesT = byName.get(`${n.node.name}/weightScales`);
    const scaleCount = scalesT?.data.length ?? 0;
    if (scaleCount !== 1 && scaleCount !== n.biasLength) throw new FormatError(`${what}: '${n.node.name}/weightScales' needs 1 or ${n.biasLength} entries, has ${scaleCount}`);
    const weightScales = take(`${n.node.name}/weightScales`, [scaleCount], ['Float32Array']) as Float32Array;
    if (!weightScales.every((s) => Number.isFinite(s) && s > 0)) throw new FormatError(`${what}: '${n.node.name}' has a non-positive or non-finite weight scale`);
    const weightBits: WeightBits = weights instanceof Int16Array ? 16 : 8;
    const limit = weightBits === 16 ? 32767 : 127;
    if (weights.some((w) => w < -limit)) throw new FormatError(`${what}: '${n.node.name}' weights leave the symmetric ${weightBits}-bit grid [−${limit}, ${limit}]`);
    params[n.node.name] = { weightBits, weights, weightScales, bias: take(`${n.node.name}/bias`, [n.biasLength!], ['Int32Array']) as Int32Array };
  }
  const activations = header.activations as Record<string, ActivationQuant> | undefined;
  for (const n of graph.nodes) {
    const q = activations?.[n.node.name];
    if (!q || !Number.isFinite(q.scale) || q.scale <= 0 || !Number.isInteger(q.zeroPoint) || q.zeroPoint < -128 || q.zeroPoint > 127) {
      throw new FormatError(`${what}: activation quantization of '${n.node.name}' is missing or invalid`);
    }
  }
  return { kind, architecture, params, activations: activations!, meta };
}
