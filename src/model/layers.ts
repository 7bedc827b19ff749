// The layer vocabulary of a lastmile model, as plain data. A model is a list of nodes; each node
// names its inputs (the previous node by default), so residual blocks are expressible while
// the common case — a chain — stays a plain array.
import { hasParamLayout } from '../ops/registry.js';

export type { Padding, ExplicitPadding } from '../kernels/geometry.js';
import type { Padding } from '../kernels/geometry.js';
export type Activation = 'none' | 'relu' | 'relu6';

interface NodeBase {
  /** Unique node name; also the name of the tensor it produces. */
  name: string;
  /** Input node names; defaults to the previous node. */
  inputs?: string[];
}

export interface InputNode extends NodeBase {
  kind: 'input';
  /** Per-sample shape: [height, width, channels] or [features]. */
  shape: number[];
}
export interface Conv2DNode extends NodeBase {
  kind: 'conv2d';
  filters: number;
  kernel: [number, number];
  stride: [number, number];
  padding: Padding;
  activation: Activation;
}
export interface DepthwiseConv2DNode extends NodeBase {
  kind: 'depthwise';
  depthMultiplier: number;
  kernel: [number, number];
  stride: [number, number];
  padding: Padding;
  activation: Activation;
}
export interface DenseNode extends NodeBase {
  kind: 'dense';
  units: number;
  activation: Activation;
}
export interface Pool2DNode extends NodeBase {
  kind: 'avgpool' | 'maxpool';
  pool: [number, number];
  stride: [number, number];
  padding: Padding;
}
export interface GlobalAvgPoolNode extends NodeBase {
  kind: 'globalavgpool';
}
export interface AddNode extends NodeBase {
  kind: 'add';
  activation: Activation;
}
export interface FlattenNode extends NodeBase {
  kind: 'flatten';
}
export interface ActivationNode extends NodeBase {
  kind: 'relu' | 'relu6';
}

export type ModelNode =
  | InputNode
  | Conv2DNode
  | DepthwiseConv2DNode
  | DenseNode
  | Pool2DNode
  | GlobalAvgPoolNode
  | AddNode
  | FlattenNode
  | ActivationNode;

export type NodeKind = ModelNode['kind'];

/** Nodes that own trainable parameters (weights + bias). */
export type ParamNode = Conv2DNode | DepthwiseConv2DNode | DenseNode;

export function hasParams(node: ModelNode): node is ParamNode {
  return hasParamLayout(node.kind);
}
