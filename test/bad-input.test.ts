// Every bad input of issue #8's list gets a typed error whose message says what is wrong and what to
// do, before any weight changes. Adapt-level cases run with a checkpoint store and check it stays
// empty (no step was ever committed) and that the caller's backbone is untouched; trainer-level cases
// check the session's stored weights byte for byte.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { lastmile } from './helpers/cli.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { loadModel, saveModel, type FloatModel } from '../src/model/model.js';
import { crc32 } from '../src/model/container.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../src/data/fewshot.js';
import type { Dataset } from '../src/data/dataset.js';
import { parseIdx } from '../src/data/idx.js';
import { decodePng } from '../src/data/image-folder.js';
import { craftPng } from './helpers/png.js';
import { resolveDevice } from '../src/device/presets.js';
import { architecturePreset } from '../src/model/presets.js';
import { parseSelection } from '../src/train/selection.js';
import { adapt, type AdaptOptions } from '../src/train/adapt.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.js';
import { FileCheckpointStore } from '../src/train/checkpoint-store.js';
import { withPrototypeHead } from '../src/train/prototype.js';
import { calibrate } from '../src/quant/calibrate.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { BudgetError, ConfigError, DataError, FormatError, LastmileError, ShapeError } from '../src/errors.js';

let backbone: FloatModel;
let backboneBytes: Uint8Array;
let episode: Episode;

beforeAll(async () => {
  backboneBytes = new Uint8Array(readFileSync('models/mnist-cnn-digits04.lmdl'));
  backbone = loadModel(backboneBytes) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 5, seed: 3 });
});

const DEVICE = { name: 'test', sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
const withImages = (d: Dataset, patch: (images: Float32Array) => void): Dataset => {
  const images = d.images.slice();
  patch(images);
  return { ...d, images };
};
const reshaped = (d: Dataset, shape: [number, number, number]): Dataset => ({ ...d, shape, images: new Float32Array(d.labels.length * shape[0] * shape[1] * shape[2]).fill(0.5) });
const withoutClass = (d: Dataset, c: number): Dataset => {
  const keep = [...d.labels.keys()].filter((i) => d.labels[i] !== c);
  const size = d.shape[0] * d.shape[1] * d.shape[2];
  const images = new Float32Array(keep.length * size);
  keep.forEach((i, j) => images.set(d.images.subarray(i * size, (i + 1) * size), j * size));
  return { ...d, images, labels: Int32Array.from(keep.map((i) => d.labels[i]!)) };
};

interface AdaptCase {
  name: string;
  options: () => Partial<AdaptOptions>;
  error: new (...args: never[]) => LastmileError;
  /** What is wrong and what to do, both in the message. */
  message: RegExp;
}

const ADAPT_CASES: AdaptCase[] = [
  { name: 'SRAM budget too small', options: () => ({ device: { name: 'tiny', sramBytes: 16 * 1024, flashBytes: 1024 * 1024 } }), error: BudgetError, message: /does not fit the device: SRAM needs \d+ B.*Use a larger device, a smaller batch, or fewer trainable layers/ },
  { name: 'flash budget too small', options: () => ({ selection: { kind: 'head' }, device: { name: 'tiny-flash', sramBytes: 512 * 1024, flashBytes: 1024 } }), error: BudgetError, message: /does not fit the device: flash needs \d+ B.*Use a larger device/ },
  { name: 'εq rounds to zero on the weight grid (8-bit weights)', options: () => ({ precision: '8w8a' }), error: ConfigError, message: /below half a weight LSB.*use 16-bit weights or a larger ε, or set dither: true/ },
  { name: 'm < 1', options: () => ({ directions: 0 }), error: ConfigError, message: /m \(directions per step\) must be an integer in \[1, 8\], got 0; the paper uses 3/ },
  { name: 'learning rate NaN', options: () => ({ lr: Number.NaN }), error: ConfigError, message: /learning rate η must be a finite number > 0 \(e\.g\. 0\.003\), got NaN/ },
  { name: 'learning rate Infinity', options: () => ({ lr: Number.POSITIVE_INFINITY }), error: ConfigError, message: /learning rate η must be a finite number > 0.*got Infinity/ },
  { name: 'ε not finite', options: () => ({ epsilon: Number.NaN }), error: ConfigError, message: /perturbation size ε must be a finite number > 0/ },
  { name: 'NaN in the support images', options: () => ({ support: withImages(episode.support, (x) => (x[100] = Number.NaN)) }), error: DataError, message: /sample 0 contains NaN; remove or repair it/ },
  { name: 'Inf in the query images', options: () => ({ query: withImages(episode.query, (x) => (x[784 * 3 + 5] = Number.POSITIVE_INFINITY)) }), error: DataError, message: /sample 3 contains Infinity; remove or repair it/ },
  { name: 'images of the wrong size', options: () => ({ support: reshaped(episode.support, [14, 14, 1]) }), error: ShapeError, message: /14×14×1, but model .* takes 28×28×1: resize or convert the images/ },
  { name: 'images with the wrong channel count', options: () => ({ query: reshaped(episode.query, [28, 28, 3]) }), error: ShapeError, message: /\(3 channels where the model takes 1\).*resize or convert/ },
  { name: 'labels out of range', options: () => ({ support: { ...episode.support, labels: episode.support.labels.map((l, i) => (i === 4 ? 7 : l)) } }), error: DataError, message: /label 7 of sample 4 is outside \[0, 4\]/ },
  { name: 'an empty class in the few-shot set', options: () => ({ support: withoutClass(episode.support, 2) }), error: DataError, message: /no images of class \d: every class needs at least one labelled image \(add some, or drop the class\)/ },
  { name: 'an empty support set', options: () => ({ support: { ...episode.support, images: new Float32Array(0), labels: new Int32Array(0) } }), error: DataError, message: /is empty: give it at least one image per class/ },
  { name: 'checkpoint interval < 1', options: () => ({ checkpointEvery: 0 }) as Partial<AdaptOptions>, error: ConfigError, message: /checkpoint interval must be an integer ≥ 1/ },
];

describe('bad input to adapt: typed error, actionable message, nothing trained', () => {
  for (const c of ADAPT_CASES) {
    it(c.name, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lastmile-bad-'));
      const snapshot = saveModel(backbone);
      const { checkpointEvery, ...overrides } = c.options() as Partial<AdaptOptions> & { checkpointEvery?: number };
      const options: AdaptOptions = {
        backbone, support: episode.support, query: episode.query, device: DEVICE, steps: 3, baseline: false, build: 'simd',
        checkpoint: { store: new FileCheckpointStore(dir), every: checkpointEvery ?? 1 }, ...overrides,
      };
      const error = await adapt(options).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(c.error);
      expect((error as Error).message).toMatch(c.message);
      // No step was committed (a checkpoint is written after every step) and the caller's model is as it was.
      expect(readdirSync(dir)).toEqual([]);
      expect(Buffer.from(saveModel(backbone)).equals(Buffer.from(snapshot))).toBe(true);
    });
  }

  it('resuming a checkpoint of a different configuration names the differing keys and restores nothing', async () => {
    const store = new FileCheckpointStore(mkdtempSync(join(tmpdir(), 'lastmile-bad-')));
    const base: AdaptOptions = { backbone, support: episode.support, query: episode.query, device: DEVICE, steps: 2, baseline: false, build: 'simd', selection: { kind: 'head' } };
    await adapt({ ...base, checkpoint: { store, every: 1 } });
    const before = readdirSync(store.dir).map((n) => readFileSync(join(store.dir, n)).toString('base64'));
    await expect(adapt({ ...base, steps: 4, directions: 2, checkpoint: { store, every: 1, resume: true } })).rejects.toThrow(/different directions; resume with the same settings, or use another checkpoint directory/);
    expect(readdirSync(store.dir).map((n) => readFileSync(join(store.dir, n)).toString('base64'))).toEqual(before);
  });
});

