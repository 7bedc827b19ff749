// Accuracy and mean cross-entropy of a quantized session on a labelled set (top-1 of int32 logits).
import type { Dataset } from '../data/dataset.js';
import type { QuantizedSession } from '../runtime/session.js';
import { loadMicroBatch, quantizeSet, type QuantizedSet } from './batches.js';
import { checkDatasetShape, checkHasMethods, isObject } from '../util/guards.js';

export interface Evaluation {
  /** Top-1 accuracy in percent. */
  accuracy: number;
  /** Mean float cross-entropy of the dequantized logits (for reports only). */
  loss: number;
  count: number;
}

/**
 * `outputs` restricts the decision to those output indices (a model's own head asked about some of
 * its named classes: the argmax over the named outputs, so an unnamed 'silence' or 'unknown' cannot
 * win); the loss stays over every output.
 */
export function evaluate(session: QuantizedSession, data: Dataset | QuantizedSet, outputs?: readonly number[]): Evaluation {
  checkHasMethods(session, ['forward'], 'evaluate: session', 'a QuantizedSession');
  if (!isObject(data) || !('samples' in data)) checkDatasetShape(data, 'evaluate: data');
  const set = 'samples' in data ? data : quantizeSet(session, data);
  const order = Array.from({ length: set.count }, (_, i) => i);
  let correct = 0;
  let lossSum = 0;
  const classes = session.classes;
  const candidates = outputs ?? Array.from({ length: classes }, (_, c) => c);
  if (candidates.length === 0 || candidates.some((c) => !Number.isInteger(c) || c < 0 || c >= classes)) throw new RangeError(`evaluate: outputs must be indices below ${classes}, got [${candidates.join(', ')}]`);
  for (let from = 0; from < set.count; from += session.batch) {
    const rows = Math.min(session.batch, set.count - from);
    loadMicroBatch(session, set, order, from, rows);
    session.forward();
    const logits = session.readLogits();
    for (let r = 0; r < rows; r++) {
      const row = logits.subarray(r * classes, (r + 1) * classes);
      let best = candidates[0]!;
      for (const c of candidates) if (row[c]! > row[best]!) best = c;
      const label = set.labels[from + r]!;
      if (best === label) correct++;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, row[c]! * session.logitsScale);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(row[c]! * session.logitsScale - max);
      lossSum += Math.log(sum) + max - row[label]! * session.logitsScale;
    }
  }
  return { accuracy: (100 * correct) / Math.max(1, set.count), loss: lossSum / Math.max(1, set.count), count: set.count };
}
