// The operator table: which TFLite builtin maps to which lastmile node kind and back. Each
// mapping lives with its operator in src/ops/<kind>/tflite.ts.
import type { NodeKind } from '../model/layers.js';
import type { TfliteExporter, TfliteImporter } from './mapping.js';
import { BuiltinOp, builtinOpName } from './schema.js';
import { conv2dExporter, conv2dImporter } from '../ops/conv2d/tflite.js';
import { depthwiseExporter, depthwiseImporter } from '../ops/depthwise/tflite.js';
import { denseExporter, denseImporter } from '../ops/dense/tflite.js';
import { avgpoolExporter, avgpoolImporter } from '../ops/avgpool/tflite.js';
import { maxpoolExporter, maxpoolImporter } from '../ops/maxpool/tflite.js';
import { addExporter, addImporter } from '../ops/add/tflite.js';
import { flattenExporter, reshapeImporter } from '../ops/flatten/tflite.js';
import { softmaxImporter } from '../ops/softmax/tflite.js';

export const TFLITE_IMPORTERS: Readonly<Record<number, TfliteImporter>> = {
  [BuiltinOp.CONV_2D]: conv2dImporter,
  [BuiltinOp.DEPTHWISE_CONV_2D]: depthwiseImporter,
  [BuiltinOp.FULLY_CONNECTED]: denseImporter,
  [BuiltinOp.AVERAGE_POOL_2D]: avgpoolImporter,
  [BuiltinOp.MAX_POOL_2D]: maxpoolImporter,
  [BuiltinOp.ADD]: addImporter,
  [BuiltinOp.RESHAPE]: reshapeImporter,
  [BuiltinOp.SOFTMAX]: softmaxImporter,
};

/** Node kinds with a .tflite form; the activation kinds fold into their producer before export. */
export const TFLITE_EXPORTERS: Readonly<Partial<Record<NodeKind, TfliteExporter>>> = {
  conv2d: conv2dExporter,
  depthwise: depthwiseExporter,
  dense: denseExporter,
  avgpool: avgpoolExporter,
  maxpool: maxpoolExporter,
  add: addExporter,
  flatten: flattenExporter,
};

export const SUPPORTED_TFLITE_OPS = Object.keys(TFLITE_IMPORTERS).map((c) => builtinOpName(Number(c)));
