// Global average pooling as C: lm_global_avgpool (TFLM rounding, full int8 range).
import type { COpEmitter } from '../c-emit.js';

export const globalavgpoolC: COpEmitter = {
  emit(ctx) {
    const [h, w, c] = ctx.inputShape() as [number, number, number];
    return `lm_global_avgpool(${ctx.tensor(ctx.inputs[0]!)}, ${ctx.tensor(ctx.output)}, ${ctx.batch}, ${h}, ${w}, ${c});`;
  },
};
