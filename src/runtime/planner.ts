// Offline memory planner for the SRAM arena: given every buffer's size and lifetime (in op
// indices), choose offsets so buffers that are live at the same time never share bytes, and the
// arena is as small as we can make it. The core is TFLM's GreedyMemoryPlanner (largest first, each
// at the lowest gap that fits); when that misses the lower bound we retry with a few other
// deterministic orders and keep the smallest plan. One of them ('layered') provably reaches the
// lower bound on chains of layers, which is the common MCU case.
import { BudgetError, ConfigError, ShapeError } from '../errors.js';
import { describe, isObject } from '../util/guards.js';

export const DEFAULT_PLAN_ALIGNMENT = 16;

export interface BufferRequest {
  readonly name: string;
  /** Requested size; the plan reserves it rounded up to the alignment (at least one unit). */
  readonly bytes: number;
  /** First op index that reads or writes the buffer. */
  readonly firstUse: number;
  /** Last op index that reads or writes it (inclusive). */
  readonly lastUse: number;
}

export interface PlanOptions {
  /** Offsets and sizes are multiples of this power of two (TFLM uses 16). */
  readonly alignment?: number;
  /**
   * Orders to try, in this order (default PLAN_STRATEGIES). ['greedy-by-size'] alone gives
   * TFLM's GreedyMemoryPlanner placement exactly.
   */
  readonly strategies?: readonly PlanStrategy[];
}

export type PlanStrategy = 'greedy-by-size' | 'first-use' | 'longest-lifetime' | 'size-x-lifetime' | 'layered';

/** Orders tried, in this order; ties in arena size go to the earlier one. */
export const PLAN_STRATEGIES: readonly PlanStrategy[] = ['greedy-by-size', 'first-use', 'longest-lifetime', 'size-x-lifetime', 'layered'];

export interface PlannedBuffer extends BufferRequest {
  /** Byte offset from the start of the arena; a multiple of the alignment. */
  readonly offset: number;
  /** The bytes reserved: bytes rounded up to the alignment, at least one alignment unit. */
  readonly alignedBytes: number;
}

export interface MemoryPlan {
  readonly alignment: number;
  /** One entry per request, in request order. */
  readonly buffers: readonly PlannedBuffer[];
  /** Number of ops covered: the largest lastUse + 1 (0 for an empty plan). */
  readonly opCount: number;
  /** Arena bytes this plan needs: the largest offset + alignedBytes. */
  readonly peakBytes: number;
  /** No plan can be smaller: the largest sum of alignedBytes live at one op. */
  readonly lowerBoundBytes: number;
  /** An op where the lower bound is reached (-1 for an empty plan). */
  readonly lowerBoundOp: number;
  /** The order that produced this plan. */
  readonly strategy: PlanStrategy;
  /** Arena size each order reached, in the order tried; stops early once one meets the lower bound. */
  readonly attempts: readonly { readonly strategy: PlanStrategy; readonly peakBytes: number }[];
}

export interface PlanConflict {
  readonly a: string;
  readonly b: string;
  /** First op at which both are live. */
  readonly op: number;
  /** Byte range [start, end) that both occupy. */
  readonly start: number;
  readonly end: number;
}

export function alignTo(bytes: number, alignment: number): number {
  return Math.ceil(Math.max(bytes, 1) / alignment) * alignment;
}

export function planMemory(requests: readonly BufferRequest[], options: PlanOptions = {}): MemoryPlan {
  const alignment = options.alignment ?? DEFAULT_PLAN_ALIGNMENT;
  checkAlignment(alignment);
  const strategies = options.strategies ?? PLAN_STRATEGIES;
  checkStrategies(strategies);
  checkRequests(requests);
  const sizes = requests.map((r) => alignTo(r.bytes, alignment));
  const bound = lowerBoundOf(requests, sizes);
  const opCount = requests.reduce((m, r) => Math.max(m, r.lastUse + 1), 0);

  let best: { strategy: PlanStrategy; offsets: number[]; peak: number } | undefined;
  const attempts: { strategy: PlanStrategy; peakBytes: number }[] = [];
  for (const strategy of strategies) {
    const offsets = placeFirstFit(orderFor(strategy, requests, sizes), requests, sizes);
    const peak = peakOf(offsets, sizes);
    attempts.push({ strategy, peakBytes: peak });
    if (!best || peak < best.peak) best = { strategy, offsets, peak };
    if (best.peak <= bound.bytes) break;
  }
  const chosen = best!;
  return {
    alignment,
    buffers: requests.map((r, i) => ({
      name: r.name,
      bytes: r.bytes,
      firstUse: r.firstUse,
      lastUse: r.lastUse,
      offset: chosen.offsets[i]!,
      alignedBytes: sizes[i]!,
    })),
    opCount,
    peakBytes: chosen.peak,
    lowerBoundBytes: bound.bytes,
    lowerBoundOp: bound.op,
    strategy: chosen.strategy,
    attempts,
  };
}

