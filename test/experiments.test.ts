// Smoke versions of the paper's five experiment families (lastmile experiment <name> --quick): tiny
// settings, assertions on the direction of each result, and the report rendered from them.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMemory, type MemoryResult } from '../src/experiments/memory.js';
import { runFewshot, type FewshotResult } from '../src/experiments/fewshot.js';
import { DEFAULT_SERIES_KEY, earlyDamage, runConvergence, type ConvergenceResult } from '../src/experiments/convergence.js';
import { HEAD_ONLY_HYBRID_LABEL, runCrossDomain, type CrossDomainResult } from '../src/experiments/cross-domain.js';
import { runOod, type OodResult } from '../src/experiments/ood.js';
import { writeReport } from '../src/experiments/results-md.js';
import { stat } from '../src/experiments/common.js';
import { deviceFor, episodeSource, loadBackbone } from '../src/experiments/common.js';
import { ADAPT_DEFAULTS } from '../src/train/defaults.js';
import { prepareProbe, probeQzo } from '../src/experiments/probe.js';
import { loadBundledMnist } from '../src/data/mnist.js';
import { sampleEpisode } from '../src/data/fewshot.js';
import { adapt } from '../src/train/adapt.js';
import { parseSubset } from '../src/experiments/subset.js';
import { appendCells, appendRows } from '../src/experiments/append.js';
import { ConfigError } from '../src/errors.js';
import { HYBRID_DEFAULTS } from '../src/train/hybrid.js';

const dir = mkdtempSync(join(tmpdir(), 'lastmile-experiments-'));
const save = (name: string, r: unknown) => writeFileSync(join(dir, `${name}.json`), JSON.stringify(r));
const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('stat', () => {
  it('gives the mean and a Student-t 95% half-width', () => {
    expect(stat([])).toBeNull();
    expect(stat([3])).toEqual({ mean: 3, ci: 0, n: 1 });
    const s = stat([1, 3])!;
    expect(s.mean).toBe(2);
    expect(s.ci).toBeCloseTo((12.71 * Math.SQRT2) / Math.SQRT2, 5);
  });
});

describe('experiment 4: memory', () => {
  let r: MemoryResult;
  beforeAll(async () => {
    r = await runMemory({ quick: true });
    save('memory', r);
  });
  it('backprop needs more SRAM and scratch than QZO-FF, most of all for full fine-tuning', () => {
    for (const row of r.rows) {
      expect(row.ratios.sram).toBeGreaterThan(1);
      expect(row.ratios.scratch).toBeGreaterThan(1);
    }
    const full = r.rows.find((x) => x.selection === 'full' && x.batch === 5)!;
    const head = r.rows.find((x) => x.selection === 'head' && x.batch === 5)!;
    expect(full.ratios.sram).toBeGreaterThan(head.ratios.sram);
    expect(full.ratios.fp16Scratch).toBeGreaterThan(1.5);
  });
  it('measures what it plans', () => {
    // Every executed mode, float ZO's f32 copy and z included, allocates through its plan: the high-water mark is the plan.
    for (const row of r.rows) for (const m of Object.values(row.modes)) if (m.measured !== null) expect(m.measured).toBe(m.sram);
    expect(r.rows.every((row) => row.modes.ff32.measured !== null)).toBe(true);
  });
});

