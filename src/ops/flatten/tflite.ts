// RESHAPE ⇄ flatten. A reshape that keeps the bytes and only drops unit dimensions down to
// [1, N] is lastmile's flatten (an alias in the runtime); a reshape to the same per-sample shape
// is an alias too. Anything else would reorder a layout lastmile keeps fixed, so it is refused.
import type { FlattenNode } from '../../model/layers.js';
import { importFail, importUnsupported, type TfliteExporter, type TfliteImporter } from '../../tflite/mapping.js';
import { BuiltinOp, OptionsType } from '../../tflite/schema.js';

export const reshapeImporter: TfliteImporter = {
  import(ctx, op) {
    if (op.inputs.length < 1 || op.inputs.length > 2 || op.outputs.length !== 1 || op.inputs[0]! < 0) importFail(ctx, op, 'takes a tensor (and an optional shape) and writes one tensor');
    const input = ctx.tensor(op.inputs[0]!);
    const output = ctx.tensor(op.outputs[0]!);
    const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
    if (count(input.shape) !== count(output.shape)) importFail(ctx, op, `reshapes [${input.shape.join(', ')}] (${count(input.shape)} values) to [${output.shape.join(', ')}]`);
    const inQ = ctx.activationQuant(op.inputs[0]!, op);
    const outQ = ctx.activationQuant(op.outputs[0]!, op);
    if (inQ.scale !== outQ.scale || inQ.zeroPoint !== outQ.zeroPoint) importFail(ctx, op, 'input and output quantization differ');
    if (input.shape.join('x') === output.shape.join('x')) {
      ctx.alias(op.outputs[0]!, op.inputs[0]!);
      return;
    }
    if (output.shape.length !== 2 || output.shape[0] !== 1) importUnsupported(ctx, op, `reshape to [${output.shape.join(', ')}]; lastmile supports flattening to [1, N]`);
    const node: FlattenNode = { kind: 'flatten', name: ctx.nodeName(op, 'flatten'), inputs: [ctx.producer(op.inputs[0]!, op)] };
    ctx.addNode(node, op.outputs[0]!, outQ);
    if (op.inputs.length === 2 && op.inputs[1]! >= 0) ctx.keepConstant(node.name, op.inputs[1]!);
  },
};

export const flattenExporter: TfliteExporter = {
  export(ctx, n) {
    const input = ctx.input(n, 0);
    const shape = ctx.int32Constant(n.node.name, `${n.node.name}/shape`, [1, n.outShape[0]!]);
    const out = ctx.outputTensor(n);
    ctx.op(BuiltinOp.RESHAPE, [input, shape], [out], { type: OptionsType.ReshapeOptions, write: (b) => { b.startObject(1); return b.endObject(); } });
  },
};
