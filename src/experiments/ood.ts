// Experiment 2 (paper Table 5): out-of-distribution adaptation. A backbone trained on clean classes
// 0–4 adapts to the same classes under a corruption (low, middle, high severity = 1, 3, 5) from a few
// labelled corrupted samples, with the last 1 or 3 parameter layers trainable. The classes are the
// ones the backbone was trained on, so every method starts from its own trained head (not a prototype
// head, as for new classes): "source head" is that model's accuracy on the corrupted queries.
// Methods: f32 backprop, float ZO, QZO-FF 16w8a, and sparse QZO-FF 16w8a with 90% of the trainable
// weights frozen (the 10% largest |w| per tensor train). Images come from data the backbone never
// trained on: Fashion-MNIST's test split, and for the bundled MNIST (one split) the 10% of digits 0–4
// that pre-training held out.
import { corrupt } from '../data/corruptions.js';
import { sampleEpisode } from '../data/fewshot.js';
import type { Dataset } from '../data/dataset.js';
import { resolveGraph } from '../model/graph.js';
import { trainableLayers } from '../train/selection.js';
import { BP_RECIPE, type BpRecipe } from '../train/bp-recipe.js';
import type { QzoFfConfig } from '../train/qzo-ff.js';
import { BACKBONES, heldOut, type DataName } from './backbones.js';
import { deviceFor, episodeSource, loadBackbone, secondsSince, stat, workUnits, type ExperimentOptions, type Stat } from './common.js';
import { loadData } from '../data/source.js';
import { backpropRun, floatZoRun, prepareProbe, probeBackprop, probeFloatZo, probeQzo } from './probe.js';
import { qzoRun } from './qzo-run.js';

export const OOD_COLUMNS = ['source', 'zeroShot', 'bp', 'ffFloat', 'qzo16', 'qzo16sparse'] as const;
export type OodColumn = (typeof OOD_COLUMNS)[number];
export const OOD_LABELS: Record<OodColumn, string> = {
  source: 'source model f32', zeroShot: 'source model 16w8a', bp: 'BP f32', ffFloat: 'FF f32', qzo16: 'QZO-FF 16w8a', qzo16sparse: 'sparse QZO-FF 16w8a (90% frozen)',
};
export const SEVERITIES = [
  { level: 'low', severity: 1 },
  { level: 'middle', severity: 3 },
  { level: 'high', severity: 5 },
] as const;

export interface OodCell {
  backbone: string;
  data: DataName;
  level: string;
  severity: number;
  /** 1: the head alone; 3: the last three parameter layers. */
  headLayers: 1 | 3;
  runs: number;
  steps: number;
  seconds: number;
  columns: Record<OodColumn, { values: number[]; stat: Stat | null }>;
}

export interface OodResult {
  experiment: 'ood';
  corruptions: string[];
  shots: number;
  queries: number;
  seed: number;
  cells: OodCell[];
  /** The baseline's recipe (absent in records made before it existed: Adam 1e-3, 100 steps). */
  bp?: BpRecipe;
  seconds: number;
}

export interface OodOptions extends ExperimentOptions {
  backbones?: string[];
  corruptions?: string[];
  /** Head depths to run (default [1, 3]). */
  headLayers?: (1 | 3)[];
}

const ZO = { epsilon: 1e-3, directions: 3, dist: 'gaussian' as const, lr: 3e-3 };
const SPARSE = { fraction: 0.1, by: 'magnitude' as const };
const SHOTS = 5;
const QUERIES = 50;

/** Classes 0–4 images the backbone never trained on. */
async function unseenSource(key: string): Promise<Dataset> {
  const spec = BACKBONES[key]!;
  if (spec.data === 'fashion-mnist') return episodeSource(spec.data);
  return heldOut(await loadData(spec.data, 'train'), spec.classes, spec.seed).validation;
}

