// Every operator lastmile knows, by node kind. Adding an operator: a folder src/ops/<kind>/ with an
// index.ts exporting its OpDef (and its device kernel in assembly/ + src/kernels/), one line here.
import { ConfigError } from '../errors.js';
import type { ModelNode, NodeKind } from '../model/layers.js';
import { activation } from './activation/index.js';
import { add } from './add/index.js';
import { conv2d } from './conv2d/index.js';
import { dense } from './dense/index.js';
import { depthwise } from './depthwise/index.js';
import { flatten } from './flatten/index.js';
import { globalavgpool } from './globalavgpool/index.js';
import { input } from './input/index.js';
import { pool } from './pool/index.js';
import type { AnyOpDef, OpDef, OpRegistry } from './types.js';

const DEFINITIONS: AnyOpDef[] = [input, conv2d, depthwise, dense, pool, globalavgpool, add, flatten, activation];

export const OPS: OpRegistry = Object.fromEntries(DEFINITIONS.flatMap((d) => d.kinds.map((k: NodeKind) => [k, d]))) as OpRegistry;

/** The operator of a node kind; a typed error for a kind no operator defines (e.g. from a hand-edited file). */
export function opDef<N extends ModelNode>(kind: N['kind']): OpDef<N> {
  const def = Object.hasOwn(OPS, kind) ? OPS[kind] : undefined;
  if (!def) throw new ConfigError(`unknown layer kind '${String(kind)}'`);
  return def as OpDef<N>;
}

/** Kinds whose nodes own trainable parameters (weights + bias). */
export const hasParamLayout = (kind: NodeKind): boolean => opDef(kind).paramLayout !== undefined;

/** The graph input (the operator that reads nothing). */
export const isGraphInput = (node: ModelNode): boolean => opDef(node.kind).arity === 0;

/** A node that can serve as the classifier head (prototype head, linear probe, int32 logits). */
export const isClassifierHead = (node: ModelNode): boolean => opDef(node.kind).classifierHead === true;

/** A standalone activation can fold into this node. */
export const fusesActivation = (node: ModelNode): boolean => opDef(node.kind).fusesActivation === true;

/** Whether the output channel is the last axis of the stored weights (depthwise [kH][kW][C·m]) rather than the first. */
export const outputChannelIsLastAxis = (kind: NodeKind): boolean => opDef(kind).paramLayout === 'HWC';

/** He-initialisation fan-in of a weight tensor: every axis but the output channel's (depthwise: the kernel window). */
export function fanIn(kind: NodeKind, weightShape: readonly number[]): number {
  return outputChannelIsLastAxis(kind) ? weightShape[0]! * weightShape[1]! : weightShape.slice(1).reduce((a, b) => a * b, 1);
}