describe('bad input to the trainer leaves the stored weights as they were', () => {
  it('εq = 0 on 8-bit weights is refused in the constructor, naming the layer and the remedies', async () => {
    const proto = await withPrototypeHead(backbone, episode.support);
    const q8 = quantizeModel(proto, await calibrate(proto, episode.support), { weightBits: 8, perChannel: false });
    const trainable = Object.keys(q8.params);
    const config: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 1 };
    const session = new QuantizedSession(await Mcu.create({ budget: DEVICE, build: 'simd' }), q8, { batch: 5, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(5, { model: q8, trainable, config }) });
    const stored = () => Buffer.concat(trainable.map((n) => Buffer.from(session.mcu.device.bytes.subarray(session.weights.get(n)!.offset, session.weights.get(n)!.offset + session.weights.get(n)!.bytes))));
    const before = stored();
    expect(() => new QzoFfTrainer(session, trainable, config)).toThrow(/layer 'conv\d': .*below half a weight LSB.*set dither: true/);
    expect(() => new QzoFfTrainer(session, trainable, { ...config, directions: 0 })).toThrow(ConfigError);
    expect(() => new QzoFfTrainer(session, trainable, { ...config, dither: true, lr: Number.NaN })).toThrow(/learning rate must be a finite number/);
    expect(stored().equals(before)).toBe(true);
  });
});

