// The hybrid's tail beyond the small CNN: where the pattern is found (ResNet-8 through its residual
// add, the MLP's last hidden dense layer, DS-CNN's full-window average pool) and where it is not; the
// default falls back to the head alone there while an explicit bpLayers 2 is a ConfigError; ResNet-8
// and the MLP train with it inside the plan the device measures.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModel, initFloatModel, type FloatModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { architecturePreset } from '../src/model/presets.js';
import { resolveGraph, type Architecture } from '../src/model/graph.js';
import { resolveBpLayers, planRun, startSession } from '../src/train/prepare-run.js';
import { trainableLayers, type TrainSelection } from '../src/train/selection.js';
import { tailShape, tailKeptTensors, findTail } from '../src/train/hybrid-tail.js';
import { adapt, type AdaptOptions } from '../src/train/adapt.js';
import { loadMicroBatch, quantizeSet } from '../src/train/batches.js';
import { ConfigError } from '../src/errors.js';
import { adaptQuantized } from '../src/train/adapt-int8.js';
import { planningModels } from '../src/report/memory.js';
import { HybridTrainer } from '../src/train/hybrid.js';

const DEVICE = { name: 'test', sramBytes: 1024 * 1024, flashBytes: 2 * 1024 * 1024 };
let episode: Episode;
beforeAll(async () => {
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 20, seed: 21 });
});

const trained = (a: Architecture, s: TrainSelection) => trainableLayers(resolveGraph(a), s);
const FULL: TrainSelection = { kind: 'full' };

describe('where the tail is', () => {
  it('ResNet-8: s3b through the add s3add; MLP: fc2 (dense); DS-CNN: pw4 through its full-window average pool; all resolve to 2', () => {
    const expectations: [string, { name: string; input: string; gate: string; positions: number }][] = [
      ['resnet8', { name: 's3b', input: 's3a', gate: 's3add', positions: 64 }],
      ['mlp', { name: 'fc2', input: 'fc1', gate: 'fc2', positions: 1 }],
      ['ds-cnn', { name: 'pw4', input: 'dw4', gate: 'pw4', positions: 125 }],
      ['mnist-cnn', { name: 'conv3', input: 'pool2', gate: 'conv3', positions: 49 }],
    ];
    for (const [preset, want] of expectations) {
      const a = architecturePreset(preset);
      expect(tailShape(a), preset).toMatchObject(want);
      expect(resolveBpLayers(a, trained(a, FULL)), preset).toBe(2);
      expect(resolveBpLayers(a, trained(a, FULL), 2), preset).toBe(2);
      expect(resolveBpLayers(a, trained(a, FULL), 1), preset).toBe(1);
    }
    // The ResNet-8's add carries the ReLU: the gate is the add's output, the tail conv has none of its own.
    const r = tailShape(architecturePreset('resnet8'));
    expect(typeof r !== 'string' && r.gateActivation).toBe('relu');
    // The MLP's dense tail is a 1×1 convolution on a 1×1 map.
    expect(tailShape(architecturePreset('mlp'))).toMatchObject({ geometry: { inChannels: 128, outChannels: 64, outHeight: 1, outWidth: 1, kernelHeight: 1 } });
  });

  it('no pattern, or a frozen tail: the default is 1, an explicit 2 is a ConfigError that names why and the flag', () => {
    // DS-CNN with an average pool that is not global (5×5 windows over 25×5): the head sees 5 positions.
    const ds = architecturePreset('ds-cnn');
    const notGlobal: Architecture = { ...ds, nodes: ds.nodes.map((n) => (n.kind === 'avgpool' ? { ...n, pool: [5, 5] as [number, number], stride: [5, 5] as [number, number] } : n)) };
    expect(tailShape(notGlobal)).toMatch(/not global/);
    // A max pool before the head: the gradient of a max is not the kernel's mean.
    const cnn = architecturePreset('mnist-cnn');
    const maxHead: Architecture = { ...cnn, nodes: cnn.nodes.filter((n) => n.name !== 'gap').map((n) => (n.name === 'conv3' ? { ...n, padding: 'valid' as const } : n)).flatMap((n) => (n.name === 'logits' ? [{ kind: 'maxpool', name: 'pool3', pool: [5, 5], stride: [5, 5], padding: 'valid' } as const, n] : [n])) };
    expect(tailShape(maxHead)).toMatch(/maxpool/);
    for (const a of [notGlobal, maxHead]) {
      expect(resolveBpLayers(a, trained(a, FULL))).toBe(1);
      expect(() => resolveBpLayers(a, trained(a, FULL), 2)).toThrow(ConfigError);
      expect(() => resolveBpLayers(a, trained(a, FULL), 2)).toThrow(/--bp-layers 2 cannot apply: .*; use --bp-layers 1/);
    }
    // The selection freezes the tail.
    for (const s of [{ kind: 'head' }, { kind: 'last', layers: 1 }] as TrainSelection[]) {
      expect(resolveBpLayers(cnn, trained(cnn, s))).toBe(1);
      expect(() => resolveBpLayers(cnn, trained(cnn, s), 2)).toThrow(/selection leaves 'conv3' frozen/);
    }
    expect(resolveBpLayers(cnn, trained(cnn, { kind: 'last', layers: 2 }))).toBe(2);
    // Only 1 and 2 exist.
    for (const bad of [0, 3, 1.5, Number.NaN]) expect(() => resolveBpLayers(cnn, trained(cnn, FULL), bad as 1)).toThrow(ConfigError);
  });
});

