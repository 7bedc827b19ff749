// Global average pooling: [H, W, C] → [C].
import type { GlobalAvgPoolNode } from '../../model/layers.js';
import { globalAvgPool } from '../../kernels/pool.js';
import { globalAvgPoolBackwardF32, globalAvgPoolF32 } from '../../kernels/f32.js';
import { spatial } from '../shape.js';
import type { OpDef } from '../types.js';
import { globalavgpoolOnnx } from './onnx.js';

export const globalavgpool: OpDef<GlobalAvgPoolNode> = {
  kinds: ['globalavgpool'],
  arity: 1,
  infer(node, [inShape]) {
    const [, , c] = spatial(inShape!, node.name, node.kind);
    return { outShape: [c], macs: 0 };
  },
  quantized: {
    build({ op, batch, arena, inputs: [input], output }) {
      const [h, w, c] = op.inShapes[0] as [number, number, number];
      return () => globalAvgPool(arena, input!, output, { batch, height: h, width: w, channels: c });
    },
  },
  float: {
    backwardNeedsInputGrad: true,
    build({ op, batch, arena, inputs: [x], output: y, dOutput: dy }) {
      const [h, w, c] = op.inShapes[0] as [number, number, number];
      const p = { batch, inHeight: h, inWidth: w, channels: c };
      return {
        forward: () => globalAvgPoolF32(arena, x!, y, p),
        backward: (dx) => globalAvgPoolBackwardF32(arena, dy!, dx!, p),
      };
    },
  },
  onnx: globalavgpoolOnnx,
};
