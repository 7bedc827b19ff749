// The benchmark report generator on small fixture results (no benchmarking here): every target gets a
// met / not met line with its measured figure, every suite its table, every chart renders without a
// Vega warning, and `npm run bench:report` writes the page and the SVGs from a results folder.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildReport, loadResults, missNotes, stepFloor, STEP_FLOOR_NS } from '../bench/report.js';
import { evaluateTargets, type BenchResults } from '../bench/targets.js';
import { jsonPath, parseBenchArgs } from '../bench/cli.js';
import type { MachineInfo } from '../bench/machine.js';

const machine: MachineInfo = { cpu: 'Test CPU', cores: 2, arch: 'x64', platform: 'Linux 6', node: 'v20.0.0', v8: '11.3', loadAverage: 0.5, date: '2026-01-02T03:04:05.000Z' };
const envelope = (suite: string, config: Record<string, unknown>) => ({ suite, machine, versions: { lastmile: '0.1.0', '@tensorflow/tfjs': '4.22.0' }, quick: false, command: `npm run bench:${suite}`, config });
const shares = { forward: 0.8, perturbation: 0.1, rngSetup: 0.01, update: 0.05, other: 0.04 };

function fixture(): BenchResults {
  return {
    kernels: {
      machine,
      results: [
        { kernel: 'gemm-w8a8', shape: '256x256x256', impl: 'simd', gmacs: 37.7 },
        { kernel: 'gemm-w8a8', shape: '256x256x256', impl: 'ort-web', gmacs: 29.7 },
        { kernel: 'conv-w8a8', shape: '1x32x32x16-3x3-s1-16', impl: 'simd', gmacs: 20 },
        { kernel: 'conv-w8a8', shape: '1x32x32x16-3x3-s1-16', impl: 'ort-web', gmacs: 5 },
      ],
    },
    inference: { ...envelope('inference', {}), suite: 'inference', results: [
      { model: 'mnist-cnn', batch: 1, impl: 'lastmile-simd', msPerBatch: 0.1, msPerSample: 0.1 },
      { model: 'mnist-cnn', batch: 1, impl: 'ort-web', msPerBatch: 0.5, msPerSample: 0.5 },
      { model: 'mnist-cnn', batch: 1, impl: 'ort-node', msPerBatch: 0.12, msPerSample: 0.12 },
    ] },
    overhead: { ...envelope('overhead', { target: 1.1, batch: 8 }), suite: 'overhead', results: [
      { model: 'mnist-cnn', selection: 'full', m: 1, batch: 8, forwardMs: 1, perturbedForwardMs: 1.1, stepMs: 2.6, ratio: 1.3, shares },
      { model: 'mnist-cnn', selection: 'head', m: 3, batch: 8, forwardMs: 1, perturbedForwardMs: 1, stepMs: 6.3, ratio: 1.05, shares },
    ] },
    training: { ...envelope('training', { target: 2, batch: 8 }), suite: 'training', results: [
      { model: 'mnist-cnn', selection: 'full', batch: 8, impl: 'tfjs', backend: 'tfjs-cpu', note: 'wasm backend has no Conv2DBackpropFilter kernel: ran on tfjs cpu', stepMs: 600, samplesPerSec: 13, peakBytes: 2_000_000 },
      { model: 'mnist-cnn', selection: 'full', batch: 8, impl: 'qzo-ff-m1', backend: 'lastmile-simd', stepMs: 1, samplesPerSec: 8000, peakBytes: 80_000, sramBytes: 76_000 },
      { model: 'mnist-cnn', selection: 'head', batch: 8, impl: 'tfjs', backend: 'tfjs-wasm', stepMs: 1.5, samplesPerSec: 5333, peakBytes: 1_500_000 },
      { model: 'mnist-cnn', selection: 'head', batch: 8, impl: 'qzo-ff-m1', backend: 'lastmile-simd', stepMs: 1, samplesPerSec: 8000, peakBytes: 80_000, sramBytes: 63_000 },
      { model: 'ds-cnn', selection: 'full', batch: 8, impl: 'tfjs', backend: 'tfjs-cpu', note: 'skipped in --quick', stepMs: null, samplesPerSec: null, peakBytes: null },
      { model: 'ds-cnn', selection: 'full', batch: 8, impl: 'qzo-ff-m1', backend: 'lastmile-simd', stepMs: 3, samplesPerSec: 2600, peakBytes: 190_000, sramBytes: 190_000 },
    ] },
    memory: { ...envelope('memory', { batch: 1, device: { name: 'nrf52840', sramBytes: 262144, flashBytes: 1048576 }, ffSlackBytes: 1024, bpOverFfTarget: 3, ffLimit: 'inference peak + trained parameters' }), suite: 'memory', results: [
      { model: 'mnist-cnn', selection: 'full', batch: 1, infer: 14_000, ff: 27_000, bp: 180_000, measured: { infer: 14_000, ff: 27_000, bp: 180_000 }, trainableBytes: 12_500, ffLimit: 26_500, ffDefault: 27_000, narrowPanels: [], bpOverFf: 6.67, fp16BpOverFf: 3.3, ffExtras: { requant: 448, trainer: 96, untrainedWeights: 0 }, ffPeak: { op: 2, layer: null, layerKind: null, scratch: 0, panelBytes: null, leastBytes: null, trainer: 96, backup: 0, inferenceSlack: 0, other: 404 }, fits: { infer: true, ff: true, bp: true } },
      { model: 'mnist-cnn', selection: 'bias', batch: 1, infer: 14_000, ff: 27_100, bp: 180_000, measured: { infer: 14_000, ff: 27_100, bp: 180_000 }, trainableBytes: 300, ffLimit: 14_300, ffDefault: 27_100, narrowPanels: [], bpOverFf: 6.64, fp16BpOverFf: 3.3, ffExtras: { requant: 448, trainer: 368, untrainedWeights: 12_304 }, ffPeak: { op: 5, layer: 'conv3', layerKind: 'conv2d', scratch: 12_704, panelBytes: 4864, leastBytes: 4864, trainer: 96, backup: 0, inferenceSlack: 0, other: 0 }, fits: { infer: true, ff: true, bp: true } },
    ] },
    tta: { ...envelope('tta', { backbone: 'models/mnist-cnn-digits04.lmdl', task: '5-way 5-shot', qzoFf: { steps: 100 }, backprop: { steps: 10, batch: 25 } }), suite: 'tta', results: [
      { method: 'qzo-ff', label: 'QZO-FF 16w8a (m = 3)', steps: 100, sramPeak: 51_000, points: [{ step: 0, wallMs: 0, accuracy: 48 }, { step: 100, wallMs: 1200, accuracy: 60 }] },
      { method: 'backprop', label: 'f32 backprop (Adam)', steps: 10, sramPeak: 1_700_000, points: [{ step: 0, wallMs: 0, accuracy: 48 }, { step: 10, wallMs: 150, accuracy: 62 }] },
    ] },
  } as BenchResults;
}

