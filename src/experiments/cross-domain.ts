// Experiment 3 (paper Fig. 2): cross-domain adaptation. The Fashion-MNIST backbone (classes 0–4, never
// a digit) adapts to 5-way 5-shot handwritten digits drawn from all ten, full fine-tuning. Rows: zero-
// shot, f32 backprop, float ZO with m = 1 and 3, QZO-FF 16w8a with m = 1 and 3, QZO-FF 8w8a (plain and
// dithered), each of the paper's enhancements on QZO-FF 16w8a alone and combined, and the hybrid
// (integer backprop for the head and the layer below it, QZO-FF for the rest) beside them.
import { sampleEpisode } from '../data/fewshot.js';
import { adapt, type AdaptOptions } from '../train/adapt.js';
import { describeBpRecipe } from '../train/bp-recipe.js';
import { BACKBONES } from './backbones.js';
import { deviceFor, episodeSource, loadBackbone, orRefused, secondsSince, stat, workUnits, type ExperimentOptions, type Stat } from './common.js';

export interface CrossDomainRow {
  key: string;
  label: string;
  group: 'baseline' | 'precision' | 'enhancement';
  values: number[];
  refused: number;
  stat: Stat | null;
  /** Mean wall-clock ms per training step (0 for zero-shot; reporting only). */
  msPerStep: number;
}

export interface CrossDomainResult {
  experiment: 'cross-domain';
  backbone: string;
  target: string;
  classes: number[];
  shots: number;
  queries: number;
  episodes: number;
  steps: number;
  seed: number;
  rows: CrossDomainRow[];
  seconds: number;
}

type Variant = { key: string; label: string; group: CrossDomainRow['group']; options: Partial<AdaptOptions> };

const MOMENTUM = { alpha: 0.5, beta: 0.5 };
const SHARPNESS = { rho: 5e-3 };
const SPARSE = { kind: 'sparse' as const, fraction: 0.1, by: 'magnitude' as const, seed: 0 };

export const CROSS_DOMAIN_VARIANTS: Variant[] = [
  { key: 'ff1', label: 'FF f32, m = 1', group: 'baseline', options: { method: 'ff-float', directions: 1 } },
  { key: 'ff3', label: 'FF f32, m = 3', group: 'baseline', options: { method: 'ff-float', directions: 3 } },
  { key: 'qzo16m1', label: 'QZO-FF 16w8a, m = 1', group: 'precision', options: { directions: 1 } },
  { key: 'qzo16', label: 'QZO-FF 16w8a, m = 3', group: 'precision', options: {} },
  { key: 'qzo8', label: 'QZO-FF 8w8a', group: 'precision', options: { precision: '8w8a' } },
  { key: 'qzo8dither', label: 'QZO-FF 8w8a + dither', group: 'precision', options: { precision: '8w8a', enhancements: { dither: true } } },
  { key: 'momentum', label: '+ momentum-guided sampling (α = β = 0.5)', group: 'enhancement', options: { enhancements: { momentum: MOMENTUM } } },
  { key: 'sharpness', label: '+ sharpness-aware (ρ = 5e-3)', group: 'enhancement', options: { enhancements: { sharpness: SHARPNESS } } },
  { key: 'normalize', label: '+ kernel-wise normalisation', group: 'enhancement', options: { enhancements: { normalize: true } } },
  { key: 'sparse', label: '+ sparse update (10% of weights train)', group: 'enhancement', options: { selection: SPARSE } },
  { key: 'mom+sharp+norm', label: '+ momentum + sharpness + normalisation', group: 'enhancement', options: { enhancements: { momentum: MOMENTUM, sharpness: SHARPNESS, normalize: true } } },
  { key: 'all', label: '+ all four (with sparse update)', group: 'enhancement', options: { selection: SPARSE, enhancements: { momentum: MOMENTUM, sharpness: SHARPNESS, normalize: true } } },
  // Ours, not the paper's: the last two parameter layers (the classifier head and the layer below it) by
  // integer backprop, the rest by the same QZO-FF step (train/hybrid.ts, hybrid-tail.ts). Records made
  // before the two-layer default carry HEAD_ONLY_HYBRID_LABEL, which the report uses to tell them apart.
  { key: 'hybrid', label: 'hybrid: integer BP last 2 layers (head + layer below) + QZO-FF 16w8a rest', group: 'enhancement', options: { method: 'hybrid' } },
];

