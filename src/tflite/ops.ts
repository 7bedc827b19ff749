// The operator table: which TFLite builtin maps to which lastmile node kind and back, collected from
// the operator registry (each OpDef's `tflite` member, defined in src/ops/<kind>/tflite.ts). SOFTMAX
// has no node kind (it becomes the model's output stage), so its importer is added here.
import type { NodeKind } from '../model/layers.js';
import { OPS } from '../ops/registry.js';
import type { TfliteExporter, TfliteImporter } from './mapping.js';
import { BuiltinOp, builtinOpName } from './schema.js';
import { softmaxImporter } from '../ops/softmax/tflite.js';

const defs = [...new Set(Object.values(OPS))];

export const TFLITE_IMPORTERS: Readonly<Record<number, TfliteImporter>> = Object.assign(
  {},
  ...defs.map((d) => d.tflite?.importers ?? {}),
  { [BuiltinOp.SOFTMAX]: softmaxImporter },
);

/** Node kinds with a .tflite form; the activation kinds fold into their producer before export. */
export const TFLITE_EXPORTERS: Readonly<Partial<Record<NodeKind, TfliteExporter>>> = Object.assign({}, ...defs.map((d) => d.tflite?.exporters ?? {}));

export const SUPPORTED_TFLITE_OPS = Object.keys(TFLITE_IMPORTERS).map((c) => builtinOpName(Number(c)));
