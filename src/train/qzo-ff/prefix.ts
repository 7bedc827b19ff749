// Frozen-prefix reuse. When the first trained layer is op k > 0 (head only, last:K, bias of late
// layers), ops < k see neither a perturbation nor an update, so their output for a sample is the
// same in all 2m passes of a step (and in every step). The prefix runs once per sample, its output —
// every tensor produced before op k and read at or after it — is kept in a planned SRAM buffer
// ('extra:prefix-cache', one slot per sample), and each perturbed pass restores its micro-batch
// from there and runs ops k… only. Integer kernels treat samples independently, so results are bit
// for bit those of the full forward.
//
// Slots: with a slot per sample of the training set the features are kept across steps ('set');
// with a slot per sample of a step's batch they are computed once per step ('step'); with fewer,
// the trainer runs the whole graph as before.
import { ConfigError } from '../../errors.js';
import type { DeviceBuffer } from '../../device/arena.js';
import { elementCount, resolveGraph } from '../../model/graph.js';
import type { QuantizedModel } from '../../model/model.js';
import { lowerGraph, type LoweredGraph } from '../../runtime/lowering.js';
import type { ParamSource, QuantizedSession } from '../../runtime/session.js';
import type { PerturbSpec } from '../../kernels/perturb-spec.js';
import type { QuantizedSet } from '../batches.js';

/** Name of the cache among the session's extra SRAM buffers. */
export const PREFIX_CACHE = 'prefix-cache';

export interface PrefixBoundary {
  /** Index of the first op that runs a trained layer; ops before it are the frozen prefix. */
  firstOp: number;
  /** Tensors produced before firstOp (or the input) and read at or after it, with bytes per sample. */
  tensors: { name: string; bytes: number }[];
  bytesPerSample: number;
}

/** The frozen prefix of a lowered graph for these trained layers; null when op 0 already trains. */
export function prefixBoundary(lowered: LoweredGraph, sampleBytes: (tensor: string) => number, trainable: Iterable<string>): PrefixBoundary | null {
  const trained = new Set(trainable);
  const firstOp = lowered.ops.findIndex((op) => trained.has(op.node.node.name));
  if (firstOp <= 0) return null;
  const producedBefore = new Set([lowered.inputName, ...lowered.ops.slice(0, firstOp).map((op) => op.output)]);
  const names: string[] = [];
  for (const op of lowered.ops.slice(firstOp)) for (const t of op.inputs) if (producedBefore.has(t) && !names.includes(t)) names.push(t);
  const tensors = names.map((name) => ({ name, bytes: sampleBytes(name) }));
  return { firstOp, tensors, bytesPerSample: tensors.reduce((s, t) => s + t.bytes, 0) };
}

/** Host-only: the boundary of a model before any session exists (the planner's tensor sizes). */
export function planPrefixBoundary(model: QuantizedModel, trainable: Iterable<string>): PrefixBoundary | null {
  const graph = resolveGraph(model.architecture);
  const shapes = new Map(graph.nodes.map((n) => [n.node.name, n.outShape]));
  return prefixBoundary(lowerGraph(graph), (t) => elementCount(t === graph.nodes[0]!.node.name ? graph.inputShape : shapes.get(t)!), trainable);
}

/** The cache's SRAM request for `samples` slots (none when nothing is frozen before the first trained layer). */
export function prefixCacheBuffers(model: QuantizedModel, trainable: Iterable<string>, samples: number): { name: string; bytes: number }[] {
  const b = planPrefixBoundary(model, trainable);
  if (!b || b.bytesPerSample === 0) return [];
  if (!Number.isInteger(samples) || samples < 1) throw new ConfigError(`prefix cache: samples must be a positive integer, got ${samples}`);
  return [{ name: PREFIX_CACHE, bytes: samples * b.bytesPerSample }];
}

type Perturb = ((layer: string) => PerturbSpec | undefined) | undefined;
type Source = ((layer: string) => ParamSource | undefined) | undefined;

