import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIdx, readIdxFile, datasetFromIdx } from '../src/data/idx.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { validateDataset, selectClasses, type Dataset } from '../src/data/dataset.js';
import { DataError, FormatError, ConfigError } from '../src/errors.js';

function idx(dims: number[], data: number[]): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header.set([0, 0, 8, dims.length]);
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  return Uint8Array.from([...header, ...data]);
}

describe('IDX reader', () => {
  it('parses images and labels, raw and gzip', async () => {
    const images = idx([2, 2, 3], [0, 255, 10, 20, 30, 40, 1, 2, 3, 4, 5, 6]);
    const labels = idx([2], [7, 3]);
    const dir = mkdtempSync(join(tmpdir(), 'lastmile-idx-'));
    writeFileSync(join(dir, 'img.gz'), gzipSync(images));
    writeFileSync(join(dir, 'lab'), labels);
    const d = datasetFromIdx('t', await readIdxFile(join(dir, 'img.gz')), await readIdxFile(join(dir, 'lab')));
    expect(d.shape).toEqual([2, 3, 1]);
    expect(Array.from(d.labels)).toEqual([7, 3]);
    expect(d.images[1]).toBeCloseTo(1);
  });

  it('rejects truncated, mis-typed and hostile files with FormatError before allocating', () => {
    expect(() => parseIdx(idx([2, 2, 3], [1, 2, 3]))).toThrow(/truncated or corrupt/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]))).toThrow(/not supported/);
    expect(() => parseIdx(Uint8Array.from([80, 75, 3, 4]))).toThrow(/not an IDX file/);
    // 4 billion × 4 billion declared: must fail on the size check, not try to allocate.
    expect(() => parseIdx(idx([0xffffffff, 0xffffffff], []))).toThrow(FormatError);
    expect(() => datasetFromIdx('t', parseIdx(idx([1, 1, 1], [0])), parseIdx(idx([1], [12])))).toThrow(DataError);
  });

  it('a missing file is a DataError that names it', async () => {
    await expect(readIdxFile('/nonexistent/train-images-idx3-ubyte')).rejects.toThrow(/cannot read IDX file/);
  });
});

describe('datasets and few-shot episodes', () => {
  const tiny = (): Dataset => ({
    name: 'tiny', shape: [1, 1, 1], classes: 4,
    images: Float32Array.from({ length: 40 }, (_, i) => i / 40),
    labels: Int32Array.from({ length: 40 }, (_, i) => i % 4),
  });

  it('validation catches NaN pixels and labels out of range', () => {
    const bad = tiny();
    bad.images[5] = Number.NaN;
    expect(() => validateDataset(bad)).toThrow(/NaN/);
    const badLabel = tiny();
    badLabel.labels[3] = 9;
    expect(() => validateDataset(badLabel)).toThrow(/label 9/);
  });

  it('episodes are deterministic by seed, relabelled 0..N−1, and support/query are disjoint', () => {
    const d = tiny();
    const a = sampleEpisode(d, { classPool: [1, 2, 3], ways: 2, shots: 3, seed: 5 });
    const b = sampleEpisode(d, { classPool: [1, 2, 3], ways: 2, shots: 3, seed: 5 });
    expect(Array.from(a.support.images)).toEqual(Array.from(b.support.images));
    expect(a.support.labels.length).toBe(6);
    expect(new Set(a.support.labels)).toEqual(new Set([0, 1]));
    const supportValues = new Set(a.support.images);
    for (const v of a.query.images) expect(supportValues.has(v)).toBe(false);
    const c = sampleEpisode(d, { classPool: [1, 2, 3], ways: 2, shots: 3, seed: 6 });
    expect(Array.from(c.support.images)).not.toEqual(Array.from(a.support.images));
  });

  it('impossible episodes get clear errors', () => {
    const d = tiny();
    expect(() => sampleEpisode(d, { classPool: [1, 2], ways: 3, shots: 1, seed: 1 })).toThrow(ConfigError);
    expect(() => sampleEpisode(d, { classPool: [1, 2], ways: 2, shots: 10, seed: 1 })).toThrow(/need more than 10/);
    const empty = selectClasses(d, [0, 1]);
    empty.classes = 4;
    expect(() => sampleEpisode(empty, { classPool: [2, 3], ways: 2, shots: 1, seed: 1 })).toThrow(/has no images/);
  });

  it('bundled MNIST has 10 balanced classes of 28×28 digits in [0, 1]', async () => {
    const m = await loadBundledMnist();
    expect(m.labels.length).toBe(10000);
    expect(m.shape).toEqual([28, 28, 1]);
    validateDataset(m);
    const counts = new Array(10).fill(0);
    for (const l of m.labels) counts[l]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});
