// z drawn once per step and direction into an int8 buffer (config.zBuffer): the perturbed passes and
// the m = 1 update read it instead of regenerating z. Nothing may change but the time: same z, same
// packed weights, same trained weights, on every build, for every mode.
import { describe, it, expect, beforeAll } from 'vitest';
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSessionOptions, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { trainableLayers, type TrainSelection } from '../src/train/selection.js';
import { makePerturbSpec, perturbWeights } from '../src/kernels/perturb.js';
import { perturbArgs, type PerturbSpec } from '../src/kernels/perturb-spec.js';
import { prepareUpdate, updateWeights } from '../src/kernels/update.js';
import { fillZ, streamKey, ONE_Q } from '../src/kernels/rng.js';
import { benchModels, mcuFor, quantizedBatch } from '../bench/models.js';
import type { BuildFlavor } from '../src/device/features.js';
import { makeAllBenches, randomInt16, randomInt8, rng, type Bench } from './helpers/devices.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(4 * 1024 * 1024);
});

describe('kernels reading z from a buffer', () => {
  it('perturbation and update equal the regenerating kernels bit for bit (int16 and int8, gaussian and rademacher, edge weights, odd counts), on every build', () => {
    const r = rng(17);
    for (const b of benches) {
      for (const bits of [16, 8] as const) {
        for (const dist of ['gaussian', 'rademacher'] as const) {
          for (const count of [1, 7, 16, 333]) {
            const values = bits === 16 ? randomInt16(r, count) : randomInt8(r, count, -127, 127);
            if (count > 2) { values[0] = bits === 16 ? 32767 : 127; values[1] = bits === 16 ? -32767 : -127; }
            const bytes = count * (bits / 8);
            const w = b.arena.alloc(bytes, 'w');
            const a = b.arena.alloc(bytes, 'a');
            const c = b.arena.alloc(bytes, 'c');
            const start = 5;
            const zb = b.arena.alloc(start + count, 'z');
            (bits === 16 ? b.arena.i16(w) : b.arena.i8(w)).set(values);
            const spec = makePerturbSpec({ seed: 99, tensorId: 2, epsilon: bits === 16 ? 3e-3 : 0.2, weightScale: 1e-3, dist, sign: -1, weightBits: bits }, b.device);
            const streamed = { ...spec, start };
            fillZ(b.arena, zb, start + count, { key: spec.key, start: 0, dist, oneQ: ONE_Q });
            perturbWeights(b.arena, w, a, count, bits, streamed);
            const buffered: PerturbSpec = { ...streamed, z: { offset: zb.offset, bytes: zb.bytes } };
            // perturbWeights takes the spec's raw fields; the z-buffer form goes through perturbArgs.
            const args = perturbArgs(buffered, bits, count);
            expect(args[3]).toBe(2);
            b.device.kernel(bits === 16 ? 'perturb_w16' : 'perturb_w8')(w.offset, c.offset, count, args[1]!, args[2]!, args[3]!, args[4]!, args[5]!, args[6]!, args[7]!);
            const view = (x: typeof w) => Array.from((bits === 16 ? b.arena.i16(x) : b.arena.i8(x)).slice(0, count));
            expect(view(c)).toEqual(view(a));
            // Update at m = 1: from the stream vs from the buffer.
            const u = prepareUpdate(b.arena, { directions: 1, dist, multiplier: 1 << 30, shift: 2 });
            const w2 = b.arena.alloc(bytes, 'w2');
            (bits === 16 ? b.arena.i16(w2) : b.arena.i8(w2)).set(values);
            updateWeights(b.arena, u, w, count, bits, { keys: [spec.key], signs: [-1], start });
            updateWeights(b.arena, u, w2, count, bits, { keys: [spec.key], signs: [-1], start, z: zb });
            expect(view(w2)).toEqual(view(w));
            // Update at m = 3 from three buffers, one per direction (zBuffer 'step').
            const keys = [spec.key, (spec.key ^ 0x9e3779b9) >>> 0, (spec.key * 3 + 1) >>> 0];
            const zs = keys.map((key, j) => {
              const z = b.arena.alloc(start + count, `z${j}`);
              fillZ(b.arena, z, start + count, { key, start: 0, dist, oneQ: ONE_Q });
              return z;
            });
            const u3 = prepareUpdate(b.arena, { directions: 3, dist, multiplier: 1 << 30, shift: 2 });
            updateWeights(b.arena, u3, w, count, bits, { keys, signs: [1, -1, 1], start });
            updateWeights(b.arena, u3, w2, count, bits, { keys, signs: [1, -1, 1], start, z: zs });
            expect(view(w2)).toEqual(view(w));
            expect(() => updateWeights(b.arena, u3, w2, count, bits, { keys, signs: [1, -1, 1], start, z: zs.slice(0, 2) })).toThrow(/2 z buffer\(s\) for m = 3/);
            expect(() => perturbArgs({ ...buffered, z: { offset: zb.offset, bytes: start + count - 1 } }, bits, count)).toThrow(/z buffer holds/);
            b.arena.reset();
          }
        }
      }
    }
  });
});

const BASE: QzoFfConfig = { epsilon: 1e-3, directions: 1, dist: 'gaussian', lr: 3e-3, seed: 7 };

