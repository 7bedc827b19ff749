// Shape inference and validation for a model description. Everything static about a model —
// tensor shapes, parameter shapes, MACs — is derived here once, so the runtime and the memory
// planner never recompute it.
import { ShapeError, ConfigError } from '../errors.js';
import { hasParams, type ModelNode, type Padding } from './layers.js';
import { paddedAxis } from '../kernels/geometry.js';

export interface Architecture {
  name: string;
  nodes: ModelNode[];
}

export interface ResolvedNode {
  node: ModelNode;
  index: number;
  /** Indices of the nodes feeding this one. */
  inputs: number[];
  /** Per-sample output shape: [H, W, C] or [F]. */
  outShape: number[];
  /** Stored weight shape (conv OHWI, depthwise [kH][kW][C·mult], dense [units][in]) if any. */
  weightShape?: number[];
  /** Bias length (= output channels) if the node has parameters. */
  biasLength?: number;
  /** Multiply-accumulates per sample. */
  macs: number;
}

export interface ResolvedGraph {
  name: string;
  nodes: ResolvedNode[];
  inputShape: number[];
  outputShape: number[];
  /** consumers[i] = indices of nodes reading node i's output. */
  consumers: number[][];
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** TFLite output size for one spatial dimension. */
export function convOutputSize(input: number, kernel: number, stride: number, padding: Padding): number {
  return paddedAxis(input, kernel, stride, padding).out;
}

/** TFLite "same" padding before the first element (extra padding goes after). */
export function padBefore(input: number, kernel: number, stride: number, padding: Padding): number {
  return paddedAxis(input, kernel, stride, padding).padBefore;
}

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1 << 20) {
    throw new ShapeError(`${what} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function pair(value: unknown, what: string): [number, number] {
  if (!Array.isArray(value) || value.length !== 2) throw new ShapeError(`${what} must be [height, width], got ${JSON.stringify(value)}`);
  return [positiveInt(value[0], `${what}[0]`), positiveInt(value[1], `${what}[1]`)];
}

function spatial(shape: number[], nodeName: string, kind: string): [number, number, number] {
  if (shape.length !== 3) {
    throw new ShapeError(`node '${nodeName}' (${kind}) needs an [H, W, C] input, got [${shape.join(', ')}]; add a reshape-free layout or use dense`);
  }
  return shape as [number, number, number];
}

function window(nodeName: string, inH: number, inW: number, kernel: [number, number], stride: [number, number], padding: Padding): [number, number] {
  if (padding !== 'same' && padding !== 'valid') throw new ConfigError(`node '${nodeName}': padding must be 'same' or 'valid', got '${String(padding)}'`);
  const h = convOutputSize(inH, kernel[0], stride[0], padding);
  const w = convOutputSize(inW, kernel[1], stride[1], padding);
  if (h < 1 || w < 1) {
    throw new ShapeError(`node '${nodeName}': a ${kernel[0]}×${kernel[1]} window with stride ${stride.join('×')} and '${padding}' padding does not fit a ${inH}×${inW} input`);
  }
  return [h, w];
}

export function resolveGraph(arch: Architecture): ResolvedGraph {
  if (!arch || !Array.isArray(arch.nodes) || arch.nodes.length < 2) {
    throw new ShapeError(`model '${arch?.name}' needs an input node and at least one layer`);
  }
  const byName = new Map<string, number>();
  const resolved: ResolvedNode[] = [];
  arch.nodes.forEach((node, index) => {
    if (!node || typeof node.name !== 'string' || node.name.length === 0) throw new ShapeError(`node #${index} has no name`);
    if (byName.has(node.name)) throw new ShapeError(`node name '${node.name}' is used twice`);
    if (index === 0 && node.kind !== 'input') throw new ShapeError(`the first node must be 'input', got '${node.kind}'`);
    if (index > 0 && node.kind === 'input') throw new ShapeError(`node '${node.name}': only the first node may be an input`);
    const inputNames = node.inputs ?? (index > 0 ? [arch.nodes[index - 1]!.name] : []);
    const inputs = inputNames.map((n) => {
      const i = byName.get(n);
      if (i === undefined) throw new ShapeError(`node '${node.name}' reads '${n}', which is not an earlier node`);
      return i;
    });
    const expectedInputs = node.kind === 'input' ? 0 : node.kind === 'add' ? 2 : 1;
    if (inputs.length !== expectedInputs) {
      throw new ShapeError(`node '${node.name}' (${node.kind}) takes ${expectedInputs} input(s), got ${inputs.length}`);
    }
    const inShape = inputs.length ? resolved[inputs[0]!]!.outShape : [];
    const r = inferNode(node, inShape, inputs.map((i) => resolved[i]!.outShape));
    resolved.push({ node, index, inputs, ...r });
    byName.set(node.name, index);
  });
  const consumers = resolved.map(() => [] as number[]);
  for (const r of resolved) for (const i of r.inputs) consumers[i]!.push(r.index);
  consumers.forEach((c, i) => {
    if (c.length === 0 && i !== resolved.length - 1) throw new ShapeError(`node '${resolved[i]!.node.name}' is never used`);
  });
  return {
    name: arch.name,
    nodes: resolved,
    inputShape: resolved[0]!.outShape,
    outputShape: resolved[resolved.length - 1]!.outShape,
    consumers,
  };
}

