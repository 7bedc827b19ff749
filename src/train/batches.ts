// Feeding a session: real-valued samples are quantized once on the host, then copied in micro-batches
// of the session's batch size (the last one padded with the input zero point and ignored).
import { ShapeError } from '../errors.js';
import { sampleSize, validateDataset, type Dataset } from '../data/dataset.js';
import type { QuantizedSession } from '../runtime/session.js';
import type { DeviceBuffer } from '../runtime/arena.js';

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
