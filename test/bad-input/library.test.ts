// The library's public entry points called the way a JavaScript user might: wrong types, misspelt
// names, values the RNG would wrap. Each is a typed error naming the field, before any work.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { loadModel, type FloatModel } from '../../src/model/model.js';
import { loadBundledMnist } from '../../src/data/mnist.js';
import { sampleEpisode, type Episode } from '../../src/data/fewshot.js';
import { parseIdx } from '../../src/data/idx.js';
import { loadImageFolder } from '../../src/data/image-folder.js';
import { adapt, type AdaptOptions } from '../../src/train/adapt.js';
import { Mcu } from '../../src/device/mcu.js';
import { ConfigError, DataError, FileError, FormatError, UnsupportedError } from '../../src/errors.js';
import { Device } from '../../src/device/device.js';
import { expectUserError, lastmile } from '../helpers/cli.js';

let backbone: FloatModel;
let episode: Episode;
beforeAll(async () => {
  backbone = loadModel(readFileSync('models/mnist-cnn-digits04.lmdl')) as FloatModel;
  episode = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 2, queries: 5, seed: 3 });
});
const DEVICE = { name: 'test', sramBytes: 512 * 1024, flashBytes: 1024 * 1024 };
const base = (): AdaptOptions => ({ backbone, support: episode.support, query: episode.query, device: DEVICE, steps: 2, baseline: false, build: 'simd' });
const bad = (patch: Record<string, unknown>) => adapt({ ...base(), ...patch } as unknown as AdaptOptions);