describe('experiment 1: few-shot', () => {
  let r: FewshotResult;
  beforeAll(async () => {
    r = await runFewshot({ quick: true });
    save('fewshot', r);
  });
  it('QZO-FF and BP beat zero-shot on the linear probe; plain 8w8a full fine-tuning is refused', () => {
    const probe = r.cells.find((c) => c.selection === 'head')!;
    expect(meanOf(probe.columns.qzo16.values)).toBeGreaterThan(meanOf(probe.columns.zeroShot.values));
    expect(meanOf(probe.columns.bp.values)).toBeGreaterThan(meanOf(probe.columns.zeroShot.values));
    const full = r.cells.find((c) => c.selection === 'full')!;
    expect(full.columns.qzo8.refused).toBe(full.episodes);
    expect(full.columns.qzo8dither.values).toHaveLength(full.episodes);
    expect(meanOf(full.columns.bp.values)).toBeGreaterThan(meanOf(full.columns.zeroShot.values));
    // The hybrid runs on full fine-tuning cells only, on every episode, and trains (it is not the zero-shot head).
    expect(full.columns.hybrid.values).toHaveLength(full.episodes);
    expect(full.columns.hybrid.values).not.toEqual(full.columns.zeroShot.values);
    expect(probe.columns.hybrid.values).toHaveLength(0);
    // The cell records which hybrid ran: the small CNN has a tail, so the default's two backprop layers.
    expect(full.hybrid).toEqual({ bpLayers: 2, tailLr: HYBRID_DEFAULTS.tailLr, headStep: HYBRID_DEFAULTS.headStep, warmup: HYBRID_DEFAULTS.warmup, center: HYBRID_DEFAULTS.center, directions: ADAPT_DEFAULTS.hybridDirections });
    expect(probe.hybrid).toBeUndefined();
  });
  it('the cached-feature linear probe starts exactly where adapt() does', async () => {
    const backbone = await loadBackbone('cnn-mnist');
    const ep = sampleEpisode(await loadBundledMnist(), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 20, seed: 7 });
    const device = { name: 'nrf52840', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };
    const viaAdapt = await adapt({ backbone, support: ep.support, query: ep.query, device, selection: { kind: 'head' }, steps: 0, baseline: false });
    const probe = await probeQzo(await prepareProbe({ backbone, support: ep.support, query: ep.query, device }), 16, { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 1 }, 0);
    expect(probe.zeroShot).toBe(viaAdapt.zeroShot);
  });
});

describe('experiment 5: convergence', () => {
  let r: ConvergenceResult;
  beforeAll(async () => {
    r = await runConvergence({ quick: true });
    save('convergence', r);
  });
  it('16w8a lowers the training loss; 8w8a at ε = 1e-3 is refused; dithered 8w8a trains', () => {
    const s = (k: string) => r.panels[0]!.series.find((x) => x.key === k)!;
    const loss = s('qzo16').loss;
    expect(meanOf(loss.slice(-20))).toBeLessThan(meanOf(loss.slice(0, 20)));
    expect(s('qzo8').refused).toBe(s('qzo8').runs);
    expect(s('qzo8dither').loss).toHaveLength(r.steps);
    expect(s('bp').accuracy.length).toBeGreaterThan(2);
  });
  it('has the default method\'s series with the early steps logged, and it is adapt()\'s hybrid', async () => {
    expect(r.loggedSteps).toEqual({ zo: [0, 1, 2, 5, 10, 20, 25, 50, 75, 100], bp: [0, 1, 2, 4, 5, 6, 8, 10, 12, 14, 16, 18, 20] });
    const p = r.panels[0]!;
    const s = (k: string) => p.series.find((x) => x.key === k)!;
    const def = s(DEFAULT_SERIES_KEY);
    for (const k of [DEFAULT_SERIES_KEY, 'qzo16', 'qzo8dither']) expect(s(k).accuracy.map(([step]) => step)).toEqual(r.loggedSteps!.zo);
    expect(s('bp').accuracy.map(([step]) => step)).toEqual(r.loggedSteps!.bp);
    expect(def.method).toBe('hybrid');
    expect(def.hybrid).toEqual({ bpLayers: 2, tailLr: HYBRID_DEFAULTS.tailLr, headStep: HYBRID_DEFAULTS.headStep, warmup: HYBRID_DEFAULTS.warmup, center: HYBRID_DEFAULTS.center, directions: ADAPT_DEFAULTS.hybridDirections });
    expect(def.loss).toHaveLength(r.steps);
    // Same quantized model at step 0 as the paper's 16w8a, then another method.
    expect(def.accuracy[0]).toEqual(s('qzo16').accuracy[0]);
    expect(def.final!.mean).not.toBe(s('qzo16').final!.mean);
    expect(def.loss).not.toEqual(s('qzo16').loss);
    // The curve's last point is exactly what adapt() with its default method gives on that episode.
    const ep = sampleEpisode(await episodeSource(p.data), { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 50, seed: r.seed });
    const viaAdapt = await adapt({ backbone: await loadBackbone(p.backbone), support: ep.support, query: ep.query, device: deviceFor(p.backbone), steps: r.steps, seed: r.seed, baseline: false });
    expect(viaAdapt.method).toBe('hybrid');
    expect(def.final!.mean).toBe(viaAdapt.after);
    expect(def.accuracy.at(-1)).toEqual([r.steps, viaAdapt.after]);
    expect(def.accuracy[0]![1]).toBe(viaAdapt.zeroShot);
  });
  it('states the early-damage check from the record', () => {
    const d = earlyDamage({ accuracy: [[0, 60], [1, 59.2], [2, 58.8], [5, 61]] })!;
    expect(d.step).toBe(2);
    expect(d.worst).toBeCloseTo(-1.2, 9);
    expect(d.meets).toBe(false);
    expect(earlyDamage({ accuracy: [[0, 60], [1, 59], [2, 63]] })!.meets).toBe(true);
    expect(earlyDamage({ accuracy: [] })).toBeNull();
  });
});