/** The largest sum of aligned sizes live at any one op, and the first op where it occurs. */
export function lowerBound(requests: readonly BufferRequest[], options: PlanOptions = {}): { bytes: number; op: number } {
  const alignment = options.alignment ?? DEFAULT_PLAN_ALIGNMENT;
  checkAlignment(alignment);
  checkRequests(requests);
  return lowerBoundOf(
    requests,
    requests.map((r) => alignTo(r.bytes, alignment)),
  );
}

/** Bytes live at each op under the plan (sum of alignedBytes), index = op. */
export function liveBytesByOp(plan: MemoryPlan): number[] {
  const live = new Array<number>(plan.opCount).fill(0);
  for (const b of plan.buffers) for (let t = b.firstUse; t <= b.lastUse; t++) live[t]! += b.alignedBytes;
  return live;
}

/**
 * Every pair of buffers that are live at a common op and share bytes, plus any buffer whose
 * offset or size breaks the alignment or the arena size. Empty means the plan is safe.
 */
export function findPlanConflicts(plan: MemoryPlan): PlanConflict[] {
  const conflicts: PlanConflict[] = [];
  // Sweep by offset so only buffers that can overlap in space are compared.
  const byOffset = plan.buffers.map((b, i) => ({ b, i })).sort((x, y) => x.b.offset - y.b.offset || x.i - y.i);
  for (let p = 0; p < byOffset.length; p++) {
    const a = byOffset[p]!.b;
    const aEnd = a.offset + a.alignedBytes;
    for (let q = p + 1; q < byOffset.length; q++) {
      const b = byOffset[q]!.b;
      if (b.offset >= aEnd) break;
      if (a.firstUse > b.lastUse || b.firstUse > a.lastUse) continue;
      const [first, second] = byOffset[p]!.i < byOffset[q]!.i ? [a, b] : [b, a];
      conflicts.push({
        a: first.name,
        b: second.name,
        op: Math.max(a.firstUse, b.firstUse),
        start: b.offset,
        end: Math.min(aEnd, b.offset + b.alignedBytes),
      });
    }
  }
  return conflicts;
}

/**
 * Throws ShapeError unless the plan is safe to hand to the arena: buffers live at the same op
 * never share bytes, every offset and reserved size respects the alignment and covers the
 * request, the arena size covers every buffer, and the lower bound is consistent.
 */
export function verifyPlan(plan: MemoryPlan): void {
  if (!isObject(plan) || !Array.isArray(plan.buffers)) throw new ConfigError(`verifyPlan takes a MemoryPlan (from planMemory), got ${describe(plan)}`);
  const problems: string[] = [];
  const { alignment } = plan;
  if (!isPowerOfTwo(alignment)) problems.push(`alignment ${alignment} is not a power of two`);
  let end = 0;
  for (const b of plan.buffers) {
    if (!Number.isSafeInteger(b.offset) || b.offset < 0 || b.offset % alignment !== 0) {
      problems.push(`'${b.name}' offset ${b.offset} is not a non-negative multiple of ${alignment}`);
    }
    if (b.alignedBytes !== alignTo(b.bytes, alignment)) {
      problems.push(`'${b.name}' reserves ${b.alignedBytes} B but ${b.bytes} B aligned to ${alignment} is ${alignTo(b.bytes, alignment)} B`);
    }
    end = Math.max(end, b.offset + b.alignedBytes);
  }
  if (end !== plan.peakBytes) problems.push(`peakBytes says ${plan.peakBytes} B but the buffers end at ${end} B`);
  const bound = lowerBoundOf(plan.buffers, plan.buffers.map((b) => b.alignedBytes));
  if (bound.bytes !== plan.lowerBoundBytes) {
    problems.push(`lowerBoundBytes says ${plan.lowerBoundBytes} B but the live buffers peak at ${bound.bytes} B (op ${bound.op})`);
  }
  for (const c of findPlanConflicts(plan)) {
    problems.push(`'${c.a}' and '${c.b}' are both live at op ${c.op} and share bytes [${c.start}, ${c.end})`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 8).join('; ') + (problems.length > 8 ? `; and ${problems.length - 8} more` : '');
    throw new ShapeError(`memory plan is unsafe: ${shown}. The planner or a hand-edited plan is wrong; re-plan with planMemory`);
  }
}

