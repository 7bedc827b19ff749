// Depthwise 2-D convolution, NHWC, weights stored [kH][kW][C·multiplier] (HWC), TFLite padding.
import { depthwiseTflite } from './tflite.js';
import type { DepthwiseConv2DNode } from '../../model/layers.js';
import { depthwiseConv2d, depthwiseConv2dScratchBytes, depthwisePrepack, depthwisePreparedBytes, type DepthwiseConv2DParams } from '../../kernels/depthwise.js';
import { depthwiseConv2dBackwardF32, depthwiseConv2dF32, type DepthwiseConv2DF32Params } from '../../kernels/f32.js';
import { SESSION_PACKED_WEIGHT_BUDGET } from '../budget.js';
import { panelsServe } from '../packed-call.js';
import { pair, positiveInt, spatial, window } from '../shape.js';
import type { OpDef, OpNode } from '../types.js';
import { depthwiseOnnx } from './onnx.js';
import { depthwiseC } from './c.js';

function geometry(op: OpNode<DepthwiseConv2DNode>, batch: number): DepthwiseConv2DF32Params {
  const node = op.node;
  const [h, w, c] = op.inShapes[0] as [number, number, number];
  return { batch, inHeight: h, inWidth: w, inChannels: c, depthMultiplier: node.depthMultiplier, kernelHeight: node.kernel[0], kernelWidth: node.kernel[1], strideHeight: node.stride[0], strideWidth: node.stride[1], padding: node.padding };
}

export const depthwise: OpDef<DepthwiseConv2DNode> = {
  tflite: depthwiseTflite,
  kinds: ['depthwise'],
  arity: 1,
  paramLayout: 'HWC',
  fusesActivation: true,
  infer(node, [inShape]) {
    const [h, w, c] = spatial(inShape!, node.name, node.kind);
    const kernel = pair(node.kernel, `${node.name}.kernel`);
    const stride = pair(node.stride, `${node.name}.stride`);
    const mult = positiveInt(node.depthMultiplier, `${node.name}.depthMultiplier`);
    const [oh, ow] = window(node.name, h, w, kernel, stride, node.padding);
    return { outShape: [oh, ow, c * mult], weightShape: [kernel[0], kernel[1], c * mult], biasLength: c * mult, macs: oh * ow * c * mult * kernel[0] * kernel[1] };
  },
  quantized: {
    separateBias: true,
    // A trained (per-call) layer prepares channel groups within the budget; the session gives
    // it the whole-layer budget wherever that does not raise the SRAM peak.
    scratchBytes: ({ op, batch, weightBits, prepacked, packedWeightBudget }) => depthwiseConv2dScratchBytes({ ...geometry(op, batch), weightBits, inputZeroPoint: 0, packedWeightBudget: packedWeightBudget ?? SESSION_PACKED_WEIGHT_BUDGET, prepacked }),
    packedBytes: ({ op, batch, weightBits }) => depthwisePreparedBytes({ ...geometry(op, batch), weightBits, inputZeroPoint: 0 }),
    build({ op, batch, arena, inputs: [input], output, inputQuant: [inQ], params }) {
      const { weights: w, bias: b, weightBits, scratch, requant, packedPanels, packedWeightBudget, separateBias } = params!;
      const common = { weightBits, inputZeroPoint: inQ!.zeroPoint, packedWeightBudget: packedWeightBudget ?? SESSION_PACKED_WEIGHT_BUDGET };
      const p: DepthwiseConv2DParams = { ...geometry(op, batch), ...common };
      if (packedPanels) {
        // Built once: a fresh params object per call measurably slows the host call.
        const frozen: DepthwiseConv2DParams = { ...p, prepared: depthwisePrepack(arena, w, separateBias ? null : b, requant!, packedPanels, p, { separateBias: separateBias === true }) };
        const onPanels = panelsServe(separateBias === true);
        return (perturb, src) => depthwiseConv2d(arena, input!, src?.weights ?? w, src?.bias ?? b, output, onPanels(perturb, src) ? frozen : { ...p, perturb }, requant!, scratch);
      }
      return (perturb, src) => depthwiseConv2d(arena, input!, src?.weights ?? w, src?.bias ?? b, output, { ...p, perturb }, requant!, scratch);
    },
  },
  float: {
    build({ op, batch, arena, inputs: [x], output: y, weights: w, bias: b, dOutput: dy, dWeights: dw, dBias: db }) {
      const p = geometry(op, batch);
      return {
        forward: () => depthwiseConv2dF32(arena, x!, w!, b, y, p),
        backward: (dx) => depthwiseConv2dBackwardF32(arena, x!, w!, dy!, dx, dw, db, p),
      };
    },
  },
  onnx: depthwiseOnnx,
  c: depthwiseC,
};
