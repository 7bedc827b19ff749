// How much of a per-call packing layer's weights its kernel packs at once. A layer that packs on
// every call (a trained layer: its weights change every pass, so it cannot run on panels packed in
// flash) packs a chunk of panels into scratch, runs every output row against the chunk, then packs
// the next one. A chunk of the whole layer re-reads (for a convolution, re-gathers) the activations
// only once; a chunk of one 8-column panel is the least the 4x8 micro-kernel runs with; one panel of
// 4 or 2 columns (the narrow micro-kernel) holds a half or a quarter of that. Results are identical
// at every level (each output column sees the same packed, perturbed weights), so the choice is only
// SRAM against time: every such layer starts at its leanest level, and then, in execution order,
// gets the fastest level that leaves the session's SRAM peak where the all-leanest plan put it. A
// trained depthwise layer (depth multiplier 1) follows the same rule with channel groups instead of
// panels: budget 0 prepares 16 channels at a time. A per-layer buffer offered in several sizes (a
// sparse layer's backup, smaller for smaller blocks of output units) is chosen the same way.
import type { PanelColumns } from '../kernels/gemm.js';
import { planMemory, type BufferRequest } from './planner.js';

/** The budget that packs one panel per chunk (packedChunkPanels never goes below one panel; depthwise: 16 channels). */
export const ONE_PANEL_BUDGET = 0;

/** How a per-call packing layer packs: bytes of panels per chunk, and the panel width. */
export interface PackingLevel {
  readonly packedWeightBudget: number;
  readonly panelColumns: PanelColumns;
}

/**
 * The levels a layer may run at, fastest first: the session's budget, one 8-column panel, and with
 * `narrow` one panel of 4 and of 2 columns.
 */
export function packingLevels(fastBudget: number, narrow: boolean): PackingLevel[] {
  const levels: PackingLevel[] = [{ packedWeightBudget: fastBudget, panelColumns: 8 }, { packedWeightBudget: ONE_PANEL_BUDGET, panelColumns: 8 }];
  if (narrow) levels.push({ packedWeightBudget: ONE_PANEL_BUDGET, panelColumns: 4 }, { packedWeightBudget: ONE_PANEL_BUDGET, panelColumns: 2 });
  return levels;
}

/** A request whose size depends on a level the planner picks (a layer's packing level, a backup's block size). */
export interface ScratchChoice<L = PackingLevel> {
  /** Index of the request in the session's request list. */
  readonly index: number;
  /** Who the choice is for (a layer's name, or the request's). */
  readonly layer: string;
  /** Levels with their bytes, fastest first, each strictly smaller than the one before. */
  readonly levels: readonly { readonly level: L; readonly bytes: number }[];
}

/**
 * Sizes each choice's scratch request (in place) and returns the packing level each layer gets: the
 * fastest that does not raise the SRAM peak above the all-leanest plan's, or above `ceiling` when
 * that is higher (a device's SRAM: no layer runs leaner than the device needs).
 */
export function chooseScratchBudgets<R extends BufferRequest, L>(requests: R[], choices: readonly ScratchChoice<L>[], alignment: number, ceiling?: number): Map<string, L> {
  const chosen = new Map<string, L>();
  const open = choices.filter((c) => c.levels.length > 1);
  for (const c of choices) chosen.set(c.layer, c.levels[0]!.level);
  if (open.length === 0) return chosen;
  const resize = (c: ScratchChoice<L>, bytes: number) => {
    requests[c.index] = { ...requests[c.index]!, bytes } as R;
  };
  for (const c of open) resize(c, c.levels.at(-1)!.bytes);
  const leanPeak = Math.max(planMemory(requests, { alignment }).peakBytes, ceiling ?? 0);
  for (const c of open) {
    for (const [i, l] of c.levels.entries()) {
      resize(c, l.bytes);
      if (i === c.levels.length - 1 || planMemory(requests, { alignment }).peakBytes <= leanPeak) {
        chosen.set(c.layer, l.level);
        break;
      }
    }
  }
  return chosen;
}
