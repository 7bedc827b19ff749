// The device front end and the wav:DIR path on speech rendered by espeak-ng: six development
// voices × 20 words × 18 variants (speed, pitch, seeded noise), generated into .cache/speech.
import { describe, it, expect, beforeAll } from 'vitest';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeAllBenches, type Bench } from '../helpers/devices.js';
import { mfccRef, quantizeRef } from '../reference/mfcc-ref.js';
import { KWS_FEATURES, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT, createMfccFrontEnd, mfccKwsClip } from '../../src/kernels/mfcc.js';
import { readWavClip } from '../../src/audio/wav.js';
import { loadData } from '../../src/data/source.js';
// @ts-expect-error plain ESM script without types
import { generate, KEYWORDS, OTHER_WORDS, DEV_VOICES } from '../../scripts/gen-speech.mjs';

const OUT = resolve(import.meta.dirname, '../../.cache/speech/kws');
let benches: Bench[];

beforeAll(async () => {
  generate({ out: OUT, words: [...KEYWORDS, ...OTHER_WORDS], voices: DEV_VOICES, speeds: [130, 160, 190], pitches: [35, 50, 65], snr: [30, 15] });
  benches = await makeAllBenches(1 << 20);
});

describe('espeak-ng speech through the device front end', () => {
  it('renders every voice × word × variant deterministically', () => {
    for (const voice of DEV_VOICES as string[]) {
      expect(readdirSync(join(OUT, voice)).sort()).toEqual([...KEYWORDS, ...OTHER_WORDS].sort());
      for (const word of KEYWORDS as string[]) expect(readdirSync(join(OUT, voice, word)).length).toBe(18);
    }
  });

  it('MFCC within 1 input LSB of float64 on every clip, bit-identical across builds', async () => {
    let clips = 0, maxLsb = 0, differ = 0, maxContinuous = 0, sum = 0;
    const perVoice: Record<string, number> = {};
    for (const voice of DEV_VOICES as string[]) {
      for (const word of [...KEYWORDS, ...OTHER_WORDS] as string[]) {
        for (const file of readdirSync(join(OUT, voice, word)).sort()) {
          const clip = await readWavClip(join(OUT, voice, word, file));
          const ref = mfccRef(clip);
          const refQ = quantizeRef(ref, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT);
          const [first, ...rest] = benches.map((b) => mfccKwsClip(b.arena, clip, undefined, true));
          for (const r of rest) expect(r.features).toEqual(first!.features);
          for (let i = 0; i < KWS_FEATURES; i++) {
            const d = Math.abs(first!.features[i]! - refQ[i]!);
            if (d) differ++;
            maxLsb = Math.max(maxLsb, d);
            const e = Math.abs(first!.q16![i]! / 65536 - ref[i]!) / KWS_INPUT_SCALE;
            maxContinuous = Math.max(maxContinuous, e);
            perVoice[voice] = Math.max(perVoice[voice] ?? 0, e);
            sum += e;
          }
          clips++;
        }
      }
    }
    console.log(
      `espeak-ng MFCC, ${clips} clips × ${KWS_FEATURES} values: max |q_device − q_ref| = ${maxLsb} LSB, ${differ} values (${((100 * differ) / (clips * KWS_FEATURES)).toFixed(4)}%) differ by 1; ` +
        `unquantized error max ${maxContinuous.toFixed(5)} LSB, mean ${(sum / (clips * KWS_FEATURES)).toExponential(2)} LSB; worst per voice ${JSON.stringify(Object.fromEntries(Object.entries(perVoice).map(([k, v]) => [k, +v.toFixed(5)])))}`,
    );
    expect(clips).toBeGreaterThanOrEqual(1000);
    expect(maxLsb).toBeLessThanOrEqual(1);
    expect(maxContinuous).toBeLessThan(0.5);
  });

  it('loads a voice as wav:DIR with the model labels as class ids', async () => {
    const labels = ['down', 'go', 'left', 'no', 'off', 'on', 'right', 'stop', 'up', 'yes', 'silence', 'unknown'];
    const d = await loadData(`wav:${join(OUT, 'en-029')}`, 'test', undefined, { frontEnd: await createMfccFrontEnd(), classOrder: labels });
    expect(d.classNames!.slice(0, 12)).toEqual(labels);
    expect(d.labels.length).toBe(20 * 18);
    expect(new Set(d.labels).size).toBe(20);
  });
});
