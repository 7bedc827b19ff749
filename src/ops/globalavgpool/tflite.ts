// globalavgpool → AVERAGE_POOL_2D over the whole H×W (VALID) then RESHAPE to [1, C], the form
// TFLite's converter emits for a global average pool (and which import maps to avgpool + flatten).
import type { TfliteOp } from '../types.js';
import { BuiltinOp, OptionsType, PaddingCode, Slot } from '../../tflite/schema.js';
import type { TfliteExporter } from '../../tflite/mapping.js';

const S = Slot.Pool2DOptions;

export const globalavgpoolExporter: TfliteExporter = {
  export(ctx, n) {
    const [h, w, c] = ctx.inputShape(n, 0) as [number, number, number];
    const input = ctx.input(n, 0);
    const pooled = ctx.intermediate(n, 'pool', [1, 1, c]);
    ctx.op(BuiltinOp.AVERAGE_POOL_2D, [input], [pooled], {
      type: OptionsType.Pool2DOptions,
      write: (b) => {
        b.startObject(6);
        b.addFieldInt8(S.padding, PaddingCode.VALID, 0);
        b.addFieldInt32(S.strideW, w, 0);
        b.addFieldInt32(S.strideH, h, 0);
        b.addFieldInt32(S.filterW, w, 0);
        b.addFieldInt32(S.filterH, h, 0);
        return b.endObject();
      },
    });
    const shape = ctx.int32Constant(n.node.name, `${n.node.name}/shape`, [1, c]);
    ctx.op(BuiltinOp.RESHAPE, [pooled, shape], [ctx.outputTensor(n)], { type: OptionsType.ReshapeOptions, write: (b) => { b.startObject(1); return b.endObject(); } });
  },
};

export const globalavgpoolTflite: TfliteOp = { exporters: { globalavgpool: globalavgpoolExporter } };
