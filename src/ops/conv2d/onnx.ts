// conv2d → ONNX Conv (group 1), weights OHWI → OIHW.
import { ohwiToOihw, onnxPads } from '../onnx-layout.js';
import { intAttr, intsAttr } from '../../model/onnx-proto.js';
import type { Conv2DNode } from '../../model/layers.js';
import type { OnnxOp } from '../types.js';

export const conv2dOnnx: OnnxOp<Conv2DNode> = {
  export({ b, op, inputs, output, activation, inShape, floatOf, weights, bias }) {
    const node = op.node;
    const [h, w, c] = inShape as [number, number, number];
    const [kh, kw] = node.kernel;
    const outC = op.biasLength!;
    const weight = weights((x) => ohwiToOihw(x, outC, kh, kw, c), [outC, c, kh, kw]);
    const value = b.node('Conv', node.name, [floatOf(inputs[0]!), weight, bias()], b.fresh(activation === 'none' ? output : `${node.name}/conv`), [
      intsAttr('kernel_shape', [kh, kw]),
      intsAttr('strides', [...node.stride]),
      intsAttr('pads', onnxPads(h, w, node.kernel, node.stride, node.padding)),
      intsAttr('dilations', [1, 1]),
      intAttr('group', 1),
    ]);
    return { value, layout: 'nchw', activation };
  },
};
