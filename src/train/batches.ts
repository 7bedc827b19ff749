// Feeding a session: real-valued samples are quantized once on the host, then copied in micro-batches
// of the session's batch size (the last one padded with the input zero point and ignored).
import { FormatError, ShapeError } from '../errors.js';
import { Mulberry32, shuffle } from '../util/random.js';
import { sampleSize, validateDataset, type Dataset } from '../data/dataset.js';
import type { QuantizedSession } from '../runtime/session.js';
import type { DeviceBuffer } from '../device/arena.js';

export interface QuantizedSet {
  samples: Int8Array;
  labels: Int32Array;
  count: number;
  sampleSize: number;
}

export function quantizeSet(session: QuantizedSession, data: Dataset): QuantizedSet {
  validateDataset(data);
  const size = sampleSize(data);
  if (size !== session.inputSize) throw new ShapeError(`'${data.name}' samples are ${data.shape.join('×')} (${size} values); the model expects ${session.graph.inputShape.join('×')}`);
  if (data.classes > session.classes) throw new ShapeError(`'${data.name}' has ${data.classes} classes; the model's head has ${session.classes}`);
  return { samples: session.quantizeInput(data.images), labels: data.labels, count: data.labels.length, sampleSize: size };
}

// Host staging per session, reused across the many micro-batches of a training run.
const staging = new WeakMap<QuantizedSession, { x: Int8Array; y: Int32Array }>();

/** Copy samples [from, from + rows) (rows ≤ batch) and their labels into the session. */
export function loadMicroBatch(session: QuantizedSession, set: QuantizedSet, indices: ArrayLike<number>, from: number, rows: number, labels?: DeviceBuffer): void {
  const batch = session.batch;
  const size = set.sampleSize;
  let stage = staging.get(session);
  if (!stage || stage.x.length !== batch * size) staging.set(session, (stage = { x: new Int8Array(batch * size), y: new Int32Array(batch) }));
  const { x, y } = stage;
  // Rows past `rows` are padding: the input zero point (a real 0), label 0; the loss ignores them.
  if (rows < batch) {
    x.fill(session.model.activations[session.graph.nodes[0]!.node.name]!.zeroPoint, rows * size);
    y.fill(0, rows);
  }
  for (let r = 0; r < rows; r++) {
    const i = indices[from + r]!;
    x.set(set.samples.subarray(i * size, (i + 1) * size), r * size);
    y[r] = set.labels[i]!;
  }
  session.setInput(x);
  if (labels) new Int32Array(session.mcu.device.memory.buffer, labels.offset, batch).set(y);
}

/** Everything BatchOrder needs to continue exactly where it was: a checkpoint stores this. */
export interface BatchOrderState {
  /** Mulberry32 state after the last shuffle. */
  rng: number;
  /** Next position in `order`. */
  cursor: number;
  /** The current epoch's permutation (empty before the first mini-batch). */
  order: number[];
}

/**
 * Mini-batch order: a seeded permutation per epoch, read in order, reshuffled when used up. Its state
 * is three plain values so training can stop at any step and resume on the same samples.
 */
export class BatchOrder {
  private readonly random: Mulberry32;
  private order: number[] = [];
  private cursor = 0;

  constructor(seed: number) {
    this.random = new Mulberry32(seed);
  }

  /** The next `size` sample indices of a set of `count` samples (the whole set, in order, when size ≥ count). */
  next(count: number, size: number): number[] {
    if (size >= count) return Array.from({ length: count }, (_, i) => i);
    const out: number[] = [];
    while (out.length < size) {
      if (this.cursor >= this.order.length) {
        this.order = Array.from({ length: count }, (_, i) => i);
        shuffle(this.order, () => this.random.next());
        this.cursor = 0;
      }
      out.push(this.order[this.cursor++]!);
    }
    return out;
  }

  /** A copy of the state for a checkpoint. */
  save(): BatchOrderState {
    return { ...this.mark(), order: [...this.order] };
  }

  /**
   * The state without copying the permutation, for rewinding within a run: next() replaces `order`
   * with a new array on every reshuffle and never mutates it, so the mark's reference stays valid.
   */
  mark(): BatchOrderState {
    return { rng: this.random.state, cursor: this.cursor, order: this.order };
  }

  /** Return to a mark taken on this object (already valid, so nothing to check). */
  rewind(mark: BatchOrderState): void {
    this.random.state = mark.rng;
    this.order = mark.order;
    this.cursor = mark.cursor;
  }

  /** Restore a saved state for a set of `count` samples; refuses one that cannot belong to it. */
  restore(state: BatchOrderState, count: number): void {
    const { rng, cursor, order } = state;
    if (!Number.isInteger(rng) || rng < 0 || rng > 0xffffffff) throw new FormatError(`batch order: RNG state ${rng} is not a 32-bit unsigned integer`);
    if (!Array.isArray(order) || (order.length !== 0 && order.length !== count)) {
      throw new FormatError(`batch order: a permutation of ${Array.isArray(order) ? order.length : '?'} samples cannot belong to a training set of ${count}`);
    }
    const seen = new Uint8Array(order.length);
    for (const i of order) {
      if (!Number.isInteger(i) || i < 0 || i >= order.length || seen[i]) throw new FormatError(`batch order: the stored order is not a permutation of 0..${order.length - 1}`);
      seen[i] = 1;
    }
    if (!Number.isInteger(cursor) || cursor < 0 || cursor > order.length) throw new FormatError(`batch order: cursor ${cursor} is outside [0, ${order.length}]`);
    this.random.state = rng;
    this.order = [...order];
    this.cursor = cursor;
  }
}
