// Fully connected as C: lm_dense over the micro-batch (int8 out, or int32 logits for the head).
import type { COpEmitter } from '../../export/c/op-emitter.js';

export const denseC: COpEmitter = {
  emit(ctx) {
    const n = ctx.op.node;
    const [units, inFeatures] = n.weightShape as [number, number];
    const p = ctx.params();
    return `lm_dense(${ctx.tensor(ctx.op.inputs[0]!)}, ${p.weights}, ${p.bits}, ${p.bias}, ${ctx.tensor(ctx.op.output)}, ${ctx.batch}, ${inFeatures}, ${units}, ${ctx.model.activations[ctx.op.inputs[0]!]!.zeroPoint}, ${p.requant}, ${p.perturb}, ${p.scratch}, ${p.scratchBytes}u);`;
  },
};
