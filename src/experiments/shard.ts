// Sharded experiments: an experiment is a deterministic sequence of work units (an episode of a cell,
// a variant on an episode, …). A shard run (`--shard i/n`) computes only the units whose index is
// i mod n and writes their values to a partial file; `experiment merge` replays the experiment with
// every unit's value taken from the partials instead of computed, so the same assembly code builds
// the same JSON an unsharded run writes. Only the timing fields (TIMING_FIELDS) can differ: in a
// merge the clock advances by each unit's recorded time, so `seconds` is the compute time summed
// over the shards rather than one process's wall time.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, FormatError } from '../errors.js';
import { packageRoot } from '../util/package-root.js';

/** One slice of an experiment's work: 0 ≤ index < count. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** How an experiment runs its units: all of them, one shard's, or replayed from partials. */
export interface WorkUnits {
  /** Compute (or replay) unit `label`; undefined when this shard skips it. */
  unit<T>(label: string, compute: () => Promise<T>): Promise<T | undefined>;
  /** Milliseconds for the recorded wall times (real, or the replayed units' recorded time). */
  now(): number;
}

/** Every unit computed here, timed by the real clock: what an unsharded run uses. */
export const ALL_UNITS: WorkUnits = { unit: (_label, compute) => compute(), now: () => performance.now() };

export interface ShardItem {
  unit: number;
  label: string;
  /** Wall time of the unit in the shard that computed it. */
  ms: number;
  value: unknown;
}

/** Computes the units of one shard and records their values. */
export class ShardRecorder implements WorkUnits {
  readonly items: ShardItem[] = [];
  units = 0;
  constructor(readonly shard: ShardSpec) {}
  now(): number {
    return performance.now();
  }
  async unit<T>(label: string, compute: () => Promise<T>): Promise<T | undefined> {
    const index = this.units++;
    if (index % this.shard.count !== this.shard.index) return undefined;
    const t0 = performance.now();
    const value = await compute();
    this.items.push({ unit: index, label, ms: Math.round((performance.now() - t0) * 1000) / 1000, value: encodeValue(value) });
    return value;
  }
}

/** Replays recorded units in order; the clock advances by each unit's recorded time. */
export class ShardReplay implements WorkUnits {
  private next = 0;
  private clock = 0;
  constructor(private readonly items: readonly ShardItem[]) {}
  now(): number {
    return this.clock;
  }
  async unit<T>(label: string): Promise<T | undefined> {
    const index = this.next++;
    const item = this.items[index];
    if (!item) throw new ShardMergeError('mismatch', `the partials hold ${this.items.length} units but the experiment asks for unit ${index} ('${label}'): they were written with other parameters or code`);
    if (item.label !== label) throw new ShardMergeError('mismatch', `unit ${index} is '${item.label}' in the partials but '${label}' here: they were written with other parameters or code`);
    this.clock += item.ms;
    return decodeValue(item.value) as T;
  }
  /** Every recorded unit must have been asked for. */
  finish(): void {
    if (this.next !== this.items.length) throw new ShardMergeError('mismatch', `the partials hold ${this.items.length} units but the experiment used ${this.next}: they were written with other parameters or code`);
  }
}

/** Why a set of partials cannot be merged. */
export class ShardMergeError extends ConfigError {
  constructor(readonly reason: 'missing' | 'duplicate' | 'mismatch' | 'code-version' | 'not-a-partial', message: string) {
    super(message);
  }
}

// JSON has no NaN or ±Infinity; a unit value holding one must come back as the same number.
const NON_FINITE = '$nonFinite';
function encodeValue(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : { [NON_FINITE]: String(v) };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, encodeValue(x)]));
  return v;
}
function decodeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === NON_FINITE) return Number(o[NON_FINITE]);
    return Object.fromEntries(keys.map((k) => [k, decodeValue(o[k])]));
  }
  return v;
}

export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d{1,6})\s*\/\s*(\d{1,6})\s*$/.exec(text);
  const index = m ? Number(m[1]) : Number.NaN;
  const count = m ? Number(m[2]) : Number.NaN;
  if (!m || count < 1 || index >= count) throw new ConfigError(`--shard must be i/n with 0 ≤ i < n ≤ 999999 (i counts from 0, as JOB_COMPLETION_INDEX and SLURM_ARRAY_TASK_ID do), got '${text}'`);
  return { index, count };
}

export const shardFileName = (experiment: string, s: ShardSpec): string => `${experiment}.shard-${s.index}-of-${s.count}.json`;

let fingerprint: string | undefined;

/**
 * The code that computes results: every module of this build (src/ under tsx, dist/src/ when built)
 * and the Wasm kernels. Shards run by different builds must not be merged.
 */
export function codeFingerprint(): string {
  if (fingerprint) return fingerprint;
  const hash = createHash('sha256');
  const srcRoot = dirname(dirname(fileURLToPath(import.meta.url)));
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) files.push(p);
    }
  };
  walk(srcRoot);
  const build = join(packageRoot(), 'build');
  for (const f of ['simd.wasm', 'relaxed.wasm', 'scalar.wasm']) {
    try {
      if (statSync(join(build, f)).isFile()) files.push(join(build, f));
    } catch {
      // a flavour that was not built cannot have run
    }
  }
  for (const f of files.sort()) {
    hash.update(relative(packageRoot(), f));
    hash.update('\0');
    hash.update(readFileSync(f));
  }
  let version = '0';
  try {
    version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '0';
  } catch {
    // the version is a label; the hash is what decides
  }
  return (fingerprint = `${version}+${hash.digest('hex').slice(0, 16)}`);
}

export const PARTIAL_FORMAT = 'lastmile-experiment-shard/1';