/** Throws BudgetError if the plan needs more than `budgetBytes`, naming what is live at the peak. */
export function assertPlanFits(plan: MemoryPlan, budgetBytes: number, region = 'SRAM'): void {
  if (plan.peakBytes <= budgetBytes) return;
  const op = plan.lowerBoundOp;
  const live = plan.buffers
    .filter((b) => b.firstUse <= op && op <= b.lastUse)
    .sort((a, b) => b.alignedBytes - a.alignedBytes)
    .slice(0, 4)
    .map((b) => `${b.name} ${b.alignedBytes} B`);
  const gap =
    plan.lowerBoundBytes > budgetBytes
      ? `even a perfect layout needs ${plan.lowerBoundBytes} B (at op ${op}: ${live.join(', ')})`
      : `a perfect layout would need ${plan.lowerBoundBytes} B, so a different buffer order might fit`;
  throw new BudgetError(
    `${region}: the memory plan needs ${plan.peakBytes} B but the budget is ${budgetBytes} B; ${gap}. ` +
      'Raise the budget, train fewer layers, or shrink the model/batch',
  );
}

function checkAlignment(alignment: number): void {
  if (!isPowerOfTwo(alignment) || alignment > 4096) {
    throw new ConfigError(`planner alignment must be a power of two from 1 to 4096, got ${alignment}; MCUs use 4, 8 or 16`);
  }
}

function checkStrategies(strategies: readonly PlanStrategy[]): void {
  if (!Array.isArray(strategies) || strategies.length === 0) {
    throw new ConfigError(`planner strategies must be a non-empty list drawn from ${PLAN_STRATEGIES.join(', ')}`);
  }
  for (const s of strategies) {
    if (!PLAN_STRATEGIES.includes(s)) {
      throw new ConfigError(`planner strategy '${String(s)}' is unknown; use one of ${PLAN_STRATEGIES.join(', ')}`);
    }
  }
}

