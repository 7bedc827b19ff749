// Flatten: [H, W, C] → [H·W·C]. The bytes do not move (NHWC is already row-major), so the lowering
// makes it an alias of its input and no kernel runs.
import type { FlattenNode } from '../../model/layers.js';
import { elementCount } from '../shape.js';
import type { OpDef } from '../types.js';

export const flatten: OpDef<FlattenNode> = {
  kinds: ['flatten'],
  arity: 1,
  lowering: 'alias',
  infer: (_node, [inShape]) => ({ outShape: [elementCount(inShape!)], macs: 0 }),
};
