// Keeps the kernel benchmark honest between full runs: its measurement function must still time
// every implementation, and its JSON must keep the shape other tools read.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  DevicePool,
  availableImpls,
  formatTable,
  formatTargets,
  makeReport,
  measureLayer,
  type BenchResult,
  type Layer,
  type Timing,
} from '../bench/kernels.bench.js';

const TINY_TIMING: Timing = { minSamples: 2, minTime: 0.002, maxTime: 0.004, warmup: 0.001 };

const TINY_LAYERS: Layer[] = [
  { op: 'gemm', shape: { m: 3, k: 9, n: 5 } },
  {
    op: 'conv',
    shape: { batch: 1, inHeight: 5, inWidth: 6, inChannels: 3, outChannels: 4, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 1, padding: 'same' },
  },
  {
    op: 'dwconv',
    shape: { batch: 1, inHeight: 5, inWidth: 5, channels: 4, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'valid' },
  },
];

const KERNEL = /^(gemm|conv|dwconv)-w(8|16)a8$/;
const GEMM_SHAPE = /^\d+x\d+x\d+$/;
const CONV_SHAPE = /^\d+x\d+x\d+x\d+-\d+x\d+-s\d+(x\d+)?(-valid)?-\d+$/;
const IMPLS = ['scalar', 'simd', 'relaxed', 'simd-per-call', 'ort-web'];

/** The JSON contract: exactly {machine, results: [{kernel, shape, impl, gmacs}]}. */
function expectReportShape(report: unknown): asserts report is { machine: Record<string, unknown>; results: BenchResult[] } {
  expect(report).toBeTypeOf('object');
  const r = report as Record<string, unknown>;
  expect(Object.keys(r).sort()).toEqual(['machine', 'results']);
  const machine = r.machine as Record<string, unknown>;
  expect(machine.cpu).toBeTypeOf('string');
  expect(machine.cores).toBeGreaterThanOrEqual(1);
  expect(machine.node).toMatch(/^v\d+\./);
  expect(machine.v8).toMatch(/^\d+\./);
  expect(Number.isNaN(Date.parse(String(machine.date)))).toBe(false);
  expect(Array.isArray(r.results)).toBe(true);
  for (const entry of r.results as Record<string, unknown>[]) {
    expect(Object.keys(entry).sort()).toEqual(['gmacs', 'impl', 'kernel', 'shape']);
    expect(entry.kernel).toMatch(KERNEL);
    expect(entry.shape).toMatch(String(entry.kernel).startsWith('gemm') ? GEMM_SHAPE : CONV_SHAPE);
    expect(IMPLS).toContain(entry.impl);
    expect(entry.gmacs).toBeTypeOf('number');
    expect(Number.isFinite(entry.gmacs) && (entry.gmacs as number) > 0).toBe(true);
  }
}

describe('kernel benchmark harness', () => {
  const results: BenchResult[] = [];

  beforeAll(async () => {
    const pool = new DevicePool();
    for (const layer of TINY_LAYERS) {
      for (const bits of [8, 16] as const) results.push(...(await measureLayer(layer, bits, availableImpls(), TINY_TIMING, pool)));
    }
  });

  it('times every implementation on a tiny GEMM, conv and depthwise layer, pre-packed and per call (ORT only with int8 weights)', () => {
    expect(availableImpls()).toEqual(['scalar', 'simd', 'relaxed', 'simd-per-call', 'ort-web']); // vitest workers run with relaxed SIMD
    const seen = results.map((r) => `${r.kernel} ${r.shape} ${r.impl}`).sort();
    const expected = [
      ['gemm', '3x9x5'],
      ['conv', '1x5x6x3-3x3-s2x1-4'],
      ['dwconv', '1x5x5x4-3x3-s1-valid-4'],
    ].flatMap(([op, shape]) => [
      ...IMPLS.map((impl) => `${op}-w8a8 ${shape} ${impl}`),
      ...IMPLS.filter((impl) => impl !== 'ort-web').map((impl) => `${op}-w16a8 ${shape} ${impl}`),
    ]);
    expect(seen).toEqual(expected.sort());
    for (const r of results) expect(r.gmacs).toBeGreaterThan(0);
  });

  it('reports exactly {machine, results: [{kernel, shape, impl, gmacs}]}', () => {
    const report = JSON.parse(JSON.stringify(makeReport(results)));
    expectReportShape(report);
    expect(report.results).toHaveLength(results.length);
  });

  it('prints one table row per result and a target verdict for every simd row', () => {
    const table = formatTable(results).split('\n');
    expect(table[0]).toMatch(/^kernel\s+shape\s+impl\s+GMAC\/s\s+vs ort-web\s+vs scalar/);
    expect(table[1]).toMatch(/^-+( +-+)+$/);
    expect(table.slice(2).filter((line) => / (scalar|simd|relaxed|simd-per-call|ort-web) /.test(line))).toHaveLength(results.length);
    const verdicts = formatTargets(results).split('\n').filter((line) => /^\s+(meets|MISSES)\s/.test(line));
    expect(verdicts).toHaveLength(results.filter((r) => r.impl === 'simd').length);
  });

  it('npm run bench:kernels -- --quick --json writes that JSON', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lastmile-bench-'));
    try {
      const file = path.join(dir, 'bench.json');
      await promisify(execFile)('npm', ['run', '--silent', 'bench:kernels', '--', '--quick', '--filter', 'gemm-w8a8 1x8x128', '--json', file], {
        cwd: path.resolve(import.meta.dirname, '..'),
      });
      const report = JSON.parse(await readFile(file, 'utf8'));
      expectReportShape(report);
      expect(report.results.map((r) => `${r.kernel} ${r.shape} ${r.impl}`).sort()).toEqual(
        IMPLS.map((impl) => `gemm-w8a8 1x8x128 ${impl}`).sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
