// Running part of an experiment: which few-shot backbones, shot counts and settings, which cross-
// domain variants. The full few-shot table is hours of compute, so the cells that matter most run
// first (each with its own episode count) and `--append` collects them into one record (append.ts).
// Parsed and checked here, before any work, so a typo is a ConfigError and not an empty table.
import { ConfigError } from '../errors.js';
import { BACKBONES } from './backbones.js';
import { CROSS_DOMAIN_VARIANTS } from './cross-domain.js';
import { OPTIONAL_COLUMNS, type OptionalColumn } from './fewshot.js';

export interface SubsetOptions {
  /** Few-shot backbone keys (backbones.ts). */
  backbones?: string[];
  /** Few-shot shot counts K. */
  shots?: number[];
  /** Few-shot settings: full fine-tuning and/or the linear probe. */
  selections?: ('full' | 'head')[];
  /** Few-shot optional columns to run (fewshot.ts OPTIONAL_COLUMNS). */
  columns?: OptionalColumn[];
  /** Cross-domain variant keys (cross-domain.ts CROSS_DOMAIN_VARIANTS). */
  variants?: string[];
}

/** The flags as the CLI receives them (comma-separated lists). */
export interface SubsetFlags {
  backbones?: string;
  shots?: string;
  selection?: string;
  columns?: string;
  variants?: string;
}

/** Which experiment each flag narrows. */
const FLAG_EXPERIMENT: Record<keyof SubsetFlags, string> = { backbones: 'fewshot', shots: 'fewshot', selection: 'fewshot', columns: 'fewshot', variants: 'cross-domain' };

const list = (value: string, flag: string): string[] => {
  const items = value.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === '')) throw new ConfigError(`--${flag} takes a comma-separated list without empty items, got '${value}'`);
  if (new Set(items).size !== items.length) throw new ConfigError(`--${flag} names an item twice: '${value}'`);
  return items;
};

function oneOf(items: string[], allowed: readonly string[], flag: string): string[] {
  const bad = items.find((s) => !allowed.includes(s));
  if (bad !== undefined) throw new ConfigError(`--${flag}: unknown '${bad}'; use ${allowed.join(', ')}`);
  return items;
}

/** The subset options of `experiment`, or a ConfigError for a bad value or a flag the experiment does not take. */
export function parseSubset(experiment: string, flags: SubsetFlags): SubsetOptions {
  for (const k of Object.keys(FLAG_EXPERIMENT) as (keyof SubsetFlags)[]) {
    if (flags[k] !== undefined && FLAG_EXPERIMENT[k] !== experiment) throw new ConfigError(`--${k} narrows the ${FLAG_EXPERIMENT[k]} experiment, not '${experiment}'`);
  }
  const o: SubsetOptions = {};
  if (flags.backbones !== undefined) o.backbones = oneOf(list(flags.backbones, 'backbones'), Object.keys(BACKBONES), 'backbones');
  if (flags.shots !== undefined) {
    o.shots = list(flags.shots, 'shots').map((s) => {
      const k = Number(s);
      if (!Number.isInteger(k) || k < 1 || k > 20) throw new ConfigError(`--shots: each shot count must be an integer from 1 to 20, got '${s}'`);
      return k;
    });
  }
  if (flags.selection !== undefined) o.selections = oneOf(list(flags.selection, 'selection'), ['full', 'head'], 'selection') as ('full' | 'head')[];
  if (flags.columns !== undefined) o.columns = oneOf(list(flags.columns, 'columns'), OPTIONAL_COLUMNS, 'columns') as OptionalColumn[];
  if (flags.variants !== undefined) o.variants = oneOf(list(flags.variants, 'variants'), CROSS_DOMAIN_VARIANTS.map((v) => v.key), 'variants');
  return o;
}

/** The subset as shard parameters: every shard of a run must agree on it, and merge replays with it. */
export const subsetParameters = (o: SubsetOptions): Record<string, unknown> =>
  Object.fromEntries(Object.entries({ backbones: o.backbones, shots: o.shots, selections: o.selections, columns: o.columns, variants: o.variants }).filter(([, v]) => v !== undefined));

/** The subset back from a partial's parameters (merge). */
export function subsetFromParameters(p: Record<string, unknown>): SubsetOptions {
  const o: SubsetOptions = {};
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (strings(p.backbones)) o.backbones = p.backbones;
  if (Array.isArray(p.shots) && p.shots.every((x) => typeof x === 'number')) o.shots = p.shots as number[];
  if (strings(p.selections)) o.selections = p.selections as ('full' | 'head')[];
  if (strings(p.columns)) o.columns = p.columns as OptionalColumn[];
  if (strings(p.variants)) o.variants = p.variants;
  return o;
}
