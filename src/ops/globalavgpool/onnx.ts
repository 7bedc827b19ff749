// globalavgpool → ONNX GlobalAveragePool + Flatten ([N, C, 1, 1] → [N, C]).
import { intAttr } from '../../model/onnx-proto.js';
import type { GlobalAvgPoolNode } from '../../model/layers.js';
import type { OnnxOp } from '../types.js';

export const globalavgpoolOnnx: OnnxOp<GlobalAvgPoolNode> = {
  export({ b, op, inputs, output, activation, floatOf, quantized, quantParams }) {
    const name = op.node.name;
    const mean = b.node('GlobalAveragePool', name, [floatOf(inputs[0]!)], b.fresh(`${output}/nc11`));
    if (!quantized) return { value: b.node('Flatten', `${name}/flatten`, [mean], b.fresh(output), [intAttr('axis', 1)]), layout: 'flat', activation };
    // Quantize the [N, C, 1, 1] mean, then flatten the int8 tensor (a pure reshape).
    const q = b.node('QuantizeLinear', `${output}/quantize`, [mean, ...quantParams(output)], b.fresh(`${output}/quantized_nc11`));
    return { final: b.node('Flatten', `${name}/flatten`, [q], b.fresh(`${output}/quantized`), [intAttr('axis', 1)]), layout: 'flat' };
  },
};