describe('adapt(): wrong shapes of input', () => {
  const cases: [string, Record<string, unknown>, new (...a: never[]) => Error, RegExp][] = [
    ['null backbone', { backbone: null }, ConfigError, /backbone must be a float model .*got null/],
    ['{} backbone', { backbone: {} }, ConfigError, /backbone must be a float model .*got an object with keys \[\]/],
    ['plain array as the support set', { support: [1, 2, 3] }, ConfigError, /support set must be a Dataset .*got an array/],
    ['null query set', { query: null }, ConfigError, /query set must be a Dataset/],
    ["method 'sgd'", { method: 'sgd' }, ConfigError, /unknown method 'sgd'; use qzo-ff, hybrid, bp, ff-float/],
    ['unknown selection', { selection: { kind: 'everything' } }, ConfigError, /unknown trainable selection .*'full' \| 'head'/],
    ['negative seed', { seed: -1 }, ConfigError, /seed must be an integer in \[0, 4294967295\], got -1/],
    ['fractional seed', { seed: 1.5 }, ConfigError, /seed must be an integer/],
    ['NaN seed', { seed: Number.NaN }, ConfigError, /seed must be an integer/],
    ['seed 2^32', { seed: 2 ** 32 }, ConfigError, /seed must be an integer/],
    ['negative sramBytes: a configuration error, not a BudgetError', { device: { name: 'x', sramBytes: -1024, flashBytes: 1 << 20 } }, ConfigError, /device\.sramBytes must be a positive integer number of bytes, a multiple of 16, got -1024/],
    ['sramBytes off the 16-byte grid', { device: { name: 'x', sramBytes: 100001, flashBytes: 1 << 20 } }, ConfigError, /multiple of 16/],
    ['null device', { device: null }, ConfigError, /device must be \{ name, sramBytes, flashBytes \}/],
  ];
  for (const [name, patch, type, message] of cases) {
    it(name, async () => {
      const e = await bad(patch).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(type);
      expect((e as Error).message).toMatch(message);
    });
  }
  it('negative pixel values (e.g. [-1, 1] scaling) are a DataError, not silently worse accuracy', async () => {
    const images = episode.support.images.slice();
    images[10] = -0.5;
    await expect(bad({ support: { ...episode.support, images } })).rejects.toThrow(/sample 0 has pixel value -0\.5 outside \[0, 1\]; scale images to \[0, 1\]/);
    await expect(bad({ support: { ...episode.support, images } })).rejects.toBeInstanceOf(DataError);
  });
  it('adapt(null)', async () => {
    await expect(adapt(null as unknown as AdaptOptions)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('other entry points', () => {
  it('null where a model or data set is expected: typed errors, not TypeErrors', async () => {
    const L = await import('../../src/index.js');
    const N = await import('../../src/entries/node.js');
    const calls: [string, () => unknown][] = [
      ['saveModel(null)', () => L.saveModel(null as never)],
      ['quantizeModel(null)', () => L.quantizeModel(null as never, {})],
      ['calibrate(null)', () => L.calibrate(null as never, null as never)],
      ['calibrate(model, [])', () => L.calibrate(backbone, [] as never)],
      ['withPrototypeHead(null)', () => L.withPrototypeHead(null as never, episode.support)],
      ['evaluateFloat(model, {})', () => L.evaluateFloat(backbone, {} as never)],
      ['corrupt(null)', () => L.corrupt(null as never, 'gaussian_noise', 1, 1)],
      ['datasetFromIdx(null)', () => N.datasetFromIdx('x', null as never, null as never)],
      ['pretrain(null)', () => L.pretrain(null as never)],
      ['loadModel(null)', () => L.loadModel(null as never)],
    ];
    for (const [name, call] of calls) {
      const e = await Promise.resolve().then(call).then(() => null, (x: unknown) => x);
      expect(e, name).toBeInstanceOf(L.LastmileError);
    }
  });
  it('pretrain() with a seed the RNG would wrap', async () => {
    const { pretrain } = await import('../../src/train/pretrain.js');
    await expect(pretrain({ architecture: 'mnist-cnn', data: episode.support, classes: [0], epochs: 1, seed: 2 ** 32 } as never)).rejects.toThrow(/seed must be an integer in \[0, 4294967295\], got 4294967296/);
  });
  it('Mcu.create({ budget: null }) and Mcu.create(null)', async () => {
    await expect(Mcu.create({ budget: null } as never)).rejects.toThrow(/Mcu\.create needs \{ budget: \{ sramBytes, flashBytes \} \}, got budget null/);
    await expect(Mcu.create(null as never)).rejects.toBeInstanceOf(ConfigError);
  });
  it('parseIdx(null)', () => {
    expect(() => parseIdx(null as never)).toThrow(FormatError);
    expect(() => parseIdx(null as never)).toThrow(/takes the file's bytes as a Uint8Array, got null/);
  });
  it("an unknown build ('gpu') names every build, not only 'auto' or 'scalar'", async () => {
    const e = await Device.create({ build: 'gpu' as never }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).not.toBeInstanceOf(UnsupportedError);
    expect((e as Error).message).toMatch(/unknown build 'gpu'; use auto, scalar, simd, relaxed/);
  });
});

describe('image folders: symbolic links are followed, never skipped silently', () => {
  const png = (v: number) => {
    const image = new PNG({ width: 4, height: 4 });
    for (let i = 0; i < 16; i++) image.data.set([v, v, v, 255], 4 * i);
    return PNG.sync.write(image, { colorType: 0 });
  };
  it('a symlinked class folder and a symlinked image count like real ones (class ids do not shift)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lastmile-bad-folder-'));
    const elsewhere = join(root, 'elsewhere');
    mkdirSync(join(elsewhere, 'b'), { recursive: true });
    writeFileSync(join(elsewhere, 'b', '1.png'), png(200));
    writeFileSync(join(elsewhere, 'c1.png'), png(100));
    const data = join(root, 'data');
    mkdirSync(join(data, 'a'), { recursive: true });
    mkdirSync(join(data, 'c'), { recursive: true });
    writeFileSync(join(data, 'a', '1.png'), png(0));
    symlinkSync(join(elsewhere, 'b'), join(data, 'b'));
    symlinkSync(join(elsewhere, 'c1.png'), join(data, 'c', '1.png'));
    const d = await loadImageFolder(data, { size: [4, 4], channels: 1 });
    expect(d.classNames).toEqual(['a', 'b', 'c']);
    expect(Array.from(d.labels)).toEqual([0, 1, 2]);
    expect(d.images[16]).toBeCloseTo(200 / 255, 5);
  });
  it('a broken link or a FIFO in a class folder is an error naming it', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lastmile-bad-folder-'));
    mkdirSync(join(data, 'a'));
    writeFileSync(join(data, 'a', '1.png'), png(0));
    symlinkSync(join(data, 'missing.png'), join(data, 'a', '2.png'));
    await expect(loadImageFolder(data, { size: [4, 4], channels: 1 })).rejects.toThrow(/'.*a\/2\.png' is a broken symbolic link, not an image file/);
    const data2 = mkdtempSync(join(tmpdir(), 'lastmile-bad-folder-'));
    mkdirSync(join(data2, 'a'));
    execFileSync('mkfifo', [join(data2, 'a', 'x.png')]);
    await expect(loadImageFolder(data2, { size: [4, 4], channels: 1 })).rejects.toThrow(/x\.png' is a FIFO, socket or device, not an image file/);
  });
  it('one image per class with --shots 1: says to add images, not "lower K to at most 0"', async () => {
    const data = mkdtempSync(join(tmpdir(), 'lastmile-bad-folder-'));
    for (const c of ['a', 'b']) {
      mkdirSync(join(data, c));
      writeFileSync(join(data, c, '1.png'), png(c === 'a' ? 0 : 255));
    }
    const r = await lastmile(['adapt', '--data', `folder:${data}`, '--classes', '0-1', '--ways', '2', '--shots', '1', '--out', join(data, '..', `${data.split('/').pop()}-out`)]);
    expectUserError(r, /has 1 images; 1-shot episodes need more than 1 .*add images to it \(every class needs at least 2/);
    expect(r.stderr).not.toMatch(/at most 0/);
  });
});

describe('FileError is typed by reason', () => {
  it('reason is machine-readable', () => {
    expect(new FileError('busy', 'x').family).toBe('file');
  });
});
