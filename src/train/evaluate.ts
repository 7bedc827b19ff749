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

export function evaluate(session: QuantizedSession, data: Dataset | QuantizedSet): Evaluation {
  checkHasMethods(session, ['forward'], 'evaluate: session', 'a QuantizedSession');
  if (!isObject(data) || !('samples' in data)) checkDatasetShape(data, 'evaluate: data');
  const set = 'samples' in data ? data : quantizeSet(session, data);
  const order = Array.from({ length: set.count }, (_, i) => i);
  let correct = 0;
  let lossSum = 0;
  const classes = session.classes;
  for (let from = 0; from < set.count; from += session.batch) {
    const rows = Math.min(session.batch, set.count - from);
    loadMicroBatch(session, set, order, from, rows);
    session.forward();
    const logits = session.readLogits();
    for (let r = 0; r < rows; r++) {
      const row = logits.subarray(r * classes, (r + 1) * classes);
      let best = 0;
      for (let c = 1; c < classes; c++) if (row[c]! > row[best]!) best = c;
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
