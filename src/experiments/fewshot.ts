// Experiment 1 (paper Table 2): N-way K-shot adaptation to classes the backbone never saw. Every method
// adapts the same episodes (seed, seed + 1, …): the prototype head's zero-shot accuracy, f32 backprop
// (train/bp-recipe.ts: Adam, full batch, to the loss plateau), float ZO ("FF fp32"), QZO-FF 16w8a, plain QZO-FF 8w8a (refused where εq rounds
// to 0, which is the paper's "8w8a does not converge") and 8w8a with the dithering remedy. Full
// fine-tuning runs adapt(); the linear probe trains the head on cached features (probe.ts).
import { sampleEpisode } from '../data/fewshot.js';
import { adapt, type AdaptOptions } from '../train/adapt.js';
import type { QzoFfConfig } from '../train/qzo-ff.js';
import { BP_RECIPE, type BpRecipe } from '../train/bp-recipe.js';
import { HYBRID_DEFAULTS } from '../train/hybrid.js';
import { ADAPT_DEFAULTS } from '../train/defaults.js';
import { tailShape } from '../train/hybrid-tail.js';
import type { FloatModel } from '../model/model.js';
import { BACKBONES, type DataName } from './backbones.js';
import { deviceFor, episodeSource, loadBackbone, orRefused, secondsSince, stat, workUnits, type ExperimentOptions, type Stat } from './common.js';
import { prepareProbe, probeBackprop, probeFloatZo, probeQzo } from './probe.js';

export const FEWSHOT_COLUMNS = ['zeroShot', 'bp', 'ffFloat', 'qzo16', 'qzo8', 'qzo8dither', 'hybrid'] as const;
export type FewshotColumn = (typeof FEWSHOT_COLUMNS)[number];
export const FEWSHOT_LABELS: Record<FewshotColumn, string> = {
  zeroShot: 'zero-shot', bp: 'BP f32', ffFloat: 'FF f32', qzo16: 'QZO-FF 16w8a', qzo8: 'QZO-FF 8w8a', qzo8dither: '8w8a + dither (our remedy)',
  hybrid: 'hybrid 16w8a (int BP last 2 layers + QZO-FF rest)',
};

/** Columns a run may leave out when compute is short (shown as "not run"). */
export const OPTIONAL_COLUMNS = ['ffFloat', 'qzo8', 'qzo8dither', 'hybrid'] as const satisfies readonly FewshotColumn[];
export type OptionalColumn = (typeof OPTIONAL_COLUMNS)[number];

export interface ColumnResult {
  /** Query accuracy (%) per episode that ran. */
  values: number[];
  /** Episodes the trainer refused (εq = 0 with 8-bit weights). */
  refused: number;
  stat: Stat | null;
}

export interface FewshotCell {
  backbone: string;
  arch: string;
  data: DataName;
  shots: number;
  selection: 'full' | 'head';
  episodes: number;
  steps: number;
  seconds: number;
  columns: Record<FewshotColumn, ColumnResult>;
  /**
   * The hybrid the hybrid column ran: parameter layers learned by integer backprop (2: the head and
   * the layer below it, full fine-tuning of a model with a tail) and its defaults. Absent where the
   * column did not run, and in cells recorded before the two-layer hybrid (a head-only hybrid).
   */
  hybrid?: HybridRecipe;
}

/** What a cell's hybrid column ran with (train/hybrid.ts HYBRID_DEFAULTS, the bpLayers the model resolves to). */
export interface HybridRecipe {
  bpLayers: 1 | 2;
  tailLr: number;
  headStep: number;
  warmup: number;
  center: boolean;
  /** Directions per step (records before the hybrid had its own default ran the paper's m = 3). */
  directions?: number;
}

export interface FewshotResult {
  experiment: 'fewshot';
  ways: number;
  classes: number[];
  queries: number;
  seed: number;
  zo: { epsilon: number; directions: number; lr: number; microBatch: number };
  /** The baseline's recipe (train/bp-recipe.ts). */
  bp: BpRecipe;
  cells: FewshotCell[];
  seconds: number;
}

