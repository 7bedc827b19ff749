// FULLY_CONNECTED ⇄ dense. TFLite's weights [units][in] are lastmile's [N][K]; both flatten
// the input row-major, so an NHWC feature map feeds a dense layer without a transpose.
import type { DenseNode } from '../../model/layers.js';
import { activationCode, importUnsupported, readActivation, requireArity, type TfliteExporter, type TfliteImporter } from '../../tflite/mapping.js';
import { BuiltinOp, OptionsType, Slot } from '../../tflite/schema.js';

const S = Slot.FullyConnectedOptions;

export const denseImporter: TfliteImporter = {
  import(ctx, op) {
    requireArity(ctx, op, 3, 1, 2);
    const o = op.options;
    if (o && op.optionsType !== OptionsType.FullyConnectedOptions) importUnsupported(ctx, op, 'has options of another operator');
    if (o && o.byte(S.weightsFormat, 0) !== 0) importUnsupported(ctx, op, 'shuffled weight formats are not supported');
    const weights = ctx.tensor(op.inputs[1]!);
    if (weights.shape.length !== 2) importUnsupported(ctx, op, `weights shape [${weights.shape.join(', ')}] is not [units, features]`);
    const input = ctx.tensor(op.inputs[0]!);
    const features = input.shape.reduce((a, b) => a * b, 1);
    if (input.shape[0] !== 1 || features !== weights.shape[1]) importUnsupported(ctx, op, `input [${input.shape.join(', ')}] is not one sample of ${weights.shape[1]} features`);
    const name = ctx.nodeName(op, 'fc');
    const node: DenseNode = { kind: 'dense', name, inputs: [ctx.producer(op.inputs[0]!, op)], units: weights.shape[0]!, activation: readActivation(ctx, op, o ? o.byte(S.activation, 0) : 0) };
    ctx.addNode(node, op.outputs[0]!, ctx.activationQuant(op.outputs[0]!, op));
    ctx.addParams(name, op, op.inputs[1]!, op.inputs[2] ?? -1, 'first');
  },
};

export const denseExporter: TfliteExporter = {
  export(ctx, n, activation) {
    const input = ctx.input(n, 0);
    const { weights, bias } = ctx.params(n, n.weightShape!, 0);
    const out = ctx.outputTensor(n);
    ctx.op(BuiltinOp.FULLY_CONNECTED, [input, weights, bias], [out], {
      type: OptionsType.FullyConnectedOptions,
      write: (b) => {
        b.startObject(4);
        b.addFieldInt8(S.activation, activationCode(activation), 0);
        return b.endObject();
      },
    });
  },
};
