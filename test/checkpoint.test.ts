import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type FloatModel, type QuantizedModel } from '../src/model/model.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig, type TrainerState } from '../src/train/qzo-ff.js';
import { BatchOrder } from '../src/train/batches.js';
import { mulberry32, Mulberry32 } from '../src/util/random.js';
import {
  decodeCheckpoint, differingKeys, encodeCheckpoint, loadNewestCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointStore,
} from '../src/train/checkpoint.js';
import { FileCheckpointStore } from '../src/train/checkpoint-store.js';
import { adapt, type AdaptOptions } from '../src/train/adapt.js';
import { ConfigError, FormatError } from '../src/errors.js';

const DEVICE = { sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
// Mini-batches (the data cursor matters), momentum (history is optimizer state), sparse + biases.
const CONFIG: QzoFfConfig = {
  epsilon: 1e-3, directions: 2, dist: 'gaussian', lr: 3e-3, seed: 9, batchSize: 4,
  params: 'weights+bias', sparse: { by: 'magnitude' }, momentum: { alpha: 0.5, beta: 0.5 },
};
let backbone: FloatModel;
let episode: Episode;
let q16: QuantizedModel;

beforeAll(async () => {
  backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 10, seed: 3 });
  const proto = await withPrototypeHead(backbone, episode.support);
  q16 = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 16, perChannel: false });
});

const layers = () => Object.keys(q16.params);

async function makeTrainer(config: QzoFfConfig = CONFIG) {
  const trainable = layers();
  const mcu = await Mcu.create({ budget: DEVICE, build: 'simd' });
  const session = new QuantizedSession(mcu, q16, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model: q16, trainable, config }) });
  const trainer = new QzoFfTrainer(session, trainable, config);
  return { session, trainer, set: trainer.prepareData(episode.support) };
}

const bytesOf = (s: TrainerState) => Buffer.concat(s.tensors.flatMap((t) => [Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength), Buffer.from(t.history ?? [])]));

function checkpointOf(state: TrainerState, losses: number[] = Array.from({ length: state.step }, (_, i) => i / 7)): Checkpoint {
  return { run: { seed: 9, lr: 3e-3, model: 'crc32:0' }, trainer: state, losses: Float64Array.from(losses) };
}

describe('serializable data order', () => {
  it('Mulberry32 continues the exact sequence of mulberry32() and resumes from its state', () => {
    const a = mulberry32(1234);
    const b = new Mulberry32(1234);
    for (let i = 0; i < 100; i++) expect(b.next()).toBe(a());
    const c = new Mulberry32(0);
    c.state = b.state;
    for (let i = 0; i < 100; i++) expect(c.next()).toBe(a());
  });

  it('a restored BatchOrder yields the same batches as the original, and bad states are refused', () => {
    const a = new BatchOrder(5);
    for (let i = 0; i < 7; i++) a.next(10, 3);
    const b = new BatchOrder(999);
    b.restore(a.save(), 10);
    for (let i = 0; i < 20; i++) expect(b.next(10, 3)).toEqual(a.next(10, 3));
    const s = a.save();
    expect(() => b.restore({ ...s, order: [0, 0, 1, 2, 3, 4, 5, 6, 7, 8] }, 10)).toThrow(FormatError);
    expect(() => b.restore({ ...s, cursor: 11 }, 10)).toThrow(FormatError);
    expect(() => b.restore(s, 12)).toThrow(/cannot belong/);
    expect(() => b.restore({ ...s, rng: -1 }, 10)).toThrow(FormatError);
  });
});

