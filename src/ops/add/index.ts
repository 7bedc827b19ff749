// Element-wise add of two tensors of the same shape (residual connections), with an optional fused activation.
import { ShapeError } from '../../errors.js';
import type { AddNode } from '../../model/layers.js';
import { addI8, prepareAdd } from '../../kernels/eltwise.js';
import { addF32 } from '../../kernels/f32-eltwise.js';
import { activationClamp, elementCount } from '../shape.js';
import type { OpDef } from '../types.js';
import { addOnnx } from './onnx.js';

export const add: OpDef<AddNode> = {
  kinds: ['add'],
  arity: 2,
  fusesActivation: true,
  infer(node, [a, b]) {
    if (a!.join('x') !== b!.join('x')) throw new ShapeError(`node '${node.name}' adds [${a!.join(', ')}] and [${b!.join(', ')}]: shapes must match`);
    return { outShape: [...a!], macs: 0 };
  },
  quantized: {
    build({ op, batch, arena, inputs: [a, b], output, inputQuant: [qa, qb], outputQuant: outQ, activation }) {
      const prepared = prepareAdd({ scaleA: qa!.scale, zeroPointA: qa!.zeroPoint, scaleB: qb!.scale, zeroPointB: qb!.zeroPoint, scaleOut: outQ.scale, zeroPointOut: outQ.zeroPoint, ...activationClamp(activation, outQ.scale, outQ.zeroPoint) });
      const count = batch * elementCount(op.outShape);
      return () => addI8(arena, a!, b!, output, count, prepared);
    },
  },
  float: {
    build(ctx) {
      const { op, batch, arena, inputs: [a, b], output: y } = ctx;
      const count = batch * elementCount(op.outShape);
      return {
        forward: () => addF32(arena, a!, b!, y, count),
        // dY passes unchanged to each input that needs it.
        backwardToInputs: () => {
          ctx.needsInputGrad.forEach((needed, k) => {
            if (!needed) return;
            const target = ctx.gradTarget(k);
            ctx.copy(target.buffer, ctx.dOutput!, count * 4);
            if (target.accumulate) ctx.accumulate(k, count);
          });
        },
      };
    },
  },
  onnx: addOnnx,
};
