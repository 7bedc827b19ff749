// A kept head asked about some of its named classes decides by the argmax over those outputs only
// (issue 17: zero-shot is "the imported model as it is, its argmax over the named classes"), and
// the before/after accuracies of `adapt` use that same rule.
import { describe, expect, it } from 'vitest';
import { architecturePreset } from '../src/model/presets.js';
import { planningModels } from '../src/report/memory.js';
import type { QuantizedModel } from '../src/model/model.js';
import type { Dataset } from '../src/data/dataset.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { Mcu } from '../src/device/mcu.js';
import { resolveDevice } from '../src/device/presets.js';
import { evaluate } from '../src/train/evaluate.js';
import { adaptQuantized, namedOutputs } from '../src/train/adapt-int8.js';

const NAMES = ['down', 'go', 'left', 'no', 'off', 'on', 'right', 'stop', 'up', 'yes', 'silence', 'unknown'];
const ASKED = ['up', 'go', 'stop']; // data class order differs from the model's output order

function inputs(n: number, size: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    return (s >> 8) / 2 ** 23;
  });
}

describe('kept head over named classes', () => {
  it('zero-shot and after are the argmax over the named outputs, not the full head', async () => {
    const base = planningModels(architecturePreset('ds-cnn'), 8).quantized;
    const model: QuantizedModel = { ...base, meta: { ...base.meta, classNames: NAMES } };
    const n = 24;
    const size = 49 * 10;
    const images = inputs(n, size, 7);
    // The model's own int32 logits, decided two ways: over the asked outputs and over all twelve.
    const plan = QuantizedSession.plan(model, { batch: 1 });
    const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(plan.sramBytes / 16) * 16 + 16, flashBytes: Math.ceil(plan.flashBytes / 16) * 16 + 16 } });
    const session = new QuantizedSession(mcu, model, { batch: 1 });
    const asked = ASKED.map((w) => NAMES.indexOf(w));
    const labels = new Int32Array(n);
    let fullAgrees = 0;
    for (let i = 0; i < n; i++) {
      session.setInput(session.quantizeInput(images.subarray(i * size, (i + 1) * size)));
      session.forward();
      const row = session.readLogits();
      let best = 0;
      for (let k = 0; k < ASKED.length; k++) if (row[asked[k]!]! > row[asked[best]!]!) best = k;
      let full = 0;
      for (let c = 1; c < NAMES.length; c++) if (row[c]! > row[full]!) full = c;
      labels[i] = best; // the data's class index (ASKED order)
      if (full === asked[best]) fullAgrees++;
    }
    // The rule must matter on this data: the full head often picks an output that was not asked.
    expect(fullAgrees).toBeLessThan(n / 2);
    const data: Dataset = { name: 'named', shape: [49, 10, 1], images, labels, classes: ASKED.length, classNames: ASKED };
    expect(namedOutputs(data, NAMES)).toEqual(asked);
    expect(namedOutputs({ ...data, classNames: ['up', 'elephant', 'go'] }, NAMES)).toBeUndefined();
    const r = await adaptQuantized({ model, support: data, query: data, device: resolveDevice('nrf52840'), precision: '16w8a', selection: { kind: 'last', layers: 1 }, steps: 0, head: 'keep' });
    expect(r.head).toBe('kept');
    expect(r.zeroShot).toBe(100);
    // No training: after (16-bit lift, same real weights) and after int8 decide by the same rule.
    expect(r.after).toBe(100);
    expect(r.afterInt8).toBe(100);
    // The unrestricted 12-way decision on the same data reads lower: what the old report showed.
    const relabelled = { ...data, labels: Int32Array.from(labels, (l) => asked[l]!), classes: NAMES.length, classNames: NAMES };
    expect(evaluate(session, relabelled).accuracy).toBeCloseTo((100 * fullAgrees) / n, 6);
    expect(evaluate(session, relabelled, asked).accuracy).toBe(100);
    expect(() => evaluate(session, relabelled, [12])).toThrow(RangeError);
  });
});