export interface FewshotOptions extends ExperimentOptions {
  /** Backbone keys (backbones.ts); default: both CNNs and both ResNet-8s. */
  backbones?: string[];
  shots?: number[];
  /** The optional columns to run (default all); zero-shot, BP and QZO-FF 16w8a come from one run and always run. */
  columns?: OptionalColumn[];
  /** Which settings run: full fine-tuning, the linear probe or both (default both). */
  selections?: ('full' | 'head')[];
  /** Query images per class (default 50). */
  queries?: number;
  /** Novel classes to draw the 5 ways from (default 5–9). */
  classes?: number[];
  /** A backbone of your own instead of the shipped ones (key 'custom'). */
  custom?: { model: FloatModel; data: DataName; file: string };
}

interface Plan {
  backbone: string;
  shots: number;
  selection: 'full' | 'head';
  episodes: number;
  steps: number;
  dither: boolean;
}

const ZO = { epsilon: 1e-3, directions: 3, dist: 'gaussian' as const, lr: 3e-3 };
const CLASSES = [5, 6, 7, 8, 9];
const QUERIES = 50;

/**
 * Episode counts and steps per cell. Every cell defaults to 30 episodes, full fine-tuning included, so
 * each cell's paired 95% CI is worth reading; full fine-tuning of ResNet-8 costs ~10× the small CNN
 * per step and gets fewer steps. The full table is hours of compute: run it sharded (docs/CLUSTER.md).
 */
export const FEWSHOT_EPISODES = 30;

function plans(o: FewshotOptions): Plan[] {
  const backbones = o.custom ? ['custom'] : o.backbones ?? (o.quick ? ['cnn-mnist'] : ['cnn-mnist', 'cnn-fashion', 'resnet8-mnist', 'resnet8-fashion']);
  const shots = o.shots ?? (o.quick ? [5] : [5, 1]);
  const out: Plan[] = [];
  for (const backbone of backbones) {
    const resnet = backbone === 'custom' ? o.custom!.model.architecture.name === 'resnet8' : BACKBONES[backbone]!.arch === 'resnet8';
    for (const k of shots) {
      for (const selection of o.selections ?? (['full', 'head'] as const)) {
        // ResNet-8 full fine-tuning is the most expensive cell: 5-shot only (1-shot is probed).
        if (resnet && selection === 'full' && k === 1 && !o.shots) continue;
        const episodes = o.episodes ?? (o.quick ? 2 : FEWSHOT_EPISODES);
        // Quick: linear probes are cheap enough for a real number of steps, full fine-tuning is only exercised.
        const steps = o.steps ?? (o.quick ? (selection === 'head' ? 300 : 30) : resnet && selection === 'full' ? 150 : 500);
        // The dithered 8w8a column is our remedy, not a paper column: skipped where it costs most.
        out.push({ backbone, shots: k, selection, episodes, steps, dither: !(resnet && selection === 'full') });
      }
    }
  }
  return out;
}

const emptyColumns = (): Record<FewshotColumn, ColumnResult> =>
  Object.fromEntries(FEWSHOT_COLUMNS.map((c) => [c, { values: [], refused: 0, stat: null }])) as unknown as Record<FewshotColumn, ColumnResult>;

