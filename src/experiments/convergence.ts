// Experiment 5 (paper Figs. 5–6): loss and query-accuracy curves of f32 backprop and QZO-FF, full
// fine-tuning on 5-way 5-shot novel classes. 8w8a at the paper's ε = 1e-3 is refused by the trainer
// (εq = round(ε/Δw) = 0 on the conv layers: the perturbation cannot move a weight, which is why the
// paper sees no convergence); 8w8a with ε raised to 1e-2 (so εq ≥ 1) is the naive fix; dithering (our
// remedy) keeps ε = 1e-3 and rounds ε·z stochastically. Beside the paper's methods, the default method
// (adapt()'s hybrid, default-run.ts), whose curve shows whether its first steps cost query accuracy.
import { sampleEpisode } from '../data/fewshot.js';
import { resolveGraph } from '../model/graph.js';
import { paramNodes } from '../model/graph.js';
import { evaluateFloat, trainBackprop } from '../train/backprop.js';
import { BP_RECIPE, bpOptimizer, describeBpRecipe, trainBackpropRecipe, type BpRecipe } from '../train/bp-recipe.js';
import { withPrototypeHead } from '../train/prototype.js';
import type { QzoFfConfig } from '../train/qzo-ff.js';
import { BACKBONES, type DataName } from './backbones.js';
import { deviceFor, episodeSource, loadBackbone, orRefused, secondsSince, stat, workUnits, type ExperimentOptions, type Stat } from './common.js';
import { qzoRun } from './qzo-run.js';
import { defaultRun } from './default-run.js';
import type { HybridRecipe } from './fewshot.js';
import { ADAPT_DEFAULTS } from '../train/defaults.js';

export interface ConvergenceSeries {
  key: string;
  label: string;
  /** Episodes the trainer refused (εq = 0); the curves average the others. */
  refused: number;
  runs: number;
  /** Mean loss per step over the runs (nats per sample). */
  loss: number[];
  /** [step, mean query accuracy %] checkpoints. */
  accuracy: [number, number][];
  final: Stat | null;
  /** The default series: adapt()'s method and the hybrid it ran (absent on the other series and in older records). */
  method?: 'hybrid';
  hybrid?: HybridRecipe;
}

export interface ConvergencePanel {
  backbone: string;
  data: DataName;
  series: ConvergenceSeries[];
}

export interface ConvergenceResult {
  experiment: 'convergence';
  episodes: number;
  steps: number;
  bpSteps: number;
  evalEvery: number;
  /**
   * Steps after which the query accuracy is logged: the ZO and default series (0, 1, 2, 5, 10, 20, 50,
   * then every evalEvery to the end), and BP's curve over its first bpSteps steps. Absent in records
   * made before the early steps were logged (every evalEvery only).
   */
  loggedSteps?: { zo: number[]; bp: number[] };
  seed: number;
  panels: ConvergencePanel[];
  /** The baseline's recipe (absent in records made before it existed: Adam 1e-3, bpSteps steps). */
  bp?: BpRecipe;
  seconds: number;
}

const ZO: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 0 };
const SERIES: { key: string; label: string; bits: 8 | 16; config: Partial<QzoFfConfig> }[] = [
  { key: 'qzo16', label: 'QZO-FF 16w8a (ε = 1e-3, m = 3)', bits: 16, config: {} },
  { key: 'qzo8', label: 'QZO-FF 8w8a (ε = 1e-3, m = 3)', bits: 8, config: {} },
  { key: 'qzo8eps', label: 'QZO-FF 8w8a, ε = 1e-2, m = 3', bits: 8, config: { epsilon: 1e-2 } },
  { key: 'qzo8dither', label: 'QZO-FF 8w8a + dither (ε = 1e-3, m = 3)', bits: 8, config: { dither: true } },
];

/** The default series' key; its label names what adapt() runs by default. */
export const DEFAULT_SERIES_KEY = 'default';
const DEFAULT_LABEL = `default: hybrid (integer BP last 2 layers + QZO-FF m = ${ADAPT_DEFAULTS.hybridDirections})`;

