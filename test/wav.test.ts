import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav, parseWav, readWavClip, resample, toClip, MAX_WAV_BYTES } from '../src/audio/wav.js';
import { ConfigError, DataError, FormatError, UnsupportedError } from '../src/errors.js';
import { loadData, parseClassList } from '../src/data/source.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { KWS_FEATURES, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT, createMfccFrontEnd } from '../src/kernels/mfcc.js';
import { synthClip } from './helpers/synth-audio.js';

/** A WAV header + data with arbitrary format fields (for 8-bit, stereo and hostile files). */
function rawWav(o: { format?: number; channels?: number; rate?: number; bits?: number; blockAlign?: number; data: Uint8Array; dataSize?: number; fmtSize?: number }): Uint8Array {
  const channels = o.channels ?? 1, bits = o.bits ?? 16, rate = o.rate ?? 16000;
  const fmtSize = o.fmtSize ?? 16;
  const b = new Uint8Array(12 + 8 + fmtSize + 8 + o.data.length);
  const v = new DataView(b.buffer);
  const put = (at: number, s: string) => [...s].forEach((c, i) => (b[at + i] = c.charCodeAt(0)));
  put(0, 'RIFF'); v.setUint32(4, b.length - 8, true); put(8, 'WAVE');
  put(12, 'fmt '); v.setUint32(16, fmtSize, true);
  v.setUint16(20, o.format ?? 1, true); v.setUint16(22, channels, true); v.setUint32(24, rate, true);
  v.setUint32(28, rate * channels * (bits / 8), true); v.setUint16(32, o.blockAlign ?? channels * (bits / 8), true); v.setUint16(34, bits, true);
  const d = 20 + fmtSize;
  put(d, 'data'); v.setUint32(d + 4, o.dataSize ?? o.data.length, true);
  b.set(o.data, d + 8);
  return b;
}

