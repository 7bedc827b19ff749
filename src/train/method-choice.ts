// Which integer method a run trains with. The default is the hybrid (integer backprop for the dense
// head, QZO-FF for the rest: train/hybrid.ts); it needs a fully-connected head with one weight scale
// (per-tensor) that the selection trains in full. Where a run cannot have that, the two ways of
// asking differ, as a user would expect:
//   - the default (no method given) falls back to qzo-ff, the paper's method, and says why in a note;
//   - an explicit 'hybrid' is refused with a ConfigError naming what is missing, before any work.
import { ConfigError } from '../errors.js';
import { resolveGraph } from '../model/graph.js';
import type { Architecture } from '../model/graph.js';
import type { QuantizedModel } from '../model/model.js';
import { opDef } from '../ops/registry.js';
import { lowerGraph } from '../runtime/lowering.js';
import { ADAPT_DEFAULTS } from './defaults.js';
import { hybridHead } from './hybrid.js';
import { trainableLayers, type TrainSelection } from './selection.js';

export interface MethodChoice<M extends string> {
  method: M;
  /** Set when the default could not be used: why, and what trained instead (print it). */
  note: string | null;
}

/**
 * Why the hybrid cannot train this selection of this model (null: it can). With `quantized`, the
 * head's actual quantization is checked too (an imported int8 model may be per-channel); without it,
 * the architecture alone (adapt() quantizes the prototype head per-tensor itself).
 */
export function hybridUnsupported(architecture: Architecture, selection: TrainSelection, quantized?: QuantizedModel, enhancements?: { residual?: boolean }): string | null {
  if (enhancements?.residual) return "the residual carries the sub-LSB part of QZO-FF's sign steps on 8-bit weights, and the hybrid's head learns by backprop";
  const graph = resolveGraph(architecture);
  const lowered = lowerGraph(graph);
  const last = lowered.ops[lowered.ops.length - 1];
  if (!last) return `model '${architecture.name}' has no layers`;
  const def = opDef(last.node.node.kind);
  const head = last.node.node.name;
  if (def.paramLayout !== 'OI' || def.quantized?.int32Head !== true) return `model '${architecture.name}' ends in '${head}' (${last.node.node.kind}), not a fully-connected classifier head`;
  if (quantized) {
    try {
      hybridHead(quantized);
    } catch (e) {
      if (e instanceof ConfigError) return e.message.replace(/: use --method qzo-ff$/, '');
      throw e;
    }
  }
  if (selection.kind === 'bias') return "the selection 'bias' trains biases only, and the hybrid's head trains its weights too";
  if (selection.kind === 'sparse') return "a sparse selection trains a fixed fraction of every layer's weights, and the hybrid's head trains all of its weights";
  if (!trainableLayers(graph, selection).includes(head)) return `the selection leaves the head '${head}' frozen`;
  return null;
}

/**
 * The method to train with: `requested` if given (an explicit 'hybrid' that cannot run is a
 * ConfigError), else ADAPT_DEFAULTS.method, falling back to qzo-ff with a note where the hybrid
 * cannot run. `reason` is asked only when the hybrid is wanted.
 */
export function chooseMethod<M extends string>(requested: M | undefined, reason: () => string | null): MethodChoice<M | 'qzo-ff' | 'hybrid'> {
  const wanted = requested ?? ADAPT_DEFAULTS.method;
  if (wanted !== 'hybrid') return { method: wanted, note: null };
  const why = reason();
  if (why === null) return { method: 'hybrid', note: null };
  if (requested !== undefined) throw new ConfigError(`method hybrid cannot train this run: ${why}; use method qzo-ff (--method qzo-ff)`);
  return { method: 'qzo-ff', note: `the default method (hybrid) does not apply here: ${why}; trained with qzo-ff, the paper's method` };
}
