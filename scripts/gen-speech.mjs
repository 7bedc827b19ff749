#!/usr/bin/env node
// Renders deterministic spoken-word data sets with Debian's espeak-ng (and sox for 16 kHz) into
// the `wav:DIR` layout, one data set per voice: OUT/<voice>/<word>/<variant>.wav. Nothing here is
// committed: the sets are made on the machine that uses them (tests, experiments) and cached.
//
//   node scripts/gen-speech.mjs [--out .cache/speech/kws] [--words kws|other|all|w1,w2]
//        [--voices en-us,en-gb,...] [--speeds 130,160,190] [--pitches 35,50,65] [--snr 30,15]
//
// Variants: every speed × pitch, each with seeded white noise at every SNR (dB, against the
// clip's RMS). Re-running with the same arguments and espeak-ng version is a no-op (manifest.json).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const KEYWORDS = ['down', 'go', 'left', 'no', 'off', 'on', 'right', 'stop', 'up', 'yes'];
/** Speech Commands' auxiliary words: what the model's 'unknown' class was trained on. */
export const OTHER_WORDS = ['bed', 'bird', 'cat', 'dog', 'happy', 'house', 'marvin', 'sheila', 'tree', 'wow'];
export const DEV_VOICES = ['en-us', 'en-gb', 'en-gb-scotland', 'en-029', 'en+f3', 'en+m3'];

function parseArgs(argv) {
  const o = { out: '.cache/speech/kws', words: 'all', voices: DEV_VOICES.join(','), speeds: '130,160,190', pitches: '35,50,65', snr: '30,15' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, '');
    if (!key || !(key in o) || argv[i + 1] === undefined) throw new Error(`usage: gen-speech.mjs [--out DIR] [--words kws|other|all|a,b] [--voices ..] [--speeds ..] [--pitches ..] [--snr ..]; bad argument '${argv[i]}'`);
    o[key] = argv[i + 1];
  }
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const nums = (s, what, lo, hi) => list(s).map((x) => {
    const v = Number(x);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`--${what}: '${x}' is not an integer in [${lo}, ${hi}]`);
    return v;
  });
  const words = o.words === 'kws' ? KEYWORDS : o.words === 'other' ? OTHER_WORDS : o.words === 'all' ? [...KEYWORDS, ...OTHER_WORDS] : list(o.words);
  for (const w of words) if (!/^[a-z]{1,32}$/.test(w)) throw new Error(`word '${w}' must be 1-32 lower-case letters`);
  const voices = list(o.voices);
  for (const v of voices) if (!/^[a-z0-9+-]{2,40}$/.test(v)) throw new Error(`voice '${v}' is not an espeak-ng voice name`);
  return { out: resolve(o.out), words, voices, speeds: nums(o.speeds, 'speeds', 80, 450), pitches: nums(o.pitches, 'pitches', 0, 99), snr: nums(o.snr, 'snr', -10, 80) };
}

function requireTool(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${cmd} is needed to render speech: install it with 'apt-get install -y ${cmd === 'sox' ? 'sox' : 'espeak-ng'}'`);
  return r.stdout.trim();
}

/** mulberry32 seeded from a string: the noise of one file depends only on its name. */
function seeded(name) {
  let a = createHash('sha256').update(name).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The 16-bit samples of a RIFF/WAVE file as sox writes it (fmt then data). */
function pcm16(bytes) {
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString('latin1', at, at + 4);
    const size = bytes.readUInt32LE(at + 4);
    if (id === 'data') {
      const body = bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + size));
      return new Int16Array(body.buffer.slice(body.byteOffset, body.byteOffset + (body.length & ~1)));
    }
    at += 8 + size + (size & 1);
  }
  throw new Error('sox output has no data chunk');
}

function wavBytes(samples, rate = 16000) {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0, 'latin1'); b.writeUInt32LE(36 + samples.length * 2, 4); b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1'); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1'); b.writeUInt32LE(samples.length * 2, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i], 44 + i * 2);
  return b;
}

function writeAtomic(path, bytes) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

export function generate(options) {
  const espeak = requireTool('espeak-ng', ['--version']);
  requireTool('sox', ['--version']);
  const manifest = { espeak, ...options, out: undefined, format: 1 };
  const manifestPath = join(options.out, 'manifest.json');
  const key = JSON.stringify(manifest);
  if (existsSync(manifestPath) && readFileSync(manifestPath, 'utf8') === key) return { out: options.out, files: 0, cached: true };
  rmSync(options.out, { recursive: true, force: true });
  let files = 0;
  for (const voice of options.voices) {
    for (const word of options.words) {
      const dir = join(options.out, voice, word);
      mkdirSync(dir, { recursive: true });
      for (const speed of options.speeds) {
        for (const pitch of options.pitches) {
          const wav = execFileSync('espeak-ng', ['-v', voice, '-s', String(speed), '-p', String(pitch), '--stdout', word], { maxBuffer: 16 << 20 });
          const resampled = execFileSync('sox', ['-V1', '-t', 'wav', '-', '-t', 'wav', '-r', '16000', '-b', '16', '-c', '1', '-'], { input: wav, maxBuffer: 16 << 20 });
          const clean = pcm16(resampled);
          let energy = 0;
          for (const v of clean) energy += v * v;
          const rms = Math.sqrt(energy / Math.max(1, clean.length));
          for (const snr of options.snr) {
            const variant = `${voice}_s${speed}_p${pitch}_snr${snr}`;
            const random = seeded(`${word}/${variant}`);
            const sigma = rms / 10 ** (snr / 20);
            const noisy = new Int16Array(clean.length);
            for (let i = 0; i < clean.length; i++) {
              const g = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
              noisy[i] = Math.max(-32768, Math.min(32767, Math.round(clean[i] + sigma * g)));
            }
            writeAtomic(join(dir, `${variant}.wav`), wavBytes(noisy));
            files++;
          }
        }
      }
    }
  }
  writeAtomic(manifestPath, key);
  return { out: options.out, files, cached: false };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const r = generate(parseArgs(process.argv.slice(2)));
    console.log(r.cached ? `${r.out}: up to date` : `${r.out}: wrote ${r.files} clips`);
  } catch (e) {
    console.error(`gen-speech: ${e.message}`);
    process.exit(1);
  }
}