export async function runFewshot(o: FewshotOptions = {}): Promise<FewshotResult> {
  const units = workUnits(o);
  const t0 = units.now();
  const seed0 = o.seed ?? 1000;
  const todo = plans(o);
  const classes = o.classes ?? CLASSES;
  const queries = o.queries ?? QUERIES;
  const total = todo.reduce((s, p) => s + p.episodes, 0);
  const wants = (c: OptionalColumn) => o.columns?.includes(c) ?? true;
  let done = 0;
  const cells: FewshotCell[] = [];
  for (const p of todo) {
    const tCell = units.now();
    const spec = p.backbone === 'custom' ? { data: o.custom!.data, arch: o.custom!.model.architecture.name } : BACKBONES[p.backbone]!;
    const backbone = p.backbone === 'custom' ? o.custom!.model : await loadBackbone(p.backbone);
    const source = await episodeSource(spec.data);
    const device = deviceFor(spec.arch === 'resnet8' ? 'resnet8' : p.backbone);
    const cols = emptyColumns();
    const push = (c: FewshotColumn, v: number | null) => (v === null ? cols[c].refused++ : cols[c].values.push(v));
    for (let e = 0; e < p.episodes; e++) {
      const seed = seed0 + e;
      const label = `few-shot ${p.backbone} ${p.shots}-shot ${p.selection} ${e + 1}/${p.episodes}`;
      // One unit of work per episode of a cell: its value is every column's accuracy (null: refused).
      const row = await units.unit(label, async () => {
        const r: Partial<Record<FewshotColumn, number | null>> = {};
        const ep = sampleEpisode(source, { classPool: classes, ways: 5, shots: p.shots, queries, seed });
        if (p.selection === 'full') {
          // method explicit: the QZO-FF columns stay the paper's method whatever adapt()'s default becomes.
          const base: AdaptOptions = { method: 'qzo-ff', backbone, support: ep.support, query: ep.query, device, selection: { kind: 'full' }, steps: p.steps, seed, ...ZO };
          const q16 = await adapt(base);
          r.zeroShot = q16.zeroShot;
          r.qzo16 = q16.after;
          r.bp = q16.bp ?? null;
          // The hybrid (train/hybrid.ts, hybrid-tail.ts) as adapt()'s default runs it: the same ε and body η,
          // its own m (ADAPT_DEFAULTS.hybridDirections) and head and tail η.
          if (wants('hybrid')) r.hybrid = (await adapt({ ...base, directions: ADAPT_DEFAULTS.hybridDirections, method: 'hybrid', baseline: false })).after;
          if (wants('ffFloat')) r.ffFloat = (await adapt({ ...base, method: 'ff-float', baseline: false })).after;
          if (wants('qzo8')) r.qzo8 = (await orRefused(() => adapt({ ...base, precision: '8w8a', baseline: false })))?.after ?? null;
          if (p.dither && wants('qzo8dither')) r.qzo8dither = (await adapt({ ...base, precision: '8w8a', enhancements: { dither: true }, baseline: false })).after;
        } else {
          const probe = await prepareProbe({ backbone, support: ep.support, query: ep.query, device });
          const config: QzoFfConfig = { ...ZO, seed };
          const q16 = await probeQzo(probe, 16, config, p.steps);
          r.zeroShot = q16.zeroShot;
          r.qzo16 = q16.after;
          r.bp = (await probeBackprop(probe, seed)).after;
          if (wants('ffFloat')) r.ffFloat = (await probeFloatZo(probe, config, p.steps)).after;
          if (wants('qzo8')) r.qzo8 = (await orRefused(() => probeQzo(probe, 8, config, p.steps)))?.after ?? null;
          if (wants('qzo8dither')) r.qzo8dither = (await probeQzo(probe, 8, { ...config, dither: true }, p.steps)).after;
        }
        return r;
      });
      if (row) for (const c of FEWSHOT_COLUMNS) if (c in row) push(c, row[c]!);
      o.onProgress?.(++done, total, label);
    }
    for (const c of FEWSHOT_COLUMNS) cols[c].stat = stat(cols[c].values);
    // Full fine-tuning trains every layer, so the default's second backprop layer applies wherever the model has a tail.
    const hybrid: HybridRecipe | undefined = cols.hybrid.values.length === 0 ? undefined : {
      bpLayers: typeof tailShape(backbone.architecture) === 'string' ? 1 : HYBRID_DEFAULTS.bpLayers,
      tailLr: HYBRID_DEFAULTS.tailLr, headStep: HYBRID_DEFAULTS.headStep, warmup: HYBRID_DEFAULTS.warmup, center: HYBRID_DEFAULTS.center, directions: ADAPT_DEFAULTS.hybridDirections,
    };
    cells.push({ backbone: p.backbone, arch: spec.arch, data: spec.data, shots: p.shots, selection: p.selection, episodes: p.episodes, steps: p.steps, seconds: secondsSince(tCell, units), columns: cols, ...(hybrid ? { hybrid } : {}) });
  }
  return {
    experiment: 'fewshot', ways: 5, classes, queries, seed: seed0,
    zo: { epsilon: ZO.epsilon, directions: ZO.directions, lr: ZO.lr, microBatch: 5 }, bp: { ...BP_RECIPE },
    cells, seconds: secondsSince(t0, units),
  };
}
