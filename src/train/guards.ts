// The shape of adapt()'s options, checked before any work (value ranges and data contents follow in
// adapt itself). The generic guards live in src/util/guards.ts.
import { ConfigError } from '../errors.js';
import { checkDataset, checkDevice, checkFloatModel, checkSeed, describe, isObject } from '../util/guards.js';

export { checkSeed } from '../util/guards.js';

/** Every method adapt() accepts (benchmarks iterate over this list, so a new method shows up there too). */
export const ADAPT_METHODS: readonly string[] = ['qzo-ff', 'hybrid', 'bp', 'ff-float'];
const METHODS = ADAPT_METHODS;
const SELECTIONS = ['full', 'head', 'last', 'bias', 'sparse'];

/** The shape of adapt()'s options; the value checks (ranges, data contents) follow in adapt itself. */
export function checkAdaptOptions(o: unknown): void {
  if (!isObject(o)) throw new ConfigError(`adapt takes an options object { backbone, support, query, device, … }, got ${describe(o)}`);
  if (o.method !== undefined && !METHODS.includes(o.method as string)) throw new ConfigError(`unknown method '${String(o.method)}'; use ${METHODS.join(', ')}`);
  checkFloatModel(o.backbone);
  checkDataset(o.support, 'support set');
  checkDataset(o.query, 'query set');
  checkDevice(o.device);
  if (o.seed !== undefined) checkSeed(o.seed);
  if (o.steps !== undefined && (typeof o.steps !== 'number' || !Number.isInteger(o.steps) || o.steps < 0)) throw new ConfigError(`steps must be a non-negative integer, got ${describe(o.steps)}`);
  if (o.selection !== undefined && (!isObject(o.selection) || !SELECTIONS.includes(o.selection.kind as string))) {
    throw new ConfigError(`unknown trainable selection ${describe(o.selection)}; use { kind: ${SELECTIONS.map((s) => `'${s}'`).join(' | ')} } (see parseSelection)`);
  }
}
