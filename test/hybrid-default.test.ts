// The hybrid as adapt()'s default method (issue 18): it checkpoints and resumes bit for bit, a
// checkpoint of one method refuses to resume as the other, head-only training serves the frozen
// features from the prefix cache with the same bits as full forwards, and where the hybrid cannot run
// the default falls back to qzo-ff with a note while an explicit 'hybrid' is a ConfigError — for
// float backbones and for int8 models alike.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { FileCheckpointStore } from '../src/train/checkpoint-store.js';
import { adapt, type AdaptOptions } from '../src/train/adapt.js';
import { adaptQuantized, quantizedMethodChoice } from '../src/train/adapt-int8.js';
import { ADAPT_DEFAULTS } from '../src/train/defaults.js';
import { ConfigError } from '../src/errors.js';
import { architecturePreset } from '../src/model/presets.js';
import { planningModels } from '../src/report/memory.js';
import { resolveGraph } from '../src/model/graph.js';
import type { Dataset } from '../src/data/dataset.js';
import { decodeCheckpoint, encodeCheckpoint, type MethodState } from '../src/train/checkpoint.js';
import { exportHybridState, restoreHybridState } from '../src/train/hybrid-state.js';
import { HybridTrainer } from '../src/train/hybrid.js';
import { planSessions } from '../src/train/prepare-run.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { FormatError } from '../src/errors.js';

const DEVICE = { name: 'test', sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
let backbone: FloatModel;
let episode: Episode;

beforeAll(async () => {
  backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 10, seed: 3 });
});

const weights = (r: { adapted: { params: Record<string, { weights: ArrayBufferView; bias: ArrayBufferView }> } }) =>
  Buffer.concat(Object.values(r.adapted.params).flatMap((p) => [Buffer.from(p.weights.buffer, p.weights.byteOffset, p.weights.byteLength), Buffer.from(p.bias.buffer, p.bias.byteOffset, p.bias.byteLength)]));
const store = () => new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'lastmile-hyck-')));

describe('hybrid is the default', () => {
  it('ADAPT_DEFAULTS.method is hybrid, and adapt() without a method trains the hybrid', async () => {
    expect(ADAPT_DEFAULTS.method).toBe('hybrid');
    const r = await adapt({ backbone, support: episode.support, query: episode.query, device: DEVICE, selection: { kind: 'head' }, steps: 3, baseline: false, build: 'simd' });
    expect(r.method).toBe('hybrid');
    expect(r.methodNote).toBeNull();
    expect(r.config.method).toBe('hybrid');
  });

  it('the default falls back to qzo-ff with a note where the hybrid cannot run; an explicit hybrid there is a ConfigError', async () => {
    const base: AdaptOptions = { backbone, support: episode.support, query: episode.query, device: DEVICE, steps: 2, baseline: false, build: 'simd' };
    const bias = await adapt({ ...base, selection: { kind: 'bias' } });
    expect(bias.method).toBe('qzo-ff');
    expect(bias.methodNote).toMatch(/default method \(hybrid\).*'bias'.*trained with qzo-ff/);
    // The fallback is the plain qzo-ff run, bit for bit.
    const plain = await adapt({ ...base, selection: { kind: 'bias' }, method: 'qzo-ff' });
    expect(weights(bias).equals(weights(plain))).toBe(true);
    expect(plain.methodNote).toBeNull();
    await expect(adapt({ ...base, selection: { kind: 'bias' }, method: 'hybrid' })).rejects.toThrow(ConfigError);
    await expect(adapt({ ...base, selection: { kind: 'sparse', fraction: 0.1, by: 'magnitude', seed: 0 }, method: 'hybrid' })).rejects.toThrow(/method hybrid cannot train this run: a sparse selection/);
  });
});