describe('trainer state', () => {
  it('export at step k, restore into a fresh trainer on a new MCU, train on: bit-identical to the uninterrupted run', async () => {
    const clean = await makeTrainer();
    for (let s = 0; s < 9; s++) clean.trainer.trainStep(clean.set);
    const first = await makeTrainer();
    for (let s = 0; s < 4; s++) first.trainer.trainStep(first.set);
    // Through the file encoding, as a resumed process would see it.
    const saved = decodeCheckpoint(encodeCheckpoint(checkpointOf(first.trainer.exportState())));
    const second = await makeTrainer();
    second.trainer.restoreState(saved.trainer, second.set.count);
    expect(second.trainer.step).toBe(4);
    for (let s = 0; s < 5; s++) second.trainer.trainStep(second.set);
    expect(bytesOf(second.trainer.exportState()).equals(bytesOf(clean.trainer.exportState()))).toBe(true);
    expect(second.trainer.exportState().batchOrder).toEqual(clean.trainer.exportState().batchOrder);
    // And it did move: the state after 9 steps is not the state after 4.
    expect(bytesOf(saved.trainer).equals(bytesOf(clean.trainer.exportState()))).toBe(false);
  });

  it('a state that does not fit the trainer is refused before anything is written', async () => {
    const a = await makeTrainer();
    a.trainer.trainStep(a.set);
    const state = a.trainer.exportState();
    const b = await makeTrainer();
    const before = bytesOf(b.trainer.exportState());
    const wrongSize = { ...state, tensors: state.tensors.map((t, i) => (i === 1 ? { ...t, values: t.values.slice(1) } : t)) };
    expect(() => b.trainer.restoreState(wrongSize, b.set.count)).toThrow(ConfigError);
    const noHistory = { ...state, tensors: state.tensors.map((t) => ({ ...t, history: null })) };
    expect(() => b.trainer.restoreState(noHistory, b.set.count)).toThrow(/momentum/);
    const offGrid = { ...state, tensors: state.tensors.map((t, i) => (i === 0 ? { ...t, values: Int16Array.from(t.values, (v, j) => (j === 3 ? -32768 : v)) } : t)) };
    expect(() => b.trainer.restoreState(offGrid, b.set.count)).toThrow(/off the symmetric 16-bit grid/);
    const badOrder = { ...state, batchOrder: { ...state.batchOrder, order: [3, 3, 3, 3, 3, 3, 3, 3, 3, 3] } };
    expect(() => b.trainer.restoreState(badOrder, b.set.count)).toThrow(FormatError);
    expect(bytesOf(b.trainer.exportState()).equals(before)).toBe(true);
    expect(b.trainer.step).toBe(0);
  });

  it('a step that throws before its update also leaves the data order untouched, so the retry sees the same batch', async () => {
    const clean = await makeTrainer();
    const victim = await makeTrainer();
    for (let s = 0; s < 3; s++) {
      clean.trainer.trainStep(clean.set);
      victim.trainer.trainStep(victim.set);
    }
    const order = victim.trainer.exportState().batchOrder;
    victim.trainer.config.phaseHook = (phase) => {
      if (phase === 'before-update') throw new Error('injected');
    };
    expect(() => victim.trainer.trainStep(victim.set)).toThrow('injected');
    expect(victim.trainer.exportState().batchOrder).toEqual(order);
    victim.trainer.config.phaseHook = undefined;
    for (let s = 0; s < 3; s++) {
      clean.trainer.trainStep(clean.set);
      victim.trainer.trainStep(victim.set);
    }
    expect(bytesOf(victim.trainer.exportState()).equals(bytesOf(clean.trainer.exportState()))).toBe(true);
  });
});

describe('checkpoint file format', () => {
  let encoded: Uint8Array;
  beforeAll(async () => {
    const t = await makeTrainer();
    for (let s = 0; s < 3; s++) t.trainer.trainStep(t.set);
    encoded = encodeCheckpoint(checkpointOf(t.trainer.exportState()));
  });

  it('round-trips every field', () => {
    const c = decodeCheckpoint(encoded);
    const again = encodeCheckpoint(c);
    expect(Buffer.from(again).equals(Buffer.from(encoded))).toBe(true);
    expect(c.trainer.step).toBe(3);
    expect(Array.from(c.losses)).toEqual([0, 1 / 7, 2 / 7]);
    expect(c.trainer.tensors.every((t) => t.history !== null)).toBe(true);
    expect(c.trainer.tensors.filter((t) => t.part === 'b').every((t) => t.values instanceof Int32Array)).toBe(true);
  });

  it('every truncation and every sampled single-byte corruption is a FormatError', () => {
    for (let n = 0; n < encoded.length; n += 37) expect(() => decodeCheckpoint(encoded.subarray(0, n))).toThrow(FormatError);
    expect(() => decodeCheckpoint(encoded.subarray(0, encoded.length - 1))).toThrow(FormatError);
    const extended = new Uint8Array(encoded.length + 1);
    extended.set(encoded);
    expect(() => decodeCheckpoint(extended)).toThrow(/truncated or extended/);
    for (let i = 0; i < encoded.length; i += 13) {
      const bad = encoded.slice();
      bad[i]! ^= 1 << (i % 8);
      expect(() => decodeCheckpoint(bad)).toThrow(FormatError);
    }
    expect(() => decodeCheckpoint(readFileSync('models/mnist-cnn-digits04.lmdl'))).toThrow(/not a lastmile checkpoint/);
  });

  it('a huge declared payload length fails on the size check, without allocating it', () => {
    const bad = encoded.slice();
    new DataView(bad.buffer).setUint32(8, 0xfffffff0, true);
    expect(() => decodeCheckpoint(bad)).toThrow(/declares a 4294967280 B payload/);
  });

  it('names the keys that differ between two run configurations', () => {
    expect(differingKeys({ a: 1, b: { x: 1, y: 2 }, c: [1] }, { a: 1, b: { y: 2, x: 1 }, c: [1] })).toEqual([]);
    expect(differingKeys({ a: 1, lr: 0.003, seed: 1 }, { a: 1, lr: 0.001, seed: 2, m: 3 })).toEqual(['lr', 'm', 'seed']);
  });
});

