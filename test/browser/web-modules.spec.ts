// The page's pure modules, checked in Node: the hash it shows, the bundled sample file, its seeded
// split and the drawing → 28×28 input conversion.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drawingToInput } from '../../web/src/drawing-input.js';
import { parseSampleSet, splitSampleSet } from '../../web/src/samples.js';
import { sha256Hex } from '../../web/src/sha256.js';
import { assembleTrainingData } from '../../web/src/training-data.js';

const SAMPLES = join(import.meta.dirname, '..', '..', 'web', 'assets', 'digits-5to9.bin');

describe('sha256Hex', () => {
  it('equals node:crypto on lengths around the 64-byte block and padding boundaries', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 4097]) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 17) & 255);
      expect(sha256Hex(data), `length ${n}`).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });
});

describe('bundled sample set', () => {
  it('holds 200 images of each of the digits 5–9 in well under 1.5 MB', async () => {
    const bytes = new Uint8Array(await readFile(SAMPLES));
    expect((await stat(SAMPLES)).size).toBeLessThan(1.5e6);
    const set = parseSampleSet(bytes);
    expect(set.classNames).toEqual(['5', '6', '7', '8', '9']);
    expect([set.height, set.width, set.count]).toEqual([28, 28, 1000]);
    for (let c = 0; c < 5; c++) expect(set.labels.filter((l) => l === c).length).toBe(200);
    // Real digits, not blank frames: every image has ink.
    for (let i = 0; i < set.count; i++) expect(set.pixels.subarray(i * 784, (i + 1) * 784).some((p) => p > 128)).toBe(true);
  });

  it('refuses a truncated or foreign file with a message that says how to regenerate it', async () => {
    const bytes = new Uint8Array(await readFile(SAMPLES));
    expect(() => parseSampleSet(bytes.subarray(0, bytes.length - 1))).toThrow(/gen-web-samples/);
    expect(() => parseSampleSet(new TextEncoder().encode('not a sample set at all'))).toThrow(/LMSD/);
  });

  it('splits per class by seed: disjoint, the same for the same seed, different for another', async () => {
    const set = parseSampleSet(new Uint8Array(await readFile(SAMPLES)));
    const a = splitSampleSet(set, { shotsPerClass: 10, seed: 1 });
    expect(a.train).toHaveLength(50);
    expect(a.heldOut).toHaveLength(950);
    expect(new Set([...a.train, ...a.heldOut]).size).toBe(1000);
    expect(splitSampleSet(set, { shotsPerClass: 10, seed: 1 })).toEqual(a);
    expect(splitSampleSet(set, { shotsPerClass: 10, seed: 2 }).train).not.toEqual(a.train);
    expect(() => splitSampleSet(set, { shotsPerClass: 200, seed: 1 })).toThrow(/none held out/);
  });

  it('adds drawn examples to a bundled class and keeps drawn-only classes out of the held-out set', async () => {
    const set = parseSampleSet(new Uint8Array(await readFile(SAMPLES)));
    const drawn = new Float32Array(784).fill(0.5);
    const data = assembleTrainingData(set, [{ name: '5', bundled: 0, drawn: [drawn] }, { name: '★', bundled: null, drawn: [drawn, drawn] }], { shotsPerClass: 4, seed: 3 });
    expect(Array.from(data.train.labels)).toEqual([0, 0, 0, 0, 0, 1, 1]);
    expect(data.train.classNames).toEqual(['5', '★']);
    expect(data.heldOut!.labels.every((l) => l === 0)).toBe(true);
    expect(data.heldOut!.labels).toHaveLength(196);
    expect(() => assembleTrainingData(set, [{ name: 'a', bundled: null, drawn: [] }, { name: 'b', bundled: null, drawn: [drawn] }], { shotsPerClass: 4, seed: 1 })).toThrow(/'a' has no examples/);
  });
});

describe('drawingToInput', () => {
  it('scales a small off-centre mark to a 20-pixel box centred by mass, like MNIST', () => {
    const side = 224;
    const ink = new Float32Array(side * side);
    // A solid 30×60 bar near the top-left corner.
    for (let y = 10; y < 70; y++) for (let x = 20; x < 50; x++) ink[y * side + x] = 1;
    const input = drawingToInput(ink, side, side)!;
    let top = 28, bottom = -1, left = 28, right = -1, mass = 0, cx = 0, cy = 0;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = input[y * 28 + x]!;
        if (v > 0.5) [top, bottom, left, right] = [Math.min(top, y), Math.max(bottom, y), Math.min(left, x), Math.max(right, x)];
        mass += v;
        cx += v * (x + 0.5);
        cy += v * (y + 0.5);
      }
    }
    expect(bottom - top + 1).toBe(20);
    expect(right - left + 1).toBe(10);
    expect(Math.abs(cx / mass - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(cy / mass - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.max(...input)).toBe(1);
  });

  it('returns null for an empty pad', () => {
    expect(drawingToInput(new Float32Array(100 * 100), 100, 100)).toBeNull();
  });
});
