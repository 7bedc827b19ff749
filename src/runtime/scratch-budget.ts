// How much of a per-call packing layer's weights its kernel packs at once. A layer that packs on
// every call (a trained layer: its weights change every pass, so it cannot run on panels packed in
// flash) packs a chunk of 8-column panels into scratch, runs every output row against the chunk,
// then packs the next one. A chunk of one panel is the least scratch the GEMM/conv kernels can run
// with; a chunk of the whole layer re-reads (for a convolution, re-gathers) the activations only
// once. Results are identical either way (each output column sees the same packed, perturbed
// weights), so the choice is only SRAM against time: every such layer starts at one panel, and
// then, in execution order, gets the larger chunk wherever that leaves the session's SRAM peak
// where the one-panel plan put it. A trained depthwise layer (depth multiplier 1) follows the same
// budget with channel groups instead of panels: budget 0 prepares 16 channels at a time.
import { planMemory, type BufferRequest } from './planner.js';

/** The budget that packs one panel per chunk (packedChunkPanels never goes below one panel; depthwise: 16 channels). */
export const ONE_PANEL_BUDGET = 0;

/** A scratch request whose size depends on the layer's packing budget. */
export interface ScratchChoice {
  /** Index of the layer's scratch request in the session's request list. */
  readonly index: number;
  readonly layer: string;
  /** Scratch bytes at the session's default budget, and at one panel per chunk. */
  readonly fastBytes: number;
  readonly leanBytes: number;
  readonly fastBudget: number;
}

/**
 * Sizes each choice's scratch request (in place) and returns the packing budget each layer gets:
 * its default budget unless that would raise the SRAM peak above the all-one-panel plan's.
 */
export function chooseScratchBudgets<R extends BufferRequest>(requests: R[], choices: readonly ScratchChoice[], alignment: number): Map<string, number> {
  const budgets = new Map<string, number>();
  const open = choices.filter((c) => c.leanBytes < c.fastBytes);
  for (const c of choices) budgets.set(c.layer, c.fastBudget);
  if (open.length === 0) return budgets;
  const resize = (c: ScratchChoice, bytes: number) => {
    requests[c.index] = { ...requests[c.index]!, bytes } as R;
  };
  for (const c of open) resize(c, c.leanBytes);
  const leanPeak = planMemory(requests, { alignment }).peakBytes;
  for (const c of open) {
    resize(c, c.fastBytes);
    if (planMemory(requests, { alignment }).peakBytes <= leanPeak) continue;
    resize(c, c.leanBytes);
    budgets.set(c.layer, ONE_PANEL_BUDGET);
  }
  return budgets;
}
