// dense → ONNX Gemm (transB). After a spatial tensor our dense reads NHWC order while ONNX's
// Flatten yields CHW order, so the weight columns are permuted instead of the activations.
import { denseColumnsToChw } from '../onnx-layout.js';
import { intAttr } from '../../model/onnx-proto.js';
import type { DenseNode } from '../../model/layers.js';
import type { OnnxOp } from '../types.js';

export const denseOnnx: OnnxOp<DenseNode> = {
  export({ b, op, inputs, output, activation: fused, inLayout, inShape, floatOf, weights, bias, rawHead }) {
    const name = op.node.name;
    const units = op.biasLength!;
    const k = op.weightShape![1]!;
    let x = floatOf(inputs[0]!);
    let toOnnx = <T extends Float32Array | Int8Array | Int16Array | Int32Array>(w: T): T => w;
    if (inLayout === 'nchw') {
      x = b.node('Flatten', `${name}/flatten`, [x], b.fresh(`${name}/flattened`), [intAttr('axis', 1)]);
      toOnnx = (w) => denseColumnsToChw(w, units, inShape);
    }
    const activation = rawHead ? 'none' : fused;
    const value = b.node('Gemm', name, [x, weights(toOnnx, [units, k]), bias()], b.fresh(activation === 'none' ? output : `${name}/gemm`), [intAttr('transB', 1)]);
    return { value, layout: 'flat', activation };
  },
};
