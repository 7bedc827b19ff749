// A session whose device SRAM is too small for its default plan packs the layers at its SRAM peak in
// panels of 4 or 2 columns (leanPacking 'narrow'). The narrow micro-kernel computes the same integers
// as the 8-column one, so training must give the same losses and weights bit for bit, and the plan
// must still equal the arena's high-water mark.
import { describe, it, expect } from 'vitest';
import { QuantizedSession } from '../src/runtime/session.js';
import { Mcu } from '../src/device/mcu.js';
import { qzoFfSessionOptions, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { trainableLayers } from '../src/train/selection.js';
import { trainedState } from './helpers/trained-state.js';
import { benchModels, mcuFor, quantizedBatch } from '../bench/models.js';
import { BudgetError, ConfigError } from '../src/errors.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adaptReference, exportC, runProgram } from './metal/harness.js';
import { initFloatModel, saveModel } from '../src/model/model.js';
import type { Architecture } from '../src/model/graph.js';

const CONFIG: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 0.05, seed: 1 };

describe('narrow packed panels in a training session', () => {
  const bm = benchModels('ds-cnn', 16);
  const trainable = trainableLayers(bm.graph, { kind: 'full' });
  const options = qzoFfSessionOptions(1, { model: bm.quantized, trainable, config: CONFIG });

  it('are what a device too small for the default plan gets, and fit it; a smaller device is refused with the least SRAM named', () => {
    const fast = QuantizedSession.plan(bm.quantized, options);
    const narrow = QuantizedSession.plan(bm.quantized, { ...options, leanPacking: 'narrow' });
    expect(fast.narrowPanels).toEqual([]);
    expect(narrow.sramBytes).toBeLessThan(fast.sramBytes);
    // The pointwise convolutions set DS-CNN's peak; each packs panels of 2 columns there.
    expect(narrow.narrowPanels.map((n) => n.layer)).toEqual(expect.arrayContaining(['pw1']));
    const flashBytes = fast.flashBytes;
    expect(QuantizedSession.planFor(bm.quantized, options, { sramBytes: fast.sramBytes, flashBytes })).toEqual(fast);
    // Just under the default plan: narrow panels, but no narrower than that device needs.
    const justUnder = QuantizedSession.planFor(bm.quantized, options, { sramBytes: fast.sramBytes - 16, flashBytes });
    expect(justUnder.sramBytes).toBeLessThanOrEqual(fast.sramBytes - 16);
    expect(justUnder.sramBytes).toBeGreaterThan(narrow.sramBytes);
    expect(justUnder.narrowPanels.every((n) => n.panelColumns === 4)).toBe(true);
    expect(QuantizedSession.planFor(bm.quantized, options, { sramBytes: narrow.sramBytes, flashBytes })).toEqual(narrow);
    expect(() => QuantizedSession.checkFits(fast, { sramBytes: narrow.sramBytes, flashBytes }, 'ds-cnn')).not.toThrow();
    expect(() => QuantizedSession.checkFits(fast, { sramBytes: narrow.sramBytes - 16, flashBytes }, 'ds-cnn')).toThrow(new RegExp(`SRAM needs ${narrow.sramBytes} B`));
    expect(() => QuantizedSession.checkFits(fast, { sramBytes: narrow.sramBytes - 16, flashBytes }, 'ds-cnn')).toThrow(BudgetError);
    // A caller that chose leanPacking keeps its choice: no narrow fallback.
    expect(QuantizedSession.planFor(bm.quantized, { ...options, leanPacking: true }, { sramBytes: fast.sramBytes - 16, flashBytes }).sramBytes).toBe(fast.sramBytes);
  });

  it('train to the same losses and weights as 8-column panels on the scalar and simd builds; plan = measured', async () => {
    const set = quantizedBatch(bm, 1);
    const fast = QuantizedSession.plan(bm.quantized, options);
    const narrow = QuantizedSession.plan(bm.quantized, { ...options, leanPacking: 'narrow' });
    const results = [];
    for (const build of ['scalar', 'simd'] as const) {
      for (const plan of [fast, narrow]) {
        // Default options on an MCU exactly as large as the plan: the session picks narrow panels itself.
        const session = new QuantizedSession(await mcuFor(plan, build), bm.quantized, options);
        expect(session.plan.narrowPanels.length > 0).toBe(plan === narrow);
        expect(session.plan.sramBytes).toBe(plan.sramBytes);
        results.push(trainedState(session, trainable, CONFIG, set, 2));
      }
    }
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    const pw1 = trainable.indexOf('pw1');
    expect(results[0]!.weights[pw1]!.some((v, j) => v !== bm.quantized.params.pw1!.weights[j])).toBe(true);
  });

  it('refuses a leanPacking that is not true, false or narrow with a typed error', async () => {
    const bad = { ...options, leanPacking: 'narrowest' as unknown as 'narrow' };
    expect(() => QuantizedSession.plan(bm.quantized, bad)).toThrow(ConfigError);
    const mcu = await Mcu.create({ budget: { sramBytes: 1 << 20, flashBytes: 1 << 20 } });
    expect(() => new QuantizedSession(mcu, bm.quantized, bad)).toThrow(/leanPacking must be true, false or 'narrow'/);
  });

  it('refuses layer buffer sizes that do not shrink, before planning anything', () => {
    const layerSram = (smaller: number[]) => [{ name: 'backup', bytes: 256, layer: 'pw1', smaller }];
    for (const smaller of [[256], [300], [128, 200], [-16], [1.5]]) {
      expect(() => QuantizedSession.plan(bm.quantized, { ...options, layerSram: layerSram(smaller) })).toThrow(/layerSram 'backup': sizes must be integers/);
    }
    expect(QuantizedSession.plan(bm.quantized, { ...options, leanPacking: 'narrow', layerSram: layerSram([128, 64]) }).sram.buffers.find((b) => b.name === 'extra:backup')!.bytes).toBe(64);
  });
});

