// add → ONNX Add (keeps its first input's layout).
import type { AddNode } from '../../model/layers.js';
import type { OnnxOp } from '../types.js';

export const addOnnx: OnnxOp<AddNode> = {
  export({ b, op, inputs, output, activation, inLayout, floatOf }) {
    const value = b.node('Add', op.node.name, [floatOf(inputs[0]!), floatOf(inputs[1]!)], b.fresh(activation === 'none' ? output : `${op.node.name}/sum`));
    return { value, layout: inLayout, activation };
  },
};
