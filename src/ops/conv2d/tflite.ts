// CONV_2D ⇄ conv2d. TFLite's filter layout [O][kH][kW][I] is lastmile's OHWI, so weights move
// as they are; per-channel scales run along dimension 0.
import type { TfliteOp } from '../types.js';
import type { Conv2DNode } from '../../model/layers.js';
import { activationCode, importUnsupported, nhwc, paddingCode, positive, readActivation, readPadding, requireArity, type TfliteExporter, type TfliteImporter } from '../../tflite/mapping.js';
import { BuiltinOp, OptionsType, Slot } from '../../tflite/schema.js';

const S = Slot.Conv2DOptions;

export const conv2dImporter: TfliteImporter = {
  import(ctx, op) {
    requireArity(ctx, op, 3, 1, 2);
    const o = op.options;
    if (!o || op.optionsType !== OptionsType.Conv2DOptions) importUnsupported(ctx, op, 'has no Conv2DOptions');
    if (o.int(S.dilationW, 1) !== 1 || o.int(S.dilationH, 1) !== 1) importUnsupported(ctx, op, 'dilated convolution is not supported');
    const filter = ctx.tensor(op.inputs[1]!);
    if (filter.shape.length !== 4) importUnsupported(ctx, op, `filter shape [${filter.shape.join(', ')}] is not [O, kH, kW, I]`);
    const [, , inC] = nhwc(ctx, op, ctx.tensor(op.inputs[0]!));
    if (filter.shape[3] !== inC) importUnsupported(ctx, op, `filter has ${filter.shape[3]} input channels, the input has ${inC} (grouped convolution)`);
    const name = ctx.nodeName(op, 'conv');
    const node: Conv2DNode = {
      kind: 'conv2d', name, inputs: [ctx.producer(op.inputs[0]!, op)],
      filters: filter.shape[0]!, kernel: [filter.shape[1]!, filter.shape[2]!],
      stride: [positive(ctx, op, o.int(S.strideH, 0), 'stride_h'), positive(ctx, op, o.int(S.strideW, 0), 'stride_w')],
      padding: readPadding(ctx, op, o.byte(S.padding, 0)), activation: readActivation(ctx, op, o.byte(S.activation, 0)),
    };
    ctx.addNode(node, op.outputs[0]!, ctx.activationQuant(op.outputs[0]!, op));
    ctx.addParams(name, op, op.inputs[1]!, op.inputs[2] ?? -1, 'first');
  },
};

export const conv2dExporter: TfliteExporter = {
  export(ctx, n, activation) {
    const node = n.node as Conv2DNode;
    const input = ctx.input(n, 0);
    const { weights, bias } = ctx.params(n, n.weightShape!, 0);
    const out = ctx.outputTensor(n);
    ctx.op(BuiltinOp.CONV_2D, [input, weights, bias], [out], {
      type: OptionsType.Conv2DOptions,
      write: (b) => {
        b.startObject(6);
        b.addFieldInt8(S.padding, paddingCode(node.padding, `'${node.name}'`), 0);
        b.addFieldInt32(S.strideW, node.stride[1], 0);
        b.addFieldInt32(S.strideH, node.stride[0], 0);
        b.addFieldInt8(S.activation, activationCode(activation), 0);
        return b.endObject();
      },
    });
  },
};

export const conv2dTflite: TfliteOp = { importers: { [BuiltinOp.CONV_2D]: conv2dImporter }, exporters: { conv2d: conv2dExporter } };