/** Counts for reports and tests: prefix passes run, and micro-batches served from the cache. */
export interface PrefixCacheStats {
  prefixRuns: number;
  reused: number;
}

/** The trainer's view of the cache: which slots hold which sample, and the forward that uses them. */
export class PrefixCache {
  readonly slots: number;
  readonly stats: PrefixCacheStats = { prefixRuns: 0, reused: 0 };
  private readonly boundary: { buffer: DeviceBuffer; bytes: number; at: number }[];
  private readonly valid: Int32Array;
  private set: QuantizedSet | null = null;
  private mode: 'set' | 'step' | 'off' = 'off';
  private stamp = 0;

  constructor(private readonly session: QuantizedSession, readonly cache: DeviceBuffer, readonly info: PrefixBoundary) {
    let at = 0;
    this.boundary = info.tensors.map((t) => {
      const buffer = session.tensorBuffer(t.name);
      const entry = { buffer, bytes: buffer.bytes / session.batch, at };
      at += entry.bytes;
      return entry;
    });
    if (at !== info.bytesPerSample) throw new ConfigError(`prefix cache: the session's boundary tensors hold ${at} B per sample, the plan ${info.bytesPerSample} B`);
    this.slots = Math.floor(cache.bytes / info.bytesPerSample);
    this.valid = new Int32Array(this.slots).fill(-1);
  }

  /** Start a step on `set` with `batch` (sample indices): decides the mode, drops what no longer holds. */
  beginStep(set: QuantizedSet, batchSize: number): void {
    if (set !== this.set) {
      this.set = set;
      this.valid.fill(-1);
    }
    const mode = this.slots >= set.count ? 'set' : this.slots >= batchSize ? 'step' : 'off';
    if (mode !== this.mode) this.valid.fill(-1);
    this.mode = mode;
    // 'step' slots are positions in the step's batch: valid only within the step they were filled.
    if (mode === 'step') this.stamp++;
  }

  get active(): boolean {
    return this.mode !== 'off';
  }

  /** One micro-batch (rows batch[from…from+rows), already loaded as the input) through the graph. */
  forward(batch: readonly number[], from: number, rows: number, perturb: Perturb, source: Source): void {
    const s = this.session;
    if (this.mode === 'off') {
      s.forward(perturb, source);
      return;
    }
    const slot = (r: number) => (this.mode === 'set' ? batch[from + r]! : from + r);
    const tag = this.mode === 'set' ? 0 : this.stamp;
    let cached = true;
    for (let r = 0; r < rows && cached; r++) cached = this.valid[slot(r)] === tag;
    const bytes = s.mcu.device.bytes;
    const base = this.cache.offset;
    const per = this.info.bytesPerSample;
    if (cached) {
      for (let r = 0; r < rows; r++) {
        for (const b of this.boundary) bytes.copyWithin(b.buffer.offset + r * b.bytes, base + slot(r) * per + b.at, base + slot(r) * per + b.at + b.bytes);
      }
      this.stats.reused++;
    } else {
      s.forward(perturb, source, 0, this.info.firstOp);
      this.stats.prefixRuns++;
      for (let r = 0; r < rows; r++) {
        for (const b of this.boundary) bytes.copyWithin(base + slot(r) * per + b.at, b.buffer.offset + r * b.bytes, b.buffer.offset + (r + 1) * b.bytes);
        this.valid[slot(r)] = tag;
      }
    }
    s.forward(perturb, source, this.info.firstOp);
  }
}

/** The trainer's cache when the session was planned with one and something is frozen; else null. */
export function sessionPrefixCache(session: QuantizedSession, trainable: readonly string[]): PrefixCache | null {
  const cache = session.extra.get(PREFIX_CACHE);
  if (!cache) return null;
  const info = prefixBoundary(session.lowered, (t) => session.tensorBuffer(t).bytes / session.batch, trainable);
  if (!info) return null;
  return new PrefixCache(session, cache, info);
}
