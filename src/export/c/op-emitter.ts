// What an operator's C emitter sees of the exported network, and what it gives back: one C
// statement that runs the operator on the arena, plus any static constants it declares.
import type { LoweredOp } from '../../runtime/lowering.js';
import type { ResolvedGraph } from '../../model/graph.js';
import type { QuantizedModel } from '../../model/model.js';

/** A layer's parameters as C expressions (weights and bias live in flash or in the arena). */
export interface CParams {
  weights: string;
  bias: string;
  bits: 8 | 16;
  /** `&LM_RQ_x` or `&LM_RAW_OUTPUT` for the head that returns int32 accumulators. */
  requant: string;
  /** The layer's perturbation: `perturb[k]` for a parameter layer, read only when training. */
  perturb: string;
  scratch: string;
  scratchBytes: number;
}

export interface COpContext {
  readonly op: LoweredOp;
  readonly graph: ResolvedGraph;
  readonly model: QuantizedModel;
  /** Samples per forward call (the session's micro-batch). */
  readonly batch: number;
  /** A C identifier unique to this op. */
  readonly id: string;
  /** C expression of a tensor's buffer (int8_t *, or int32_t * for int32 logits). */
  tensor(name: string): string;
  /** Per-sample shape of the op's i-th input. */
  inputShape(i?: number): number[];
  /** The op's parameters (parameter layers only). */
  params(): CParams;
  /** Add a file-scope declaration (geometry, quantization constants). */
  declare(code: string): void;
}

export interface COpEmitter {
  /** The statement that runs the op. */
  emit(ctx: COpContext): string;
}

/** TFLite's 'same'/'valid' rule, as the device kernels' host wrappers apply it. */
export { paddedAxis } from '../../kernels/geometry.js';
