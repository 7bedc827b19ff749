// The hybrid's tail from the outside: the CLI's --bp-layers and --tail-lr (typed one-line errors for
// bad values, the method line saying which layers learn by backprop), and checkpoints — a run with
// the tail resumes bit for bit, and a checkpoint of one --bp-layers is refused by the other.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastmile, expectUserError } from './helpers/cli.js';
import { loadModel, type FloatModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { FileCheckpointStore } from '../src/train/checkpoint-store.js';
import { adapt, type AdaptOptions, type AdaptResult } from '../src/train/adapt.js';
import { ConfigError } from '../src/errors.js';

const out = () => mkdtempSync(join(tmpdir(), 'lastmile-tail-cli-'));

describe('lastmile adapt --bp-layers / --tail-lr', () => {
  it('bad values and combinations are one-line user errors (exit 2) before any work', async () => {
    const cases: [string[], RegExp][] = [
      [['--bp-layers', '3'], /--bp-layers must be 1 or 2, got 3/],
      [['--bp-layers', '0'], /bp-layers/],
      [['--bp-layers', 'two'], /bp-layers/],
      [['--bp-layers', '2', '--method', 'qzo-ff'], /--bp-layers is a setting of the hybrid method: use it with --method hybrid/],
      [['--tail-lr', '0.1', '--method', 'bp'], /--tail-lr is a setting of the hybrid method/],
      [['--tail-lr', '-1'], /--tail-lr must be > 0, got -1/],
      [['--tail-lr', '0'], /--tail-lr must be > 0/],
      [['--tail-lr', 'NaN'], /tail-lr/],
      [['--bp-layers', '2', '--train', 'head'], /--bp-layers 2 cannot apply: the selection leaves 'conv3' frozen; use --bp-layers 1/],
      [['--bp-layers', '1', '--tail-lr', '0.1'], /--tail-lr sets the η of the layer below the head, which this run does not train by backprop/],
    ];
    const runs = await Promise.all(cases.map(([args]) => lastmile(['adapt', ...args, '--steps', '1', '--queries', '5', '--no-baseline', '--out', out()], { timeoutMs: 120_000 })));
    runs.forEach((r, i) => expectUserError(r, cases[i]![1]));
  });

  it('--bp-layers 1 says "backprop: head", the default "backprop: last 2 layers" with the tail η', async () => {
    const common = ['--steps', '1', '--shots', '2', '--queries', '5', '--no-baseline'];
    const [one, two] = await Promise.all([
      lastmile(['adapt', '--bp-layers', '1', ...common, '--out', out()], { timeoutMs: 180_000 }),
      lastmile(['adapt', '--tail-lr', '0.2', ...common, '--out', out()], { timeoutMs: 180_000 }),
    ]);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    // The method entry, with its wrapped continuation lines joined.
    const methodLine = (s: string) => /^method {2,}[\s\S]*?(?=\n\s*\n|\n\S)/m.exec(s)?.[0].replace(/\s+/g, ' ') ?? '';
    expect(methodLine(one.stdout + one.stderr)).toMatch(/hybrid 16w8a \(backprop: head\)/);
    expect(methodLine(one.stdout + one.stderr)).not.toMatch(/tail η/);
    expect(methodLine(two.stdout + two.stderr)).toMatch(/hybrid 16w8a \(backprop: last 2 layers\).*tail η = 0\.2/);
  });
});

describe('checkpoints with the tail', () => {
  const DEVICE = { name: 'test', sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
  let backbone: FloatModel;
  let episode: Episode;
  beforeAll(async () => {
    backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
    episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 10, seed: 3 });
  });
  const store = () => new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'lastmile-tail-ck-')));
  const weights = (r: AdaptResult) =>
    Buffer.concat(Object.values(r.adapted.params).flatMap((p) => [Buffer.from(p.weights.buffer, p.weights.byteOffset, p.weights.byteLength), Buffer.from(p.bias.buffer, p.bias.byteOffset, p.bias.byteLength)]));
  const options = (steps: number, o: Partial<AdaptOptions> = {}): AdaptOptions => ({
    backbone, support: episode.support, query: episode.query, device: DEVICE, selection: { kind: 'full' }, method: 'hybrid',
    steps, batchSize: 4, directions: 2, seed: 5, baseline: false, build: 'simd', ...o,
  });

  // Full fine-tuning (body by QZO-FF, tail and head by backprop) and last:2 (tail and head only: no
  // body, the frozen prefix served from the cache).
  for (const [name, selection] of [['full', { kind: 'full' }], ['last:2', { kind: 'last', layers: 2 }]] as const) {
    it(`${name}: the tail trains, and stopping after 3 steps and resuming to 7 gives the bits of 7 uninterrupted steps`, async () => {
      const reference = await adapt(options(7, { selection }));
      expect(reference.backpropLayers).toEqual(['conv3', 'logits']);
      const conv3 = (r: AdaptResult) => {
        const w = r.adapted.params.conv3!.weights;
        return Buffer.from(w.buffer, w.byteOffset, w.byteLength);
      };
      const start = await adapt(options(0, { selection }));
      expect(conv3(reference).equals(conv3(start))).toBe(false);
      const s = store();
      const part = await adapt(options(3, { selection, checkpoint: { store: s, every: 1 } }));
      expect(weights(part).equals(weights(reference))).toBe(false);
      const resumed = await adapt(options(7, { selection, checkpoint: { store: s, every: 1, resume: true } }));
      expect(resumed.checkpoint?.resumedFrom).toBe(3);
      expect(weights(resumed).equals(weights(reference))).toBe(true);
      expect(resumed.losses).toEqual(reference.losses);
    });
  }

  it('a checkpoint written with bpLayers 1 is refused by a bpLayers 2 run (and the reverse, and another tail η), before any step', async () => {
    const one = store();
    await adapt(options(2, { bpLayers: 1, checkpoint: { store: one, every: 1 } }));
    await expect(adapt(options(4, { checkpoint: { store: one, every: 1, resume: true } }))).rejects.toThrow(ConfigError);
    await expect(adapt(options(4, { bpLayers: 2, checkpoint: { store: one, every: 1, resume: true } }))).rejects.toThrow(/different .*bpLayers/);
    const two = store();
    await adapt(options(2, { checkpoint: { store: two, every: 1 } }));
    await expect(adapt(options(4, { bpLayers: 1, checkpoint: { store: two, every: 1, resume: true } }))).rejects.toThrow(/different .*bpLayers/);
    await expect(adapt(options(4, { tailLr: 0.1, checkpoint: { store: two, every: 1, resume: true } }))).rejects.toThrow(/different .*tailLr/);
    // The matching settings still resume.
    const ok = await adapt(options(4, { bpLayers: 1, checkpoint: { store: one, every: 1, resume: true } }));
    expect(ok.checkpoint?.resumedFrom).toBe(2);
  });
});
