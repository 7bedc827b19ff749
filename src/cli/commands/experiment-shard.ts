// `lastmile experiment <name> --shard i/n` and `lastmile experiment merge PARTS…`: one slice of an
// experiment's work units into a partial file, and the partials back into the JSON (and report) the
// unsharded command writes. The bookkeeping is src/experiments/shard.ts; this file does the files.
import { mkdir } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { readBounded } from '../../io/bounded-read.js';
import { EXPERIMENT_NAMES, EXPERIMENTS, type ExperimentName } from '../../experiments/index.js';
import type { ExperimentOptions } from '../../experiments/common.js';
import { subsetFromParameters, subsetParameters, type SubsetOptions } from '../../experiments/subset.js';
import { appendCells, appendRows, readFewshotRecord, readRecord, type CrossDomainRecord } from '../../experiments/append.js';
import type { CrossDomainResult } from '../../experiments/cross-domain.js';
import type { FewshotResult } from '../../experiments/fewshot.js';
import {
  ShardMergeError, ShardRecorder, ShardReplay, combinePartials, makePartial, parsePartial, shardFileName, type ShardSpec,
} from '../../experiments/shard.js';

/** A partial holds a few numbers per unit; 256 MiB is far beyond any real one. */
const MAX_PARTIAL_BYTES = 256 * 1024 * 1024;

/** The record's `run` block: the command and the machine (timing fields: shard.ts TIMING_FIELDS). */
export function runBlock(command: string, quick: boolean): Record<string, unknown> {
  return {
    command, quick, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100), date: new Date().toISOString().slice(0, 10),
  };
}

/** The record an experiment writes to <out>/<name>.json, atomically. */
export function writeRecord(outputDir: string, name: string, result: object, run: Record<string, unknown>): string {
  const path = join(outputDir, `${name}.json`);
  writeFileAtomic(path, `${JSON.stringify({ ...result, run }, null, 1)}\n`, 'experiment result');
  return path;
}

/**
 * writeRecord, or with `append` the existing record's few-shot cells (or cross-domain rows) that
 * this run did not re-run kept beside its own (experiments/append.ts).
 */
export async function writeResult(outputDir: string, name: string, result: object, run: Record<string, unknown>, append: boolean): Promise<string> {
  if (!append) return writeRecord(outputDir, name, result, run);
  const path = join(outputDir, `${name}.json`);
  const record = name === 'fewshot'
    ? appendCells(await readFewshotRecord(path), result as FewshotResult, run)
    : name === 'cross-domain'
      ? appendRows(await readRecord<CrossDomainRecord>(path), result as CrossDomainResult, run)
      : null;
  if (!record) throw new ConfigError(`--append collects few-shot cells and cross-domain rows; '${name}' has neither`);
  writeFileAtomic(path, `${JSON.stringify(record, null, 1)}\n`, 'experiment result');
  return path;
}

/** The command line without its --shard, as the unsharded run would record it. */
export const withoutShardFlag = (command: string): string => command.replace(/\s--shard(?:=|\s+)\S+/g, '');

/** The options that decide an experiment's work; every shard of a run must agree on them. */
export const shardParameters = (o: ExperimentOptions & SubsetOptions): Record<string, unknown> => ({
  ...Object.fromEntries(Object.entries({ quick: o.quick, episodes: o.episodes, steps: o.steps, seed: o.seed }).filter(([, v]) => v !== undefined)),
  ...subsetParameters(o),
});

export async function runShard(name: ExperimentName, options: ExperimentOptions & SubsetOptions, shard: ShardSpec, outputDir: string, command: string): Promise<string> {
  const recorder = new ShardRecorder(shard);
  await EXPERIMENTS[name]({ ...options, units: recorder });
  await mkdir(outputDir, { recursive: true });
  const path = join(outputDir, shardFileName(name, shard));
  const partial = makePartial(name, recorder, shardParameters(options), runBlock(withoutShardFlag(command), !!options.quick));
  writeFileAtomic(path, `${JSON.stringify(partial)}\n`, 'shard partial');
  return path;
}

/** Check the partials, replay the experiment from them and write its record; returns its name and path. */
export async function runMerge(paths: readonly string[], outputDir: string, append = false): Promise<{ name: ExperimentName; path: string; units: number; shards: number }> {
  if (paths.length === 0) throw new ShardMergeError('missing', 'merge needs the partial files of every shard: lastmile experiment merge out/fewshot.shard-*.json');
  const parts = [];
  for (const path of paths) {
    const text = new TextDecoder().decode(await readBounded(path, { maxBytes: MAX_PARTIAL_BYTES, what: 'shard partial' }));
    parts.push({ path, partial: parsePartial(text, path) });
  }
  const { first, items } = combinePartials(parts);
  if (!(EXPERIMENT_NAMES as readonly string[]).includes(first.experiment)) throw new ConfigError(`the partials are of experiment '${first.experiment}', which this version does not have`);
  const name = first.experiment as ExperimentName;
  const replay = new ShardReplay(items);
  const p = first.parameters;
  const options: ExperimentOptions & SubsetOptions = { quick: !!p.quick, units: replay, ...subsetFromParameters(p) };
  for (const k of ['episodes', 'steps', 'seed'] as const) if (typeof p[k] === 'number') options[k] = p[k];
  const result = await EXPERIMENTS[name](options);
  replay.finish();
  await mkdir(outputDir, { recursive: true });
  // The machine fields come from shard 0; the load average and date are the merge's (timing fields).
  const run = { ...first.run, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100), date: new Date().toISOString().slice(0, 10) };
  return { name, path: await writeResult(outputDir, name, result, run, append), units: first.units, shards: first.shard.count };
}