/** Early steps every curve logs (the first steps are where sign-SPSA can cost accuracy), then every `every`. */
export const EARLY_STEPS: readonly number[] = [1, 2, 5, 10, 20, 50];

export function loggedSteps(steps: number, every: number): number[] {
  const out = new Set([0, ...EARLY_STEPS.filter((s) => s <= steps), steps]);
  if (every > 0) for (let s = every; s <= steps; s += every) out.add(s);
  return [...out].sort((a, b) => a - b);
}

function meanOf(rows: number[][]): number[] {
  if (rows.length === 0) return [];
  const n = Math.min(...rows.map((r) => r.length));
  return Array.from({ length: n }, (_, i) => rows.reduce((s, r) => s + r[i]!, 0) / rows.length);
}

function meanCurve(curves: [number, number][][]): [number, number][] {
  if (curves.length === 0) return [];
  return curves[0]!.map(([step], i) => [step, curves.reduce((s, c) => s + c[i]![1], 0) / curves.length]);
}

export interface ConvergenceOptions extends ExperimentOptions {
  backbones?: string[];
  evalEvery?: number;
  bpSteps?: number;
}

export async function runConvergence(o: ConvergenceOptions = {}): Promise<ConvergenceResult> {
  const units = workUnits(o);
  const t0 = units.now();
  const seed0 = o.seed ?? 4000;
  const backbones = o.backbones ?? (o.quick ? ['cnn-mnist'] : ['cnn-mnist', 'cnn-fashion']);
  const episodes = o.episodes ?? (o.quick ? 1 : 10);
  const steps = o.steps ?? (o.quick ? 100 : 600);
  const evalEvery = o.evalEvery ?? (o.quick ? 25 : 50);
  const bpSteps = o.bpSteps ?? (o.quick ? 20 : 100);
  const bpEvery = Math.max(1, Math.round(bpSteps / 10));
  const zoLogged = loggedSteps(steps, evalEvery);
  const bpLogged = loggedSteps(bpSteps, bpEvery);
  const total = backbones.length * episodes * (SERIES.length + 2);
  let done = 0;
  const panels: ConvergencePanel[] = [];
  for (const key of backbones) {
    const spec = BACKBONES[key]!;
    const backbone = await loadBackbone(key);
    const source = await episodeSource(spec.data);
    const device = deviceFor(key);
    const bp = { losses: [] as number[][], curves: [] as [number, number][][], finals: [] as number[] };
    const def = { losses: [] as number[][], curves: [] as [number, number][][], finals: [] as number[], recipe: undefined as HybridRecipe | undefined };
    const zo = new Map(SERIES.map((s) => [s.key, { losses: [] as number[][], curves: [] as [number, number][][], finals: [] as number[], refused: 0 }]));
    for (let e = 0; e < episodes; e++) {
      const seed = seed0 + e;
      const episode = () => sampleEpisode(source, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 50, seed });
      // Units of work: BP on an episode, and each ZO series on it.
      const bpLabel = `convergence ${key} BP ${e + 1}/${episodes}`;
      const bpUnit = await units.unit(bpLabel, async () => {
        const ep = episode();
        // Backprop: adapt()'s baseline recipe (BP_RECIPE). The curve's checkpoints are fresh runs of that
        // many steps with the recipe's optimizer (deterministic by seed, so the same trajectory); the
        // final value is the recipe's own run, to its loss plateau.
        const proto = await withPrototypeHead(backbone, ep.support);
        const trainable = paramNodes(resolveGraph(proto.architecture)).map((n) => n.node.name);
        const bpRun = (n: number) => trainBackprop(proto, ep.support, { trainable, optimizer: bpOptimizer(), batch: ep.support.labels.length, steps: n, seed });
        const curve: [number, number][] = [];
        for (const s of bpLogged) curve.push([s, (await evaluateFloat(s === 0 ? proto : (await bpRun(s)).model, ep.query)).accuracy]);
        const recipeRun = await trainBackpropRecipe(proto, ep.support, { trainable, seed });
        return { losses: recipeRun.losses.slice(0, bpSteps), curve, final: (await evaluateFloat(recipeRun.model, ep.query)).accuracy };
      });
      if (bpUnit) {
        bp.losses.push(bpUnit.losses);
        bp.curves.push(bpUnit.curve);
        bp.finals.push(bpUnit.final);
      }
      o.onProgress?.(++done, total, bpLabel);
      const defLabel = `convergence ${key} ${DEFAULT_SERIES_KEY} ${e + 1}/${episodes}`;
      const defUnit = await units.unit(defLabel, async () => {
        const ep = episode();
        const r = await defaultRun({ backbone, support: ep.support, query: ep.query, device, steps, seed, evalAt: zoLogged });
        return { losses: r.losses, curve: r.curve, after: r.after, recipe: r.recipe };
      });
      if (defUnit) {
        def.losses.push(defUnit.losses);
        def.curves.push(defUnit.curve);
        def.finals.push(defUnit.after);
        def.recipe = defUnit.recipe;
      }
      o.onProgress?.(++done, total, defLabel);
      for (const s of SERIES) {
        const acc = zo.get(s.key)!;
        const label = `convergence ${key} ${s.key} ${e + 1}/${episodes}`;
        const u = await units.unit(label, async () => {
          const ep = episode();
          const r = await orRefused(() => qzoRun({ backbone, support: ep.support, query: ep.query, device, weightBits: s.bits, selection: { kind: 'full' }, config: { ...ZO, seed, ...s.config }, steps, evalEvery, evalAt: zoLogged }));
          return r === null ? null : { losses: r.losses, curve: r.curve, after: r.after };
        });
        if (u === null) acc.refused++;
        else if (u) {
          acc.losses.push(u.losses);
          acc.curves.push(u.curve);
          acc.finals.push(u.after);
        }
        o.onProgress?.(++done, total, label);
      }
    }
    const series: ConvergenceSeries[] = [
      { key: 'bp', label: `BP f32 (${describeBpRecipe()})`, refused: 0, runs: episodes, loss: meanOf(bp.losses), accuracy: meanCurve(bp.curves), final: stat(bp.finals) },
      {
        key: DEFAULT_SERIES_KEY, label: DEFAULT_LABEL, refused: 0, runs: episodes, loss: meanOf(def.losses), accuracy: meanCurve(def.curves), final: stat(def.finals),
        method: 'hybrid' as const, ...(def.recipe ? { hybrid: def.recipe } : {}),
      },
      ...SERIES.map((s) => {
        const a = zo.get(s.key)!;
        return { key: s.key, label: s.label, refused: a.refused, runs: episodes, loss: meanOf(a.losses), accuracy: meanCurve(a.curves), final: stat(a.finals) };
      }),
    ];
    panels.push({ backbone: key, data: spec.data, series });
  }
  return { experiment: 'convergence', episodes, steps, bpSteps, evalEvery, loggedSteps: { zo: zoLogged, bp: bpLogged }, seed: seed0, panels, bp: { ...BP_RECIPE }, seconds: secondsSince(t0, units) };
}

/** Issue #18's bar for the default's early steps: mean query accuracy ≥ zero-shot − 1 point after every logged step. */
export const EARLY_DAMAGE_BAR = -1;

export interface EarlyDamage {
  /** Mean zero-shot accuracy (the curve's step 0). */
  zeroShot: number;
  /** The logged step (> 0) where mean accuracy − zero-shot is lowest, and that difference in points. */
  step: number;
  worst: number;
  meets: boolean;
}

/** The worst (mean accuracy after a logged step − mean zero-shot) of a series' curve; null without a curve. */
export function earlyDamage(s: Pick<ConvergenceSeries, 'accuracy'>): EarlyDamage | null {
  const zero = s.accuracy.find(([step]) => step === 0);
  const after = s.accuracy.filter(([step]) => step > 0);
  if (!zero || after.length === 0) return null;
  const [step, acc] = after.reduce((a, b) => (b[1] < a[1] ? b : a));
  const worst = acc - zero[1];
  // Means of per-episode percentages: a tolerance for the last bits of the float sums.
  return { zeroShot: zero[1], step, worst, meets: worst >= EARLY_DAMAGE_BAR - 1e-9 };
}
