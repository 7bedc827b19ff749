// The keyword-spotting front end the C export ships (runtime/lm_mfcc.c, mfcc.c) against the
// emulated device's (assembly/mfcc.ts): espeak-ng speech rendered here, plus edge clips (digital
// silence, all-negative, full-scale clipping, a pure tone), through `make mfcc-host` (the host cc)
// and `make mfcc-qemu` on three boards of the export (Cortex-M4, M7, M33; on the M55 board mfcc.c's fopen of clips.s16 fails, not yet understood): every int8
// feature bit for bit. The Arm runs also print instructions per clip (SysTick under -icount
// shift=0), which src/cost/mfcc-cost.ts quotes.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
// @ts-expect-error plain ESM script without types
import { generate } from '../../scripts/gen-speech.mjs';
import { readWavClip } from '../../src/audio/wav.js';
import { Arena } from '../../src/device/arena.js';
import { Device } from '../../src/device/device.js';
import { mfccKwsClip, KWS_SAMPLES } from '../../src/kernels/mfcc.js';
import { exportC, modelPath } from './harness.js';

function make(dir: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    execFile('make', ['-s', ...args], { cwd: dir, timeout: 10 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => (err ? rej(new Error(`make ${args.join(' ')}: ${err.message}\n${stderr}`)) : res(stdout)));
  });
}

const hex = (a: Int8Array) => Array.from(a, (v) => (v & 0xff).toString(16).padStart(2, '0')).join('');

let dir = '';
const clips: Int16Array[] = [];

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'lm-mfcc-'));
  const speech = join(root, 'speech');
  generate({ out: speech, words: ['yes', 'stop', 'house', 'up'], voices: ['en-us', 'en-gb-scotland', 'en+f3'], speeds: [130, 190], pitches: [50], snr: [30, 15] });
  for (const voice of (await readdir(speech)).filter((v) => !v.endsWith('.json')).sort()) {
    for (const word of (await readdir(join(speech, voice))).sort()) {
      for (const f of (await readdir(join(speech, voice, word))).sort()) clips.push(await readWavClip(join(speech, voice, word, f)));
    }
  }
  const tone = Int16Array.from({ length: KWS_SAMPLES }, (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * 1000 * i) / 16000)));
  clips.push(new Int16Array(KWS_SAMPLES), new Int16Array(KWS_SAMPLES).fill(-5), Int16Array.from(clips[0]!, (v) => Math.max(-32768, Math.min(32767, v * 8))), tone);
  dir = join(root, 'c');
  // Any exportable model ships the front end; a short head run keeps the export quick.
  await exportC(['--train', 'head', '--steps', '1', '--batch-size', '5', '--queries', '5'], ['--model', modelPath('mnist-cnn-digits04.lmdl')], dir);
  const raw = new Uint8Array(clips.length * KWS_SAMPLES * 2);
  clips.forEach((c, i) => raw.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), i * KWS_SAMPLES * 2));
  await writeFile(join(dir, 'clips.s16'), raw);
});

function parse(stdout: string): { features: string[]; ticks: number[]; nops: number } {
  const features: string[] = [];
  const ticks: number[] = [];
  let nops = 0;
  for (const line of stdout.split('\n')) {
    const c = /^clip (\d+) ([0-9a-f]+)$/.exec(line);
    if (c) features[Number(c[1])] = c[2]!;
    const t = /^ticks (\d+) (\d+)$/.exec(line);
    if (t) ticks[Number(t[1])] = Number(t[2]);
    const n = /^calibration-100000-nops (\d+)$/.exec(line);
    if (n) nops = Number(n[1]);
  }
  return { features, ticks, nops };
}

describe('the exported C front end against the emulated device, bit for bit', () => {
  it('host cc and QEMU Cortex-M4 / M7 / M33 give the device features on espeak-ng speech and edge clips', async () => {
    expect(clips.length).toBe(3 * 4 * 4 + 4);
    const device = await Device.create({ build: 'scalar', arenaBytes: 64 * 1024 });
    const arena = new Arena(device);
    const want = clips.map((c) => hex(mfccKwsClip(arena, c).features));
    // The edge clips are distinct from each other (silence and all-negative both read as silence).
    expect(new Set(want).size).toBeGreaterThanOrEqual(clips.length - 1);
    const host = parse(await make(dir, ['mfcc-host']));
    expect(host.features.length).toBe(clips.length);
    host.features.forEach((f, i) => expect({ clip: i, f }).toEqual({ clip: i, f: want[i] }));
    const perCore: Record<string, number> = {};
    for (const cpu of ['cortex-m4', 'cortex-m7', 'cortex-m33']) {
      const arm = parse(await make(dir, ['mfcc-qemu', `CPU=${cpu}`]));
      expect(arm.features.length).toBe(clips.length);
      arm.features.forEach((f, i) => expect({ cpu, clip: i, f }).toEqual({ cpu, clip: i, f: want[i] }));
      // Ticks → instructions with the board's NOP calibration; speech clips only (silence skips the FFT).
      const perTick = 100000 / arm.nops;
      const speech = arm.ticks.slice(0, clips.length - 4).map((t) => t * perTick);
      perCore[cpu] = speech.reduce((a, b) => a + b, 0) / speech.length;
      console.log(`${cpu}: ${Math.round(perCore[cpu]!)} instructions per clip (min ${Math.round(Math.min(...speech))}, max ${Math.round(Math.max(...speech))}), ${perTick} per tick`);
    }
  });
});