/** What one shard run writes. `run` is the record's run block as the unsharded command would write it. */
export interface ShardPartial {
  format: typeof PARTIAL_FORMAT;
  experiment: string;
  shard: ShardSpec;
  /** The experiment options that decide the work (quick, episodes, steps, seed). */
  parameters: Record<string, unknown>;
  code: string;
  /** Units in the whole experiment (every shard's). */
  units: number;
  items: ShardItem[];
  run: Record<string, unknown>;
}

export function makePartial(experiment: string, recorder: ShardRecorder, parameters: Record<string, unknown>, run: Record<string, unknown>): ShardPartial {
  return { format: PARTIAL_FORMAT, experiment, shard: recorder.shard, parameters, code: codeFingerprint(), units: recorder.units, items: recorder.items, run };
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/** Parse and check one partial's structure (not yet its consistency with the others). */
export function parsePartial(text: string, path: string): ShardPartial {
  let p: ShardPartial;
  try {
    p = JSON.parse(text) as ShardPartial;
  } catch (e) {
    throw new ShardMergeError('not-a-partial', `${path}: not JSON (${(e as Error).message}); give the files 'lastmile experiment <name> --shard i/n' wrote`);
  }
  if (!p || typeof p !== 'object' || p.format !== PARTIAL_FORMAT) throw new ShardMergeError('not-a-partial', `${path}: not a shard partial (format '${String((p as { format?: unknown } | null)?.format)}', expected '${PARTIAL_FORMAT}')`);
  const ok = typeof p.experiment === 'string' && p.shard && isInt(p.shard.index) && isInt(p.shard.count) && p.shard.index < p.shard.count && isInt(p.units)
    && typeof p.code === 'string' && Array.isArray(p.items) && p.parameters && typeof p.parameters === 'object' && p.run && typeof p.run === 'object'
    && p.items.every((it) => it && isInt(it.unit) && typeof it.label === 'string' && typeof it.ms === 'number' && Number.isFinite(it.ms) && it.ms >= 0);
  if (!ok) throw new FormatError(`${path}: a shard partial with missing or malformed fields`);
  for (const it of p.items) {
    if (it.unit >= p.units || it.unit % p.shard.count !== p.shard.index) throw new FormatError(`${path}: unit ${it.unit} does not belong to shard ${p.shard.index}/${p.shard.count} of ${p.units} units`);
  }
  const expected = p.units > p.shard.index ? Math.ceil((p.units - p.shard.index) / p.shard.count) : 0;
  if (p.items.length !== expected || new Set(p.items.map((i) => i.unit)).size !== expected) throw new FormatError(`${path}: shard ${p.shard.index}/${p.shard.count} must hold ${expected} distinct units, it holds ${p.items.length}`);
  return p;
}

const canonical = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

/** Check that the partials are every shard of one run, exactly once; the units in order, and shard 0's partial. */
export function combinePartials(parts: readonly { path: string; partial: ShardPartial }[]): { first: ShardPartial; items: ShardItem[] } {
  if (parts.length === 0) throw new ShardMergeError('missing', 'merge needs the partial files of every shard');
  const first = parts[0]!.partial;
  const byIndex = new Map<number, string>();
  for (const { path, partial: p } of parts) {
    const where = `${path} vs ${parts[0]!.path}`;
    if (p.experiment !== first.experiment) throw new ShardMergeError('mismatch', `${where}: experiment '${p.experiment}' vs '${first.experiment}'`);
    if (p.code !== first.code) throw new ShardMergeError('code-version', `${where}: written by different code (${p.code} vs ${first.code}); re-run every shard with one build`);
    if (canonical(p.parameters) !== canonical(first.parameters)) throw new ShardMergeError('mismatch', `${where}: different parameters (${canonical(p.parameters)} vs ${canonical(first.parameters)})`);
    if (p.shard.count !== first.shard.count) throw new ShardMergeError('mismatch', `${where}: split into ${p.shard.count} vs ${first.shard.count} shards`);
    if (p.units !== first.units) throw new ShardMergeError('mismatch', `${where}: ${p.units} vs ${first.units} units`);
    const seen = byIndex.get(p.shard.index);
    if (seen !== undefined) throw new ShardMergeError('duplicate', `shard ${p.shard.index}/${p.shard.count} given twice (${seen} and ${path})`);
    byIndex.set(p.shard.index, path);
  }
  const missing = Array.from({ length: first.shard.count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length) throw new ShardMergeError('missing', `shard${missing.length > 1 ? 's' : ''} ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''} of ${first.shard.count} missing`);
  const items: ShardItem[] = new Array(first.units);
  for (const { partial } of parts) for (const it of partial.items) items[it.unit] = it;
  return { first: parts.find((p) => p.partial.shard.index === 0)!.partial, items };
}

/**
 * Fields of an experiment record that are measured time or the machine they ran on, not results:
 * any `seconds`, `msPerStep` or `wallSeconds`, and run.loadAverageAtEnd / run.date. Everything else
 * is bit-identical between an unsharded run and a merge of its shards.
 */
export const TIMING_FIELDS = ['seconds', 'msPerStep', 'wallSeconds', 'run.loadAverageAtEnd', 'run.date'] as const;

/** A copy of a record without its timing fields (what the sharded == unsharded comparison compares). */
export function withoutTiming(record: unknown): unknown {
  const strip = (v: unknown, path: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => strip(x, path));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).filter(([k]) => !(TIMING_FIELDS as readonly string[]).includes(k) && !(TIMING_FIELDS as readonly string[]).includes(path ? `${path}.${k}` : k)).map(([k, x]) => [k, strip(x, path ? `${path}.${k}` : k)]));
    }
    return v;
  };
  return strip(record, '');
}
