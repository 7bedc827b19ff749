// DEPTHWISE_CONV_2D ⇄ depthwise. TFLite's filter [1][kH][kW][C·mult] is lastmile's
// [kH][kW][C·mult]; per-channel scales run along the last dimension.
import type { TfliteOp } from '../types.js';
import type { DepthwiseConv2DNode } from '../../model/layers.js';
import { activationCode, importUnsupported, nhwc, paddingCode, positive, readActivation, readPadding, requireArity, type TfliteExporter, type TfliteImporter } from '../../tflite/mapping.js';
import { BuiltinOp, OptionsType, Slot } from '../../tflite/schema.js';

const S = Slot.DepthwiseConv2DOptions;

export const depthwiseImporter: TfliteImporter = {
  import(ctx, op) {
    requireArity(ctx, op, 3, 1, 2);
    const o = op.options;
    if (!o || op.optionsType !== OptionsType.DepthwiseConv2DOptions) importUnsupported(ctx, op, 'has no DepthwiseConv2DOptions');
    if (o.int(S.dilationW, 1) !== 1 || o.int(S.dilationH, 1) !== 1) importUnsupported(ctx, op, 'dilated convolution is not supported');
    const filter = ctx.tensor(op.inputs[1]!);
    if (filter.shape.length !== 4 || filter.shape[0] !== 1) importUnsupported(ctx, op, `filter shape [${filter.shape.join(', ')}] is not [1, kH, kW, C·multiplier]`);
    const [, , inC] = nhwc(ctx, op, ctx.tensor(op.inputs[0]!));
    const outC = filter.shape[3]!;
    if (outC % inC !== 0) importUnsupported(ctx, op, `${outC} output channels is not a multiple of ${inC} input channels`);
    const name = ctx.nodeName(op, 'dw');
    const node: DepthwiseConv2DNode = {
      kind: 'depthwise', name, inputs: [ctx.producer(op.inputs[0]!, op)],
      depthMultiplier: outC / inC, kernel: [filter.shape[1]!, filter.shape[2]!],
      stride: [positive(ctx, op, o.int(S.strideH, 0), 'stride_h'), positive(ctx, op, o.int(S.strideW, 0), 'stride_w')],
      padding: readPadding(ctx, op, o.byte(S.padding, 0)), activation: readActivation(ctx, op, o.byte(S.activation, 0)),
    };
    ctx.addNode(node, op.outputs[0]!, ctx.activationQuant(op.outputs[0]!, op));
    ctx.addParams(name, op, op.inputs[1]!, op.inputs[2] ?? -1, 'last');
  },
};

export const depthwiseExporter: TfliteExporter = {
  export(ctx, n, activation) {
    const node = n.node as DepthwiseConv2DNode;
    const input = ctx.input(n, 0);
    const { weights, bias } = ctx.params(n, [1, ...n.weightShape!], 3);
    const out = ctx.outputTensor(n);
    ctx.op(BuiltinOp.DEPTHWISE_CONV_2D, [input, weights, bias], [out], {
      type: OptionsType.DepthwiseConv2DOptions,
      write: (b) => {
        b.startObject(7);
        b.addFieldInt8(S.padding, paddingCode(node.padding, `'${node.name}'`), 0);
        b.addFieldInt32(S.strideW, node.stride[1], 0);
        b.addFieldInt32(S.strideH, node.stride[0], 0);
        b.addFieldInt32(S.depthMultiplier, node.depthMultiplier, 0);
        b.addFieldInt8(S.activation, activationCode(activation), 0);
        return b.endObject();
      },
    });
  },
};

export const depthwiseTflite: TfliteOp = { importers: { [BuiltinOp.DEPTHWISE_CONV_2D]: depthwiseImporter }, exporters: { depthwise: depthwiseExporter } };
