// The keyword-spotting front end inside the memory plan: its clip and scratch buffers are planned
// with the session (live while the input is staged), the MFCC runs in them on the device and
// writes each sample's features into its input row, and the SRAM it touches stays inside the plan.
import { describe, expect, it } from 'vitest';
import { architecturePreset } from '../src/model/presets.js';
import { planningModels } from '../src/report/memory.js';
import { memoryReport } from '../src/report/memory.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { frontEndRequests, frontEndSramBytes, runFrontEnd } from '../src/runtime/front-end.js';
import { Mcu } from '../src/device/mcu.js';
import { resolveDevice } from '../src/device/presets.js';
import { createMfccFrontEnd, KWS_FEATURES, KWS_SAMPLES, mfccFootprint } from '../src/kernels/mfcc.js';
import { adaptQuantized } from '../src/train/adapt-int8.js';
import { qzoFfSramBuffers } from '../src/train/qzo-ff.js';
import type { Dataset } from '../src/data/dataset.js';
import { ShapeError } from '../src/errors.js';
import { frontEndEstimate } from '../src/cli/cost-estimates.js';

const CANARY = 0xa5;

function clipOf(seed: number): Int16Array {
  let s = seed;
  const f = 200 + 150 * seed;
  return Int16Array.from({ length: KWS_SAMPLES }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    const env = Math.exp(-(((i - 8000) / 3000) ** 2));
    return Math.round(env * (9000 * Math.sin((2 * Math.PI * f * i) / 16000) + 3000 * Math.sin((2 * Math.PI * 3 * f * i) / 16000)) + (s >> 26));
  });
}

describe('front end in the memory plan', () => {
  const model = planningModels(architecturePreset('ds-cnn'), 16).quantized;
  const trainable = ['logits'];
  const config = { epsilon: 1e-3, directions: 3, dist: 'gaussian' as const, lr: 1e-3, seed: 1 };

  it('plans clip and scratch at op 0, and runs the MFCC inside the plan on the device', async () => {
    for (const batch of [1, 4]) {
      const base = { batch, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(batch, { model, trainable, config }) };
      const without = QuantizedSession.plan(model, base);
      const plan = QuantizedSession.plan(model, { ...base, frontEnd: { kind: 'kws-mfcc' } });
      const fe = plan.sram.buffers.filter((b) => b.name.startsWith('frontend:'));
      expect(fe.map((b) => [b.name, b.bytes, b.firstUse, b.lastUse])).toEqual([['frontend:clip', KWS_SAMPLES * 2, 0, 0], ['frontend:scratch', mfccFootprint().sramBytes - KWS_SAMPLES * 2 - KWS_FEATURES, 0, 0]]);
      expect(plan.sramBytes).toBeGreaterThanOrEqual(without.sramBytes);
      // The planner reaches the lower bound: no byte is wasted on the front end.
      expect(plan.sram.peakBytes).toBe(plan.sram.lowerBoundBytes);
      if (batch === 1) expect(plan.sramBytes).toBeGreaterThan(without.sramBytes); // the clip is the largest thing live

      const mcu = await Mcu.create({ budget: { sramBytes: plan.sramBytes, flashBytes: plan.flashBytes } });
      const mem = mcu.device.bytes;
      mem.fill(CANARY, mcu.sram.base, mcu.sram.base + plan.sramBytes);
      const session = new QuantizedSession(mcu, model, { ...base, frontEnd: { kind: 'kws-mfcc' } });
      expect(mcu.sram.highWater).toBe(plan.sramBytes);
      const q = model.activations[model.architecture.nodes[0]!.name]!;
      const host = await createMfccFrontEnd({ scale: q.scale, zeroPoint: q.zeroPoint });
      const clips = Array.from({ length: batch }, (_, i) => clipOf(i + 1));
      clips.forEach((c, row) => runFrontEnd(session, row, c));
      const features = new Int8Array(mem.buffer, session.input.offset, batch * KWS_FEATURES).slice();
      clips.forEach((c, row) => expect(Array.from(features.subarray(row * KWS_FEATURES, (row + 1) * KWS_FEATURES))).toEqual(Array.from(host.features(c))));
      session.forward();
      const viaFrontEnd = session.readLogits();
      // The same features staged by the host give the same logits.
      session.setInput(features);
      session.forward();
      expect(Array.from(session.readLogits())).toEqual(Array.from(viaFrontEnd));
      // Measured: the highest SRAM byte written lies inside the plan; the front end's buffers were written.
      let top = 0;
      for (let i = plan.sramBytes - 1; i >= 0; i--) if (mem[mcu.sram.base + i] !== CANARY) { top = i + 1; break; }
      expect(top).toBeLessThanOrEqual(plan.sramBytes);
      expect(top).toBeGreaterThan(plan.sramBytes - 16 * 64);
      for (const b of fe) expect(mem.subarray(mcu.sram.base + b.offset, mcu.sram.base + b.offset + b.bytes).some((v) => v !== CANARY)).toBe(true);
      expect(() => runFrontEnd(session, batch, clips[0]!)).toThrow(ShapeError);
      expect(() => runFrontEnd(session, 0, new Int16Array(100))).toThrow(ShapeError);
    }
  });

  it('a model of another input shape is refused by name; adapt and memory report the planned front end', async () => {
    const mnist = planningModels(architecturePreset('mnist-cnn'), 16).quantized;
    expect(() => frontEndRequests({ kind: 'kws-mfcc' }, mnist)).toThrow(/49 × 10/);
    const device = resolveDevice('nrf52840');
    const report = memoryReport(architecturePreset('ds-cnn'), { device, batch: 1, selection: { kind: 'head' }, frontEnd: { kind: 'kws-mfcc' } });
    expect(report.modes.ff!.sramByCategory.frontend).toBe(KWS_SAMPLES * 2 + 2880);
    const named: Dataset = { name: 'clips', shape: [49, 10, 1], images: new Float32Array(6 * KWS_FEATURES).map((_, i) => ((i * 37) % 101) / 101 - 0.5), labels: Int32Array.from([0, 1, 2, 0, 1, 2]), classes: 3 };
    const plain = await adaptQuantized({ model, support: named, query: named, device, precision: '16w8a', selection: { kind: 'head' }, steps: 0, head: 'replace', microBatch: 1 });
    const r = await adaptQuantized({ model, support: named, query: named, device, precision: '16w8a', selection: { kind: 'head' }, steps: 0, head: 'replace', microBatch: 1, frontEnd: { kind: 'kws-mfcc' } });
    expect(r.memory.ff.sramPeak).toBeGreaterThan(plain.memory.ff.sramPeak);
    // The arena the run used is the plan, front end included.
    expect(r.sramPeak).toBe(r.memory.ff.sramPeak);
    const est = frontEndEstimate({ kind: 'kws-mfcc' }, device);
    expect(est.json.sramBytes).toBe(frontEndSramBytes({ kind: 'kws-mfcc' }));
    expect('msPerClip' in est.json.mcu && est.json.mcu.msPerClip).toBeGreaterThan(50);
    expect(est.line).toMatch(/ms per 1 s clip on nrf52840/);
  });
});
