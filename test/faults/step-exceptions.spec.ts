// Exceptions inside a step: at seeded random steps, phases, directions and layers, the trainer's
// phase hook throws. After each one the stored parameters (weights, biases, momentum history) must be
// bit for bit at their pre-step values (thrown before the update) or their post-step values (thrown
// during the update), the step counter and data order must agree, and a run that retries and carries
// on — here also through a checkpoint and a fresh MCU — must end bit-identical to an undisturbed run.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModel, type FloatModel, type QuantizedModel } from '../../src/model/model.js';
import { loadBundledMnist } from '../../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../../src/data/fewshot.js';
import { withPrototypeHead } from '../../src/train/prototype.js';
import { calibrate } from '../../src/quant/calibrate.js';
import { quantizeModel } from '../../src/quant/quantize.js';
import { Mcu } from '../../src/device/mcu.js';
import { QuantizedSession } from '../../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig, type StepPhase, type TrainerState } from '../../src/train/qzo-ff.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.js';
import { Mulberry32 } from '../../src/util/random.js';

const STEPS = Number(process.env.FAULT_STEPS ?? 150);
const PHASES: StepPhase[] = ['between-forwards', 'after-direction', 'before-update', 'update', 'probe'];
const MODES: Record<string, Omit<QzoFfConfig, 'seed'>> = {
  plain: { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, batchSize: 4 },
  'bias+sparse+momentum+sharpness': {
    epsilon: 1e-3, directions: 2, dist: 'gaussian', lr: 3e-3, batchSize: 4, params: 'weights+bias',
    sparse: { by: 'magnitude' }, momentum: { alpha: 0.5, beta: 0.5 }, sharpness: { rho: 5e-3 },
  },
};

let q16: QuantizedModel;
let episode: Episode;

beforeAll(async () => {
  const backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 5, seed: 8 });
  const proto = await withPrototypeHead(backbone, episode.support);
  q16 = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 16, perChannel: false });
});

async function makeTrainer(config: QzoFfConfig) {
  const trainable = Object.keys(q16.params);
  const mcu = await Mcu.create({ budget: { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 }, build: 'simd' });
  const session = new QuantizedSession(mcu, q16, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model: q16, trainable, config }) });
  const trainer = new QzoFfTrainer(session, trainable, config);
  return { trainer, set: trainer.prepareData(episode.support) };
}

const fingerprint = (s: TrainerState) =>
  Buffer.concat(s.tensors.flatMap((t) => [Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength), Buffer.from(t.history ?? [])])).toString('base64');

describe('exceptions injected inside steps', () => {
  for (const [mode, base] of Object.entries(MODES)) {
    it(`leave parameters at pre- or post-step values bit for bit, and retrying reproduces the undisturbed run (${mode})`, async () => {
      const config: QzoFfConfig = { ...base, seed: 21 };
      const clean = await makeTrainer({ ...config });
      const states: TrainerState[] = [clean.trainer.exportState()];
      for (let s = 0; s < STEPS; s++) {
        clean.trainer.trainStep(clean.set);
        states.push(clean.trainer.exportState());
      }
      let victim = await makeTrainer({ ...config });
      const random = new Mulberry32(mode.length * 7919);
      const counts = { pre: 0, post: 0, checkpoints: 0 };
      while (victim.trainer.step < STEPS) {
        const step = victim.trainer.step;
        if (random.next() < 0.5) {
          const phase = PHASES[Math.floor(random.next() * PHASES.length)]!;
          const target = Math.floor(random.next() * 3);
          let seen = 0;
          let fired = false;
          victim.trainer.config.phaseHook = (p) => {
            if (p === phase && seen++ === target && !fired) {
              fired = true;
              throw new Error(`injected at ${p}`);
            }
          };
          let threw = false;
          try {
            victim.trainer.trainStep(victim.set);
          } catch (e) {
            expect((e as Error).message).toBe(`injected at ${phase}`);
            threw = true;
          }
          victim.trainer.config.phaseHook = undefined;
          const now = victim.trainer.exportState();
          if (threw && phase !== 'update') {
            counts.pre++;
            expect(now.step).toBe(step);
            expect(fingerprint(now)).toBe(fingerprint(states[step]!));
            expect(now.batchOrder).toEqual(states[step]!.batchOrder);
          } else {
            if (threw) counts.post++;
            expect(now.step).toBe(step + 1);
            expect(fingerprint(now)).toBe(fingerprint(states[step + 1]!));
            expect(now.batchOrder).toEqual(states[step + 1]!.batchOrder);
          }
        } else victim.trainer.trainStep(victim.set);
        if (random.next() < 0.15) {
          // Power cut: the run continues from its last checkpoint on a fresh MCU.
          const saved = decodeCheckpoint(encodeCheckpoint({ run: {}, trainer: victim.trainer.exportState(), losses: new Float64Array(victim.trainer.step) }));
          victim = await makeTrainer({ ...config });
          victim.trainer.restoreState(saved.trainer, victim.set.count);
          counts.checkpoints++;
        }
      }
      expect(fingerprint(victim.trainer.exportState())).toBe(fingerprint(states[STEPS]!));
      expect(counts.pre).toBeGreaterThan(0);
      expect(counts.post).toBeGreaterThan(0);
      expect(counts.checkpoints).toBeGreaterThan(0);
      console.log(`${mode}: ${STEPS} steps, ${counts.pre} exceptions before the update (pre-step values), ${counts.post} during it (post-step values), ${counts.checkpoints} restarts from a checkpoint; final parameters bit-identical`);
    });
  }
});