describe('the C export on a device too small for the default plan', () => {
  // A 1×1 convolution over 256 channels sets the SRAM peak: one 8-column panel of its perturbed weights
  // is 4352 B, a 2-column one 1152 B, so a device 1 KiB short of the default plan still fits.
  const NET: Architecture = {
    name: 'wide-pointwise',
    nodes: [
      { kind: 'input', name: 'input', shape: [28, 28, 1] },
      { kind: 'conv2d', name: 'stem', filters: 256, kernel: [3, 3], stride: [4, 4], padding: 'same', activation: 'relu' },
      { kind: 'conv2d', name: 'pw', filters: 12, kernel: [1, 1], stride: [1, 1], padding: 'same', activation: 'relu' },
      { kind: 'globalavgpool', name: 'gap' }, { kind: 'dense', name: 'logits', units: 10, activation: 'none' },
    ],
  };

  it('plans narrow panels, fits the device, and trains to adapt\'s weights on the host cc', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-narrow-'));
    const model = join(dir, 'seeded.lmdl');
    await writeFile(model, saveModel(initFloatModel(NET, 7)));
    const runArgs = ['--method', 'qzo-ff', '--train', 'full', '--steps', '2', '--batch-size', '5', '--queries', '4'];
    const roomy = await adaptReference(['--model', model, ...runArgs], join(dir, 'roomy'));
    const kib = Math.floor(roomy.ffSram / 1024) - 1;
    const device = ['--device', `${kib}k/1m`];
    const [ref, exported] = await Promise.all([
      adaptReference(['--model', model, ...runArgs, ...device], join(dir, 'adapt')),
      exportC([...runArgs, ...device], ['--model', model], join(dir, 'c')),
    ]);
    const arena = Number(/^arena (\d+) B/m.exec(exported.stdout)?.[1]);
    expect(ref.ffSram).toBeLessThanOrEqual(kib * 1024);
    expect(arena).toBe(ref.ffSram);
    expect(ref.weightsSha256).toBe(roomy.weightsSha256);
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
  }, 300_000);
});