describe('experiment 3: cross-domain', () => {
  let r: CrossDomainResult;
  beforeAll(async () => {
    r = await runCrossDomain({ quick: true, variants: ['ff3', 'qzo16', 'qzo8', 'qzo8dither', 'hybrid'] });
    save('cross-domain', r);
  });
  it('runs every requested variant on every episode; plain 8w8a is refused, BP beats zero-shot', () => {
    const row = (k: string) => r.rows.find((x) => x.key === k)!;
    expect(row('qzo8').refused).toBe(r.episodes);
    for (const k of ['ff3', 'qzo16', 'qzo8dither', 'zeroShot', 'bp', 'hybrid']) expect(row(k).values).toHaveLength(r.episodes);
    expect(row('hybrid').group).toBe('enhancement');
    expect(row('bp').stat!.mean).toBeGreaterThan(row('zeroShot').stat!.mean);
  });
});

describe('experiment 2: out-of-distribution', () => {
  let r: OodResult;
  beforeAll(async () => {
    r = await runOod({ quick: true });
    save('ood', r);
  });
  it('adaptation recovers accuracy lost to a severe corruption', () => {
    const high = r.cells.find((c) => c.severity === 5 && c.headLayers === 1)!;
    const low = r.cells.find((c) => c.severity === 1 && c.headLayers === 1)!;
    expect(high.columns.source.stat!.mean).toBeLessThan(low.columns.source.stat!.mean);
    expect(high.columns.qzo16.stat!.mean).toBeGreaterThan(high.columns.zeroShot.stat!.mean);
    expect(high.columns.bp.stat!.mean).toBeGreaterThan(high.columns.source.stat!.mean);
    expect(high.columns.qzo16sparse.values).toHaveLength(high.runs);
  });
});