/** The hybrid row's label in records made when the hybrid learned the head alone by backprop. */
export const HEAD_ONLY_HYBRID_LABEL = 'hybrid: integer BP head + QZO-FF 16w8a body';

export interface CrossDomainOptions extends ExperimentOptions {
  /** Variant keys to run (default: all). */
  variants?: string[];
}

export async function runCrossDomain(o: CrossDomainOptions = {}): Promise<CrossDomainResult> {
  const units = workUnits(o);
  const t0 = units.now();
  const key = 'cnn-fashion';
  const seed0 = o.seed ?? 3000;
  const episodes = o.episodes ?? (o.quick ? 2 : 4);
  const steps = o.steps ?? (o.quick ? 20 : 400);
  const variants = CROSS_DOMAIN_VARIANTS.filter((v) => (o.variants ?? (o.quick ? ['ff3', 'qzo16', 'qzo8', 'qzo8dither'] : null))?.includes(v.key) ?? true);
  const backbone = await loadBackbone(key);
  const digits = await episodeSource('mnist');
  const device = deviceFor(key);
  const classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const rows = new Map<string, CrossDomainRow>();
  const row = (k: string, label: string, group: CrossDomainRow['group']) => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { key: k, label, group, values: [], refused: 0, stat: null, msPerStep: 0 }));
    return r;
  };
  row('zeroShot', 'zero-shot (prototype head)', 'baseline');
  row('bp', `BP f32 (${describeBpRecipe()})`, 'baseline');
  const total = episodes * variants.length;
  let done = 0;
  for (let e = 0; e < episodes; e++) {
    const seed = seed0 + e;
    for (const v of variants) {
      const withBp = v.key === 'qzo16';
      const label = `cross-domain ${v.key} ${e + 1}/${episodes}`;
      // One unit of work per (episode, variant); null: the trainer refused it (εq = 0).
      const u = await units.unit(label, async () => {
        const ep = sampleEpisode(digits, { classPool: classes, ways: 5, shots: 5, queries: 50, seed });
        // method explicit: every variant is plain QZO-FF unless it names another method (ff-float, hybrid).
        const base: AdaptOptions = { method: 'qzo-ff', backbone, support: ep.support, query: ep.query, device, steps, seed, baseline: false };
        const r = await orRefused(() => adapt({ ...base, ...v.options, baseline: withBp }));
        return r === null ? null : { after: r.after, ffMs: r.wallMs.ff, zeroShot: r.zeroShot, bp: r.bp };
      });
      if (u === undefined) continue;
      const target = row(v.key, v.label, v.group);
      if (u === null) target.refused++;
      else {
        target.values.push(u.after);
        target.msPerStep += u.ffMs / Math.max(1, steps) / episodes;
        if (withBp) {
          rows.get('zeroShot')!.values.push(u.zeroShot);
          rows.get('bp')!.values.push(u.bp!);
        }
      }
      o.onProgress?.(++done, total, label);
    }
  }
  for (const r of rows.values()) {
    r.stat = stat(r.values);
    r.msPerStep = Math.round(r.msPerStep * 10) / 10;
  }
  return {
    experiment: 'cross-domain', backbone: BACKBONES[key]!.file, target: 'mnist (bundled digits)', classes, shots: 5, queries: 50, episodes, steps, seed: seed0,
    rows: [...rows.values()], seconds: secondsSince(t0, units),
  };
}
