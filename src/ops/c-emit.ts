// What an operator's C emitter (src/ops/<kind>/c.ts, OpDef.c) sees of the exported network, and
// what it gives back: one C statement that runs the operator on the arena, plus any static
// constants it declares. The exporter (src/export/c/) builds the context from the lowered graph.
import type { Activation, ModelNode } from '../model/layers.js';
import type { ActivationQuant } from '../model/model.js';

/** A layer's parameters as C expressions (weights and bias live in flash or in the arena). */
export interface CParams {
  weights: string;
  bias: string;
  bits: 8 | 16;
  /** `&LM_RQ_x`, or `&LM_RAW_OUTPUT` for the head that returns int32 accumulators. */
  requant: string;
  /** The layer's perturbation: `perturb[k]` for a trained layer, read only when training. */
  perturb: string;
  scratch: string;
  scratchBytes: number;
}

export interface COpContext {
  node: ModelNode;
  /** Names of the tensors the op reads (aliases resolved) and writes. */
  inputs: readonly string[];
  output: string;
  /** The activation after lowering (a following relu/relu6 fused in). */
  activation: Activation;
  /** Per-sample output shape, and the stored weight shape for parameter layers. */
  outShape: readonly number[];
  weightShape?: readonly number[];
  /** Samples per forward call (the session's micro-batch). */
  batch: number;
  /** A C identifier unique to this op. */
  id: string;
  /** Per-sample shape of the op's i-th input. */
  inputShape(i?: number): number[];
  /** Quantization of the op's i-th input and of its output. */
  inputQuant(i?: number): ActivationQuant;
  outputQuant(): ActivationQuant;
  /** C expression of a tensor's buffer (int8_t *, or int32_t * for int32 logits). */
  tensor(name: string): string;
  /** The op's parameters (parameter layers only). */
  params(): CParams;
  /** Add a file-scope declaration (geometry, quantization constants). */
  declare(code: string): void;
}

export interface COpEmitter {
  /** The statement that runs the op. */
  emit(ctx: COpContext): string;
}
