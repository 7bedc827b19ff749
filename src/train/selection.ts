// Which layers train: full fine-tune, the last K parameter layers, the head alone (linear probe),
// every layer's biases alone (bias-only), or a fixed ~10% of every layer's weights (sparse).
import { ConfigError } from '../errors.js';
import { paramNodes, type ResolvedGraph } from '../model/graph.js';
import type { QzoFfConfig } from './qzo-ff.js';

export type TrainSelection =
  | { kind: 'full' }
  | { kind: 'head' }
  | { kind: 'last'; layers: number }
  | { kind: 'bias' }
  | { kind: 'sparse'; fraction: number; by: 'magnitude' | 'small' | 'random'; seed: number };

/**
 * Parse a selection. 'bias' and 'sparse…' change what the trainer does inside the selected layers,
 * so they are accepted only from callers that pass `{ trainerOptions: true }` and merge
 * selectionTrainerOptions() into their QzoFfConfig; anywhere else they would silently train every
 * weight, so they are refused.
 */
export function parseSelection(text: string, options: { trainerOptions?: boolean } = {}): TrainSelection {
  if (text === 'full') return { kind: 'full' };
  if (text === 'head') return { kind: 'head' };
  const m = /^last:(\d+)$/.exec(text);
  if (m) return { kind: 'last', layers: Number(m[1]) };
  const extended = text === 'bias' || text.startsWith('sparse');
  if (extended && !options.trainerOptions) {
    throw new ConfigError(`selection '${text}' is not supported here yet (it needs the trainer options from selectionTrainerOptions()); use full, head or last:K`);
  }
  if (text === 'bias') return { kind: 'bias' };
  // sparse[:fraction[:magnitude|small|random[:seed]]]
  const s = /^sparse(?::([0-9.]+))?(?::(magnitude|small|random))?(?::(\d+))?$/.exec(text);
  if (s) {
    const fraction = s[1] === undefined ? 0.1 : Number(s[1]);
    if (!(fraction > 0 && fraction <= 1)) throw new ConfigError(`sparse fraction must be in (0, 1], got '${s[1]}'`);
    return { kind: 'sparse', fraction, by: (s[2] as 'magnitude' | 'small' | 'random' | undefined) ?? 'magnitude', seed: s[3] === undefined ? 0 : Number(s[3]) };
  }
  throw new ConfigError(`unknown trainable selection '${text}'; use full, head, last:K, bias or sparse[:fraction[:magnitude|small|random[:seed]]]`);
}

export function selectionLabel(s: TrainSelection): string {
  if (s.kind === 'last') return `last:${s.layers}`;
  if (s.kind === 'sparse') return `sparse:${s.fraction}:${s.by}${s.by === 'random' ? `:${s.seed}` : ''}`;
  return s.kind;
}

/** Names of the parameter layers that train, in execution order. */
export function trainableLayers(graph: ResolvedGraph, selection: TrainSelection): string[] {
  const names = paramNodes(graph).map((n) => n.node.name);
  switch (selection.kind) {
    case 'full':
    case 'bias':
    case 'sparse':
      return names;
    case 'head':
      return names.slice(-1);
    case 'last':
      if (!Number.isInteger(selection.layers) || selection.layers < 1 || selection.layers > names.length) {
        throw new ConfigError(`last:K needs 1 <= K <= ${names.length} (the model's parameter layers), got ${selection.layers}`);
      }
      return names.slice(-selection.layers);
  }
}

/**
 * The trainer options a selection implies (merge into QzoFfConfig): bias-only sets params 'bias',
 * sparse sets the mask. Callers that build a QzoFfTrainer from a selection must apply these, or a
 * 'bias' or 'sparse' selection would silently train every weight.
 */
export function selectionTrainerOptions(selection: TrainSelection): Pick<QzoFfConfig, 'params' | 'sparse'> {
  if (selection.kind === 'bias') return { params: 'bias' };
  if (selection.kind === 'sparse') return { sparse: { fraction: selection.fraction, by: selection.by, seed: selection.seed } };
  return {};
}
