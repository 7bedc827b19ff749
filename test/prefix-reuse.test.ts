// Frozen-prefix reuse (src/train/qzo-ff/prefix.ts): with the cache planned, QZO-FF runs the layers
// before the first trained one once per sample instead of in all 2m passes, and trains bit for bit
// the same weights; the cache is an ordinary planned buffer, so the plan equals the measured arena.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { Profiler } from '../src/device/profiler.js';
import { prepareRun } from '../src/train/prepare-run.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { PREFIX_CACHE, planPrefixBoundary } from '../src/train/qzo-ff/prefix.js';
import type { TrainSelection } from '../src/train/selection.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';

const CONFIG: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 7 };
const ROOMY = { sramBytes: 4 * 1024 * 1024, flashBytes: 4 * 1024 * 1024 };
let episode: Episode;
const backbone = (file: string) => loadModel(new Uint8Array(readFileSync(`models/${file}`)), file) as FloatModel;

beforeAll(async () => {
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 5, seed: 3 });
});

const weights = (q: QuantizedModel, layers: readonly string[]) => layers.map((l) => Array.from(q.params[l]!.weights).join(',') + '|' + Array.from(q.params[l]!.bias).join(','));

/** Train `steps` steps with and without the cache; the weights, the profile and the arena of each. */
async function both(file: string, selection: TrainSelection, steps: number, config: Partial<QzoFfConfig> = {}) {
  const out = [];
  for (const reuse of [false, true]) {
    const { run, session } = await prepareRun({
      backbone: backbone(file), support: episode.support, precision: '16w8a', selection, microBatch: 5, trainer: { ...CONFIG, ...config }, device: ROOMY,
      ...(reuse ? { prefixCache: { sramBytes: ROOMY.sramBytes } } : {}),
    });
    const trainer = new QzoFfTrainer(session, run.trainable, run.trainerConfig);
    const set = trainer.prepareData(episode.support);
    const profiler = new Profiler();
    session.profiler = profiler;
    for (let s = 0; s < steps; s++) trainer.trainStep(set);
    session.profiler = undefined;
    const calls = new Map(profiler.byLayer().map((r) => [r.name, r.calls]));
    out.push({ run, session, trainer, calls, weights: weights(session.exportModel(), run.trainable), highWater: session.mcu.sram.highWater });
  }
  return { plain: out[0]!, reused: out[1]! };
}

describe('frozen-prefix reuse', () => {
  it('head-only: same weights, the prefix runs once per sample, plan == measured', async () => {
    const steps = 4;
    const { plain, reused } = await both('mnist-cnn-digits04.lmdl', { kind: 'head' }, steps);
    expect(reused.weights).toEqual(plain.weights);
    expect(reused.weights).not.toEqual(weights(reused.run.quantized, reused.run.trainable)); // training moved them
    const info = reused.trainer.prefix!.info;
    expect(info.firstOp).toBeGreaterThan(0);
    expect(reused.run.prefixCache).toEqual({ samples: 25, bytes: 25 * info.bytesPerSample, across: 'set' });
    // 25 samples in micro-batches of 5: the prefix runs 5 times in all, not 5 × 2m × steps.
    const firstLayer = reused.session.lowered.ops[0]!.node.node.name;
    const head = reused.session.lowered.ops.at(-1)!.node.node.name;
    expect(plain.calls.get(firstLayer)).toBe(5 * 6 * steps);
    expect(reused.calls.get(firstLayer)).toBe(5);
    expect(reused.calls.get(head)).toBe(plain.calls.get(head));
    expect(reused.trainer.prefix!.stats).toEqual({ prefixRuns: 5, reused: 5 * 6 * steps - 5 });
    // The cache is a planned buffer: the plan grows by it and the arena's high-water mark is the plan.
    expect(reused.run.plans.ff.sram.buffers.find((b) => b.name === `extra:${PREFIX_CACHE}`)?.bytes).toBe(25 * info.bytesPerSample);
    expect(reused.highWater).toBe(reused.run.plans.ff.sramBytes);
    expect(plain.highWater).toBe(plain.run.plans.ff.sramBytes);
    expect(reused.run.plans.ff.sramBytes).toBeGreaterThan(plain.run.plans.ff.sramBytes);
  });

  it('ResNet-8 last:2 (two tensors cross the boundary, one of them a skip): same weights', async () => {
    const file = 'resnet8-mnist-digits04.lmdl';
    const { plain, reused } = await both(file, { kind: 'last', layers: 2 }, 2);
    expect(reused.trainer.prefix!.info.tensors.length).toBe(2);
    expect(reused.weights).toEqual(plain.weights);
    expect(reused.highWater).toBe(reused.run.plans.ff.sramBytes);
  });

  it('mini-batches: a cache of one step\'s samples is refilled every step; same weights', async () => {
    const file = 'mnist-cnn-digits04.lmdl';
    const float = backbone(file);
    const results = [];
    for (const samples of [undefined, 10]) {
      const { run } = await prepareRun({ backbone: float, support: episode.support, precision: '16w8a', selection: { kind: 'last', layers: 2 }, microBatch: 5, trainer: { ...CONFIG, batchSize: 10 }, device: ROOMY });
      const extraSram = qzoFfSramBuffers(5, { model: run.quantized, trainable: run.trainable, config: run.trainerConfig, ...(samples ? { prefixSamples: samples } : {}) });
      const mcu = await Mcu.create({ budget: ROOMY });
      const session = new QuantizedSession(mcu, run.quantized, { batch: 5, trainable: new Set(run.trainable), extraSram });
      const trainer = new QzoFfTrainer(session, run.trainable, run.trainerConfig);
      const set = trainer.prepareData(episode.support);
      for (let s = 0; s < 5; s++) trainer.trainStep(set);
      results.push({ weights: weights(session.exportModel(), run.trainable), stats: trainer.prefix?.stats });
    }
    expect(results[1]!.weights).toEqual(results[0]!.weights);
    // 10 of 25 samples per step, 2 micro-batches: the prefix runs twice per step (not 2 × 6).
    expect(results[1]!.stats).toEqual({ prefixRuns: 10, reused: 5 * 2 * 6 - 10 });
  });

  it('plans no cache when the first layer trains', () => {
    const q = { architecture: backbone('mnist-cnn-digits04.lmdl').architecture } as QuantizedModel;
    expect(planPrefixBoundary(q, ['conv1'])).toBeNull();
  });
});
