// Fully connected as C: lm_dense over the micro-batch (int8 out, or int32 logits for the head).
import type { COpEmitter } from '../c-emit.js';

export const denseC: COpEmitter = {
  emit(ctx) {
    const [units, inFeatures] = ctx.weightShape as [number, number];
    const p = ctx.params();
    return `lm_dense(${ctx.tensor(ctx.inputs[0]!)}, ${p.weights}, ${p.bits}, ${p.bias}, ${ctx.tensor(ctx.output)}, ${ctx.batch}, ${inFeatures}, ${units}, ${ctx.inputQuant().zeroPoint}, ${p.requant}, ${p.perturb}, ${p.scratch}, ${p.scratchBytes}u);`;
  },
};
