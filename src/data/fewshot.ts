// N-way K-shot episodes drawn from classes a backbone never saw, deterministic by seed: the
// support set adapts the model, the disjoint query set measures it.
import { DataError, ConfigError } from '../errors.js';
import { mulberry32, shuffle } from '../util/random.js';
import { subset, type Dataset } from './dataset.js';
import { checkDatasetShape, checkIndexList, checkOptionsObject } from '../util/guards.js';

export interface EpisodeOptions {
  /** Class ids (in the source dataset) to draw the N ways from. */
  classPool: readonly number[];
  ways: number;
  shots: number;
  /** Query images per class (default: all remaining, capped at 100). */
  queries?: number;
  seed: number;
}

export interface Episode {
  /** Source class id of each way: way i ↦ classIds[i]. */
  classIds: number[];
  support: Dataset;
  query: Dataset;
}

export function sampleEpisode(source: Dataset, o: EpisodeOptions): Episode {
  checkDatasetShape(source, 'sampleEpisode: source');
  checkOptionsObject(o, 'sampleEpisode');
  checkIndexList(o.classPool, Math.max(source.classes, 1), 'sampleEpisode: classPool');
  if (!Number.isInteger(o.ways) || o.ways < 2) throw new ConfigError(`ways (N) must be an integer ≥ 2, got ${o.ways}`);
  if (!Number.isInteger(o.shots) || o.shots < 1) throw new ConfigError(`shots (K) must be an integer ≥ 1, got ${o.shots}`);
  if (o.ways > o.classPool.length) throw new ConfigError(`${o.ways}-way episodes need ${o.ways} classes, the pool has ${o.classPool.length}`);
  const random = mulberry32(o.seed);
  const classIds = shuffle([...o.classPool], random).slice(0, o.ways).sort((a, b) => a - b);
  const byClass = new Map<number, number[]>(classIds.map((c) => [c, []]));
  for (let i = 0; i < source.labels.length; i++) byClass.get(source.labels[i]!)?.push(i);
  const supportIdx: number[] = [];
  const queryIdx: number[] = [];
  for (const c of classIds) {
    const members = byClass.get(c)!;
    if (members.length === 0) throw new DataError(`class ${c} of '${source.name}' has no images: pick another class pool`);
    if (members.length <= o.shots) throw new DataError(`class ${c} of '${source.name}' has ${members.length} images; ${o.shots}-shot episodes need more than ${o.shots} (support plus query): ${members.length > 1 ? `lower K (--shots) to at most ${members.length - 1}, or pick` : 'add images to it (every class needs at least 2: one to adapt on, one to test) or pick'} classes with more images`);
    shuffle(members, random);
    supportIdx.push(...members.slice(0, o.shots));
    queryIdx.push(...members.slice(o.shots, o.shots + (o.queries ?? 100)));
  }
  const relabel = (d: Dataset): Dataset => ({ ...d, labels: d.labels.map((l) => classIds.indexOf(l)), classes: o.ways, classNames: classIds.map((c) => source.classNames?.[c] ?? String(c)) });
  return {
    classIds,
    support: relabel(subset(source, supportIdx, `${source.name}-support`)),
    query: relabel(subset(source, queryIdx, `${source.name}-query`)),
  };
}
