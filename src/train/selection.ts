// Which layers train: full fine-tune, the last K parameter layers, or the head alone (linear probe).
import { ConfigError } from '../errors.js';
import { paramNodes, type ResolvedGraph } from '../model/graph.js';

export type TrainSelection = { kind: 'full' } | { kind: 'head' } | { kind: 'last'; layers: number };

export function parseSelection(text: string): TrainSelection {
  if (text === 'full') return { kind: 'full' };
  if (text === 'head') return { kind: 'head' };
  const m = /^last:(\d+)$/.exec(text);
  if (m) return { kind: 'last', layers: Number(m[1]) };
  throw new ConfigError(`unknown trainable selection '${text}'; use full, head or last:K`);
}

export function selectionLabel(s: TrainSelection): string {
  return s.kind === 'last' ? `last:${s.layers}` : s.kind;
}

/** Names of the parameter layers that train, in execution order. */
export function trainableLayers(graph: ResolvedGraph, selection: TrainSelection): string[] {
  const names = paramNodes(graph).map((n) => n.node.name);
  switch (selection.kind) {
    case 'full':
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