describe('hybrid checkpoints', () => {
  // Full fine-tuning with mini-batches (the data cursor matters) and momentum in the body (optimizer state).
  const full = (steps: number): AdaptOptions => ({
    backbone, support: episode.support, query: episode.query, device: DEVICE, selection: { kind: 'full' }, method: 'hybrid',
    steps, batchSize: 4, directions: 2, seed: 5, baseline: false, build: 'simd', enhancements: { momentum: { alpha: 0.5, beta: 0.5 } },
  });
  const head = (steps: number): AdaptOptions => ({ ...full(steps), selection: { kind: 'head' }, enhancements: {} });

  for (const [name, options] of [['full fine-tuning', full], ['head only', head]] as const) {
    it(`${name}: stopping after 5 steps and resuming to 12 gives bit-identical weights and losses to 12 uninterrupted steps`, async () => {
      const reference = await adapt(options(12));
      const s = store();
      const part = await adapt({ ...options(5), checkpoint: { store: s, every: 2 } });
      expect(part.checkpoint).toMatchObject({ resumedFrom: null, written: 3, last: 'ckpt-5.lmck' });
      // The interrupted run really differs from the reference at step 5 (the resume has work to do).
      expect(weights(part).equals(weights(reference))).toBe(false);
      const resumed = await adapt({ ...options(12), checkpoint: { store: s, every: 2, resume: true } });
      expect(resumed.checkpoint?.resumedFrom).toBe(5);
      expect(weights(resumed).equals(weights(reference))).toBe(true);
      expect(resumed.losses).toEqual(reference.losses);
      expect(resumed.after).toBe(reference.after);
    });
  }

  it('a checkpoint of one method resumed as the other is a ConfigError naming both; so is another head η', async () => {
    const hy = store();
    await adapt({ ...head(3), checkpoint: { store: hy, every: 2 } });
    await expect(adapt({ ...head(6), method: 'qzo-ff', checkpoint: { store: hy, every: 2, resume: true } })).rejects.toThrow(/written by a hybrid run and this run trains with qzo-ff; resume with method hybrid/);
    await expect(adapt({ ...head(6), headLr: 0.02, checkpoint: { store: hy, every: 2, resume: true } })).rejects.toThrow(/different headLr/);
    const zo = store();
    await adapt({ ...head(3), method: 'qzo-ff', checkpoint: { store: zo, every: 2 } });
    // The default (hybrid) meeting a qzo-ff checkpoint: refused, with the flag that resumes it.
    const { method: _m, ...byDefault } = head(6);
    await expect(adapt({ ...byDefault, checkpoint: { store: zo, every: 2, resume: true } })).rejects.toThrow(/written by a qzo-ff run.*--method qzo-ff/);
    await expect(adapt({ ...head(3), method: 'bp', checkpoint: { store: store(), every: 2 } })).rejects.toThrow(ConfigError);
  });
});

describe("a hybrid trainer's own state in checkpoints", () => {
  // A trainer with state beyond its weights (as first-step statistics would be): a running sum of losses.
  class Stateful extends HybridTrainer {
    sum = new Int32Array(2);
    scale = 0;
    override trainStep(set: Parameters<HybridTrainer['trainStep']>[0]) {
      const r = super.trainStep(set);
      this.sum[0] = this.sum[0]! + Math.round(r.loss * 1000);
      this.sum[1] = this.step;
      this.scale = r.loss;
      return r;
    }
    saveMethodState(): MethodState {
      return { scalars: { scale: this.scale }, tensors: { sum: this.sum.slice() } };
    }
    loadMethodState(s: MethodState | null) {
      if (!s || !(s.tensors.sum instanceof Int32Array) || s.tensors.sum.length !== 2) throw new ConfigError('bad state');
      this.sum = s.tensors.sum.slice();
      this.scale = s.scalars.scale!;
    }
  }

  it('travels through the checkpoint file and back into a fresh trainer; state that is not the trainer\'s own, or none, is refused', async () => {
    const proto = await withPrototypeHead(backbone, episode.support);
    const q16 = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 16, perChannel: false });
    const config = { epsilon: 1e-3, directions: 2, dist: 'gaussian' as const, lr: 3e-3, seed: 4 };
    const trainable = Object.keys(q16.params).slice(-1);
    const make = async <T extends HybridTrainer>(C: new (...a: ConstructorParameters<typeof HybridTrainer>) => T) => {
      const { sessionOptions } = planSessions({ proto, quantized: q16, trainable, microBatch: 5, trainerConfig: config, hybrid: true });
      const session = new QuantizedSession(await Mcu.create({ budget: DEVICE, build: 'simd' }), q16, sessionOptions);
      return new C(session, trainable, config);
    };
    const a = await make(Stateful);
    const set = a.prepareData(episode.support);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) losses.push(a.trainStep(set).loss);
    const bytes = encodeCheckpoint({ run: { method: 'hybrid' }, trainer: exportHybridState(a), losses: Float64Array.from(losses) });
    const back = decodeCheckpoint(bytes);
    expect(back.trainer.method?.scalars.scale).toBe(a.scale);
    expect(Array.from(back.trainer.method!.tensors.sum!)).toEqual(Array.from(a.sum));
    const b = await make(Stateful);
    restoreHybridState(b, back.trainer, set.count);
    expect(b.step).toBe(3);
    expect(Array.from(b.sum)).toEqual(Array.from(a.sum));
    expect(b.trainStep(set).loss).toBe(a.trainStep(set).loss);
    expect(Array.from(b.sum)).toEqual(Array.from(a.sum));
    // The real trainer keeps its first-step η and feature mean: it refuses state that is not its own, and a
    // checkpoint without any (an older writer's).
    await expect(make(HybridTrainer).then((plain) => restoreHybridState(plain, back.trainer, set.count))).rejects.toThrow(FormatError);
    const { method: _own, ...older } = back.trainer;
    await expect(make(HybridTrainer).then((plain) => restoreHybridState(plain, older, set.count))).rejects.toThrow(/lacks the hybrid head's first-step state/);
    // A forged scalar is a FormatError when the file is read.
    const forged = encodeCheckpoint({ run: {}, trainer: { ...exportHybridState(a), method: { scalars: { scale: Number.NaN }, tensors: {} } }, losses: Float64Array.from([...losses, 0]) });
    expect(() => decodeCheckpoint(forged)).toThrow(FormatError);
  });
});

