// Element-wise Add as C: lm_add with the integers TFLM's Add Prepare derives (prepareAdd).
import { prepareAdd } from '../../kernels/eltwise.js';
import type { COpEmitter } from '../c-emit.js';

/** The fused activation's clamp on the int8 grid (the session's rule). */
function clampOf(activation: string, scale: number, zp: number): { actMin: number; actMax: number } {
  if (activation === 'relu') return { actMin: zp, actMax: 127 };
  if (activation === 'relu6') return { actMin: zp, actMax: Math.min(127, zp + Math.round(6 / scale)) };
  return { actMin: -128, actMax: 127 };
}

export const addC: COpEmitter = {
  emit(ctx) {
    const a = ctx.inputQuant(0);
    const b = ctx.inputQuant(1);
    const o = ctx.outputQuant();
    const p = prepareAdd({ scaleA: a.scale, zeroPointA: a.zeroPoint, scaleB: b.scale, zeroPointB: b.zeroPoint, scaleOut: o.scale, zeroPointOut: o.zeroPoint, ...clampOf(ctx.activation, o.scale, o.zeroPoint) });
    ctx.declare(`static const lm_add_params LM_ADD_${ctx.id} = { ${p.leftShift}, ${p.input1Offset}, ${p.input2Offset}, ${p.outputOffset}, ${p.input1Multiplier}, ${p.input1Shift}, ${p.input2Multiplier}, ${p.input2Shift}, ${p.outputMultiplier}, ${p.outputShift}, ${p.actMin}, ${p.actMax} };`);
    const count = ctx.batch * ctx.outShape.reduce((x, y) => x * y, 1);
    return `lm_add(${ctx.tensor(ctx.inputs[0]!)}, ${ctx.tensor(ctx.inputs[1]!)}, ${ctx.tensor(ctx.output)}, ${count}, &LM_ADD_${ctx.id});`;
  },
};
