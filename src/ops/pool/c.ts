// Max and average pooling as C: lm_maxpool / lm_avgpool with the TFLite padding of the node and
// the full int8 range.
import type { Pool2DNode } from '../../model/layers.js';
import { paddedAxis } from '../../kernels/geometry.js';
import type { COpEmitter } from '../c-emit.js';

export const poolC: COpEmitter = {
  emit(ctx) {
    const node = ctx.node as Pool2DNode;
    const [h, w, c] = ctx.inputShape() as [number, number, number];
    const y = paddedAxis(h, node.pool[0], node.stride[0], node.padding, 0);
    const x = paddedAxis(w, node.pool[1], node.stride[1], node.padding, 1);
    ctx.declare(`static const lm_pool_geom LM_GEOM_${ctx.id} = { ${ctx.batch}, ${h}, ${w}, ${c}, ${node.pool[0]}, ${node.pool[1]}, ${node.stride[0]}, ${node.stride[1]}, ${y.padBefore}, ${x.padBefore}, ${y.out}, ${x.out}, -128, 127 };`);
    return `lm_${node.kind}(${ctx.tensor(ctx.inputs[0]!)}, ${ctx.tensor(ctx.output)}, &LM_GEOM_${ctx.id});`;
  },
};
