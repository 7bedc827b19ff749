// Standalone ReLU / ReLU6: folded into the conv, depthwise, dense or add before it (as TFLite fuses
// activations), so on the device they are the producer's output clamp, never an op of their own.
import type { ActivationNode } from '../../model/layers.js';
import type { OpDef } from '../types.js';

export const activation: OpDef<ActivationNode> = {
  kinds: ['relu', 'relu6'],
  arity: 1,
  lowering: 'fused-activation',
  infer: (_node, [inShape]) => ({ outShape: [...inShape!], macs: 0 }),
};
