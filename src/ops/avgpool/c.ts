// avgpool as C: lm_avgpool with the TFLite padding of the node and the full int8 range.
import type { COpEmitter } from '../../export/c/op-emitter.js';
import { paddedAxis } from '../../export/c/op-emitter.js';

export const avgpoolC: COpEmitter = {
  emit(ctx) {
    const node = ctx.op.node.node;
    if (node.kind !== 'avgpool') throw new Error(`internal: avgpool emitter got '${node.kind}'`);
    const [h, w, c] = ctx.inputShape() as [number, number, number];
    const y = paddedAxis(h, node.pool[0], node.stride[0], node.padding);
    const x = paddedAxis(w, node.pool[1], node.stride[1], node.padding);
    ctx.declare(`static const lm_pool_geom LM_GEOM_${ctx.id} = { ${ctx.batch}, ${h}, ${w}, ${c}, ${node.pool[0]}, ${node.pool[1]}, ${node.stride[0]}, ${node.stride[1]}, ${y.padBefore}, ${x.padBefore}, ${y.out}, ${x.out}, -128, 127 };`);
    return `lm_avgpool(${ctx.tensor(ctx.op.inputs[0]!)}, ${ctx.tensor(ctx.op.output)}, &LM_GEOM_${ctx.id});`;
  },
};