function inferNode(node: ModelNode, inShape: number[], allInputs: number[][]): Omit<ResolvedNode, 'node' | 'index' | 'inputs'> {
  switch (node.kind) {
    case 'input': {
      if (!Array.isArray(node.shape) || (node.shape.length !== 1 && node.shape.length !== 3)) {
        throw new ShapeError(`input shape must be [H, W, C] or [features], got ${JSON.stringify(node.shape)}`);
      }
      node.shape.forEach((d, i) => positiveInt(d, `input shape[${i}]`));
      return { outShape: [...node.shape], macs: 0 };
    }
    case 'conv2d': {
      const [h, w, c] = spatial(inShape, node.name, node.kind);
      const kernel = pair(node.kernel, `${node.name}.kernel`);
      const stride = pair(node.stride, `${node.name}.stride`);
      const filters = positiveInt(node.filters, `${node.name}.filters`);
      const [oh, ow] = window(node.name, h, w, kernel, stride, node.padding);
      return { outShape: [oh, ow, filters], weightShape: [filters, kernel[0], kernel[1], c], biasLength: filters, macs: oh * ow * filters * kernel[0] * kernel[1] * c };
    }
    case 'depthwise': {
      const [h, w, c] = spatial(inShape, node.name, node.kind);
      const kernel = pair(node.kernel, `${node.name}.kernel`);
      const stride = pair(node.stride, `${node.name}.stride`);
      const mult = positiveInt(node.depthMultiplier, `${node.name}.depthMultiplier`);
      const [oh, ow] = window(node.name, h, w, kernel, stride, node.padding);
      return { outShape: [oh, ow, c * mult], weightShape: [kernel[0], kernel[1], c * mult], biasLength: c * mult, macs: oh * ow * c * mult * kernel[0] * kernel[1] };
    }
    case 'dense': {
      // Like TFLite's FullyConnected, a dense layer flattens its input implicitly.
      const features = elementCount(inShape);
      const units = positiveInt(node.units, `${node.name}.units`);
      return { outShape: [units], weightShape: [units, features], biasLength: units, macs: units * features };
    }
    case 'avgpool':
    case 'maxpool': {
      const [h, w, c] = spatial(inShape, node.name, node.kind);
      const pool = pair(node.pool, `${node.name}.pool`);
      const stride = pair(node.stride, `${node.name}.stride`);
      const [oh, ow] = window(node.name, h, w, pool, stride, node.padding);
      return { outShape: [oh, ow, c], macs: 0 };
    }
    case 'globalavgpool': {
      const [, , c] = spatial(inShape, node.name, node.kind);
      return { outShape: [c], macs: 0 };
    }
    case 'add': {
      const [a, b] = allInputs as [number[], number[]];
      if (a.join('x') !== b.join('x')) throw new ShapeError(`node '${node.name}' adds [${a.join(', ')}] and [${b.join(', ')}]: shapes must match`);
      return { outShape: [...a], macs: 0 };
    }
    case 'flatten':
      return { outShape: [elementCount(inShape)], macs: 0 };
    case 'relu':
    case 'relu6':
      return { outShape: [...inShape], macs: 0 };
    default:
      throw new ConfigError(`unknown layer kind '${(node as { kind: string }).kind}'`);
  }
}

export function paramNodes(graph: ResolvedGraph): ResolvedNode[] {
  return graph.nodes.filter((n) => hasParams(n.node));
}

export function totalMacs(graph: ResolvedGraph): number {
  return graph.nodes.reduce((s, n) => s + n.macs, 0);
}