describe('adapt() with the tail on other models', () => {
  const base = (backbone: FloatModel): AdaptOptions => ({
    backbone, support: episode.support, query: episode.query, device: DEVICE, selection: FULL, baseline: false, build: 'simd', seed: 3, directions: 2,
  });

  it('the small CNN: an explicit bpLayers 2 with the head frozen is refused before work; the default trains the head alone there', async () => {
    const cnn = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
    await expect(adapt({ ...base(cnn), selection: { kind: 'head' }, bpLayers: 2, steps: 1 })).rejects.toThrow(/--bp-layers 2 cannot apply: the selection leaves 'conv3' frozen/);
    const head = await adapt({ ...base(cnn), selection: { kind: 'head' }, steps: 1 });
    expect(head.backpropLayers).toEqual(['logits']);
    const one = await adapt({ ...base(cnn), bpLayers: 1, steps: 1 });
    expect(one.backpropLayers).toEqual(['logits']);
    expect(one.memory.ff.sramPeak).toBeLessThan((await adapt({ ...base(cnn), steps: 1 })).memory.ff.sramPeak);
  });

  it('a tail η whose step factor the 15-bit multiplier cannot hold is a ConfigError before the first step, not inside it', async () => {
    const cnn = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
    for (const [tailLr, why] of [[1e12, /lower the learning rate/], [1e-30, /raise the learning rate/]] as const) {
      let steps = 0;
      await expect(adapt({ ...base(cnn), tailLr, steps: 2, onStep: () => steps++ })).rejects.toThrow(why);
      expect(steps).toBe(0);
    }
    const plan = await planRun({ backbone: cnn, support: episode.support, precision: '16w8a', selection: FULL, microBatch: 5, trainer: { epsilon: 1e-3, directions: 2, dist: 'gaussian', lr: 3e-3, seed: 1 }, method: 'hybrid' });
    const session = await startSession(plan, DEVICE, { build: 'simd' });
    const weights = (l: string) => Buffer.from(session.mcu.device.bytes.slice(session.weights.get(l)!.offset, session.weights.get(l)!.offset + session.weights.get(l)!.bytes));
    const before = plan.trainable.map(weights);
    expect(() => new HybridTrainer(session, plan.trainable, { ...plan.trainerConfig, tailLr: 1e12 })).toThrow(ConfigError);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new HybridTrainer(session, plan.trainable, { ...plan.trainerConfig, tailLr: bad })).toThrow(/tail learning rate/);
    // A session planned with the tail, and a selection without it.
    expect(() => new HybridTrainer(session, plan.trainable.filter((l) => l !== 'conv3'), plan.trainerConfig)).toThrow(/tail 'conv3' must be trained/);
    plan.trainable.forEach((l, i) => expect(weights(l).equals(before[i]!)).toBe(true));
  });

  it('ResNet-8: s3b and the head learn by backprop; plan = measured; the tail input and gate survive the forward; a short run beats zero-shot; same bits in every build', async () => {
    const resnet = loadModel(readFileSync('models/resnet8-mnist-digits04.lmdl')) as FloatModel;
    const plan = await planRun({ backbone: resnet, support: episode.support, precision: '16w8a', selection: FULL, microBatch: 5, trainer: { epsilon: 1e-3, directions: 2, dist: 'gaussian', lr: 3e-3, seed: 1 }, method: 'hybrid' });
    expect(plan.bpLayers).toBe(2);
    const t = findTail(plan.quantized);
    expect(t).toMatchObject({ name: 's3b', input: 's3a', gate: 's3add' });
    expect(plan.sessionOptions.keepTensors).toEqual(tailKeptTensors(t as Exclude<typeof t, string>));
    const session = await startSession(plan, DEVICE, { build: 'simd' });
    const set = quantizeSet(session, episode.support);
    const snap = (name: string) => {
      const b = session.tensorBuffer(name);
      return Buffer.from(session.mcu.device.bytes.slice(b.offset, b.offset + b.bytes));
    };
    const upTo = (name: string) => session.lowered.ops.findIndex((op) => op.output === name) + 1;
    const seen = ['s3a', 's3add'].map((name) => {
      loadMicroBatch(session, set, [0, 1, 2, 3, 4], 0, 5);
      session.forward(undefined, undefined, 0, upTo(name));
      return snap(name);
    });
    loadMicroBatch(session, set, [0, 1, 2, 3, 4], 0, 5);
    session.forward();
    expect(snap('s3a').equals(seen[0]!)).toBe(true);
    expect(snap('s3add').equals(seen[1]!)).toBe(true);

    const r = await adapt({ ...base(resnet), steps: 12 });
    expect(r.method).toBe('hybrid');
    expect(r.backpropLayers).toEqual(['s3b', 'logits']);
    expect(r.sramPeak).toBe(r.memory.ff.sramPeak);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.after, `zero-shot ${r.zeroShot}%`).toBeGreaterThan(r.zeroShot);
    // Every build trains the residual tail to the same bits.
    const bits = async (build: 'scalar' | 'simd' | 'relaxed') => {
      const x = await adapt({ ...base(resnet), steps: 3, build });
      return Buffer.concat(Object.values(x.adapted.params).flatMap((p) => [Buffer.from(p.weights.buffer, p.weights.byteOffset, p.weights.byteLength), Buffer.from(p.bias.buffer, p.bias.byteOffset, p.bias.byteLength)]));
    };
    const simd = await bits('simd');
    expect((await bits('scalar')).equals(simd)).toBe(true);
    expect((await bits('relaxed')).equals(simd)).toBe(true);
  });

  it("8w8a: the tail's 8-bit weights learn (last:2, no QZO-FF body), plan = measured, above zero-shot", async () => {
    const cnn = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
    const r = await adapt({ ...base(cnn), precision: '8w8a', selection: { kind: 'last', layers: 2 }, steps: 10 });
    expect(r.backpropLayers).toEqual(['conv3', 'logits']);
    expect(r.adapted.params.conv3!.weights).toBeInstanceOf(Int8Array);
    expect(r.sramPeak).toBe(r.memory.ff.sramPeak);
    expect(r.after, `zero-shot ${r.zeroShot}%`).toBeGreaterThan(r.zeroShot);
  });

  it('the MLP preset (random init): fc2 and the head learn by backprop; plan = measured; the loss falls', async () => {
    const mlp = initFloatModel(architecturePreset('mlp'), 7);
    const r = await adapt({ ...base(mlp), steps: 20 });
    expect(r.method).toBe('hybrid');
    expect(r.backpropLayers).toEqual(['fc2', 'logits']);
    expect(r.sramPeak).toBe(r.memory.ff.sramPeak);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(r.losses.slice(-4))).toBeLessThan(mean(r.losses.slice(0, 4)));
    expect(r.after).toBeGreaterThanOrEqual(r.zeroShot);
  });

  it('an int8 model (DS-CNN, the adaptQuantized path): the default plans and trains the tail (pw4), plan = measured; bpLayers 1 has another plan and other losses; bpLayers 2 with the head alone is refused', async () => {
    let seed = 11;
    const images = Float32Array.from({ length: 6 * 490 }, () => ((seed = (Math.imul(seed, 1664525) + 1013904223) | 0) >> 8) / 2 ** 23);
    const d = { name: 'synthetic', shape: [49, 10, 1], images, labels: Int32Array.from({ length: 6 }, (_, i) => i % 3), classes: 3, classNames: ['up', 'go', 'stop'] };
    const base8 = planningModels(architecturePreset('ds-cnn'), 8).quantized;
    const model = { ...base8, meta: { ...base8.meta, classNames: ['down', 'go', 'left', 'no', 'off', 'on', 'right', 'stop', 'up', 'yes', 'silence', 'unknown'] } };
    const o = { model, support: d, query: d, device: { name: 'nrf52840', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 }, selection: FULL, steps: 3, head: 'keep' as const };
    const two = await adaptQuantized(o);
    const one = await adaptQuantized({ ...o, bpLayers: 1 });
    expect(two.method).toBe('hybrid');
    expect(two.sramPeak).toBe(two.memory.ff.sramPeak);
    expect(one.sramPeak).toBe(one.memory.ff.sramPeak);
    expect(two.losses).not.toEqual(one.losses);
    expect(two.memory.ff.sramPeak).not.toBe(one.memory.ff.sramPeak);
    await expect(adaptQuantized({ ...o, selection: { kind: 'head' }, bpLayers: 2 })).rejects.toThrow(/selection leaves 'pw4' frozen/);
  });
});
