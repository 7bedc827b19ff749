// Average and max pooling over a window, NHWC, TFLite padding.
import type { Pool2DNode } from '../../model/layers.js';
import { avgPool2d, maxPool2d } from '../../kernels/pool.js';
import { avgPool2dBackwardF32, avgPool2dF32, maxPool2dBackwardF32, maxPool2dF32, type Pool2DF32Params } from '../../kernels/f32.js';
import { pair, spatial, window } from '../shape.js';
import type { OpDef, OpNode } from '../types.js';
import { poolOnnx } from './onnx.js';

function geometry(op: OpNode<Pool2DNode>, batch: number): Pool2DF32Params {
  const node = op.node;
  const [h, w, c] = op.inShapes[0] as [number, number, number];
  return { batch, inHeight: h, inWidth: w, channels: c, filterHeight: node.pool[0], filterWidth: node.pool[1], strideHeight: node.stride[0], strideWidth: node.stride[1], padding: node.padding };
}

export const pool: OpDef<Pool2DNode> = {
  kinds: ['avgpool', 'maxpool'],
  arity: 1,
  infer(node, [inShape]) {
    const [h, w, c] = spatial(inShape!, node.name, node.kind);
    const size = pair(node.pool, `${node.name}.pool`);
    const stride = pair(node.stride, `${node.name}.stride`);
    const [oh, ow] = window(node.name, h, w, size, stride, node.padding);
    return { outShape: [oh, ow, c], macs: 0 };
  },
  quantized: {
    build({ op, batch, arena, inputs: [input], output }) {
      const kernel = op.node.kind === 'maxpool' ? maxPool2d : avgPool2d;
      const p = geometry(op, batch);
      return () => kernel(arena, input!, output, p);
    },
  },
  float: {
    // Max-pool's backward finds the argmax again in its input; average pooling needs only dY.
    backwardReadsInput: (node) => node.kind === 'maxpool',
    backwardNeedsInputGrad: true,
    build({ op, batch, arena, inputs: [x], output: y, dOutput: dy }) {
      const p = geometry(op, batch);
      const isMax = op.node.kind === 'maxpool';
      return {
        forward: () => (isMax ? maxPool2dF32(arena, x!, y, p) : avgPool2dF32(arena, x!, y, p)),
        backward: (dx) => (isMax ? maxPool2dBackwardF32(arena, x!, dy!, dx!, p) : avgPool2dBackwardF32(arena, dy!, dx!, p)),
      };
    },
  },
  onnx: poolOnnx,
};
