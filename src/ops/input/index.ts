// The graph input: a per-sample shape, [H, W, C] or [features]. It runs no kernel; sessions stage the batch into it.
import { ShapeError } from '../../errors.js';
import type { InputNode } from '../../model/layers.js';
import { positiveInt } from '../shape.js';
import type { OpDef } from '../types.js';

export const input: OpDef<InputNode> = {
  kinds: ['input'],
  arity: 0,
  infer(node) {
    if (!Array.isArray(node.shape) || (node.shape.length !== 1 && node.shape.length !== 3)) {
      throw new ShapeError(`input shape must be [H, W, C] or [features], got ${JSON.stringify(node.shape)}`);
    }
    node.shape.forEach((d, i) => positiveInt(d, `input shape[${i}]`));
    return { outShape: [...node.shape], macs: 0 };
  },
};
