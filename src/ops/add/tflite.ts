// ADD ⇄ add: two int8 tensors of the same shape (no broadcasting), with TFLM's Add arithmetic.
import type { AddNode } from '../../model/layers.js';
import { activationCode, importUnsupported, readActivation, requireArity, type TfliteExporter, type TfliteImporter } from '../../tflite/mapping.js';
import { BuiltinOp, OptionsType, Slot } from '../../tflite/schema.js';

export const addImporter: TfliteImporter = {
  import(ctx, op) {
    requireArity(ctx, op, 2, 1);
    const [a, b] = [ctx.tensor(op.inputs[0]!), ctx.tensor(op.inputs[1]!)];
    if (a.shape.join('x') !== b.shape.join('x')) importUnsupported(ctx, op, `adds [${a.shape.join(', ')}] and [${b.shape.join(', ')}]; broadcasting is not supported`);
    const o = op.options;
    const node: AddNode = {
      kind: 'add', name: ctx.nodeName(op, 'add'), inputs: [ctx.producer(op.inputs[0]!, op), ctx.producer(op.inputs[1]!, op)],
      activation: readActivation(ctx, op, o && op.optionsType === OptionsType.AddOptions ? o.byte(Slot.AddOptions.activation, 0) : 0),
    };
    ctx.activationQuant(op.inputs[0]!, op);
    ctx.activationQuant(op.inputs[1]!, op);
    ctx.addNode(node, op.outputs[0]!, ctx.activationQuant(op.outputs[0]!, op));
  },
};

export const addExporter: TfliteExporter = {
  export(ctx, n, activation) {
    const inputs = n.inputs.map((_, i) => ctx.input(n, i));
    const out = ctx.outputTensor(n);
    ctx.op(BuiltinOp.ADD, inputs, [out], {
      type: OptionsType.AddOptions,
      write: (b) => {
        b.startObject(2);
        b.addFieldInt8(Slot.AddOptions.activation, activationCode(activation), 0);
        return b.endObject();
      },
    });
  },
};
