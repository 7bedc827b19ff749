// AVERAGE_POOL_2D ⇄ avgpool and MAX_POOL_2D ⇄ maxpool (one options table, Pool2DOptions).
// TFLM requires the input and output of a pool to share quantization, and so does lastmile.
import type { TfliteOp } from '../types.js';
import type { Pool2DNode } from '../../model/layers.js';
import { importFail, importUnsupported, nhwc, paddingCode, positive, readPadding, requireArity, type TfliteExporter, type TfliteImporter } from '../../tflite/mapping.js';
import { BuiltinOp, OptionsType, Slot } from '../../tflite/schema.js';

const S = Slot.Pool2DOptions;

export function poolImporter(kind: 'avgpool' | 'maxpool'): TfliteImporter {
  return {
    import(ctx, op) {
      requireArity(ctx, op, 1, 1);
      const o = op.options;
      if (!o || op.optionsType !== OptionsType.Pool2DOptions) importUnsupported(ctx, op, 'has no Pool2DOptions');
      if (o.byte(S.activation, 0) !== 0) importUnsupported(ctx, op, 'a fused activation on a pool is not supported');
      nhwc(ctx, op, ctx.tensor(op.inputs[0]!));
      const inQ = ctx.activationQuant(op.inputs[0]!, op);
      const outQ = ctx.activationQuant(op.outputs[0]!, op);
      if (inQ.scale !== outQ.scale || inQ.zeroPoint !== outQ.zeroPoint) importFail(ctx, op, 'input and output quantization differ (TFLite requires them equal)');
      const node: Pool2DNode = {
        kind, name: ctx.nodeName(op, kind === 'avgpool' ? 'avgpool' : 'maxpool'), inputs: [ctx.producer(op.inputs[0]!, op)],
        pool: [positive(ctx, op, o.int(S.filterH, 0), 'filter_height'), positive(ctx, op, o.int(S.filterW, 0), 'filter_width')],
        stride: [positive(ctx, op, o.int(S.strideH, 0), 'stride_h'), positive(ctx, op, o.int(S.strideW, 0), 'stride_w')],
        padding: readPadding(ctx, op, o.byte(S.padding, 0)),
      };
      ctx.addNode(node, op.outputs[0]!, outQ);
    },
  };
}

export function poolExporter(builtin: number): TfliteExporter {
  return {
    export(ctx, n) {
      const node = n.node as Pool2DNode;
      const input = ctx.input(n, 0);
      const out = ctx.outputTensor(n);
      ctx.op(builtin, [input], [out], {
        type: OptionsType.Pool2DOptions,
        write: (b) => {
          b.startObject(6);
          b.addFieldInt8(S.padding, paddingCode(node.padding, `'${node.name}'`), 0);
          b.addFieldInt32(S.strideW, node.stride[1], 0);
          b.addFieldInt32(S.strideH, node.stride[0], 0);
          b.addFieldInt32(S.filterW, node.pool[1], 0);
          b.addFieldInt32(S.filterH, node.pool[0], 0);
          return b.endObject();
        },
      });
    },
  };
}

export const avgpoolImporter = poolImporter('avgpool');
export const avgpoolExporter = poolExporter(BuiltinOp.AVERAGE_POOL_2D);
export const maxpoolImporter = poolImporter('maxpool');
export const maxpoolExporter = poolExporter(BuiltinOp.MAX_POOL_2D);

export const poolTflite: TfliteOp = { importers: { [BuiltinOp.AVERAGE_POOL_2D]: avgpoolImporter, [BuiltinOp.MAX_POOL_2D]: maxpoolImporter }, exporters: { avgpool: avgpoolExporter, maxpool: maxpoolExporter } };
