// The default hybrid on a device too small for the tail's gradient sums: it learns the head alone by
// backprop and says why, instead of failing where the head-only hybrid fits; an explicit --bp-layers 2
// there is refused by the budget check before any training.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { adapt } from '../src/train/adapt.js';
import { BudgetError, ConfigError } from '../src/errors.js';

let backbone: FloatModel;
let episode: Episode;
beforeAll(async () => {
  backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 10, seed: 1 });
});

// The small CNN's hybrid needs 90,592 B with the tail and 52,720 B with the head alone (docs/TRAINING.md).
const SMALL = { name: 'small', sramBytes: 64 * 1024, flashBytes: 1024 * 1024 };
const LARGE = { name: 'large', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };

describe('the tail and the device budget', () => {
  it('by default, a device without room for the tail trains the head-only hybrid, inside the budget, with a note', async () => {
    const run = (device: typeof SMALL) => adapt({ backbone, support: episode.support, query: episode.query, device, steps: 2, baseline: false });
    const small = await run(SMALL);
    expect(small.method).toBe('hybrid');
    expect(small.backpropLayers).toEqual(['logits']);
    expect(small.methodNote).toMatch(/gradient sums need \d+ B of SRAM.*--bp-layers 1/);
    expect(small.sramPeak).toBeLessThanOrEqual(SMALL.sramBytes);
    const large = await run(LARGE);
    expect(large.backpropLayers).toEqual(['conv3', 'logits']);
    expect(large.methodNote).toBeNull();
    expect(large.sramPeak).toBeGreaterThan(SMALL.sramBytes);
  });

  it('an explicit bpLayers 2 that does not fit is a BudgetError, not a silent fallback', async () => {
    await expect(adapt({ backbone, support: episode.support, query: episode.query, device: SMALL, steps: 2, baseline: false, bpLayers: 2 })).rejects.toThrow(BudgetError);
  });

  it("the hybrid's settings with another explicit method are a ConfigError, not silently unused", async () => {
    for (const extra of [{ bpLayers: 2 as const }, { tailLr: 0.1 }, { headLr: 0.01 }]) {
      await expect(adapt({ backbone, support: episode.support, query: episode.query, device: LARGE, steps: 1, baseline: false, method: 'qzo-ff', ...extra })).rejects.toThrow(ConfigError);
    }
  });
});
