// 2-D convolution, NHWC, weights stored OHWI [filters][kH][kW][C], TFLite padding.
import { conv2dTflite } from './tflite.js';
import type { Conv2DNode } from '../../model/layers.js';
import { conv2d as conv2dI8, conv2dScratchBytes, prepareConv2d, type Conv2DParams } from '../../kernels/conv.js';
import { conv2dBackwardF32, conv2dF32, conv2dF32ScratchBytes, type Conv2DF32Params } from '../../kernels/f32.js';
import { packWeightPanels, packedPanelsBytes } from '../../kernels/packed-weights.js';
import { panelsServe } from '../packed-call.js';
import { runUnitBlocks } from '../unit-blocks.js';
import type { PerturbSpec } from '../../kernels/perturb-spec.js';
import { SESSION_PACKED_WEIGHT_BUDGET } from '../budget.js';
import { pair, positiveInt, spatial, window } from '../shape.js';
import type { OpDef, OpNode, ParamSource, UnitBlocks } from '../types.js';
import { conv2dOnnx } from './onnx.js';
import { conv2dC } from './c.js';

function geometry(op: OpNode<Conv2DNode>, batch: number): Conv2DF32Params {
  const node = op.node;
  const [h, w, c] = op.inShapes[0] as [number, number, number];
  return { batch, inHeight: h, inWidth: w, inChannels: c, outChannels: node.filters, kernelHeight: node.kernel[0], kernelWidth: node.kernel[1], strideHeight: node.stride[0], strideWidth: node.stride[1], padding: node.padding };
}

export const conv2d: OpDef<Conv2DNode> = {
  tflite: conv2dTflite,
  kinds: ['conv2d'],
  arity: 1,
  paramLayout: 'OHWI',
  fusesActivation: true,
  infer(node, [inShape]) {
    const [h, w, c] = spatial(inShape!, node.name, node.kind);
    const kernel = pair(node.kernel, `${node.name}.kernel`);
    const stride = pair(node.stride, `${node.name}.stride`);
    const filters = positiveInt(node.filters, `${node.name}.filters`);
    const [oh, ow] = window(node.name, h, w, kernel, stride, node.padding);
    return { outShape: [oh, ow, filters], weightShape: [filters, kernel[0], kernel[1], c], biasLength: filters, macs: oh * ow * filters * kernel[0] * kernel[1] * c };
  },
  quantized: {
    separateBias: true,
    scratchBytes: ({ op, batch, weightBits, prepacked, packedWeightBudget, panelColumns }) => conv2dScratchBytes({ ...geometry(op, batch), weightBits, inputZeroPoint: 0, packedWeightBudget: packedWeightBudget ?? SESSION_PACKED_WEIGHT_BUDGET, ...(panelColumns ? { panelColumns } : {}), prepacked }),
    packedBytes: ({ op }) => packedPanelsBytes(op.node.kernel[0] * op.node.kernel[1] * (op.inShapes[0] as number[])[2]!, op.node.filters),
    // OHWI: each output channel's weights are one contiguous row of kH·kW·C.
    unitBlocks: (op) => ({ units: op.node.filters, weightsPerUnit: op.node.kernel[0] * op.node.kernel[1] * (op.inShapes[0] as number[])[2]! }),
    build({ op, batch, arena, inputs: [input], output, inputQuant: [inQ], params }) {
      const { weights: w, bias: b, weightBits, scratch, requant, packedPanels, packedWeightBudget, panelColumns, separateBias } = params!;
      const p: Conv2DParams = { ...geometry(op, batch), weightBits, inputZeroPoint: inQ!.zeroPoint, packedWeightBudget: packedWeightBudget ?? SESSION_PACKED_WEIGHT_BUDGET, ...(panelColumns ? { panelColumns } : {}) };
      // Trained in blocks of output channels: each block's weights change between calls (see ParamSource.blocks).
      const inBlocks = (blocks: UnitBlocks, src: ParamSource, perturb: PerturbSpec | undefined) =>
        runUnitBlocks(blocks, p.outChannels, prepareConv2d(arena, input!, src.weights ?? w, src.bias ?? b, output, { ...p, perturb }, requant!, scratch));
      if (packedPanels) {
        const k = p.kernelHeight * p.kernelWidth * p.inChannels;
        // Built once: a fresh params object per call measurably slows the host call.
        const frozen: Conv2DParams = { ...p, packed: packWeightPanels(arena, w, separateBias ? null : b, requant, packedPanels, { k, n: p.outChannels, weightBits, inputZeroPoint: p.inputZeroPoint, separateBias: separateBias === true }) };
        const onPanels = panelsServe(separateBias === true);
        return (perturb, src) => (src?.blocks ? inBlocks(src.blocks, src, perturb) : conv2dI8(arena, input!, src?.weights ?? w, src?.bias ?? b, output, onPanels(perturb, src) ? frozen : { ...p, perturb }, requant!, scratch));
      }
      return (perturb, src) => (src?.blocks ? inBlocks(src.blocks, src, perturb) : conv2dI8(arena, input!, src?.weights ?? w, src?.bias ?? b, output, { ...p, perturb }, requant!, scratch));
    },
  },
  float: {
    scratchBytes: ({ op, batch }, pass, grads) => conv2dF32ScratchBytes(geometry(op, batch), pass === 'forward' ? {} : { pass: 'backward', ...grads }),
    build({ op, batch, arena, inputs: [x], output: y, weights: w, bias: b, dOutput: dy, dWeights: dw, dBias: db, scratchForward, scratchBackward }) {
      const p = geometry(op, batch);
      return {
        forward: () => conv2dF32(arena, x!, w!, b, y, scratchForward, p),
        backward: (dx) => conv2dBackwardF32(arena, x!, w!, dy!, dx, dw, db, scratchBackward, p),
      };
    },
  },
  onnx: conv2dOnnx,
  c: conv2dC,
};