describe('the report', () => {
  it('renders every section and chart from the JSON, without chart warnings', async () => {
    const path = join(dir, 'RESULTS.md');
    const warnings = await writeReport(dir, path);
    expect(warnings).toEqual([]);
    const md = readFileSync(path, 'utf8');
    for (const h of ['## 1. Few-shot', '## 2. Out-of-distribution', '## 3. Cross-domain', '## 4. Memory', '## 5. Convergence']) expect(md).toContain(h);
    expect(md).not.toContain('Not run yet');
    expect(md.match(/### Paper vs ours/g)).toHaveLength(5);
    for (const f of ['fewshot', 'ood', 'cross-domain', 'memory', 'convergence-loss', 'convergence-accuracy']) expect(existsSync(join(dir, 'results', `${f}.svg`))).toBe(true);
    // Fresh records describe the two-layer default hybrid, with no caveat about older cells or rows.
    expect(md).toContain('the last two parameter layers learn by integer backprop');
    expect(md).not.toContain('older head-only hybrid');
    expect(md).not.toContain('Not re-run with this default');
    // The convergence section states the early-damage check for the default series on each data set.
    expect(md).toMatch(/\*\*No early damage \(default method[^\n]*MNIST: worst [+-][0-9.]+ points \(after step \d+, zero-shot [0-9.]+%\) — (meets|\*\*misses\*\*) ≥ zero-shot − 1 point/);
    expect(md).toContain('| 5. convergence | 2 datasets × default / BP / 16w8a / 8w8a variants |');
  });
  it('marks hybrid cells and rows recorded before the two-layer default as the older head-only hybrid', async () => {
    const old = mkdtempSync(join(tmpdir(), 'lastmile-experiments-old-'));
    for (const name of ['memory', 'ood']) writeFileSync(join(old, `${name}.json`), readFileSync(join(dir, `${name}.json`)));
    // A convergence record from before the default series and the early steps: it still renders, and says what it lacks.
    const convergence = JSON.parse(readFileSync(join(dir, 'convergence.json'), 'utf8')) as ConvergenceResult;
    delete convergence.loggedSteps;
    for (const p of convergence.panels) p.series = p.series.filter((x) => x.key !== DEFAULT_SERIES_KEY);
    writeFileSync(join(old, 'convergence.json'), JSON.stringify(convergence));
    // What records of the head-only hybrid look like: no `hybrid` recipe on the cell, the old row label.
    const fewshot = JSON.parse(readFileSync(join(dir, 'fewshot.json'), 'utf8')) as FewshotResult;
    for (const c of fewshot.cells) delete c.hybrid;
    writeFileSync(join(old, 'fewshot.json'), JSON.stringify(fewshot));
    const cross = JSON.parse(readFileSync(join(dir, 'cross-domain.json'), 'utf8')) as CrossDomainResult;
    cross.rows.find((x) => x.key === 'hybrid')!.label = HEAD_ONLY_HYBRID_LABEL;
    writeFileSync(join(old, 'cross-domain.json'), JSON.stringify(cross));
    const path = join(old, 'RESULTS.md');
    expect(await writeReport(old, path)).toEqual([]);
    const md = readFileSync(path, 'utf8');
    expect(md).toContain('Not re-run with this default:** small CNN · MNIST 5-shot full');
    expect(md).toMatch(/\| [0-9.]+ ± [0-9.]+ \(older head-only hybrid\) \|/);
    expect(md).toContain('The hybrid row is **the older head-only hybrid**');
    expect(md).toContain('This record has no default-method series');
  });
});

describe('lastmile experiment', () => {
  it('writes an experiment\'s JSON, and refuses an unknown name with a clean error', async () => {
    const { main } = await import('../src/cli/main.js');
    const out = mkdtempSync(join(tmpdir(), 'lastmile-experiment-cli-'));
    expect(await main(['node', 'lastmile', '--quiet', 'experiment', 'memory', '--quick', '--out', out, '--no-report'])).toBe(0);
    const r = JSON.parse(readFileSync(join(out, 'memory.json'), 'utf8'));
    expect(r.experiment).toBe('memory');
    expect(r.run.quick).toBe(true);
    const errors: string[] = [];
    const error = console.error;
    console.error = (m: string) => errors.push(m);
    try {
      expect(await main(['node', 'lastmile', 'experiment', 'nonsense', '--out', out])).toBe(2);
    } finally {
      console.error = error;
    }
    expect(errors.join('\n')).toMatch(/unknown experiment 'nonsense'/);
  });
});

describe('running part of an experiment', () => {
  const cell = (backbone: string, shots: number, selection: 'full' | 'head', v: number) =>
    ({ backbone, arch: 'mnist-cnn', data: 'mnist', shots, selection, episodes: 1, steps: 1, seconds: 2, columns: { qzo16: { values: [v], refused: 0, stat: stat([v]) } } }) as unknown as FewshotResult['cells'][number];
  const record = (cells: FewshotResult['cells'], seed = 1000) =>
    ({ experiment: 'fewshot', ways: 5, classes: [5, 6, 7, 8, 9], queries: 50, seed, zo: { epsilon: 1e-3, directions: 3, lr: 3e-3, microBatch: 5 }, bp: { optimizer: 'adam', lr: 0.01 }, cells, seconds: 0 }) as unknown as FewshotResult;

  it('parses the subset flags and refuses bad values and flags of another experiment with a ConfigError', () => {
    expect(parseSubset('fewshot', { backbones: 'cnn-mnist,resnet8-fashion', shots: '5,1', selection: 'full', columns: 'hybrid,qzo8' }))
      .toEqual({ backbones: ['cnn-mnist', 'resnet8-fashion'], shots: [5, 1], selections: ['full'], columns: ['hybrid', 'qzo8'] });
    expect(parseSubset('cross-domain', { variants: 'qzo16,hybrid' })).toEqual({ variants: ['qzo16', 'hybrid'] });
    expect(() => parseSubset('fewshot', { backbones: 'cnn-cifar' })).toThrow(ConfigError);
    expect(() => parseSubset('fewshot', { shots: '0' })).toThrow(/--shots/);
    expect(() => parseSubset('fewshot', { selection: 'full,full' })).toThrow(/twice/);
    expect(() => parseSubset('fewshot', { columns: 'qzo16' })).toThrow(/unknown 'qzo16'/);
    expect(() => parseSubset('ood', { variants: 'qzo16' })).toThrow(/narrows the cross-domain experiment/);
    expect(() => parseSubset('cross-domain', { variants: 'qzo16,' })).toThrow(ConfigError);
  });

  it('--append keeps the cells a run did not re-run, replaces the ones it did, and refuses other episodes', () => {
    const old = appendCells(null, record([cell('cnn-mnist', 5, 'full', 1), cell('cnn-mnist', 5, 'head', 2), cell('resnet8-mnist', 5, 'full', 3)]), { command: 'old' });
    const both = appendCells(old, record([cell('cnn-fashion', 5, 'full', 4), cell('cnn-mnist', 5, 'full', 5)]), { command: 'new' });
    expect(both.cells.map((c) => [c.backbone, c.selection, c.columns.qzo16.values[0], c.run?.command])).toEqual([
      ['cnn-mnist', 'full', 5, 'new'], ['cnn-mnist', 'head', 2, 'old'], ['cnn-fashion', 'full', 4, 'new'], ['resnet8-mnist', 'full', 3, 'old'],
    ]);
    expect(both.seconds).toBe(8);
    expect(() => appendCells(old, record([cell('cnn-mnist', 5, 'full', 1)], 7), { command: 'x' })).toThrow(ConfigError);
  });

  it('--append on cross-domain keeps the rows not re-run as the earlier run, whole', () => {
    const row = (key: string, values: number[]) => ({ key, label: key, group: 'enhancement', values, refused: 0, stat: stat(values), msPerStep: 0 });
    const cd = (rows: ReturnType<typeof row>[], episodes: number) => ({ experiment: 'cross-domain', episodes, rows }) as unknown as CrossDomainResult;
    const old = cd([row('qzo16', [1, 2, 3, 4]), row('sharpness', [2, 2, 2, 2])], 4);
    const fresh = cd([row('qzo16', [5, 6]), row('hybrid', [7, 8])], 2);
    const both = appendRows(old, fresh, { command: 'new' });
    expect(both.rows.map((r) => r.key)).toEqual(['qzo16', 'hybrid']);
    expect(both.earlier!.rows.map((r) => r.key)).toEqual(['qzo16', 'sharpness']);
    // Re-running the same narrow set again keeps the same earlier run; running everything drops it.
    expect(appendRows(both, fresh, { command: 'again' }).earlier!.rows[1]!.values).toEqual([2, 2, 2, 2]);
    expect(appendRows(both, cd([row('qzo16', [1]), row('hybrid', [1]), row('sharpness', [1])], 1), { command: 'all' }).earlier).toBeUndefined();
  });
});
