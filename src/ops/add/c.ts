// Element-wise Add as C: lm_add with the integers TFLM's Add Prepare derives (prepareAdd).
import type { COpEmitter } from '../../export/c/op-emitter.js';
import { prepareAdd } from '../../kernels/eltwise.js';
import { elementCount } from '../../model/graph.js';

/** The fused activation's clamp on the int8 grid (the session's rule). */
function clampOf(activation: string, scale: number, zp: number): { actMin: number; actMax: number } {
  if (activation === 'relu') return { actMin: zp, actMax: 127 };
  if (activation === 'relu6') return { actMin: zp, actMax: Math.min(127, zp + Math.round(6 / scale)) };
  return { actMin: -128, actMax: 127 };
}

export const addC: COpEmitter = {
  emit(ctx) {
    const { op, model } = ctx;
    const a = model.activations[op.inputs[0]!]!;
    const b = model.activations[op.inputs[1]!]!;
    const o = model.activations[op.output]!;
    const p = prepareAdd({ scaleA: a.scale, zeroPointA: a.zeroPoint, scaleB: b.scale, zeroPointB: b.zeroPoint, scaleOut: o.scale, zeroPointOut: o.zeroPoint, ...clampOf(op.activation, o.scale, o.zeroPoint) });
    ctx.declare(`static const lm_add_params LM_ADD_${ctx.id} = { ${p.leftShift}, ${p.input1Offset}, ${p.input2Offset}, ${p.outputOffset}, ${p.input1Multiplier}, ${p.input1Shift}, ${p.input2Multiplier}, ${p.input2Shift}, ${p.outputMultiplier}, ${p.outputShift}, ${p.actMin}, ${p.actMax} };`);
    const count = ctx.batch * elementCount(op.node.outShape);
    return `lm_add(${ctx.tensor(op.inputs[0]!)}, ${ctx.tensor(op.inputs[1]!)}, ${ctx.tensor(op.output)}, ${count}, &LM_ADD_${ctx.id});`;
  },
};