describe('head-only hybrid and the frozen-prefix cache', () => {
  it('serves the frozen features from the cache (kept across steps) with the same bits as full forwards', async () => {
    const o: AdaptOptions = { backbone, support: episode.support, query: episode.query, device: DEVICE, selection: { kind: 'head' }, method: 'hybrid', steps: 8, seed: 2, baseline: false, build: 'simd' };
    const cached = await adapt(o);
    const uncached = await adapt({ ...o, reusePrefix: false });
    expect(cached.prefixCache).toMatchObject({ across: 'set', samples: episode.support.labels.length });
    // 10 samples in micro-batches of 5: two prefix passes in all, every later micro-batch from the cache.
    expect(cached.prefixCache!.prefixRuns).toBe(2);
    expect(cached.prefixCache!.reused).toBe(8 * 2 - 2);
    expect(uncached.prefixCache).toBeUndefined();
    expect(weights(cached).equals(weights(uncached))).toBe(true);
    expect(cached.losses).toEqual(uncached.losses);
    // The cache is in the plan and the device measured what was planned.
    expect(cached.memory.ff.sramPeak).toBe(uncached.memory.ff.sramPeak + cached.prefixCache!.bytes);
    expect(cached.sramPeak).toBe(cached.memory.ff.sramPeak);
  });

  it('last:2 (head + one body layer): the body trainer uses the cache; same bits as without', async () => {
    const o: AdaptOptions = { backbone, support: episode.support, query: episode.query, device: DEVICE, selection: { kind: 'last', layers: 2 }, method: 'hybrid', steps: 4, seed: 2, baseline: false, build: 'simd' };
    const cached = await adapt(o);
    const uncached = await adapt({ ...o, reusePrefix: false });
    expect(cached.prefixCache?.reused).toBeGreaterThan(0);
    expect(weights(cached).equals(weights(uncached))).toBe(true);
    expect(cached.losses).toEqual(uncached.losses);
  });
});

describe('the int8 path', () => {
  const NAMES = ['down', 'go', 'left', 'no', 'off', 'on', 'right', 'stop', 'up', 'yes', 'silence', 'unknown'];
  function data(n: number): Dataset {
    let s = 11;
    const images = Float32Array.from({ length: n * 490 }, () => ((s = (Math.imul(s, 1664525) + 1013904223) | 0) >> 8) / 2 ** 23);
    return { name: 'synthetic', shape: [49, 10, 1], images, labels: Int32Array.from({ length: n }, (_, i) => i % 3), classes: 3, classNames: ['up', 'go', 'stop'] };
  }
  function model(perChannelHead: boolean): QuantizedModel {
    const base = planningModels(architecturePreset('ds-cnn'), 8).quantized;
    const graph = resolveGraph(base.architecture);
    const head = graph.nodes[graph.nodes.length - 1]!.node.name;
    const p = base.params[head]!;
    const params = perChannelHead ? { ...base.params, [head]: { ...p, weightScales: Array.from({ length: p.bias.length }, () => p.weightScales[0]!) } } : base.params;
    return { ...base, params, meta: { ...base.meta, classNames: NAMES } };
  }
  const device = { name: 'nrf52840', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };

  it('a per-tensor dense head trains with the hybrid by default (kept or replaced), measured SRAM = plan', async () => {
    const d = data(6);
    expect(quantizedMethodChoice({ model: model(false), support: d, query: d, head: 'keep', selection: { kind: 'head' } })).toEqual({ method: 'hybrid', note: null });
    const r = await adaptQuantized({ model: model(false), support: d, query: d, device, selection: { kind: 'head' }, steps: 3, head: 'keep' });
    expect(r.method).toBe('hybrid');
    expect(r.config.method).toBe('hybrid');
    expect(r.sramPeak).toBe(r.memory.ff.sramPeak);
    expect(r.losses).toHaveLength(3);
  });

  it('a per-channel head: the default falls back to qzo-ff with a note, an explicit hybrid is a ConfigError; a new (prototype) head is per-tensor', async () => {
    const d = data(6);
    const pc = model(true);
    const choice = quantizedMethodChoice({ model: pc, support: d, query: d, head: 'keep', selection: { kind: 'head' } });
    expect(choice.method).toBe('qzo-ff');
    expect(choice.note).toMatch(/per-tensor/);
    const r = await adaptQuantized({ model: pc, support: d, query: d, device, selection: { kind: 'head' }, steps: 1, head: 'keep' });
    expect(r.method).toBe('qzo-ff');
    expect(r.methodNote).toMatch(/one weight scale/);
    await expect(adaptQuantized({ model: pc, support: d, query: d, device, selection: { kind: 'head' }, steps: 1, head: 'keep', method: 'hybrid' })).rejects.toThrow(ConfigError);
    // Replacing the head gives a per-tensor prototype head, which the hybrid trains.
    const replaced = await adaptQuantized({ model: pc, support: d, query: d, device, selection: { kind: 'head' }, steps: 1, head: 'replace', method: 'hybrid' });
    expect(replaced.method).toBe('hybrid');
  });
});