describe('unknown names', () => {
  it('unknown device preset, architecture preset and selection list the valid choices', () => {
    expect(() => resolveDevice('nrf99999')).toThrow(/unknown preset 'nrf99999'; known presets are .*nrf52840.*or give a budget such as '256k\/1m'/);
    expect(() => architecturePreset('resnet9000')).toThrow(ConfigError);
    expect(() => architecturePreset('resnet9000')).toThrow(/unknown architecture preset 'resnet9000'; known: .*resnet8/);
    expect(() => parseSelection('everything')).toThrow(/unknown trainable selection 'everything'; use full, head/);
  });

  it('K larger than the class has: says how many there are and what to lower', async () => {
    const mnist = await loadBundledMnist();
    expect(() => sampleEpisode(mnist, { classPool: [5, 6], ways: 2, shots: 100000, seed: 1 })).toThrow(DataError);
    expect(() => sampleEpisode(mnist, { classPool: [5, 6], ways: 2, shots: 100000, seed: 1 })).toThrow(/need more than 100000.*lower K \(--shots\) to at most \d+/);
  });
});

describe('truncated, corrupt and hostile files', () => {
  it('model: truncated, bit-flipped, and a valid-CRC header declaring a 4 GiB tensor', () => {
    expect(() => loadModel(backboneBytes.subarray(0, 1000))).toThrow(/checksum mismatch.*corrupt or truncated/);
    const flipped = backboneBytes.slice();
    flipped[5000]! ^= 4;
    expect(() => loadModel(flipped)).toThrow(FormatError);
    // A well-formed file (valid CRC) whose header declares a 16384×16384 f32 tensor: 1 GiB it does not hold.
    const headerLength = new DataView(backboneBytes.buffer, backboneBytes.byteOffset).getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(backboneBytes.subarray(12, 12 + headerLength)));
    header.tensors[0] = { ...header.tensors[0], shape: [16384, 16384], bytes: 16384 * 16384 * 4 };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const hostile = new Uint8Array(Math.ceil((12 + json.length) / 16) * 16 + 64 + 4);
    hostile.set(backboneBytes.subarray(0, 8));
    new DataView(hostile.buffer).setUint32(8, json.length, true);
    hostile.set(json, 12);
    new DataView(hostile.buffer).setUint32(hostile.length - 4, crc32(hostile.subarray(0, hostile.length - 4)), true);
    expect(() => loadModel(hostile)).toThrow(/\[0, \+1073741824\) lies outside the file's data section/);
  });

  it('checkpoint: truncated, corrupt, and a declared payload of 4 GiB', () => {
    const bytes = encodeCheckpoint({
      run: {}, losses: new Float64Array(1),
      trainer: { step: 1, batchOrder: { rng: 1, cursor: 0, order: [] }, tensors: [{ layer: 'head', part: 'w', values: new Int16Array(8), history: null }] },
    });
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 10))).toThrow(/truncated or extended/);
    const flipped = bytes.slice();
    flipped[40]! ^= 1;
    expect(() => decodeCheckpoint(flipped)).toThrow(/checksum mismatch.*corrupt/);
    const huge = bytes.slice();
    new DataView(huge.buffer).setUint32(8, 0xffffffff, true);
    expect(() => decodeCheckpoint(huge)).toThrow(/declares a 4294967295 B payload/);
  });

  it('IDX: truncated data and declared dimensions of 2^32·2^32 are refused before allocating', () => {
    expect(() => parseIdx(Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3]))).toThrow(/need 8 B of data but the file has 3 B \(truncated or corrupt\)/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255]))).toThrow(/declared dimensions 4294967295×4294967295 are too large/);
  });

  it('PNG: a 100000×100000 declaration is refused from the header, a corrupt stream names the file and the fix', () => {
    const png = (w: number, h: number, idat: Uint8Array) => craftPng({ width: w, height: h }, idat);
    expect(() => decodePng(png(100000, 100000, deflateSync(new Uint8Array(10))), 'huge.png', 1)).toThrow(/huge\.png: PNG declares 100000×100000 = 10000000000 pixels, more than the limit.*resize the image/);
    expect(() => decodePng(png(4, 4, Uint8Array.from([1, 2, 3])), 'broken.png', 1)).toThrow(/broken\.png: corrupt PNG: image data does not inflate.*re-export or remove it/);
  });
});

describe('bad CLI checkpoint options', () => {
  it('--resume without --checkpoint and --checkpoint-every 0 exit with status 2 and say what to pass', async () => {
    // Spawned asynchronously: a worker blocked in spawnSync misses vitest's RPC deadlines.
    const run = (...args: string[]) => lastmile(['adapt', '--steps', '1', '--no-baseline', '--quiet', '--out', mkdtempSync(join(tmpdir(), 'lastmile-bad-')), ...args], { timeoutMs: 120_000 }).then((r) => ({ status: r.code, stderr: r.stderr }));
    const a = await run('--resume');
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--resume needs --checkpoint DIR/);
    const b = await run('--checkpoint', mkdtempSync(join(tmpdir(), 'lastmile-bad-')), '--checkpoint-every', '0');
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/checkpoint-every/);
  });
});