async function trainedWeights(model: string, selection: TrainSelection, config: QzoFfConfig, bits: 8 | 16 = 16, build: BuildFlavor = 'simd', steps = 4) {
  const bm = benchModels(model, bits);
  const trainable = trainableLayers(bm.graph, selection);
  const options = qzoFfSessionOptions(4, { model: bm.quantized, trainable, config });
  const plan = QuantizedSession.plan(bm.quantized, options);
  const session = new QuantizedSession(await mcuFor(plan, build), bm.quantized, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  const set = quantizedBatch(bm, 4);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(trainer.trainStep(set).loss);
  expect(session.mcu.sram.highWater).toBe(plan.sramBytes);
  const m = session.exportModel();
  return { weights: trainable.map((n) => [Array.from(m.params[n]!.weights), Array.from(m.params[n]!.bias)]), losses, plan, trainable };
}

describe('QZO-FF with z buffers', () => {
  const cases: [string, TrainSelection, Partial<QzoFfConfig>][] = [
    ['mnist-cnn', { kind: 'full' }, {}],
    ['mnist-cnn', { kind: 'full' }, { directions: 3 }],
    ['mnist-cnn', { kind: 'head' }, { dist: 'rademacher' }],
    ['mnist-cnn', { kind: 'last', layers: 2 }, { directions: 2 }],
    ['fc-autoencoder', { kind: 'full' }, {}],
    ['ds-cnn', { kind: 'full' }, { normalize: true }],
    ['mnist-cnn', { kind: 'full' }, { sparse: { by: 'magnitude', fraction: 0.1, maskPerturbation: false } }],
  ];
  for (const [model, selection, extra] of cases) {
    it(`${model} ${selection.kind} ${JSON.stringify(extra)}: same weights and losses as regenerating z; the buffers are planned and measured`, async () => {
      const config = { ...BASE, ...extra };
      const plain = await trainedWeights(model, selection, config);
      const buffered = await trainedWeights(model, selection, { ...config, zBuffer: true });
      expect(buffered.weights).toEqual(plain.weights);
      expect(buffered.losses).toEqual(plain.losses);
      const zbufs = buffered.plan.sram.buffers.filter((b) => b.name.startsWith('extra:zo-zbuf:'));
      expect(zbufs.map((b) => b.name).sort()).toEqual(buffered.trainable.map((n) => `extra:zo-zbuf:w:${n}`).sort());
      expect(plain.plan.sram.buffers.some((b) => b.name.startsWith('extra:zo-zbuf:'))).toBe(false);
      // 'step': every direction's z kept for the update too; m times the bytes, the same results.
      const step = await trainedWeights(model, selection, { ...config, zBuffer: 'step' });
      expect(step.weights).toEqual(plain.weights);
      expect(step.losses).toEqual(plain.losses);
      const size = (plan: typeof step.plan) => plan.sram.buffers.filter((b) => b.name.startsWith('extra:zo-zbuf:')).reduce((sum, b) => sum + b.bytes, 0);
      expect(size(step.plan)).toBe(config.directions * size(buffered.plan));
    });
  }

  it('the buffered path trains bit-identically on scalar, simd and relaxed', async () => {
    const runs = [];
    for (const build of ['scalar', 'simd', 'relaxed'] as const) runs.push((await trainedWeights('mnist-cnn', { kind: 'full' }, { ...BASE, zBuffer: true }, 16, build, 2)).weights);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });

  it('a trainer asked for every direction\'s z on a session planned for one refuses with a ConfigError naming the sizes; a bad zBuffer value is refused', async () => {
    const bm = benchModels('mnist-cnn', 16);
    const trainable = trainableLayers(bm.graph, { kind: 'head' });
    const config: QzoFfConfig = { ...BASE, directions: 3, zBuffer: true };
    const options = qzoFfSessionOptions(4, { model: bm.quantized, trainable, config });
    const session = new QuantizedSession(await mcuFor(QuantizedSession.plan(bm.quantized, options)), bm.quantized, options);
    expect(() => new QzoFfTrainer(session, trainable, { ...config, zBuffer: 'step' })).toThrow(/zo-zbuf:w:.* holds \d+ B, this configuration needs \d+ B/);
    expect(() => new QzoFfTrainer(session, trainable, { ...config, zBuffer: 'all' as never })).toThrow(/zBuffer must be true, false or 'step'/);
  });

  it('modes off the fused path (bias, masked sparse, dither 8w8a, momentum, sharpness) ignore zBuffer: no buffers, same results', async () => {
    const modes: [TrainSelection, Partial<QzoFfConfig>, 8 | 16][] = [
      [{ kind: 'bias' }, { params: 'bias', lr: 0.05 }, 16],
      [{ kind: 'full' }, { sparse: { by: 'magnitude', fraction: 0.1 } }, 16],
      [{ kind: 'full' }, { dither: true, epsilon: 0.05 }, 8],
      [{ kind: 'full' }, { momentum: { alpha: 0.5, beta: 0.5 }, directions: 2 }, 16],
      [{ kind: 'head' }, { sharpness: { rho: 1e-3 } }, 16],
    ];
    for (const [selection, extra, bits] of modes) {
      const config = { ...BASE, ...extra };
      expect(qzoFfSramBuffers(4, { model: benchModels('mnist-cnn', bits).quantized, trainable: trainableLayers(benchModels('mnist-cnn', bits).graph, selection), config: { ...config, zBuffer: true } }).some((b) => b.name.startsWith('zo-zbuf'))).toBe(false);
      const plain = await trainedWeights('mnist-cnn', selection, config, bits, 'simd', 2);
      const buffered = await trainedWeights('mnist-cnn', selection, { ...config, zBuffer: true }, bits, 'simd', 2);
      expect(buffered.weights).toEqual(plain.weights);
    }
  });
});
