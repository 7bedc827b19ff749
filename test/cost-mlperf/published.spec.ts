// The published-number check as a suite: every Cortex-M4 and Cortex-M33 row of the MLPerf Tiny
// results file gets an estimate at its own core and clock, on the graphs imported from the reference
// .tflite files (with the reference models' MAC counts). The rows are never fitted on; this checks the comparison is computed and sane.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BENCHMARK_FILES, compareWithPublished, importedGraphs, presetGraph } from '../../bench/cost/mlperf.js';

const shared = resolve(import.meta.dirname, '..', '..', '..', 'shared');

describe('MLPerf Tiny published numbers', () => {
  it('the graphs imported from the .tflite files, and the presets, have the reference models\' MAC counts (../shared/mlperf-tiny/README.md)', async () => {
    const readme = readFileSync(join(shared, 'mlperf-tiny', 'README.md'), 'utf8');
    const imported = await importedGraphs(join(shared, 'mlperf-tiny'));
    for (const [benchmark, file] of [['kws', 'kws_ref_model'], ['ic', 'ic_resnet8_int8'], ['vww', 'vww_96_int8'], ['ad', 'ad01_int8']] as const) {
      const m = new RegExp(`${file}\\.tflite\` \\| [^|]+, ([0-9.]+) M MACs`).exec(readme);
      expect(m, `${file} MACs in the README`).not.toBeNull();
      expect(BENCHMARK_FILES[benchmark]).toBe(`${file}.tflite`);
      for (const graph of [imported(benchmark), presetGraph(benchmark)]) {
        const macs = graph.nodes.reduce((s, n) => s + n.macs, 0);
        expect(Math.abs(macs / 1e6 / Number(m![1]) - 1), benchmark).toBeLessThan(0.01);
      }
    }
  });

  it('every M4/M33 row is estimated at its clock on the imported graph; like-for-like TFLM + CMSIS-NN rows within an order of magnitude', async () => {
    const { rows, goal } = compareWithPublished(readFileSync(join(shared, 'reference', 'mlperf-tiny-latency.csv'), 'utf8'), await importedGraphs(join(shared, 'mlperf-tiny')));
    expect(rows.length).toBeGreaterThanOrEqual(56);
    for (const r of rows) {
      expect(['Cortex-M4', 'Cortex-M33']).toContain(r.core);
      expect(r.estimatedMs).toBeGreaterThan(0);
      if (r.family === 'TFLM + CMSIS-NN') {
        expect(r.ratio, `${r.board} ${r.benchmark}`).toBeGreaterThan(0.5);
        expect(r.ratio, `${r.board} ${r.benchmark}`).toBeLessThan(10);
      }
    }
    expect(goal.map((g) => g.benchmark).sort()).toEqual(['ad', 'ic', 'kws', 'vww']);
  });
});
