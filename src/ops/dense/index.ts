// Dense (fully connected): y = W·x + b with W stored [units][in] (OI). Like TFLite's
// FullyConnected it flattens its input implicitly. As the head it returns raw int32 logits.
import { denseTflite } from './tflite.js';
import type { DenseNode } from '../../model/layers.js';
import { GEMV_MAX_BATCH, fullyConnected, fullyConnectedScratchBytes, prepareFullyConnected } from '../../kernels/gemm.js';
import { packWeightPanels, packedPanelsBytes } from '../../kernels/packed-weights.js';
import { panelsServe } from '../packed-call.js';
import { denseBackwardF32, denseF32 } from '../../kernels/f32.js';
import { SESSION_PACKED_WEIGHT_BUDGET } from '../budget.js';
import { elementCount, positiveInt } from '../shape.js';
import type { PerturbSpec } from '../../kernels/perturb-spec.js';
import type { OpDef, OpNode, ParamSource, UnitBlocks } from '../types.js';
import { runUnitBlocks } from '../unit-blocks.js';
import { denseOnnx } from './onnx.js';
import { denseC } from './c.js';

const dims = (op: OpNode<DenseNode>) => ({ inFeatures: op.weightShape![1]!, outFeatures: op.weightShape![0]! });

export const dense: OpDef<DenseNode> = {
  tflite: denseTflite,
  kinds: ['dense'],
  arity: 1,
  paramLayout: 'OI',
  fusesActivation: true,
  classifierHead: true,
  infer(node, [inShape]) {
    const features = elementCount(inShape!);
    const units = positiveInt(node.units, `${node.name}.units`);
    return { outShape: [units], weightShape: [units, features], biasLength: units, macs: units * features };
  },
  quantized: {
    int32Head: true,
    separateBias: true,
    scratchBytes: ({ op, batch, weightBits, prepacked, packedWeightBudget, panelColumns }) => fullyConnectedScratchBytes({ batch, ...dims(op), weightBits, inputZeroPoint: 0, packedWeightBudget: packedWeightBudget ?? SESSION_PACKED_WEIGHT_BUDGET, ...(panelColumns ? { panelColumns } : {}), prepacked }),
    // Batches the GEMV path takes read the stored weights in place: nothing to keep packed.
    packedBytes: ({ op, batch }) => (batch > GEMV_MAX_BATCH ? packedPanelsBytes(dims(op).inFeatures, dims(op).outFeatures) : 0),
    unitBlocks: (op) => ({ units: dims(op).outFeatures, weightsPerUnit: dims(op).inFeatures }),
    build({ op, batch, arena, inputs: [input], output, inputQuant: [inQ], params }) {
      const { weights: w, bias: b, weightBits, scratch, requant, packedPanels, packedWeightBudget, panelColumns, separateBias } = params!;
      const p = { batch, weightBits, inputZeroPoint: inQ!.zeroPoint, packedWeightBudget: packedWeightBudget ?? SESSION_PACKED_WEIGHT_BUDGET, ...(panelColumns ? { panelColumns } : {}), ...dims(op) };
      // Trained in blocks of output units: each block's weights change between calls (see ParamSource.blocks).
      const inBlocks = (blocks: UnitBlocks, src: ParamSource, perturb: PerturbSpec | undefined) =>
        runUnitBlocks(blocks, p.outFeatures, prepareFullyConnected(arena, input!, src.weights ?? w, src.bias ?? b, output, { ...p, perturb }, requant, scratch));
      if (packedPanels) {
        // Built once: a fresh params object per call measurably slows the host call.
        const frozen = { ...p, packed: packWeightPanels(arena, w, separateBias ? null : b, requant, packedPanels, { k: p.inFeatures, n: p.outFeatures, weightBits, inputZeroPoint: p.inputZeroPoint, separateBias: separateBias === true }) };
        const onPanels = panelsServe(separateBias === true);
        return (perturb, src) => (src?.blocks ? inBlocks(src.blocks, src, perturb) : fullyConnected(arena, input!, src?.weights ?? w, src?.bias ?? b, output, onPanels(perturb, src) ? frozen : { ...p, perturb }, requant, scratch));
      }
      return (perturb, src) => src?.blocks ? inBlocks(src.blocks, src, perturb) : fullyConnected(arena, input!, src?.weights ?? w, src?.bias ?? b, output, { ...p, perturb }, requant, scratch);
    },
  },
  float: {
    build({ op, batch, arena, inputs: [x], output: y, weights: w, bias: b, dOutput: dy, dWeights: dw, dBias: db }) {
      const p = { batch, ...dims(op) };
      return {
        forward: () => denseF32(arena, x!, w!, b, y, p),
        backward: (dx) => denseBackwardF32(arena, x!, w!, dy!, dx, dw, db, p),
      };
    },
  },
  onnx: denseOnnx,
  c: denseC,
};