function tone(rate: number, freq: number, seconds: number, amp = 0.5): Float64Array {
  return Float64Array.from({ length: Math.round(rate * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));
}

function power(x: Float64Array, freq: number, rate: number): number {
  let re = 0, im = 0;
  for (let i = 0; i < x.length; i++) {
    re += x[i]! * Math.cos((2 * Math.PI * freq * i) / rate);
    im += x[i]! * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (re * re + im * im) / (x.length * x.length);
}

describe('WAV reader', () => {
  it('reads 16-bit mono, 8-bit unsigned and stereo (averaged) PCM exactly', () => {
    const s16 = Int16Array.from([0, 1000, -1000, 32767, -32768]);
    expect(Array.from(parseWav(encodeWav(s16)).samples)).toEqual(Array.from(s16, (v) => v / 32768));
    const u8 = parseWav(rawWav({ bits: 8, data: Uint8Array.from([128, 255, 0, 192]) }));
    expect(Array.from(u8.samples)).toEqual([0, 127 / 128, -1, 0.5]);
    const st = new Int16Array([1000, 3000, -2000, 0]);
    const stereo = parseWav(rawWav({ channels: 2, data: new Uint8Array(st.buffer) }));
    expect(Array.from(stereo.samples)).toEqual([2000 / 32768, -1000 / 32768]);
    const extensible = rawWav({ format: 0xfffe, fmtSize: 40, data: new Uint8Array(4) });
    extensible[20 + 24] = 1; // sub-format GUID starts with the PCM tag
    expect(parseWav(extensible).samples.length).toBe(2);
    extensible[20 + 24] = 3; // IEEE float
    expect(() => parseWav(extensible)).toThrow(UnsupportedError);
  });

  it('rejects hostile and unsupported files with typed errors', () => {
    const good = encodeWav(new Int16Array(100));
    expect(() => parseWav(good.subarray(0, 8))).toThrow(FormatError);
    expect(() => parseWav(new TextEncoder().encode('RIFF....AVI LIST'))).toThrow(FormatError);
    expect(() => parseWav(rawWav({ data: new Uint8Array(10), dataSize: 1_000_000 }))).toThrow(FormatError);
    expect(() => parseWav(rawWav({ format: 3, bits: 16, data: new Uint8Array(8) }))).toThrow(UnsupportedError);
    expect(() => parseWav(rawWav({ bits: 24, blockAlign: 3, data: new Uint8Array(6) }))).toThrow(UnsupportedError);
    expect(() => parseWav(rawWav({ channels: 6, data: new Uint8Array(12) }))).toThrow(UnsupportedError);
    expect(() => parseWav(rawWav({ rate: 1000, data: new Uint8Array(8) }))).toThrow(UnsupportedError);
    expect(() => parseWav(rawWav({ rate: 192000, data: new Uint8Array(8) }))).toThrow(UnsupportedError);
    expect(() => parseWav(rawWav({ blockAlign: 7, data: new Uint8Array(8) }))).toThrow(FormatError);
    expect(() => parseWav(rawWav({ fmtSize: 8, data: new Uint8Array(8) }))).toThrow(FormatError);
    expect(() => parseWav(rawWav({ data: new Uint8Array(1) }))).toThrow(DataError);
    expect(() => parseWav(good.subarray(0, 36))).toThrow(FormatError); // fmt but no data chunk
    expect(() => parseWav(new Uint8Array(MAX_WAV_BYTES + 1))).toThrow(FormatError);
    // Random byte soup never escapes as anything but a typed error.
    let seed = 7;
    for (let t = 0; t < 300; t++) {
      const b = good.slice();
      for (let k = 0; k < 6; k++) b[(seed = (seed * 1103515245 + 12345) >>> 0) % 44] = seed >>> 24;
      try {
        parseWav(b);
      } catch (e) {
        expect(e instanceof FormatError || e instanceof UnsupportedError || e instanceof DataError, String(e)).toBe(true);
      }
    }
  });

  it('resamples 8, 22.05, 44.1 and 48 kHz to 16 kHz: tones keep their level, content above 8 kHz is removed', () => {
    for (const rate of [8000, 11025, 22050, 24000, 32000, 44100, 48000]) {
      const x = resample(tone(rate, 1000, 0.5), rate);
      expect(Math.abs(x.length - 8000)).toBeLessThanOrEqual(1);
      const mid = x.subarray(1000, 7000);
      expect(Math.abs(Math.sqrt(power(mid, 1000, 16000)) - 0.25)).toBeLessThan(0.005); // |amplitude/2|
      if (rate > 16000) {
        const alias = resample(tone(rate, 10000, 0.5), rate).subarray(1000, 7000);
        // 10 kHz would alias to 6 kHz; it must be attenuated by at least 60 dB.
        expect(Math.sqrt(power(alias, 6000, 16000)) / 0.25).toBeLessThan(1e-3);
      }
    }
  });

  it('clip policy: short clips are centred, long ones keep their loudest second', () => {
    const short = new Float64Array(8000).fill(0.5);
    const c = toClip(short);
    expect(c.length).toBe(16000);
    expect(c[3999]).toBe(0);
    expect(c[4000]).toBe(16384);
    expect(c[11999]).toBe(16384);
    expect(c[12000]).toBe(0);
    const long = new Float64Array(48000);
    long.fill(0.25, 30000, 36000);
    const l = toClip(long);
    const nonzero = [...l].map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
    expect(nonzero.length).toBe(6000);
    expect(toClip(Float64Array.from([2, -2]), 2)).toEqual(Int16Array.from([32767, -32768]));
  });

  it('reads a file from disk into a 1 s 16 kHz clip', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wav-'));
    const clip = synthClip('speech', 11);
    writeFileSync(join(dir, 'a.wav'), encodeWav(clip));
    expect(await readWavClip(join(dir, 'a.wav'))).toEqual(clip);
    await expect(readWavClip(join(dir, 'missing.wav'))).rejects.toThrow(DataError);
  });
});

describe('wav:DIR data source', () => {
  function makeFolder(classes: string[], perClass: number): string {
    const dir = mkdtempSync(join(tmpdir(), 'wavdir-'));
    classes.forEach((name, c) => {
      mkdirSync(join(dir, name));
      for (let i = 0; i < perClass; i++) writeFileSync(join(dir, name, `v${i}.wav`), encodeWav(synthClip(c % 2 ? 'tone' : 'speech', c * 100 + i)));
    });
    return dir;
  }

  it('names classes after folders (or the model labels), computes device MFCC features, and samples episodes by name', async () => {
    const dir = makeFolder(['yes', 'no', 'cat'], 4);
    const frontEnd = await createMfccFrontEnd();
    await expect(loadData(`wav:${dir}`)).rejects.toThrow(ConfigError); // no front end: a user error, not a crash
    const d = await loadData(`wav:${dir}`, 'test', undefined, { frontEnd });
    expect(d.classNames).toEqual(['cat', 'no', 'yes']);
    expect(d.shape).toEqual([49, 10, 1]);
    expect(d.images.length).toBe(12 * KWS_FEATURES);
    // Features are dequantized int8 values of the model's input quantization.
    for (const v of d.images.subarray(0, KWS_FEATURES)) {
      const q = Math.round(v / KWS_INPUT_SCALE) + KWS_INPUT_ZERO_POINT;
      expect(Math.abs((q - KWS_INPUT_ZERO_POINT) * KWS_INPUT_SCALE - v)).toBeLessThan(1e-5);
      expect(q).toBeGreaterThanOrEqual(-128);
      expect(q).toBeLessThanOrEqual(127);
    }
    const labels = ['down', 'go', 'left', 'no', 'off', 'on', 'right', 'stop', 'up', 'yes', 'silence', 'unknown'];
    const m = await loadData(`wav:${dir}`, 'test', undefined, { frontEnd, classOrder: labels });
    expect(m.classNames).toEqual([...labels, 'cat']);
    expect(m.classes).toBe(13);
    expect(parseClassList('yes,no', m.classNames)).toEqual([9, 3]);
    expect(parseClassList('12', m.classNames)).toEqual([12]);
    const e1 = sampleEpisode(m, { classPool: parseClassList('yes,no,cat', m.classNames), ways: 2, shots: 2, queries: 1, seed: 3 });
    const e2 = sampleEpisode(m, { classPool: parseClassList('yes,no,cat', m.classNames), ways: 2, shots: 2, queries: 1, seed: 3 });
    expect(e1.support.labels.length).toBe(4);
    expect(e1.query.labels.length).toBe(2);
    expect(e1.classIds).toEqual(e2.classIds);
    expect(e1.support.images).toEqual(e2.support.images);
  });

  it('refuses folders that are not a class layout, with typed errors', async () => {
    const audio = { frontEnd: await createMfccFrontEnd() };
    await expect(loadData('wav:/nonexistent/dir', 'test', undefined, audio)).rejects.toThrow(DataError);
    const one = makeFolder(['yes'], 1);
    await expect(loadData(`wav:${one}`, 'test', undefined, audio)).rejects.toThrow(DataError);
    const empty = makeFolder(['yes', 'no'], 1);
    mkdirSync(join(empty, 'up'));
    await expect(loadData(`wav:${empty}`, 'test', undefined, audio)).rejects.toThrow(DataError);
    const bad = makeFolder(['yes', 'no'], 1);
    writeFileSync(join(bad, 'no', 'broken.wav'), new Uint8Array(20));
    await expect(loadData(`wav:${bad}`, 'test', undefined, audio)).rejects.toThrow(FormatError);
  });
});