export async function runOod(o: OodOptions = {}): Promise<OodResult> {
  const units = workUnits(o);
  const t0 = units.now();
  const seed0 = o.seed ?? 2000;
  const backbones = o.backbones ?? (o.quick ? ['cnn-mnist'] : ['cnn-mnist', 'cnn-fashion']);
  const corruptions = o.corruptions ?? (o.quick ? ['gaussian_noise'] : ['gaussian_noise', 'motion_blur']);
  const depths = o.headLayers ?? [1, 3];
  const severities = o.quick ? SEVERITIES.filter((s) => s.severity !== 3) : SEVERITIES;
  const episodes = o.episodes ?? 1;
  const steps = o.steps ?? (o.quick ? 100 : 300);
  const total = backbones.length * severities.length * depths.length * corruptions.length * episodes;
  let done = 0;
  const cells: OodCell[] = [];
  for (const key of backbones) {
    const spec = BACKBONES[key]!;
    const backbone = await loadBackbone(key);
    const device = deviceFor(key);
    // Held-out MNIST digits 0–4 are in the selected (relabelled 0..4) class order already.
    const source = await unseenSource(key);
    const pool = spec.data === 'fashion-mnist' ? spec.classes : spec.classes.map((_, i) => i);
    for (const { level, severity } of severities) {
      for (const headLayers of depths) {
        const tCell = units.now();
        const cols = Object.fromEntries(OOD_COLUMNS.map((c) => [c, { values: [] as number[], stat: null }])) as unknown as OodCell['columns'];
        for (const name of corruptions) {
          for (let e = 0; e < episodes; e++) {
            const seed = seed0 + e;
            const label = `ood ${key} ${level} ${headLayers}-layer ${name} ${e + 1}/${episodes}`;
            // One unit of work per (cell, corruption, episode): its value is every column's accuracy.
            const row = await units.unit(label, async (): Promise<Record<OodColumn, number>> => {
              const ep = sampleEpisode(source, { classPool: pool, ways: pool.length, shots: SHOTS, queries: QUERIES, seed });
              // The same corruption seed at every severity: only the strength changes (docs/DATA.md).
              const support = corrupt(ep.support, name, severity, seed);
              const query = corrupt(ep.query, name, severity, seed + 7919);
              // Episode labels follow the sorted class ids, which are the backbone's own label order.
              const config: QzoFfConfig = { ...ZO, seed };
              if (headLayers === 1) {
                const probe = await prepareProbe({ backbone, support, query, device, head: 'keep' });
                const q16 = await probeQzo(probe, 16, config, steps);
                const qzo16sparse = (await probeQzo(probe, 16, { ...config, sparse: SPARSE }, steps)).after;
                const bp = await probeBackprop(probe, seed);
                const ffFloat = (await probeFloatZo(probe, config, steps)).after;
                return { source: bp.zeroShot, zeroShot: q16.zeroShot, bp: bp.after, ffFloat, qzo16: q16.after, qzo16sparse };
              }
              const selection = { kind: 'last' as const, layers: 3 };
              const trainable = trainableLayers(resolveGraph(backbone.architecture), selection);
              const run = (extra: Partial<QzoFfConfig>) => qzoRun({ backbone, support, query, device, weightBits: 16, selection, config: { ...config, ...extra }, steps, head: 'keep' });
              const q16 = await run({});
              const qzo16sparse = (await run({ sparse: SPARSE })).after;
              const bp = await backpropRun(backbone, trainable, support, query, seed);
              const ffFloat = (await floatZoRun(backbone, trainable, support, query, device, config, steps)).after;
              return { source: bp.zeroShot, zeroShot: q16.zeroShot, bp: bp.after, ffFloat, qzo16: q16.after, qzo16sparse };
            });
            if (row) for (const c of OOD_COLUMNS) cols[c].values.push(row[c]);
            o.onProgress?.(++done, total, label);
          }
        }
        for (const c of OOD_COLUMNS) cols[c].stat = stat(cols[c].values);
        cells.push({ backbone: key, data: spec.data, level, severity, headLayers, runs: corruptions.length * episodes, steps, seconds: secondsSince(tCell, units), columns: cols });
      }
    }
  }
  return { experiment: 'ood', corruptions, shots: SHOTS, queries: QUERIES, seed: seed0, cells, bp: { ...BP_RECIPE }, seconds: secondsSince(t0, units) };
}
