// A folder of spoken-word WAV clips, one sub-folder per class (DIR/<word>/<clip>.wav), read into a
// Dataset of MLPerf Tiny KWS features: each clip becomes 1 s of 16 kHz int16 audio (src/audio/wav.ts)
// and then 49 × 10 int8 MFCC from the front end the caller passes in: the device's own fixed-point
// one (createMfccFrontEnd in src/kernels/mfcc.ts; data sits below the device layer, so it is
// injected), so training and inference see exactly the features the MCU would compute. Samples hold
// the real MFCC values (q − zero point) · scale, which the model's input quantization maps back to
// the same int8.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, DataError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { readWavClip } from '../audio/wav.js';

export const KWS_FRAMES = 49;
export const KWS_COEFFS = 10;
const KWS_FEATURES = KWS_FRAMES * KWS_COEFFS;

/** 1 s of 16 kHz int16 audio → 49 × 10 int8 MFCC, and the quantization it used. */
export interface KwsFrontEnd {
  features(clip: Int16Array): Int8Array;
  quant: { scale: number; zeroPoint: number };
}

/** At most this many clips per data set (2^17 clips of 490 values is 256 MB of features). */
export const MAX_WAV_CLIPS = 1 << 17;

export interface WavFolderOptions {
  /** The feature extractor (the device's: createMfccFrontEnd()). */
  frontEnd: KwsFrontEnd;
  /**
   * Class order to label by (e.g. the model's output labels): a folder named like an entry gets
   * that entry's index; other folders follow, sorted. Without it, classes are the sorted folder names.
   */
  classOrder?: readonly string[];
  /** Read at most this many clips per class (the first in sorted file order). */
  maxPerClass?: number;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function listDir(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataError(`wav folder '${dir}': cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); pass a folder with one sub-folder of .wav files per class`);
  }
}

/** Reads `dir/<class>/<clip>.wav` into MFCC features. */
export async function loadWavFolder(dir: string, options: WavFolderOptions): Promise<Dataset> {
  const quant = options.frontEnd.quant;
  const maxPerClass = options.maxPerClass ?? Infinity;
  if (maxPerClass !== Infinity && (!Number.isInteger(maxPerClass) || maxPerClass < 1)) throw new ConfigError(`wav folder: maxPerClass must be an integer ≥ 1, got ${maxPerClass}`);
  const folders = (await listDir(dir)).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byCodeUnit);
  if (folders.length < 2) throw new DataError(`wav folder '${dir}': found ${folders.length} class sub-folder(s); need at least 2 (DIR/<word>/<clip>.wav)`);
  const order = options.classOrder ?? [];
  const classNames = [...order, ...folders.filter((f) => !order.includes(f))];
  const files: { path: string; label: number }[] = [];
  for (const folder of folders) {
    const names = (await listDir(join(dir, folder))).filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.wav')).map((e) => e.name).sort(byCodeUnit);
    if (names.length === 0) throw new DataError(`wav folder '${dir}': class '${folder}' has no .wav files; add clips or remove the folder`);
    const label = classNames.indexOf(folder);
    for (const name of names.slice(0, maxPerClass)) files.push({ path: join(dir, folder, name), label });
  }
  if (files.length > MAX_WAV_CLIPS) throw new DataError(`wav folder '${dir}': ${files.length} clips is more than the limit of ${MAX_WAV_CLIPS}; split the folder or pass maxPerClass`);
  const images = new Float32Array(files.length * KWS_FEATURES);
  const labels = new Int32Array(files.length);
  for (let i = 0; i < files.length; i++) {
    const clip = await readWavClip(files[i]!.path);
    const features = options.frontEnd.features(clip);
    if (features.length !== KWS_FEATURES) throw new DataError(`wav folder: the front end returned ${features.length} values for ${files[i]!.path}, expected ${KWS_FEATURES}`);
    for (let j = 0; j < KWS_FEATURES; j++) images[i * KWS_FEATURES + j] = (features[j]! - quant.zeroPoint) * quant.scale;
    labels[i] = files[i]!.label;
  }
  return { name: `wav:${dir}`, shape: [KWS_FRAMES, KWS_COEFFS, 1], images, labels, classes: classNames.length, classNames };
}
