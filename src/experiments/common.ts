// What every experiment shares: options, the data sources, mean ± 95% CI, and turning the trainer's
// 8w8a refusal (εq rounds to 0) into a result instead of a crash.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, LastmileError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { loadModel, type FloatModel } from '../model/model.js';
import { loadData } from '../data/source.js';
import { packageRoot } from '../util/package-root.js';
import { BACKBONES, type DataName } from './backbones.js';
import { ALL_UNITS, type WorkUnits } from './shard.js';

export interface ExperimentOptions {
  /** Episodes (or repeats) per cell; each experiment has its own default. */
  episodes?: number;
  /** Training steps of the zeroth-order methods; each experiment has its own default. */
  steps?: number;
  /** First episode seed; episode e uses seed + e. */
  seed?: number;
  /** The reduced smoke version (a few episodes and steps, one backbone). */
  quick?: boolean;
  /** Called after each unit of work with how many are done out of how many. */
  onProgress?: (done: number, total: number, label: string) => void;
  /** How the units of work run: all here (default), one shard's, or replayed from partials (shard.ts). */
  units?: WorkUnits;
}

/** Device budget for the accuracy experiments: the small CNN's on the nRF52840; ResNet-8's does not fit it (experiment 4 says by how much). */
export const NRF52840 = { name: 'nrf52840', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };
export const ROOMY = { name: 'custom-4MiB-4MiB', sramBytes: 4 * 1024 * 1024, flashBytes: 4 * 1024 * 1024 };
export const deviceFor = (backboneKey: string): typeof NRF52840 => (backboneKey.startsWith('resnet8') ? ROOMY : NRF52840);

export interface Stat {
  mean: number;
  /** Half-width of the 95% confidence interval of the mean (Student t; 0 for one sample). */
  ci: number;
  n: number;
}

const T95 = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05];

export function stat(xs: readonly number[]): Stat | null {
  const n = xs.length;
  if (n === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, ci: 0, n };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { mean, ci: ((T95[n - 2] ?? 1.96) * sd) / Math.sqrt(n), n };
}

export const fmtStat = (s: Stat | null, digits = 1): string => (s === null ? '—' : s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.ci.toFixed(digits)}` : s.mean.toFixed(digits));

/** True for the trainer's refusal to run a layer whose εq rounds to 0 (plain 8w8a). */
export const isEpsilonRefusal = (e: unknown): boolean => e instanceof LastmileError && /below half a weight LSB/.test(e.message);

/** Run a training call; the εq = 0 refusal becomes null (a result: "refused"), anything else propagates. */
export async function orRefused<T>(run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (e) {
    if (isEpsilonRefusal(e)) return null;
    throw e;
  }
}

const modelCache = new Map<string, FloatModel>();

export async function loadBackbone(key: string): Promise<FloatModel> {
  const spec = BACKBONES[key];
  if (!spec) throw new FormatError(`unknown backbone '${key}'`);
  let m = modelCache.get(key);
  if (!m) {
    const path = join(packageRoot(), spec.file);
    const model = loadModel(new Uint8Array(await readFile(path)), path);
    if (model.kind !== 'float') throw new FormatError(`${path}: expected a float backbone`);
    modelCache.set(key, (m = model));
  }
  return m;
}

/**
 * Where episodes come from. Fashion-MNIST: the test split, which pre-training never reads. The bundled
 * MNIST has one split: classes 5–9 were never seen by the 0–4 backbones, and for classes 0–4 the
 * caller must use the backbone's held-out 10% (backbones.ts heldOut()).
 */
export async function episodeSource(data: DataName): Promise<Dataset> {
  return loadData(data, 'test');
}

/** Elapsed seconds since t0, both on the units' clock (performance.now() unless replaying shards). */
export const secondsSince = (t0: number, units: WorkUnits = ALL_UNITS): number => Math.round((units.now() - t0) / 100) / 10;

/** The options' work units (every unit computed here unless sharded or merged). */
export const workUnits = (o: ExperimentOptions): WorkUnits => o.units ?? ALL_UNITS;
