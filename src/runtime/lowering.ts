// Lowers a resolved graph to the ops the device runs: standalone ReLU/ReLU6 nodes fold into the
// layer before them (TFLite fuses activations the same way), flatten becomes an alias of its input.
import { ConfigError } from '../errors.js';
import type { ResolvedGraph, ResolvedNode } from '../model/graph.js';
import type { Activation, ActivationNode } from '../model/layers.js';
import { opDef } from '../ops/registry.js';

export interface LoweredOp {
  /** The node that does the work. */
  node: ResolvedNode;
  /** Name of the tensor this op writes (the fused activation node's name, if one was folded in). */
  output: string;
  /** Names of the tensors it reads (aliases resolved). */
  inputs: string[];
  /** Activation after folding. */
  activation: Activation;
}

export interface LoweredGraph {
  ops: LoweredOp[];
  /** Tensor name → name of the tensor that actually holds its bytes (flatten aliases). */
  alias: Map<string, string>;
  inputName: string;
  outputName: string;
}

export function lowerGraph(graph: ResolvedGraph): LoweredGraph {
  const alias = new Map<string, string>();
  const real = (name: string) => alias.get(name) ?? name;
  const ops: LoweredOp[] = [];
  const opByOutput = new Map<string, LoweredOp>();
  const inputName = graph.nodes[0]!.node.name;
  for (const n of graph.nodes.slice(1)) {
    const inputs = n.inputs.map((i) => real(graph.nodes[i]!.node.name));
    const lowering = opDef(n.node.kind).lowering ?? 'op';
    if (lowering === 'alias') {
      alias.set(n.node.name, inputs[0]!);
      continue;
    }
    if (lowering === 'fused-activation') {
      const kind = (n.node as ActivationNode).kind;
      const producer = opByOutput.get(inputs[0]!);
      const fusable = producer && producer.activation === 'none' && opDef(producer.node.node.kind).fusesActivation === true && graph.consumers[graph.nodes.findIndex((x) => x.node.name === inputs[0])]!.length === 1;
      if (!producer || !fusable) {
        throw new ConfigError(`node '${n.node.name}': a standalone ${kind} must follow a conv, depthwise, dense or add layer with no activation and no other consumer, so it can be fused`);
      }
      opByOutput.delete(producer.output);
      producer.output = n.node.name;
      producer.activation = kind;
      opByOutput.set(n.node.name, producer);
      continue;
    }
    const activation: Activation = 'activation' in n.node ? n.node.activation : 'none';
    const op: LoweredOp = { node: n, output: n.node.name, inputs, activation };
    ops.push(op);
    opByOutput.set(op.output, op);
  }
  const last = graph.nodes[graph.nodes.length - 1]!.node.name;
  return { ops, alias, inputName, outputName: real(last) };
}
