// avgpool / maxpool → ONNX AveragePool / MaxPool (TFLite averages over the valid taps only).
import { onnxPads } from '../onnx-layout.js';
import { intAttr, intsAttr } from '../../model/onnx-proto.js';
import type { Pool2DNode } from '../../model/layers.js';
import type { OnnxOp } from '../types.js';

export const poolOnnx: OnnxOp<Pool2DNode> = {
  export({ b, op, inputs, output, activation, inShape, floatOf }) {
    const node = op.node;
    const [h, w] = inShape as [number, number, number];
    const attrs = [intsAttr('kernel_shape', [...node.pool]), intsAttr('strides', [...node.stride]), intsAttr('pads', onnxPads(h, w, node.pool, node.stride, node.padding))];
    const isMax = node.kind === 'maxpool';
    if (!isMax) attrs.push(intAttr('count_include_pad', 0));
    const value = b.node(isMax ? 'MaxPool' : 'AveragePool', node.name, [floatOf(inputs[0]!)], b.fresh(output), attrs);
    return { value, layout: 'nchw', activation };
  },
};
