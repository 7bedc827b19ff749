// The published-number check: estimated inference latency (and energy where a power figure is
// known) of the four MLPerf Tiny models on each Cortex-M4 / Cortex-M33 system of
// ../shared/reference/mlperf-tiny-latency.csv, at that row's core and clock, beside the published
// figure. The published rows are the check, never an input to the fit.
//
//   npm run bench:cost-mlperf        (needs ../shared; writes bench/results/cost-mlperf.json)
import { join } from 'node:path';
import { resolveGraph, type ResolvedGraph } from '../../src/model/graph.js';
import { graphForModel } from '../../src/cost/model-graph.js';
import { architecturePreset } from '../../src/model/presets.js';
import { estimateInference } from '../../src/cost/graph-estimate.js';
import { COST_MODEL_VERSION, type CostTarget } from '../../src/cost/model.js';
import type { CoreId } from '../../src/cost/cores.js';


/** Benchmark → our architecture preset with the same layer shapes as the reference model. */
export const BENCHMARK_MODELS: Record<string, string> = { ic: 'resnet8', kws: 'ds-cnn', vww: 'mobilenetv1-0.25', ad: 'fc-autoencoder' };

/** Memory system and power of each published board's MCU at the row's clock. */
interface BoardData { flashWaitStates: number; flashLineBytes: number; powerW: number | null; source: string }
export const BOARD_DATA: Record<string, BoardData> = {
  'NUCLEO-L4R5ZI (STM32L4R5)': { flashWaitStates: 5, flashLineBytes: 8, powerW: 3.3 * 0.0132, source: 'RM0432 Table 12 (5 WS at 120 MHz, range 1 boost); DS12023 run current 110 µA/MHz typ at 120 MHz, 3.3 V' },
  'NUCLEO-L4R5ZI-P (STM32L4R5)': { flashWaitStates: 5, flashLineBytes: 8, powerW: 3.3 * 0.0132, source: 'as NUCLEO-L4R5ZI' },
  'EK-RA6M4 (RA6M4)': { flashWaitStates: 3, flashLineBytes: 16, powerW: 3.3 * 0.0198, source: 'RA6M4 User\'s Manual, FLWT register: 3 wait cycles at ICLK 200 MHz; RA6M4 datasheet ~99 µA/MHz typ run current' },
  'NUCLEO-U575ZI-Q (STM32U575)': { flashWaitStates: 4, flashLineBytes: 16, powerW: 3.3 * 0.00312, source: 'RM0456 Table 54 (4 WS at 160 MHz, range 1); DS13737 19.5 µA/MHz (SMPS) at 160 MHz' },
  'NUCLEO-U385RG-Q (STM32U385)': { flashWaitStates: 2, flashLineBytes: 16, powerW: null, source: 'wait states assumed (2 at 96 MHz); no run-current figure transcribed' },
  'nRF5340-DK (nRF5340 app core)': { flashWaitStates: 0, flashLineBytes: 16, powerW: null, source: 'nRF5340 PS: flash behind the application core cache, 0 assumed; no power figure (row has no energy)' },
  'NuMaker-M467HJ (M467HJHAN)': { flashWaitStates: 0, flashLineBytes: 16, powerW: null, source: 'M467 flash with cache, 0 assumed; no power figure (row has no energy)' },
};

export interface PublishedRow { round: string; submitter: string; board: string; core: string; clockMhz: number; stack: string; benchmark: string; latencyMs: number; energyUj: number | null }

export function readPublishedCsv(text: string): PublishedRow[] {
  const [header, ...lines] = text.trim().split('\n');
  const cols = header!.split(',');
  return lines.map((line) => {
    const v = line.split(',');
    const get = (name: string) => v[cols.indexOf(name)] ?? '';
    return {
      round: get('round'), submitter: get('submitter'), board: get('board'), core: get('core'), clockMhz: Number(get('clock_mhz')),
      stack: get('stack'), benchmark: get('benchmark'), latencyMs: Number(get('latency_ms')), energyUj: get('energy_uj') ? Number(get('energy_uj')) : null,
    };
  });
}

export function stackFamily(stack: string): string {
  if (stack.startsWith('TFLM') && stack.includes('CMSIS-NN')) return 'TFLM + CMSIS-NN';
  if (stack.includes('CMSIS-NN')) return 'other compiler + CMSIS-NN';
  return 'vendor / proprietary';
}

/** The four models' architecture presets (same layer shapes as the MLPerf Tiny reference models). */
export const presetGraph = (benchmark: string): ResolvedGraph => resolveGraph(architecturePreset(BENCHMARK_MODELS[benchmark]!));

