// The recipe of an adapt run's data: which source, classes, split, sizes, seed and corruption. It
// is written into adapt's report.json, so `lastmile eval --query-from report.json` rebuilds the
// exact support/query images of that run from the same code path adapt used.
import { ConfigError, FormatError } from '../errors.js';
import { mulberry32, shuffle } from '../util/random.js';
import { CORRUPTIONS, corrupt } from './corruptions.js';
import { selectClasses, subset, type Dataset } from './dataset.js';
import { sampleEpisode, type Episode } from './fewshot.js';

export interface EpisodeSpec {
  /** Data source as given to --data (a name like mnist, or a path). */
  data: string;
  split: 'few-shot' | 'full';
  /** The class pool (few-shot) or the classes (full). */
  classes: number[];
  ways: number;
  shots: number;
  queries: number;
  seed: number;
  /** Corruption 'name:severity' applied to support (seed) and query (seed + 1), if any. */
  corrupt: string | null;
}

/** Every image of the given classes, relabelled 0..k−1, split 80/20 (seeded) into train and held-out. */
export function fullSplit(data: Dataset, classes: number[], seed: number): Episode {
  const pool = selectClasses(data, classes);
  const order = shuffle(Array.from({ length: pool.labels.length }, (_, i) => i), mulberry32(seed));
  const cut = Math.floor(order.length * 0.8);
  if (cut < classes.length || order.length - cut < 1) throw new ConfigError(`--split full needs more images of classes ${classes.join(', ')} than ${order.length}`);
  return { classIds: classes, support: subset(pool, order.slice(0, cut), `${data.name}-train`), query: subset(pool, order.slice(cut), `${data.name}-held-out`) };
}

/** The support and query sets a spec describes, drawn from the loaded source data. */
export function episodeFromSpec(source: Dataset, spec: EpisodeSpec): Episode {
  const sampled = spec.split === 'full'
    ? fullSplit(source, spec.classes, spec.seed)
    : sampleEpisode(source, { classPool: spec.classes, ways: spec.ways, shots: spec.shots, queries: spec.queries, seed: spec.seed });
  if (!spec.corrupt) return sampled;
  const m = /^([a-z_]+):(\d)$/.exec(spec.corrupt);
  if (!m) throw new ConfigError(`--corrupt takes name:severity, e.g. gaussian_noise:3; names: ${CORRUPTIONS.join(', ')}`);
  return { ...sampled, support: corrupt(sampled.support, m[1]!, Number(m[2]), spec.seed), query: corrupt(sampled.query, m[1]!, Number(m[2]), spec.seed + 1) };
}

/** A spec read from a report file, checked field by field (a hand-edited report gets a clear error). */
export function parseEpisodeSpec(value: unknown, what: string): EpisodeSpec {
  const bad = (field: string): never => {
    throw new FormatError(`${what}: 'episode.${field}' is missing or invalid; it must be the report.json an adapt run wrote`);
  };
  if (!value || typeof value !== 'object') bad('');
  const v = value as Record<string, unknown>;
  const int = (k: string, min: number) => (Number.isInteger(v[k]) && (v[k] as number) >= min ? (v[k] as number) : bad(k));
  if (typeof v.data !== 'string' || v.data.length === 0) bad('data');
  if (v.split !== 'few-shot' && v.split !== 'full') bad('split');
  if (!Array.isArray(v.classes) || v.classes.length === 0 || !v.classes.every((c) => Number.isInteger(c) && c >= 0)) bad('classes');
  if (v.corrupt !== null && typeof v.corrupt !== 'string') bad('corrupt');
  return {
    data: v.data as string, split: v.split as EpisodeSpec['split'], classes: v.classes as number[],
    ways: int('ways', 1), shots: int('shots', 1), queries: int('queries', 1), seed: int('seed', 0), corrupt: v.corrupt as string | null,
  };
}
