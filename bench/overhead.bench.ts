// QZO-FF step overhead: one training step (2m perturbed forward passes, integer loss, update) against
// 2m plain inference passes on the same session and batch. ratio = step / (2m × forward); 1.0 is the
// limit (a step cannot do less than its forward passes), the target is ≤ 1.10. The step's remainder is
// split into the fused perturbation (perturbed forward − plain forward, from a third timed case), the
// per-step RNG/perturbation setup and the update (profiler shares), and the rest (loss, batch staging,
// host loop).
//
//   npm run bench:overhead [-- --quick] [-- --json DIR] [-- --filter TEXT] [-- --z-buffer]
import { QuantizedSession } from '../src/runtime/session.js';
import { Profiler } from '../src/device/profiler.js';
import { makePerturbSpec } from '../src/kernels/perturb.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { selectionLabel, trainableLayers, type TrainSelection } from '../src/train/selection.js';
import { loadMicroBatch } from '../src/train/batches.js';
import { parseBenchArgs, runIfEntryPoint, writeJson } from './cli.js';
import { BENCH_PRESETS, benchModels, mcuFor, OUR_BUILD, quantizedBatch } from './models.js';
import { ms, ratio, suiteReport, textTable, type SuiteReport } from './suite.js';
import { byName, measure, sig, type Timing } from './timing.js';

export interface OverheadResult {
  model: string;
  selection: string;
  m: number;
  batch: number;
  /** Weights (not biases) in the trained layers: the count the per-weight step work scales with (absent in older results). */
  trainableWeights?: number;
  forwardMs: number;
  perturbedForwardMs: number;
  stepMs: number;
  /** stepMs / (2m · forwardMs). */
  ratio: number;
  /** Shares of the step time (0..1). */
  shares: { forward: number; perturbation: number; rngSetup: number; update: number; other: number };
}

export const OVERHEAD_TARGET = 1.1;
export const OVERHEAD_BATCH = 8;
export const OVERHEAD_SELECTIONS: TrainSelection[] = [{ kind: 'full' }, { kind: 'head' }];
export const OVERHEAD_DIRECTIONS = [1, 3] as const;
// Many short rounds: the forward and step samples then come from the same stretches of machine load.
const FULL: Timing = { minSamples: 3, minTime: 0.05, maxTime: 0.1, rounds: 10, warmupCalls: 3 };
const QUICK: Timing = { minSamples: 3, minTime: 0.01, maxTime: 0.04, rounds: 1, warmupCalls: 1 };
const PROFILED_STEPS = { full: 20, quick: 3 };

export function trainerConfig(m: number, zBuffer = false): QzoFfConfig {
  return { epsilon: 1e-3, directions: m, dist: 'gaussian', lr: 3e-3, seed: 1, ...(zBuffer ? { zBuffer: true } : {}) };
}