function checkRequests(requests: readonly BufferRequest[]): void {
  if (!Array.isArray(requests)) throw new ConfigError(`planner: expected an array of buffer requests, got ${typeof requests}`);
  const seen = new Set<string>();
  requests.forEach((r, i) => {
    const label = typeof r?.name === 'string' && r.name !== '' ? `'${r.name}'` : `#${i}`;
    if (typeof r?.name !== 'string' || r.name === '') throw new ConfigError(`planner: buffer ${label} needs a non-empty name`);
    if (seen.has(r.name)) throw new ConfigError(`planner: buffer name ${label} appears twice; names must be unique`);
    seen.add(r.name);
    if (!Number.isSafeInteger(r.bytes) || r.bytes < 0) {
      throw new ShapeError(`planner: buffer ${label} size must be a non-negative integer, got ${r.bytes}`);
    }
    if (!Number.isSafeInteger(r.firstUse) || !Number.isSafeInteger(r.lastUse) || r.firstUse < 0) {
      throw new ConfigError(`planner: buffer ${label} lifetime must be non-negative integer op indices, got [${r.firstUse}, ${r.lastUse}]`);
    }
    if (r.lastUse < r.firstUse) {
      throw new ConfigError(`planner: buffer ${label} is last used at op ${r.lastUse}, before its first use at op ${r.firstUse}`);
    }
  });
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function lowerBoundOf(requests: readonly BufferRequest[], sizes: readonly number[]): { bytes: number; op: number } {
  // Sweep over lifetime events; a buffer ending at op t frees its bytes from op t + 1.
  const events: [op: number, delta: number][] = [];
  requests.forEach((r, i) => {
    events.push([r.firstUse, sizes[i]!], [r.lastUse + 1, -sizes[i]!]);
  });
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let live = 0;
  let best = { bytes: 0, op: -1 };
  for (let k = 0; k < events.length; ) {
    const op = events[k]![0];
    while (k < events.length && events[k]![0] === op) live += events[k++]![1];
    if (live > best.bytes) best = { bytes: live, op };
  }
  return best;
}

function peakOf(offsets: readonly number[], sizes: readonly number[]): number {
  let peak = 0;
  for (let i = 0; i < offsets.length; i++) peak = Math.max(peak, offsets[i]! + sizes[i]!);
  return peak;
}

/**
 * TFLM's placement: take buffers in the given order; put each at the lowest offset whose range
 * does not meet any already-placed buffer that is live at a common op.
 */
function placeFirstFit(order: readonly number[], requests: readonly BufferRequest[], sizes: readonly number[]): number[] {
  const offsets = new Array<number>(requests.length).fill(-1);
  const placed: number[] = []; // request indices sorted by offset
  for (const id of order) {
    const want = requests[id]!;
    const size = sizes[id]!;
    let candidate = 0;
    for (const other of placed) {
      const r = requests[other]!;
      if (r.firstUse > want.lastUse || want.firstUse > r.lastUse) continue;
      const start = offsets[other]!;
      if (start - candidate >= size) break;
      candidate = Math.max(candidate, start + sizes[other]!);
    }
    offsets[id] = candidate;
    let at = placed.length;
    while (at > 0 && offsets[placed[at - 1]!]! > candidate) at--;
    placed.splice(at, 0, id);
  }
  return offsets;
}

function orderFor(strategy: PlanStrategy, requests: readonly BufferRequest[], sizes: readonly number[]): number[] {
  const ids = requests.map((_, i) => i);
  const span = (i: number) => requests[i]!.lastUse - requests[i]!.firstUse + 1;
  const bySize = (a: number, b: number) => sizes[b]! - sizes[a]! || a - b;
  switch (strategy) {
    case 'greedy-by-size':
      return ids.sort(bySize);
    case 'first-use':
      return ids.sort((a, b) => requests[a]!.firstUse - requests[b]!.firstUse || bySize(a, b));
    case 'longest-lifetime':
      return ids.sort((a, b) => span(b) - span(a) || bySize(a, b));
    case 'size-x-lifetime':
      return ids.sort((a, b) => sizes[b]! * span(b) - sizes[a]! * span(a) || bySize(a, b));
    case 'layered':
      return layeredOrder(requests, sizes);
  }
}

/**
 * Buffers that live for the whole run first (they stack at the bottom), then the multi-op
 * buffers of one colour of a 2-colouring of their overlap graph, then single-op buffers
 * (scratch, model input/output), then the other colour. On a chain of layers the multi-op
 * tensors alternate colours, so even tensors sit low, odd tensors sit on top of each op's
 * contiguous stack, and every op's stack is exactly its live bytes: the plan meets the lower
 * bound whenever at most two multi-op, non-whole-run buffers are live at any op.
 */
function layeredOrder(requests: readonly BufferRequest[], sizes: readonly number[]): number[] {
  const n = requests.length;
  if (n === 0) return [];
  const runFirst = requests.reduce((m, r) => Math.min(m, r.firstUse), Infinity);
  const runLast = requests.reduce((m, r) => Math.max(m, r.lastUse), -Infinity);
  const whole: number[] = [];
  const single: number[] = [];
  const multi: number[] = [];
  requests.forEach((r, i) => {
    if (r.firstUse <= runFirst && r.lastUse >= runLast) whole.push(i);
    else if (r.firstUse === r.lastUse) single.push(i);
    else multi.push(i);
  });
  multi.sort((a, b) => requests[a]!.firstUse - requests[b]!.firstUse || requests[a]!.lastUse - requests[b]!.lastUse || a - b);
  const colour = new Map<number, 0 | 1>();
  for (const root of multi) {
    if (colour.has(root)) continue;
    colour.set(root, 0);
    const queue = [root];
    while (queue.length > 0) {
      const u = queue.shift()!;
      const ru = requests[u]!;
      for (const v of multi) {
        if (colour.has(v)) continue;
        const rv = requests[v]!;
        if (rv.firstUse > ru.lastUse || ru.firstUse > rv.lastUse) continue;
        colour.set(v, colour.get(u) === 0 ? 1 : 0);
        queue.push(v);
      }
    }
  }
  const bySize = (a: number, b: number) => sizes[b]! - sizes[a]! || a - b;
  return [
    ...whole.sort(bySize),
    ...multi.filter((i) => colour.get(i) === 0).sort(bySize),
    ...single.sort(bySize),
    ...multi.filter((i) => colour.get(i) === 1).sort(bySize),
  ];
}
