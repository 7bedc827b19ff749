import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accuracyChart, accuracySpec, COLORS, lossCurveChart, lossCurveSpec, memoryModesChart, memoryModesSpec, perLayerChart, perLayerRows, perLayerSpec,
  profileSpec, renderChart, scopeSvgIds, type DeviceBudget, type ModeLayers,
} from '../src/report/charts.js';
import { lastmile as run } from './helpers/cli.js';
import { adaptReportHtml, commandLine, memoryReportHtml, PAPER_URL, type AdaptReportJson } from '../src/report/html.js';
import { memoryReport } from '../src/report/memory.js';
import { architecturePreset } from '../src/model/presets.js';
import { resolveGraph } from '../src/model/graph.js';

// The CLI cases drive the built command as a user would (bin/lastmile.js → dist/; `npm run build:ts` first).
// Spawned, not spawnSync: a test worker blocked for a minute misses vitest's RPC deadlines.
async function lastmile(...args: string[]) {
  const r = await run(args, { timeoutMs: 300_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** The inner markup of every `<g>` Vega drew for the mark named `name` (one group per series). */
function markGroups(svg: string, name: string): string[] {
  const groups: string[] = [];
  const marker = `role-mark ${name}_marks"`;
  for (let at = svg.indexOf(marker); at >= 0; at = svg.indexOf(marker, at + 1)) {
    const start = svg.indexOf('>', at) + 1;
    let depth = 1;
    const tags = /<g\b[^>]*?(\/?)>|<\/g>/g;
    tags.lastIndex = start;
    let m: RegExpExecArray | null;
    while (depth > 0 && (m = tags.exec(svg))) {
      if (m[0] === '</g>') depth--;
      else if (m[1] !== '/') depth++;
      if (depth === 0) groups.push(svg.slice(start, m.index));
    }
  }
  return groups;
}
const count = (markup: string, tag: string) => (markup.match(new RegExp(`<${tag}\\b`, 'g')) ?? []).length;
/** Top edge (SVG y) of each bar, from Vega's rect paths "M x,y h w v h h -w Z". */
const barTops = (markup: string) => [...markup.matchAll(/ d="M[-\d.e]+,([-\d.e]+)h/g)].map((m) => Number(m[1]));
const ruleY = (markup: string) => Number(/translate\([-\d.e]+,([-\d.e]+)\)/.exec(markup)![1]);

const nrf: DeviceBudget = { name: 'nrf52840', sramBytes: 256 * 1024, flashBytes: 1024 * 1024 };
const modes = [
  { label: 'inference 16w8a', sramPeak: 39_200, flash: 12_300 },
  { label: 'QZO-FF 16w8a', sramPeak: 51_600, flash: 0 },
  { label: 'backprop f32 (Adam)', sramPeak: 444_640, flash: 0 },
];
const planned = memoryReport(architecturePreset('mnist-cnn'), { device: nrf, batch: 5 });
const layerModes: ModeLayers[] = Object.values(planned.modes).map((m) => ({ label: m.label, sramPeak: m.sramPeak, perLayer: m.perLayer }));

describe('charts (Vega-Lite → SVG, headless)', () => {
  it('memory chart: one bar per mode in each region, the budget as a rule, the over-budget bar above it in red', async () => {
    const svg = await memoryModesChart(modes, nrf);
    const [sram] = markGroups(svg, 'sram_bars');
    expect(count(sram!, 'path')).toBe(3);
    expect(count(markGroups(svg, 'flash_bars')[0]!, 'path')).toBe(3);
    const [rule] = markGroups(svg, 'sram_budget_rule');
    expect(count(rule!, 'line')).toBe(1);
    expect(count(markGroups(svg, 'flash_budget_rule')[0]!, 'line')).toBe(1);
    // SVG y grows downwards: the backprop bar's top is above the rule, the other two are below it.
    const [infer, ff, bp] = barTops(sram!);
    const y = ruleY(rule!);
    expect(bp!).toBeLessThan(y);
    expect(infer!).toBeGreaterThan(y);
    expect(ff!).toBeGreaterThan(y);
    expect(sram!.match(/fill="(#[0-9a-f]+)"/g)).toEqual([`fill="${COLORS.fits}"`, `fill="${COLORS.fits}"`, `fill="${COLORS.over}"`]);
    expect(svg).toContain('nrf52840 SRAM budget 256.0 KiB');
    expect(svg).toContain('434.2 KiB');
  });

  it('per-layer chart: one stacked segment per layer and buffer kind, budget and planned peak as rules, optimizer state filed under its layer', async () => {
    const svg = await perLayerChart(layerModes, nrf);
    layerModes.forEach((m, i) => {
      expect(count(markGroups(svg, `mode${i}_layers`)[0]!, 'path')).toBe(perLayerRows(m.perLayer).length);
      expect(count(markGroups(svg, `mode${i}_budget_rule`)[0]!, 'line')).toBe(1);
      expect(count(markGroups(svg, `mode${i}_peak_rule`)[0]!, 'line')).toBe(1);
    });
    const bpRows = perLayerRows(planned.modes.bp!.perLayer);
    expect(bpRows.some((r) => r.layer === 'conv1' && r.kind === 'optimizer state')).toBe(true);
    expect(bpRows.some((r) => r.layer.includes(':'))).toBe(false);
    // Folding moves bytes between rows, never loses them.
    const sum = (xs: { bytes: number }[]) => xs.reduce((s, x) => s + x.bytes, 0);
    expect(sum(bpRows)).toBe(planned.modes.bp!.perLayer.reduce((s, l) => s + Object.values(l.sram).reduce((a, b) => a + b, 0), 0));
  });

  it('accuracy chart: one labelled bar per method; a skipped baseline leaves two', async () => {
    const three = await accuracyChart({ zeroShot: 48.2, after: 55.8, bp: 67.6, count: 500 });
    expect(count(markGroups(three, 'accuracy_bars')[0]!, 'path')).toBe(3);
    for (const v of ['48.2%', '55.8%', '67.6%']) expect(three).toContain(`>${v}<`);
    const two = await accuracyChart({ zeroShot: 48.2, after: 55.8, bp: null });
    expect(count(markGroups(two, 'accuracy_bars')[0]!, 'path')).toBe(2);
    expect(two).toContain('f32 backprop baseline skipped');
  });

  it('loss chart: one curve per method, each over its own number of steps; NaN losses are dropped', async () => {
    const ff = Array.from({ length: 200 }, (_, i) => 1.4 - i / 400);
    const bp = Array.from({ length: 100 }, (_, i) => 1.4 - i / 80);
    const svg = await lossCurveChart({ ff, bp, ffLabel: 'QZO-FF 16w8a', bpLabel: 'f32 backprop' });
    expect(markGroups(svg, 'loss_trend')).toHaveLength(2);
    expect(svg).toContain('QZO-FF 16w8a (200 steps)');
    expect(svg).toContain('f32 backprop (100 steps)');
    const alone = await lossCurveChart({ ff: [...ff.slice(0, 9), NaN], bp: [] });
    expect(markGroups(alone, 'loss_trend')).toHaveLength(1);
    expect(alone).toContain('QZO-FF (9 steps)');
  });

  it('renders the same bytes every time, without Vega warnings', async () => {
    const specs = [
      lossCurveSpec({ ff: [1.4, 1.3, 1.2], bp: [1.4, 0.9] }),
      accuracySpec({ zeroShot: 40, after: 50, bp: 60 }),
      memoryModesSpec(modes, nrf),
      perLayerSpec(layerModes, nrf),
      profileSpec([{ name: 'conv2d', ms: 8, share: 80 }, { name: 'update', ms: 2, share: 20 }], [{ name: 'conv1', ms: 8, share: 80 }, { name: 'update', ms: 2, share: 20 }]),
    ];
    for (const [i, spec] of specs.entries()) {
      const a = await renderChart(spec, `c${i}`);
      const b = await renderChart(spec, `c${i}`);
      expect(a.warnings).toEqual([]);
      expect(b.svg).toBe(a.svg);
    }
  });

  it('escapes names from model files in the SVG text', async () => {
    const hostile = [{ layer: '<img src=x onerror=alert(1)>', sram: { act: 4096 }, flash: 0 }];
    const svg = await perLayerChart([{ label: 'mode "<b>"', sramPeak: 4096, perLayer: hostile }], nrf);
    expect(svg).not.toContain('<img');
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('scopes Vega\u2019s process-wide ids to the chart, references included', async () => {
    const svg = '<svg><defs><clipPath id="clip7"><rect/></clipPath></defs><g clip-path="url(#clip7)"></g><use href="#clip7"/><g id="clip9"/></svg>';
    expect(scopeSvgIds(svg, 'loss')).toBe('<svg><defs><clipPath id="loss-1"><rect/></clipPath></defs><g clip-path="url(#loss-1)"></g><use href="#loss-1"/><g id="loss-2"/></svg>');
  });
});

const adaptJson: AdaptReportJson = {
  zeroShot: 48.2, after: 55.8, bp: 67.6, steps: 200, sramPeak: 51_600, flash: 0,
  device: { name: 'nrf52840', sramBytes: 262_144, flashBytes: 1_048_576, build: 'simd' },
  memory: { infer: { sramPeak: 39_200, flash: 12_300, fits: true }, ff: { sramPeak: 51_600, flash: 0, fits: true }, bp: { sramPeak: 444_640, flash: 0, fits: false } },
  bpOverFf: 8.6, classes: [5, 6, 7, 8, 9],
  config: { precision: '16w8a', selection: { kind: 'full' }, steps: 200, microBatch: 5, epsilon: 0.001, directions: 3, dist: 'gaussian', lr: 0.003, seed: 1, trainable: ['conv1', 'conv2', 'conv3', 'logits'] },
  losses: Array.from({ length: 200 }, (_, i) => 1.44 - i / 700), bpLosses: Array.from({ length: 100 }, (_, i) => 1.44 - i / 80),
  wallMs: { ff: 1900, bp: 700, total: 3000 }, model: 'out/adapt/model.lmdl',
};

describe('HTML report', () => {
  it('is one self-contained file: inline CSS and SVGs, no scripts, no external URL but the paper link; all text escaped', async () => {
    const arch = architecturePreset('mnist-cnn');
    const html = await adaptReportHtml({
      report: adaptJson, modelPath: 'models/<script>alert(1)</script>.lmdl', architecture: { ...arch, nodes: arch.nodes.map((n) => (n.name === 'logits' ? { ...n, units: 5 } : n)) },
      backboneMeta: { pretrainedOn: 'mnist', classes: [0, 1, 2, 3, 4] }, task: { data: 'mnist', ways: 5, shots: 5, queries: 500 },
      deviceDescription: 'nrf52840 (Arduino Nano 33 BLE): 256 KiB SRAM / 1 MiB flash', argv: ['adapt', '--steps', '200', '--out', 'my dir'],
    });
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\ssrc=|<link|@import|url\((?!#)/i);
    expect([...html.matchAll(/https?:\/\/[^\s"'<)]+/g)].map((m) => m[0])).toEqual([PAPER_URL]);
    expect(html).toContain('models/&lt;script&gt;alert(1)&lt;/script&gt;.lmdl');
    expect(count(html, 'svg')).toBe(4);
    for (const v of ['48.2%', '55.8%', '67.6%']) expect(html).toContain(v);
    expect(html).toContain(`<td class="no">NO</td>`);
    expect(html).toContain('<code>lastmile adapt --steps 200 --out &#39;my dir&#39;</code>');
  });

  it('memory page: the fits table and both memory charts', async () => {
    const html = await memoryReportHtml({ report: planned, precision: '16w8a', compare: 'mixed', deviceDescription: 'nrf52840', argv: ['memory', '--html', 'm.html'] });
    expect(count(html, 'svg')).toBe(2);
    expect(html).toContain('sram_budget_rule_marks');
    expect(html).toContain('mode2_layers_marks');
    expect(html).toMatch(/backprop f32 \(Adam\) does not fit/);
  });

  it('quotes the command line so it can be pasted back into a shell', async () => {
    expect(commandLine(['eval', '--model', "it's.lmdl", '--classes', '5-9'])).toBe(`lastmile eval --model 'it'\\''s.lmdl' --classes 5-9`);
  });
});

describe('profile, eval and the adapt report from the command line', () => {
  it('profile --json: per-kernel rows that add up to the step, with the update and RNG as their own rows', async () => {
    const r = await lastmile('profile', '--model', 'mnist-cnn', '--steps', '3', '--json');
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    const share = (rows: { share: number }[]) => rows.reduce((s, x) => s + x.share, 0);
    expect(share(p.byKind)).toBeCloseTo(100, 1);
    expect(share(p.byLayer)).toBeCloseTo(100, 1);
    const kinds = p.byKind.map((x: { kind: string }) => x.kind);
    for (const k of ['conv2d', 'dense', 'update', 'rng', 'host']) expect(kinds).toContain(k);
    const conv = p.byKind.find((x: { kind: string }) => x.kind === 'conv2d');
    const convs = resolveGraph(architecturePreset('mnist-cnn')).nodes.filter((n) => n.node.kind === 'conv2d');
    expect(conv.calls).toBe(3 * 2 * 3 * convs.length); // steps × 2m passes × conv layers
    expect(conv.macs).toBe(3 * 2 * 3 * convs.reduce((s, n) => s + n.macs, 0));
    expect(conv.gmacPerS).toBeGreaterThan(0);
    expect(p.byLayer.map((x: { name: string }) => x.name)).toEqual(['rng+perturb setup', 'conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'gap', 'logits', 'update', 'loss, batch loading, host']);
    expect(p.timing.overhead).toBeCloseTo(p.timing.stepMs / (2 * p.directions * p.timing.forwardMs), 6);
    expect(p.timing.overhead).toBeGreaterThan(0);
  });

  it('profile on a device too small for QZO-FF exits 2 with the budget error', async () => {
    const r = await lastmile('profile', '--model', 'mnist-cnn', '--device', '16k/1m');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not fit the device: SRAM needs \d+ B .* but 16384 B/);
  });

  it('eval --json: accuracy of the shipped float backbone on its classes, with softmax probabilities', async () => {
    const r = await lastmile('eval', '--model', 'models/mnist-cnn-digits04.lmdl', '--limit', '200', '--show', '3', '--json');
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e).toMatchObject({ kind: 'float', precision: 'f32', classes: [0, 1, 2, 3, 4], count: 200 });
    expect(e.accuracy).toBeGreaterThan(90);
    expect(e.samples).toHaveLength(3);
    for (const s of e.samples) expect(s.probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('adapt writes report.html beside report.json; eval runs the adapted quantized model on the device and refuses a budget it does not fit', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lastmile-report-'));
    const a = await lastmile('adapt', '--steps', '20', '--no-baseline', '--queries', '20', '--quiet', '--out', out);
    expect(a.code, a.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain(`${report.zeroShot.toFixed(1)}%`);
    expect(html).toContain(`${report.after.toFixed(1)}%`);
    expect(html).toContain('skipped (--no-baseline)');
    expect(count(html, 'svg')).toBe(4);
    expect(html).toContain('lastmile adapt --steps 20 --no-baseline --queries 20 --quiet --out');

    const model = join(out, 'model.lmdl');
    const e = await lastmile('eval', '--model', model, '--limit', '100', '--json');
    expect(e.code, e.stderr).toBe(0);
    const ev = JSON.parse(e.stdout);
    expect(ev).toMatchObject({ kind: 'quantized', precision: '16w8a', classes: [5, 6, 7, 8, 9], count: 100 });
    expect(ev.accuracy).toBeGreaterThan(20); // 5 classes: chance is 20%
    expect(ev.memory.measuredSramPeak).toBe(ev.memory.sramPeak);
    const small = await lastmile('eval', '--model', model, '--device', '16k/1m');
    expect(small.code).toBe(2);
    expect(small.stderr).toMatch(/inference of 'mnist-cnn' \(batch 8\) does not fit the device/);
  });

  it('memory --html writes the memory charts', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lastmile-report-')), 'sub', 'memory.html');
    const r = await lastmile('memory', '--model', 'ds-cnn', '--html', file);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    const html = readFileSync(file, 'utf8');
    expect(count(html, 'svg')).toBe(2);
    expect(html).toContain('Memory: ds-cnn on nrf52840');
  });
});