export async function measureOverhead(model: string, selection: TrainSelection, m: number, batch: number, timing: Timing, profiledSteps: number, zBuffer = false): Promise<OverheadResult> {
  const bm = benchModels(model, 16);
  const trainable = trainableLayers(bm.graph, selection);
  const config = trainerConfig(m, zBuffer);
  const options = { batch, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(batch, { model: bm.quantized, trainable, config }) };
  const session = new QuantizedSession(await mcuFor(QuantizedSession.plan(bm.quantized, options)), bm.quantized, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  const set = quantizedBatch(bm, batch);
  const indices = Array.from({ length: batch }, (_, i) => i);
  // The fused perturbation the trainer's first direction would apply, with the same ε and grid.
  const specs = new Map<string, PerturbSpec>();
  for (const name of trainable) {
    const p = bm.quantized.params[name]!;
    specs.set(name, makePerturbSpec({ seed: 12345, tensorId: session.paramLayers.indexOf(name), epsilon: config.epsilon, weightScale: Math.max(...p.weightScales), dist: config.dist, sign: 1, weightBits: p.weightBits }, session.mcu.device));
  }
  loadMicroBatch(session, set, indices, 0, batch);
  const measured = await measure([
    { name: 'forward', fn: () => session.forward() },
    { name: 'perturbed', fn: () => session.forward((n) => specs.get(n)) },
    { name: 'step', fn: () => trainer.trainStep(set) },
  ], timing);
  const forwardMs = byName(measured, 'forward');
  const perturbedForwardMs = byName(measured, 'perturbed');
  const stepMs = byName(measured, 'step');
  // Profiled steps give each part's share of a step; the profiler's own cost (a clock read per op)
  // is spread over every part, so shares are used, not its absolute times.
  const profiler = new Profiler();
  session.profiler = profiler;
  for (let i = 0; i < profiledSteps; i++) trainer.trainStep(set);
  session.profiler = undefined;
  const kinds = profiler.byKind();
  const total = profiler.totalMs;
  const shareOf = (kind: string) => (kinds.find((k) => k.kind === kind)?.ms ?? 0) / total;
  const forward = (2 * m * forwardMs) / stepMs;
  const perturbation = Math.max(0, (2 * m * (perturbedForwardMs - forwardMs)) / stepMs);
  const rngSetup = shareOf('rng');
  const update = shareOf('update');
  const other = Math.max(0, 1 - forward - perturbation - rngSetup - update);
  const r4 = (x: number) => Number(x.toFixed(4));
  return {
    model, selection: selectionLabel(selection), m, batch,
    trainableWeights: trainable.reduce((sum, name) => sum + bm.quantized.params[name]!.weights.length, 0),
    forwardMs: sig(forwardMs), perturbedForwardMs: sig(perturbedForwardMs), stepMs: sig(stepMs), ratio: sig(stepMs / (2 * m * forwardMs)),
    shares: { forward: r4(forward), perturbation: r4(perturbation), rngSetup: r4(rngSetup), update: r4(update), other: r4(other) },
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function overheadTable(results: readonly OverheadResult[]): string {
  return textTable([
    ['model', 'train', 'm', 'forward ms', 'step ms', 'step / 2m·fwd', 'target', 'perturb', 'rng setup', 'update', 'other'],
    ...results.map((r) => [r.model, r.selection, String(r.m), ms(r.forwardMs), ms(r.stepMs), ratio(r.ratio), r.ratio <= OVERHEAD_TARGET ? 'met' : 'not met', pct(r.shares.perturbation), pct(r.shares.rngSetup), pct(r.shares.update), pct(r.shares.other)]),
  ]);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // --z-buffer: the opt-in zBuffer mode (each direction's z drawn once into int8 buffers, n B of SRAM per tensor).
  const z = argv.indexOf('--z-buffer');
  const zBuffer = z >= 0;
  if (zBuffer) argv.splice(z, 1);
  const args = parseBenchArgs(argv, 'overhead');
  const timing = args.quick ? QUICK : FULL;
  console.log(`QZO-FF step overhead on the ${OUR_BUILD} build, 16w8a, batch ${OVERHEAD_BATCH}${args.quick ? ' (--quick)' : ''}${zBuffer ? ', z buffers (zBuffer: true)' : ''}`);
  const results: OverheadResult[] = [];
  for (const model of BENCH_PRESETS) {
    for (const selection of OVERHEAD_SELECTIONS) {
      for (const m of OVERHEAD_DIRECTIONS) {
        const label = `${model} ${selectionLabel(selection)} m=${m}`;
        if (args.filter && !label.includes(args.filter)) continue;
        const r = await measureOverhead(model, selection, m, OVERHEAD_BATCH, timing, args.quick ? PROFILED_STEPS.quick : PROFILED_STEPS.full, zBuffer);
        results.push(r);
        console.log(`  ${label.padEnd(30)} forward ${ms(r.forwardMs)} ms  step ${ms(r.stepMs)} ms  ratio ${ratio(r.ratio)}`);
      }
    }
  }
  console.log('\n' + overheadTable(results));
  const report: SuiteReport<OverheadResult> = suiteReport('overhead', args.quick, 'bench:overhead', {
    build: OUR_BUILD, precision: '16w8a', batch: OVERHEAD_BATCH, trainer: trainerConfig(3, zBuffer), target: OVERHEAD_TARGET,
    weights: 'random He-normal, quantized 16w8a, fixed activation ranges; random inputs and labels',
  }, results, timing);
  if (args.json) await writeJson(args.json, report);
}

runIfEntryPoint(import.meta.url, main);
