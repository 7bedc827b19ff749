// Shape inference and validation for a model description. Everything static about a model —
// tensor shapes, parameter shapes, MACs — is derived here once, so the runtime and the memory
// planner never recompute it.
import { ShapeError } from '../errors.js';
import { hasParams, type ModelNode, type Padding } from './layers.js';
import { paddedAxis } from '../kernels/geometry.js';
import { opDef } from '../ops/registry.js';
import { convOutputSize, elementCount } from '../ops/shape.js';

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
  /** Per-sample shape of each input. */
  inShapes: number[][];
}

export interface ResolvedGraph {
  name: string;
  nodes: ResolvedNode[];
  inputShape: number[];
  outputShape: number[];
  /** consumers[i] = indices of nodes reading node i's output. */
  consumers: number[][];
}

export { elementCount, convOutputSize };

/** TFLite "same" padding before the first element (extra padding goes after). */
export function padBefore(input: number, kernel: number, stride: number, padding: Padding, axis: 0 | 1 = 0): number {
  return paddedAxis(input, kernel, stride, padding, axis).padBefore;
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
    const def = opDef(node.kind);
    const isInput = def.arity === 0;
    if (index === 0 && !isInput) throw new ShapeError(`the first node must be 'input', got '${node.kind}'`);
    if (index > 0 && isInput) throw new ShapeError(`node '${node.name}': only the first node may be an input`);
    const inputNames = node.inputs ?? (index > 0 ? [arch.nodes[index - 1]!.name] : []);
    const inputs = inputNames.map((n) => {
      const i = byName.get(n);
      if (i === undefined) throw new ShapeError(`node '${node.name}' reads '${n}', which is not an earlier node`);
      return i;
    });
    const expectedInputs = def.arity;
    if (inputs.length !== expectedInputs) {
      throw new ShapeError(`node '${node.name}' (${node.kind}) takes ${expectedInputs} input(s), got ${inputs.length}`);
    }
    const inShapes = inputs.map((i) => resolved[i]!.outShape);
    const r = def.infer(node, inShapes);
    resolved.push({ node, index, inputs, ...r, inShapes });
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

export function paramNodes(graph: ResolvedGraph): ResolvedNode[] {
  return graph.nodes.filter((n) => hasParams(n.node));
}

export function totalMacs(graph: ResolvedGraph): number {
  return graph.nodes.reduce((s, n) => s + n.macs, 0);
}