describe('benchmark targets', () => {
  it('bounds a missed overhead row by its per-weight work: z once per direction, applied twice, one update', async () => {
    const c = STEP_FLOOR_NS;
    // 100000 trained weights, m = 3, 2 ms forwards: 100000 · (3·(z + 2·apply) + update) ns over 6 · 2 ms.
    const x = { m: 3, forwardMs: 2, trainableWeights: 100_000 };
    expect(stepFloor(x)).toBeCloseTo(1 + (100_000 * (3 * (c.z + 2 * c.apply) + c.update)) / 1e6 / 12, 12);
    expect(stepFloor({ ...x, trainableWeights: 0 })).toBe(1);
    const r = fixture();
    r.overhead!.results[0]!.trainableWeights = 100_000;
    const floor = stepFloor(r.overhead!.results[0]!);
    const v = evaluateTargets(r).find((t) => t.id === 'overhead')!;
    const notes = missNotes(v, r).join('\n');
    expect(notes).toContain(`mnist-cnn full m=1: 100000 weights × ${(c.z + 2 * c.apply + c.update).toFixed(2)} ns`);
    expect(notes).toContain(`so ≥ ${floor.toFixed(2)}× (measured 1.30×`);
    expect((await buildReport(r, { chartDir: 'bench', render: false })).markdown).toContain(`| 1.30× | not met | ${floor.toFixed(2)}× |`);
  });

  it('marks each target met or not met with the measured figure', () => {
    const verdicts = evaluateTargets(fixture());
    const by = Object.fromEntries(verdicts.map((v) => [v.id, v]));
    expect(by.overhead).toMatchObject({ met: false, passed: 1, total: 2, measured: 'worst 1.30×, median 1.18×' });
    expect(by.overhead!.misses).toEqual(['mnist-cnn full m=1: 1.30×']);
    // The skipped TF.js configuration is not counted either way.
    expect(by['training-speed']).toMatchObject({ met: false, passed: 1, total: 2 });
    expect(by['training-speed']!.misses).toEqual(['mnist-cnn head (tfjs-wasm): 1.50× faster']);
    expect(by['ff-memory']).toMatchObject({ met: false, passed: 1, total: 2, measured: 'worst +12800 B, median +6650 B over the limit' });
    expect(by['bp-over-ff']).toMatchObject({ met: true, passed: 1, total: 1, measured: 'worst 6.67×, median 6.67×' });
    expect(by.kernels).toMatchObject({ met: false, passed: 1, total: 2 });
    expect(by.kernels!.misses).toEqual(['gemm-w8a8 256x256x256: 1.27× ort-web, 37.7 GMAC/s']);
  });

  it('explains every missed target and names the cause found in the data', () => {
    const r = fixture();
    const verdicts = evaluateTargets(r);
    for (const v of verdicts.filter((x) => !x.met)) expect(missNotes(v, r).join('\n')).toMatch(/What would close it|would close it|Keeping them in flash|docs\/KERNELS.md/);
    const memory = missNotes(verdicts.find((v) => v.id === 'ff-memory')!, r).join('\n');
    expect(memory).toContain('- mnist-cnn bias: +12800 B = 12704 B scratch of conv3 (conv2d, trained: packs per call) + 96 B trainer buffers.');
    expect(memory).toContain('mnist-cnn bias conv3: 4864 B against 928 B left');
    expect(missNotes(verdicts.find((v) => v.id === 'bp-over-ff')!, r)).toEqual([]);
  });
});