describe('checkpoint store', () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'lastmile-ck-'));
  async function states(n: number) {
    const t = await makeTrainer();
    const out: Checkpoint[] = [];
    for (let s = 0; s < n; s++) {
      t.trainer.trainStep(t.set);
      out.push(checkpointOf(t.trainer.exportState()));
    }
    return out;
  }

  it('keeps the newest two good checkpoints, ignores and clears temporary files', async () => {
    const dir = tmp();
    const store = new FileCheckpointStore(dir);
    const cks = await states(4);
    for (const c of cks) await saveCheckpoint(store, c);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-3.lmck', 'ckpt-4.lmck']);
    writeFileSync(join(dir, '.ckpt-5.lmck.tmp-4242'), 'half a checkp');
    const found = await loadNewestCheckpoint(store);
    expect(found.name).toBe('ckpt-4.lmck');
    expect(found.skipped).toEqual([]);
    expect(store.removeTemporaries()).toEqual(['.ckpt-5.lmck.tmp-4242']);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-3.lmck', 'ckpt-4.lmck']);
  });

  it('a corrupt or partial newest checkpoint is skipped (and reported) in favour of the previous good one', async () => {
    const dir = tmp();
    const store = new FileCheckpointStore(dir);
    const cks = await states(3);
    for (const c of cks) await saveCheckpoint(store, c);
    const newest = join(dir, 'ckpt-3.lmck');
    const bytes = readFileSync(newest);
    writeFileSync(newest, bytes.subarray(0, bytes.length >> 1));
    let found = await loadNewestCheckpoint(store);
    expect(found.name).toBe('ckpt-2.lmck');
    expect(found.skipped.map((s) => s.name)).toEqual(['ckpt-3.lmck']);
    expect(found.skipped[0]!.reason).toMatch(/truncated/);
    expect(Buffer.from(encodeCheckpoint(found.checkpoint!)).equals(Buffer.from(encodeCheckpoint(cks[1]!)))).toBe(true);
    // A file renamed to another step is not trusted either.
    renameSync(join(dir, 'ckpt-2.lmck'), join(dir, 'ckpt-7.lmck'));
    found = await loadNewestCheckpoint(store);
    expect(found.skipped[0]!.reason).toMatch(/not the step its name says/);
    expect(found.checkpoint).toBeNull();
  });

  it('an empty store resumes nothing; an unwritable path is a ConfigError', async () => {
    expect((await loadNewestCheckpoint(new FileCheckpointStore(tmp()))).checkpoint).toBeNull();
    const file = join(tmp(), 'plain-file');
    writeFileSync(file, 'x');
    expect(() => new FileCheckpointStore(file)).toThrow(ConfigError);
  });
});

describe('adapt with checkpoints', () => {
  const options = (steps: number): AdaptOptions => ({
    backbone, support: episode.support, query: episode.query, device: { name: 'test', ...DEVICE }, selection: { kind: 'full' }, method: 'qzo-ff',
    steps, batchSize: 4, directions: 2, seed: 5, baseline: false, build: 'simd', enhancements: { momentum: { alpha: 0.5, beta: 0.5 } },
  });
  const weights = (r: { adapted: { params: Record<string, { weights: ArrayBufferView }> } }) =>
    Buffer.concat(Object.values(r.adapted.params).map((p) => Buffer.from(p.weights.buffer, p.weights.byteOffset, p.weights.byteLength)));

  it('stopping after 5 steps and resuming to 12 gives bit-identical weights and losses to 12 uninterrupted steps', async () => {
    const reference = await adapt(options(12));
    const store = new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'lastmile-ck-')));
    const part = await adapt({ ...options(5), checkpoint: { store, every: 2 } });
    expect(part.checkpoint).toMatchObject({ resumedFrom: null, written: 3, last: 'ckpt-5.lmck' });
    const events: string[] = [];
    const resumed = await adapt({ ...options(12), checkpoint: { store, every: 2, resume: true }, onCheckpoint: (e) => events.push(e.kind) });
    expect(resumed.checkpoint?.resumedFrom).toBe(5);
    expect(events[0]).toBe('resumed');
    expect(weights(resumed).equals(weights(reference))).toBe(true);
    expect(resumed.losses).toEqual(reference.losses);
    expect(resumed.after).toBe(reference.after);
  });

  it('refuses to resume a different configuration (naming the keys), to overwrite a run without --resume, or to go backwards', async () => {
    const store: CheckpointStore = new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'lastmile-ck-')));
    await adapt({ ...options(4), checkpoint: { store, every: 2 } });
    await expect(adapt({ ...options(8), seed: 6, lr: 1e-3, checkpoint: { store, every: 2, resume: true } })).rejects.toThrow(/different lr, seed/);
    await expect(adapt({ ...options(8), checkpoint: { store, every: 2 } })).rejects.toThrow(/already holds checkpoints.*--resume/);
    await expect(adapt({ ...options(3), checkpoint: { store, every: 2, resume: true } })).rejects.toThrow(/beyond the 3 steps/);
    await expect(adapt({ ...options(3), method: 'bp', checkpoint: { store, every: 2 } })).rejects.toThrow(/integer methods \(qzo-ff, hybrid\), not 'bp'/);
    const events: string[] = [];
    const fresh = await adapt({ ...options(2), checkpoint: { store: new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'lastmile-ck-'))), every: 5, resume: true }, onCheckpoint: (e) => events.push(e.kind) });
    expect(events).toEqual(['fresh', 'written']);
    expect(fresh.checkpoint).toMatchObject({ resumedFrom: null, written: 1, last: 'ckpt-2.lmck' });
  });
});
