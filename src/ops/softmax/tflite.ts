// SOFTMAX ⇄ the model's output stage. lastmile's heads return raw logits (the trainer's loss
// works on them), so a final int8 softmax is kept as the model's output stage and run on the
// device after the head by the `run` contract with TFLite's arithmetic (src/kernels/softmax.ts,
// assembly/softmax.ts); a softmax anywhere else is refused.
import { importFail, importUnsupported, requireArity, type TfliteImporter } from '../../tflite/mapping.js';
import { OptionsType, Slot } from '../../tflite/schema.js';

export const softmaxImporter: TfliteImporter = {
  import(ctx, op) {
    requireArity(ctx, op, 1, 1);
    const o = op.options;
    const beta = o && op.optionsType === OptionsType.SoftmaxOptions ? o.float(Slot.SoftmaxOptions.beta, 0) : 0;
    if (!(beta > 0) || !Number.isFinite(beta)) importFail(ctx, op, `β must be a positive finite number, got ${beta}`);
    const input = ctx.tensor(op.inputs[0]!);
    if (input.shape.length !== 2 || input.shape[0] !== 1) importUnsupported(ctx, op, `softmax over [${input.shape.join(', ')}]; lastmile supports one row [1, classes]`);
    ctx.setSoftmax(op, beta, op.inputs[0]!, op.outputs[0]!);
  },
};
