// `lastmile experiment fewshot … --append`: add a run's cells to the record already in <out>/fewshot.json
// instead of replacing it (cross-domain: keep the rows a narrower run did not re-run, see appendRows). The few-shot table is too expensive to re-run whole on a shared machine, so
// its cells run in priority order, each with the episodes it can afford; every cell keeps the command,
// machine, run time and backprop recipe that produced it (`run`, `bp`), and the report states them per
// table. A cell run again replaces the older one; cells of other runs stay as they were.
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { readBounded } from '../io/bounded-read.js';
import type { BpRecipe } from '../train/bp-recipe.js';
import type { CrossDomainResult } from './cross-domain.js';
import type { FewshotCell, FewshotResult } from './fewshot.js';

/** A record holds a few numbers per episode; 64 MiB is far beyond any real one. */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** What a cell carries once it sits in a record with cells of other runs. */
export interface CellProvenance {
  /** The run block (command, machine, load, date) of the run that produced this cell. */
  run?: Record<string, unknown>;
  /** The backprop baseline's recipe of that run (records before the recipe: { optimizer, lr, steps }). */
  bp?: Partial<BpRecipe> & { steps?: number };
}

export type ProvenancedCell = FewshotCell & CellProvenance;
export type FewshotRecord = FewshotResult & { run?: Record<string, unknown>; cells: ProvenancedCell[] };

const cellKey = (c: FewshotCell): string => `${c.backbone}/${c.shots}/${c.selection}`;

/** Backbones, then shots (more first), then full before probe: the order an unsharded default run has. */
const BACKBONE_ORDER = ['cnn-mnist', 'cnn-fashion', 'resnet8-mnist', 'resnet8-fashion', 'custom'];
function cellOrder(a: FewshotCell, b: FewshotCell): number {
  const rank = (k: string) => (BACKBONE_ORDER.includes(k) ? BACKBONE_ORDER.indexOf(k) : BACKBONE_ORDER.length);
  return rank(a.backbone) - rank(b.backbone) || b.shots - a.shots || (a.selection === b.selection ? 0 : a.selection === 'full' ? -1 : 1);
}

/** The parts of a few-shot record that must agree for its cells to sit in one table. */
const episodeDesign = (r: FewshotResult) => JSON.stringify({ ways: r.ways, classes: r.classes, queries: r.queries, seed: r.seed, zo: r.zo });

/**
 * The existing record with `fresh`'s cells added (replacing cells of the same backbone, shots and
 * setting). Both records must draw the same episodes with the same ZO settings; anything else is a
 * ConfigError, since the table would pair numbers that are not comparable.
 */
export function appendCells(existing: FewshotRecord | null, fresh: FewshotResult, run: Record<string, unknown>): FewshotRecord {
  // A fresh run's cells get its run block; cells that already carry one (a record appended again) keep theirs.
  const tagged: ProvenancedCell[] = (fresh.cells as ProvenancedCell[]).map((c) => ({ ...c, run: c.run ?? run, bp: c.bp ?? fresh.bp }));
  if (!existing) return { ...fresh, cells: tagged, run };
  if (existing.experiment !== 'fewshot') throw new ConfigError(`--append: the existing record is a '${String(existing.experiment)}' record, not a few-shot one`);
  if (episodeDesign(existing) !== episodeDesign(fresh)) {
    throw new ConfigError(`--append: the existing few-shot record draws other episodes or uses other ZO settings (${episodeDesign(existing)} vs ${episodeDesign(fresh)}); write to another --out`);
  }
  const keep = (existing.cells as ProvenancedCell[])
    .filter((c) => !tagged.some((t) => cellKey(t) === cellKey(c)))
    .map((c) => ({ ...c, run: c.run ?? existing.run, bp: c.bp ?? existing.bp }));
  const cells = [...keep, ...tagged].sort(cellOrder);
  return { ...fresh, cells, seconds: Math.round(cells.reduce((s, c) => s + c.seconds, 0) * 10) / 10, run };
}

/** Read <path> (bounded) as a few-shot record, or null when there is none yet. */
export const readFewshotRecord = (path: string): Promise<FewshotRecord | null> => readRecord<FewshotRecord>(path);

/** A cross-domain record that may carry the earlier run whose rows this one did not re-run. */
export type CrossDomainRecord = CrossDomainResult & { run?: Record<string, unknown>; earlier?: CrossDomainResult & { run?: Record<string, unknown> } };

/**
 * The cross-domain record of `fresh`, keeping the rows it did not re-run: rows of different runs
 * cannot be paired by episode, so the existing record is kept whole (its own QZO-FF reference rows
 * included) under `earlier`, and the report shows its rows in a table of their own.
 */
export function appendRows(existing: CrossDomainRecord | null, fresh: CrossDomainResult, run: Record<string, unknown>): CrossDomainRecord {
  if (!existing) return { ...fresh, run };
  if (existing.experiment !== 'cross-domain') throw new ConfigError(`--append: the existing record is a '${String(existing.experiment)}' record, not a cross-domain one`);
  // The rows this run lacks come from the existing record, or from what that record had kept itself.
  const source: CrossDomainRecord | undefined = existing.rows.some((r) => !fresh.rows.some((f) => f.key === r.key)) ? existing : existing.earlier;
  const { earlier: _older, ...kept } = source ?? ({} as CrossDomainRecord);
  const missing = source ? source.rows.filter((r) => !fresh.rows.some((f) => f.key === r.key)) : [];
  return missing.length > 0 ? { ...fresh, run, earlier: { ...(kept as CrossDomainResult), run: source!.run ?? existing.run } } : { ...fresh, run };
}

/** Read <path> (bounded) as JSON, or null when there is none yet. */
export async function readRecord<T>(path: string): Promise<T | null> {
  if (!existsSync(path)) return null;
  const text = new TextDecoder().decode(await readBounded(path, { maxBytes: MAX_RECORD_BYTES, what: 'experiment record' }));
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new ConfigError(`--append: ${path} is not JSON (${(e as Error).message})`);
  }
}
