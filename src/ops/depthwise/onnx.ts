// depthwise → ONNX Conv with group = channels, weights [kH][kW][C·m] → [C·m, 1, kH, kW].
import { depthwiseToOnnx, onnxPads } from '../onnx-layout.js';
import { intAttr, intsAttr } from '../../model/onnx-proto.js';
import type { DepthwiseConv2DNode } from '../../model/layers.js';
import type { OnnxOp } from '../types.js';

export const depthwiseOnnx: OnnxOp<DepthwiseConv2DNode> = {
  export({ b, op, inputs, output, activation, inShape, floatOf, weights, bias }) {
    const node = op.node;
    const [h, w, c] = inShape as [number, number, number];
    const [kh, kw] = node.kernel;
    const outC = op.biasLength!;
    const weight = weights((x) => depthwiseToOnnx(x, kh, kw, outC), [outC, 1, kh, kw]);
    const value = b.node('Conv', node.name, [floatOf(inputs[0]!), weight, bias()], b.fresh(activation === 'none' ? output : `${node.name}/conv`), [
      intsAttr('kernel_shape', [kh, kw]),
      intsAttr('strides', [...node.stride]),
      intsAttr('pads', onnxPads(h, w, node.kernel, node.stride, node.padding)),
      intsAttr('dilations', [1, 1]),
      intAttr('group', c),
    ]);
    return { value, layout: 'nchw', activation };
  },
};