describe('benchmark report', () => {
  it('writes the targets, the machine, the commands and one table per suite, and renders every chart cleanly', async () => {
    const report = await buildReport(fixture(), { chartDir: 'bench' });
    const md = report.markdown;
    expect(md).toMatch(/^# Benchmarks/);
    expect(md).toContain('| QZO-FF step ≤ 1.10 × 2m × inference (same batch and selection) | worst 1.30×, median 1.18× | 1 of 2 | **not met** |');
    expect(md).toContain('| backprop SRAM ≥ 3× QZO-FF SRAM for full fine-tuning | worst 6.67×, median 6.67× | 1 of 1 | **met** |');
    expect(md).toContain('CPU: Test CPU, 2 logical cores');
    expect(md).toContain('npm run bench -- --json bench/results');
    for (const section of ['## 1. Kernels', '## 2. Inference', '## 3. QZO-FF step overhead', '## 4. Training against TF.js', '## 5. Memory', '## 6. Time to accuracy', '## Notes on missed targets']) expect(md).toContain(section);
    expect(md).toContain('| mnist-cnn | 1 | 0.100 | 0.100 | 0.500 | 0.120 | 5.00× | 1.20× |');
    expect(md).toContain('TF.js: wasm backend has no Conv2DBackpropFilter kernel: ran on tfjs cpu.');
    expect(md).not.toContain('--quick` runs');
    expect(report.charts.map((c) => c.file).sort()).toEqual(['inference.svg', 'kernels.svg', 'memory.svg', 'overhead.svg', 'time-to-accuracy.svg', 'training.svg']);
    for (const c of report.charts) {
      expect(md).toContain(`](bench/${c.file})`);
      expect(c.warnings).toEqual([]);
      expect(c.svg).toMatch(/^<svg[^>]*>/);
    }
  });

  it('flags results that came from --quick runs', async () => {
    const r = fixture();
    r.overhead = { ...r.overhead!, quick: true };
    expect((await buildReport(r, { chartDir: 'bench', render: false })).markdown).toContain('These results include `--quick` runs');
  });

  it('npm run bench:report turns a results folder into the page and its SVGs', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lastmile-report-'));
    try {
      const results = path.join(dir, 'results');
      await mkdir(results);
      for (const [suite, data] of Object.entries(fixture())) await writeFile(path.join(results, `${suite}.json`), JSON.stringify(data));
      await writeFile(path.join(results, 'run-times.json'), JSON.stringify({ quick: { totalSeconds: 95, suites: { kernels: 45 }, date: machine.date } }));
      const loaded = await loadResults(results);
      expect(Object.keys(loaded.results).sort()).toEqual(['inference', 'kernels', 'memory', 'overhead', 'training', 'tta']);
      const out = path.join(dir, 'docs', 'BENCHMARKS.md');
      await mkdir(path.dirname(out));
      await promisify(execFile)('npm', ['run', '--silent', 'bench:report', '--', '--results', results, '--out', out, '--charts', path.join(dir, 'docs', 'bench')], { cwd: path.resolve(import.meta.dirname, '..') });
      const md = await readFile(out, 'utf8');
      expect(md).toContain('last quick run: 1.6 min (kernels 45 s)');
      expect(md).toContain('![Time to accuracy](bench/time-to-accuracy.svg)');
      expect((await readdir(path.join(dir, 'docs', 'bench'))).sort()).toEqual(['inference.svg', 'kernels.svg', 'memory.svg', 'overhead.svg', 'time-to-accuracy.svg', 'training.svg']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('benchmark command line', () => {
  it('takes --quick, --json DIR (DIR/<suite>.json) or --json FILE.json, and --filter', () => {
    expect(parseBenchArgs(['--quick', '--json', 'out', '--filter', 'mnist'], 'overhead')).toEqual({ quick: true, json: path.join('out', 'overhead.json'), filter: 'mnist' });
    expect(jsonPath('x/kernels-old.json', 'kernels')).toBe('x/kernels-old.json');
    expect(() => parseBenchArgs(['--json'], 'memory')).toThrow(/--json needs a value/);
    expect(() => parseBenchArgs(['--fast'], 'memory')).toThrow(/unknown argument '--fast'/);
  });
});
