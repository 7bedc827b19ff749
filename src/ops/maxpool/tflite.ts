// MAX_POOL_2D ⇄ maxpool: the same options and quantization rule as AVERAGE_POOL_2D.
import { poolExporter, poolImporter } from '../avgpool/tflite.js';
import { BuiltinOp } from '../../tflite/schema.js';

export const maxpoolImporter = poolImporter('maxpool');
export const maxpoolExporter = poolExporter(BuiltinOp.MAX_POOL_2D);
