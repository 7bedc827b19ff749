// Depthwise Conv2D as C: lm_depthwise (weights [kH][kW][C·M], output channel c·M + m reads c).
import type { DepthwiseConv2DNode } from '../../model/layers.js';
import { paddedAxis } from '../../kernels/geometry.js';
import type { COpEmitter } from '../c-emit.js';

export const depthwiseC: COpEmitter = {
  emit(ctx) {
    const node = ctx.node as DepthwiseConv2DNode;
    const [h, w, c] = ctx.inputShape() as [number, number, number];
    const y = paddedAxis(h, node.kernel[0], node.stride[0], node.padding, 0);
    const x = paddedAxis(w, node.kernel[1], node.stride[1], node.padding, 1);
    const p = ctx.params();
    ctx.declare(`static const lm_conv_geom LM_GEOM_${ctx.id} = { ${ctx.batch}, ${h}, ${w}, ${c}, ${c * node.depthMultiplier}, ${node.kernel[0]}, ${node.kernel[1]}, ${node.stride[0]}, ${node.stride[1]}, ${y.padBefore}, ${x.padBefore}, ${y.out}, ${x.out}, ${node.depthMultiplier} };`);
    return `lm_depthwise(${ctx.tensor(ctx.inputs[0]!)}, ${p.weights}, ${p.bits}, ${p.bias}, ${ctx.tensor(ctx.output)}, &LM_GEOM_${ctx.id}, ${ctx.inputQuant().zeroPoint}, ${p.requant}, ${p.perturb}, ${p.scratch}, ${p.scratchBytes}u);`;
  },
};
