// `lastmile experiment kws`: the MLPerf Tiny keyword spotter (kws_ref_model.tflite, int8 DS-CNN)
// on spoken keywords rendered offline by espeak-ng, features from the device's own front end.
// Zero-shot: the imported model as it is, per development voice (argmax over the ten keywords on
// keyword clips; and the 12-way decision with the Speech Commands auxiliary words as 'unknown').
// Needs espeak-ng + sox (the speech set) and the model file (../shared/mlperf-tiny beside the repo,
// or LASTMILE_KWS_TFLITE).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { ConfigError, DataError } from '../errors.js';
import type { QuantizedModel } from '../model/model.js';
import { importTflite } from '../tflite/import.js';
import { createInt8Runner } from '../tflite/run.js';
import { loadWavFolder } from '../data/wav-folder.js';
import { mfccFootprint, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT } from '../kernels/mfcc.js';
import { packageRoot } from '../util/package-root.js';
import { secondsSince, type ExperimentOptions } from './common.js';

export const KWS_LABELS = ['down', 'go', 'left', 'no', 'off', 'on', 'right', 'stop', 'up', 'yes', 'silence', 'unknown'] as const;
export const KWS_KEYWORDS = KWS_LABELS.slice(0, 10);
export const KWS_VOICES = ['en-us', 'en-gb', 'en-gb-scotland', 'en-029', 'en+f3', 'en+m3'] as const;
const UNKNOWN = 11;

export interface KwsVoiceRow {
  voice: string;
  clips: number;
  keywordClips: number;
  /** Accuracy (%) of the argmax over the ten keyword outputs, on keyword clips. */
  keywordAccuracy: number;
  /** Accuracy (%) of the 12-way argmax, auxiliary words counted correct as 'unknown'. */
  twelveWayAccuracy: number;
  /** Per keyword: correct out of clips. */
  perWord: Record<string, [number, number]>;
}

export interface KwsResult {
  experiment: 'kws';
  model: { file: string; sha256Prefix: string; inputScale: number; inputZeroPoint: number };
  speech: { dir: string; voices: string[]; clipsPerWord: number; espeak: string };
  frontEnd: ReturnType<typeof mfccFootprint>;
  zeroShot: KwsVoiceRow[];
  seconds: number;
}

export function kwsModelPath(): string {
  return process.env.LASTMILE_KWS_TFLITE ?? resolve(packageRoot(), '../shared/mlperf-tiny/kws_ref_model.tflite');
}

export function speechDir(): string {
  return join(packageRoot(), '.cache', 'speech', 'kws');
}

/** Renders (or finds cached) the development speech set with scripts/gen-speech.mjs. */
export function ensureSpeech(say: (line: string) => void = () => {}): string {
  const out = speechDir();
  const r = spawnSync(process.execPath, [join(packageRoot(), 'scripts', 'gen-speech.mjs'), '--out', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new DataError(`rendering the speech set failed: ${(r.stderr || r.stdout).trim()} (needs 'apt-get install -y espeak-ng sox')`);
  say(r.stdout.trim());
  return out;
}

export async function loadKwsModel(): Promise<{ model: QuantizedModel; path: string; bytes: Uint8Array }> {
  const path = kwsModelPath();
  if (!existsSync(path)) throw new ConfigError(`the KWS experiment needs ${path} (MLPerf Tiny's kws_ref_model.tflite); put ../shared/mlperf-tiny beside the repository or set LASTMILE_KWS_TFLITE`);
  const bytes = new Uint8Array(await readFile(path));
  const model = importTflite(bytes, path, { labels: [...KWS_LABELS] });
  if (!('activations' in model)) throw new ConfigError(`${path} is not an int8 model`);
  return { model: model as QuantizedModel, path, bytes };
}

/** int8 model inputs from wav-folder features (which hold (q − zp)·scale). */
export function toInt8(images: Float32Array, scale = KWS_INPUT_SCALE, zeroPoint = KWS_INPUT_ZERO_POINT): Int8Array {
  return Int8Array.from(images, (v) => Math.max(-128, Math.min(127, Math.round(v / scale) + zeroPoint)));
}

export async function runKws(options: ExperimentOptions = {}): Promise<KwsResult> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => {});
  const dir = ensureSpeech();
  const { model, path, bytes } = await loadKwsModel();
  const { createHash } = await import('node:crypto');
  const runner = await createInt8Runner(model, { batch: 1 });
  const voices = options.quick ? KWS_VOICES.slice(0, 2) : KWS_VOICES;
  const zeroShot: KwsVoiceRow[] = [];
  let clipsPerWord = 0;
  for (const [v, voice] of voices.entries()) {
    const data = await loadWavFolder(join(dir, voice), { classOrder: [...KWS_LABELS] });
    const n = data.labels.length;
    const out = runner.run(toInt8(data.images));
    let kwOk = 0, kwN = 0, ok12 = 0;
    const perWord: Record<string, [number, number]> = {};
    for (let i = 0; i < n; i++) {
      const row = out.subarray(i * 12, i * 12 + 12);
      const label = data.labels[i]!;
      let a12 = 0;
      for (let c = 1; c < 12; c++) if (row[c]! > row[a12]!) a12 = c;
      if (a12 === (label < 10 ? label : UNKNOWN)) ok12++;
      if (label < 10) {
        let a = 0;
        for (let c = 1; c < 10; c++) if (row[c]! > row[a]!) a = c;
        const word = KWS_LABELS[label]!;
        const cell = (perWord[word] ??= [0, 0]);
        cell[1]++;
        kwN++;
        if (a === label) {
          cell[0]++;
          kwOk++;
        }
      }
    }
    clipsPerWord = perWord.down?.[1] ?? 0;
    zeroShot.push({ voice, clips: n, keywordClips: kwN, keywordAccuracy: (100 * kwOk) / kwN, twelveWayAccuracy: (100 * ok12) / n, perWord });
    progress(v + 1, voices.length, `zero-shot ${voice}`);
  }
  const espeak = spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' }).stdout.trim();
  return {
    experiment: 'kws',
    model: { file: relative(packageRoot(), path), sha256Prefix: createHash('sha256').update(bytes).digest('hex').slice(0, 12), inputScale: KWS_INPUT_SCALE, inputZeroPoint: KWS_INPUT_ZERO_POINT },
    speech: { dir: relative(packageRoot(), dir), voices: [...voices], clipsPerWord, espeak },
    frontEnd: mfccFootprint(),
    zeroShot,
    seconds: secondsSince(t0),
  };
}