/** The reference .tflite file of each benchmark in ../shared/mlperf-tiny/. */
export const BENCHMARK_FILES: Record<string, string> = { ic: 'ic_resnet8_int8.tflite', kws: 'kws_ref_model.tflite', vww: 'vww_96_int8.tflite', ad: 'ad01_int8.tflite' };

/** The graphs imported from the reference .tflite files (what the comparison uses). */
export async function importedGraphs(mlperfDir: string): Promise<(benchmark: string) => ResolvedGraph> {
  const graphs = new Map<string, ResolvedGraph>();
  for (const [benchmark, file] of Object.entries(BENCHMARK_FILES)) graphs.set(benchmark, (await graphForModel(join(mlperfDir, file))).graph);
  return (benchmark) => graphs.get(benchmark)!;
}

export function compareWithPublished(csvText: string, graphFor: (benchmark: string) => ResolvedGraph) {
  const rows = readPublishedCsv(csvText);
  const out = [];
  for (const r of rows) {
    const core = r.core.toLowerCase() as CoreId;
    const board = BOARD_DATA[r.board];
    if (!board) throw new Error(`no board data for '${r.board}'`);
    const target: CostTarget = { name: r.board, core, clockHz: r.clockMhz * 1e6, flashWaitStates: board.flashWaitStates, flashLineBytes: board.flashLineBytes, powerW: board.powerW };
    const est = estimateInference(graphFor(r.benchmark), target, 8);
    const publishedCyclesPerMac = (r.latencyMs / 1000) * r.clockMhz * 1e6 / est.macs;
    out.push({
      ...r, family: stackFamily(r.stack), macs: est.macs, estimatedMs: est.mcu.msPerInference, ratio: est.mcu.msPerInference / r.latencyMs,
      estimatedUj: est.mcu.mJPerInference === null ? null : est.mcu.mJPerInference * 1000,
      energyRatio: est.mcu.mJPerInference === null || r.energyUj === null ? null : (est.mcu.mJPerInference * 1000) / r.energyUj,
      estimatedCyclesPerMac: est.cyclesPerMac, publishedCyclesPerMac,
    });
  }
  const lines = ['| core | board @ MHz | stack | model | published ms | estimated ms | est/pub | published µJ | estimated µJ | est/pub | cycles/MAC pub → est |', '|---|---|---|---|---:|---:|---:|---:|---:|---:|---|'];
  for (const family of ['TFLM + CMSIS-NN', 'other compiler + CMSIS-NN', 'vendor / proprietary']) {
    for (const o of out.filter((x) => x.family === family)) {
      lines.push(`| ${o.core} | ${o.board.split(' (')[0]} @ ${o.clockMhz} | ${o.stack} (v${o.round}) | ${o.benchmark} | ${o.latencyMs.toFixed(1)} | ${o.estimatedMs.toFixed(1)} | ${o.ratio.toFixed(2)} | ${o.energyUj?.toFixed(0) ?? '—'} | ${o.estimatedUj?.toFixed(0) ?? '—'} | ${o.energyRatio?.toFixed(2) ?? '—'} | ${o.publishedCyclesPerMac.toFixed(2)} → ${o.estimatedCyclesPerMac.toFixed(2)} |`);
    }
  }
  // The benchmark goal: estimated cycles/MAC on Cortex-M4 ≤ 1.2× the TFLM + CMSIS-NN reference's.
  // The int8 models run the exported 8-bit-weight kernels (one tap per iteration); the 16-bit
  // weight path (the project's default 16w8a) has the SMLAD dot product, shown beside it.
  const goal = out.filter((o) => o.core === 'Cortex-M4' && o.family === 'TFLM + CMSIS-NN').map((o) => {
    const target: CostTarget = { name: o.board, core: 'cortex-m4', clockHz: o.clockMhz * 1e6, flashWaitStates: BOARD_DATA[o.board]!.flashWaitStates, flashLineBytes: BOARD_DATA[o.board]!.flashLineBytes, powerW: null };
    const w16 = estimateInference(graphFor(o.benchmark), target, 16).cyclesPerMac;
    return { benchmark: o.benchmark, reference: o.publishedCyclesPerMac, estimate: o.estimatedCyclesPerMac, ratio: o.estimatedCyclesPerMac / o.publishedCyclesPerMac, met: o.estimatedCyclesPerMac <= 1.2 * o.publishedCyclesPerMac, estimate16w8a: w16, ratio16w8a: w16 / o.publishedCyclesPerMac };
  });
  return { rows: out, table: lines.join('\n'), goal };
}
