// A QZO-FF trainer derives what does not change between steps once (each layer's perturbation spec,
// each tensor's update factor while η stays, its prepared update while the factor stays) instead of
// every step. Those kept values must give exactly the steps a trainer deriving everything afresh takes:
// the reference here is a new session and trainer for every step, restored from the previous state.
import { describe, it, expect } from 'vitest';
import { architecturePreset } from '../src/model/presets.js';
import { initFloatModel, type QuantizedModel } from '../src/model/model.js';
import { resolveGraph } from '../src/model/graph.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig, type TrainerState } from '../src/train/qzo-ff.js';
import { trainableLayers } from '../src/train/selection.js';
import type { QuantizedSet } from '../src/train/batches.js';
import { mulberry32 } from '../src/util/random.js';

const BATCH = 4;
const STEPS = 5;

function model(): { q: QuantizedModel; trainable: string[]; set: QuantizedSet } {
  const architecture = architecturePreset('mnist-cnn');
  const graph = resolveGraph(architecture);
  const ranges = Object.fromEntries(graph.nodes.map((n) => [n.node.name, { min: -4, max: 4 }]));
  const q = quantizeModel(initFloatModel(architecture, 3), ranges, { weightBits: 16 });
  const r = mulberry32(5);
  const count = 8;
  const size = 28 * 28;
  const samples = Int8Array.from({ length: count * size }, () => Math.floor(r() * 256) - 128);
  const labels = Int32Array.from({ length: count }, () => Math.floor(r() * 10));
  return { q, trainable: trainableLayers(graph, { kind: 'full' }), set: { samples, labels, count, sampleSize: size } };
}

async function trainer(q: QuantizedModel, trainable: string[], config: QzoFfConfig): Promise<QzoFfTrainer> {
  const options = { batch: BATCH, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(BATCH, { model: q, trainable, config }) };
  const plan = QuantizedSession.plan(q, options);
  const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(plan.sramBytes / 16) * 16, flashBytes: Math.ceil(plan.flashBytes / 16) * 16 }, build: 'simd' });
  return new QzoFfTrainer(new QuantizedSession(mcu, q, options), trainable, config);
}

const weightsOf = (s: TrainerState) => s.tensors.map((t) => Array.from(t.values));

describe('QZO-FF run constants', () => {
  const { q, trainable, set } = model();
  const schedule = { kind: 'step', every: 1, gamma: 0.6 } as const;
  const configs: [string, QzoFfConfig][] = [
    ['fused weights, η decaying every step', { epsilon: 1e-3, directions: 2, dist: 'gaussian', lr: 3e-3, seed: 9, batchSize: BATCH, schedule }],
    ['weights and biases, η decaying every step', { epsilon: 1e-3, directions: 2, dist: 'rademacher', lr: 3e-3, seed: 9, batchSize: BATCH, schedule, params: 'weights+bias' }],
    ['fused weights with z buffers', { epsilon: 1e-3, directions: 1, dist: 'gaussian', lr: 3e-3, seed: 9, batchSize: BATCH, zBuffer: true }],
  ];
  for (const [name, config] of configs) {
    it(`${name}: one trainer's steps equal fresh trainers' steps`, async () => {
      const kept = await trainer(q, trainable, config);
      let state = kept.exportState();
      for (let step = 0; step < STEPS; step++) {
        const fresh = await trainer(q, trainable, config);
        fresh.restoreState(state, set.count);
        const a = kept.trainStep(set);
        const b = fresh.trainStep(set);
        expect(a).toEqual(b);
        state = fresh.exportState();
        expect(weightsOf(kept.exportState())).toEqual(weightsOf(state));
      }
      // The steps moved the weights (the comparison above is not between two untouched copies).
      expect(weightsOf(state)).not.toEqual(weightsOf((await trainer(q, trainable, config)).exportState()));
    }, 120_000);
  }
});
