// Turns bench/results/*.json into docs/BENCHMARKS.md and docs/bench/*.svg: the machine, the exact
// commands, one table (and chart) per suite, and every target of issue #7 marked met or not met with
// the measured figure. Figures are copied from the JSON, never recomputed from anything else.
//
//   npm run bench:report [-- --results DIR] [-- --out FILE] [-- --charts DIR]
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderChart } from '../src/report/charts.js';
import { runIfEntryPoint } from './cli.js';
import { toTargetCells } from './suite.js';
import type { MachineInfo } from './machine.js';
import { chartSpecs, type ChartSpec } from './report-charts.js';
import { evaluateTargets, KERNEL_TARGET_GEMM_256, KERNEL_TARGET_VS_ORT, type BenchResults, type Verdict } from './targets.js';
import type { RunTimes } from './all.js';

const SUITE_FILES: Record<keyof BenchResults, string> = {
  kernels: 'kernels.json', inference: 'inference.json', overhead: 'overhead.json', training: 'training.json', memory: 'memory.json', tta: 'tta.json',
};

export async function loadResults(dir: string): Promise<{ results: BenchResults; runTimes?: RunTimes }> {
  const present = new Set(await readdir(dir).catch(() => [] as string[]));
  const results: BenchResults = {};
  for (const [suite, file] of Object.entries(SUITE_FILES) as [keyof BenchResults, string][]) {
    if (present.has(file)) (results as Record<string, unknown>)[suite] = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
  }
  const runTimes = present.has('run-times.json') ? (JSON.parse(await readFile(path.join(dir, 'run-times.json'), 'utf8')) as RunTimes) : undefined;
  return { results, ...(runTimes ? { runTimes } : {}) };
}

const f2 = (x: number) => x.toFixed(2);
const msText = (x: number | null) => (x === null ? 'skipped' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const kib = (b: number) => (b / 1024).toFixed(1);
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

function table(header: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const a = align ?? header.map((_, i) => (i === 0 ? 'l' : 'r'));
  return [`| ${header.join(' | ')} |`, `|${a.map((x) => (x === 'l' ? '---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function machineSection(r: BenchResults): string {
  const entries = (Object.entries(r) as [string, { machine: MachineInfo; versions?: Record<string, string>; quick?: boolean }][]).filter(([, v]) => v);
  if (!entries.length) return 'No results found.';
  const m = entries[0]![1].machine;
  const versions = entries.find(([, v]) => v.versions)?.[1].versions ?? {};
  const lines = [
    `- CPU: ${m.cpu}, ${m.cores} logical cores (every benchmark runs on one thread; the machine is shared with other work, so compare ratios from the same run, not absolute times across runs)`,
    `- ${m.platform} ${m.arch}, Node ${m.node}, V8 ${m.v8}`,
    `- Versions: ${Object.entries(versions).filter(([k]) => k !== 'node' && k !== 'v8').map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
    'The kernel suite records the machine when it starts, the others when they finish. A load average above the core count means other work shared the cores while the suite ran: absolute times and GMAC/s are then lower than on a quiet machine, and ratios (measured side by side) are what carries over.',
    '',
    table(['suite', 'recorded at (UTC)', '1-min load average then', 'mode'], entries.map(([name, v]) => [name, v.machine.date.replace('T', ' ').replace(/\.\d+Z$/, ''), String(v.machine.loadAverage), v.quick === undefined ? '-' : v.quick ? '--quick' : 'full'])),
  ];
  return lines.join('\n');
}

function commandsSection(r: BenchResults, runTimes?: RunTimes): string {
  const t = (mode: 'full' | 'quick') => {
    const x = runTimes?.[mode];
    return x ? ` — last ${mode} run: ${(x.totalSeconds / 60).toFixed(1)} min (${Object.entries(x.suites).map(([k, v]) => `${k} ${v} s`).join(', ')})` : '';
  };
  const suites = (Object.entries(r) as [string, { command?: string }][]).filter(([, v]) => v).map(([name, v]) => `npm run ${name === 'tta' ? 'bench:tta' : `bench:${name}`} -- --json bench/results   # ${v.command ?? ''}`);
  return [
    '```sh',
    `npm run bench -- --json bench/results   # all six suites in sequence, one Node process each${t('full')}`,
    'npm run bench:report                    # this file and docs/bench/*.svg from bench/results/*.json',
    `npm run bench -- --quick                # every suite with fewer samples${t('quick')}`,
    '```',
    '',
    'Each suite also runs alone and takes `--quick`, `--json DIR` (writes `DIR/<suite>.json`) and `--filter TEXT`:',
    '',
    '```sh',
    ...suites.map((s) => s.replace(/ {3}# .*$/, '')),
    '```',
  ].join('\n');
}

function targetsSection(verdicts: Verdict[]): string {
  return table(['target', 'measured', 'configurations meeting it', 'verdict'],
    verdicts.map((v) => [v.target, v.measured, `${v.passed} of ${v.total}`, v.met ? '**met**' : '**not met**']), ['l', 'l', 'r', 'l']);
}

function kernelsSection(r: BenchResults): string {
  const k = r.kernels!;
  const simd = k.results.filter((x) => x.impl === 'simd' && x.kernel.endsWith('w8a8'));
  const rows = simd.map((s) => {
    const ort = k.results.find((x) => x.impl === 'ort-web' && x.kernel === s.kernel && x.shape === s.shape);
    const relaxed = k.results.find((x) => x.impl === 'relaxed' && x.kernel === s.kernel && x.shape === s.shape);
    const w16 = k.results.find((x) => x.impl === 'simd' && x.kernel === s.kernel.replace('w8a8', 'w16a8') && x.shape === s.shape);
    return [s.kernel, s.shape, String(s.gmacs), relaxed ? String(relaxed.gmacs) : '-', w16 ? String(w16.gmacs) : '-', ort ? String(ort.gmacs) : '-', ort ? `${f2(s.gmacs / ort.gmacs)}×` : '-', ort && s.gmacs / ort.gmacs >= KERNEL_TARGET_VS_ORT ? 'met' : 'not met'];
  });
  return table(['kernel', 'shape', 'simd GMAC/s', 'relaxed', 'simd w16a8', 'ort-web', 'simd / ort-web', `≥ ${KERNEL_TARGET_VS_ORT}×`], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l']);
}

function inferenceSection(r: BenchResults): string {
  const inf = r.inference!;
  const keys = [...new Set(inf.results.map((x) => `${x.model}|${x.batch}`))];
  const rows = keys.map((key) => {
    const [model, batch] = key.split('|') as [string, string];
    const get = (impl: string) => inf.results.find((x) => x.model === model && String(x.batch) === batch && x.impl === impl);
    const ours = get('lastmile-simd')!;
    const web = get('ort-web');
    const nat = get('ort-node');
    return [model, batch, msText(ours.msPerBatch), msText(ours.msPerSample), web ? msText(web.msPerBatch) : '-', nat ? msText(nat.msPerBatch) : '-', web ? `${f2(web.msPerBatch / ours.msPerBatch)}×` : '-', nat ? `${f2(nat.msPerBatch / ours.msPerBatch)}×` : '-'];
  });
  return table(['model', 'batch', 'lastmile simd ms/batch', 'ms/sample', 'ort-web ms/batch', 'ort-node ms/batch', 'lastmile speed-up vs ort-web', 'vs ort-node'], rows);
}

function overheadSection(r: BenchResults): string {
  const o = r.overhead!;
  const target = Number(o.config.target);
  const low = o.results.filter((x) => x.ratio < 1);
  const noise = low.length
    ? `\n\nRatios below 1.00× (${low.map((x) => `${x.model} ${x.selection} m=${x.m}: ${x.ratio.toFixed(3)}×`).join(', ')}) cannot be real — a step contains its 2m forward passes — and show the timing noise left in this run (the machine was shared; load averages above). Read ratios within that margin of the target accordingly.`
    : '';
  return overheadTable(o, target) + noise;
}

function overheadTable(o: NonNullable<BenchResults['overhead']>, target: number): string {
  return table(['model', 'train', 'm', 'forward ms', 'perturbed forward ms', 'step ms', 'step / (2m × forward)', 'target', 'fused perturbation', 'RNG setup', 'update', 'loss, staging, host'],
    o.results.map((x) => [x.model, x.selection, String(x.m), msText(x.forwardMs), msText(x.perturbedForwardMs), msText(x.stepMs), `${f2(x.ratio)}×`, x.ratio <= target ? 'met' : 'not met', pct(x.shares.perturbation), pct(x.shares.rngSetup), pct(x.shares.update), pct(x.shares.other)]));
}

function trainingSection(r: BenchResults): string {
  const t = r.training!;
  const rows = t.results.map((x) => {
    const tf = t.results.find((y) => y.model === x.model && y.selection === x.selection && y.impl === 'tfjs');
    const speed = tf?.stepMs != null && x.stepMs != null && x.impl !== 'tfjs' ? `${f2(tf.stepMs / x.stepMs)}×` : '-';
    return [x.model, x.selection, x.impl, x.backend, msText(x.stepMs), x.samplesPerSec === null ? '-' : x.samplesPerSec.toFixed(x.samplesPerSec < 10 ? 2 : 0), x.peakBytes === null ? '-' : kib(x.peakBytes), x.sramBytes === undefined ? '-' : kib(x.sramBytes), speed];
  });
  const notes = [...new Set(t.results.filter((x) => x.note).map((x) => x.note!))];
  return [
    table(['model', 'train', 'impl', 'backend', 'ms / step', 'samples/s', 'peak memory KiB', 'of which SRAM KiB', 'faster than TF.js'], rows, ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r']),
    '',
    ...notes.map((n) => `- TF.js: ${n}.`),
  ].join('\n');
}

function memorySection(r: BenchResults): string {
  const m = r.memory!;
  const slack = Number(m.config.ffSlackBytes);
  return table(['model', 'train', 'inference KiB', 'QZO-FF KiB', 'backprop KiB', 'FF limit KiB', 'FF − limit (B)', `≤ ${slack} B`, 'requant consts in SRAM (B)', 'trainer buffers (B)', 'untrained weights in SRAM (B)', 'BP / FF', 'fp16 BP / FF', 'measured = plan'],
    m.results.map((x) => {
      const over = x.ff - x.ffLimit;
      const same = x.measured.infer === x.infer && x.measured.ff === x.ff && x.measured.bp === x.bp;
      return [x.model, x.selection, kib(x.infer), kib(x.ff) + (x.fits.ff ? '' : ' ✗'), kib(x.bp) + (x.fits.bp ? '' : ' ✗'), kib(x.ffLimit), `${over >= 0 ? '+' : ''}${over}`, over <= slack ? 'met' : 'not met', String(x.ffExtras.requant), String(x.ffExtras.trainer), String(x.ffExtras.untrainedWeights), `${f2(x.bpOverFf)}×`, `${f2(x.fp16BpOverFf)}×`, same ? 'yes' : 'no'];
    }));
}

function ttaSection(r: BenchResults): string {
  const t = r.tta!;
  return table(['method', 'steps', 'training wall-clock s', 'zero-shot %', 'final %', 'best %', 'SRAM high-water KiB', 'step reaching BP final', 'wall s to it', 'GMAC to it', 'nRF52840 estimate'],
    t.results.map((x) => {
      const last = x.points[x.points.length - 1]!;
      return [x.label, String(x.steps), (last.wallMs / 1000).toFixed(2), x.points[0]!.accuracy.toFixed(1), last.accuracy.toFixed(1), Math.max(...x.points.map((p) => p.accuracy)).toFixed(1), kib(x.sramPeak), ...toTargetCells(x.toTarget)];
    }));
}

/** Why a missed target was missed and what would close it, with figures from the results. */
export function missNotes(v: Verdict, r: BenchResults): string[] {
  if (v.met) return [];
  const head = `**${v.target}: not met** (${v.passed} of ${v.total}; ${v.measured}). Misses: ${v.misses.join('; ')}.`;
  if (v.id === 'overhead' && r.overhead) {
    const missed = r.overhead.results.filter((x) => x.ratio > Number(r.overhead!.config.target));
    const avg = (f: (x: (typeof missed)[number]) => number) => pct(missed.reduce((s, x) => s + f(x), 0) / Math.max(1, missed.length));
    return [head,
      `Why: the work a step adds to its 2m plain forward passes is per *weight*, while a forward pass's work is per *MAC*. Every perturbed pass regenerates z for every trained weight inside the weight packing (≈ 4 ns per weight on simd, docs/KERNELS.md), and the update regenerates the m directions' z for every weight once more (≈ 6.6 ns per weight at m = 3), against ≈ 0.05–0.1 ns per MAC for the forward itself. A convolution reuses each weight at every output pixel of every sample (hundreds to thousands of MACs per weight), so the per-weight work vanishes; a dense layer does exactly one MAC per weight per sample, i.e. ${String(r.overhead.config.batch)} at this batch, so there the per-weight work dominates (the FC auto-encoder and the dense heads). Averaged over the missing configurations: fused perturbation ${avg((x) => x.shares.perturbation)}, update ${avg((x) => x.shares.update)}, RNG/spec setup ${avg((x) => x.shares.rngSetup)}, loss/staging/host ${avg((x) => x.shares.other)} of the step. Small models also pay fixed per-step host costs (integer loss, staging the batch, building perturbation specs) that do not shrink with the model.`,
      ...noiseBand(r),
      'What has been done and what would close it: `zBuffer: true` (opt-in, docs/TRAINING.md) draws each direction\'s z once per step into an int8 buffer per trained tensor, which both passes and an m = 1 update read instead of regenerating it (bit-identical results; `npm run bench:overhead -- --z-buffer` measures it; it costs n bytes of SRAM per trained tensor, which the memory target of section 5 does not allow, so it is not the default). Even with z read from a buffer, a perturbed dense pass still re-packs every weight with its requantized perturbation (load w and z, multiply-add, rounding shift, clamp) and the update touches every weight once more: several ns per weight against the ≈ 0.05 ns per MAC of a forward pass that does 8 MACs per dense weight at this batch, so the FC auto-encoder (all dense, 8 MACs per weight) cannot reach 1.10× at batch 8 on this machine however the z work is arranged. What remains is to raise the MACs per weight (a larger micro-batch), and for head-only or last-K training to run the frozen prefix once per batch instead of 2m times.'];
  }
  if (v.id === 'training-speed' && r.training) {
    return [head,
      'Why: every miss is a configuration TF.js runs on its wasm backend, i.e. one where only dense layers are differentiated (head-only training, and the all-dense FC auto-encoder). There TF.js\'s step is one forward pass plus a backward pass through the dense layers only, while QZO-FF m = 1 runs two forward passes through the whole network plus its per-weight perturbation and update work, which is largest exactly on dense layers (section 3). For a head-only step, being 2× faster needs our forward pass to be about 4× faster than TF.js\'s. Where TF.js must differentiate a convolution, its wasm backend has no Conv2DBackpropFilter or depthwise-backprop kernel, and the cpu backend it falls back to is two to three orders of magnitude slower, so there the target is met by a wide margin.',
      'What would close it: for head-only and last-K training, reuse the frozen prefix across the 2m passes (compute the backbone features once per batch and run only the trained layers 2m times), which makes a head-only step one backbone pass plus 2m passes through the head; and the per-weight measures of section 3 (larger micro-batches, z stored once per step) for the dense layers.'];
  }
  if (v.id === 'ff-memory' && r.memory) {
    const missed = r.memory.results.filter((x) => x.ff - x.ffLimit > Number(r.memory!.config.ffSlackBytes));
    const lines = [head, 'Why, row by row: each excess taken apart at the op where the FF plan peaks (`ffPeak` in bench/results/memory.json; the parts add up to the excess exactly): the scratch of the layer running there beyond what inference needs for it, the trainer\'s own buffers (labels, loss, keys, signs), the sparse backup, less the headroom inference leaves at that op.'];
    if (missed.some((x) => !x.ffPeak)) {
      lines.push('- (the results predate the per-op breakdown: re-run `npm run bench:memory -- --json bench/results`)');
      return lines;
    }
    const part = (bytes: number, what: string) => (bytes > 0 ? [`${bytes} B ${what}`] : []);
    lines.push(...missed.map((x) => {
      const p = x.ffPeak;
      const parts = [
        ...part(p.scratch, `scratch of ${p.layer ?? '?'} (${p.layerKind ?? '?'}, trained: packs per call)`),
        ...part(p.backup, 'sparse backup'),
        ...part(p.trainer, 'trainer buffers'),
      ];
      const less = p.inferenceSlack > 0 ? ` − ${p.inferenceSlack} B inference headroom at that op` : '';
      return `- ${x.model} ${x.selection}: +${x.ff - x.ffLimit} B = ${parts.join(' + ')}${less}${p.other ? ` + ${p.other} B placement` : ''}.`;
    }));
    const slack = Number(r.memory.config.ffSlackBytes);
    // What the allowance leaves for a trained layer's scratch at the peak, after the trainer's buffers.
    const left = (x: (typeof missed)[number]) => slack - x.ffPeak.trainer - x.ffPeak.backup + x.ffPeak.inferenceSlack;
    const scratchBound = missed.filter((x) => x.ffPeak.scratch > 0 && x.ffPeak.scratch > left(x));
    const panels = scratchBound.filter((x) => x.ffPeak.panelBytes !== null);
    const depthwise = scratchBound.filter((x) => x.ffPeak.layerKind === 'depthwise');
    const sparse = missed.filter((x) => x.ffPeak.backup > slack - x.ffPeak.trainer + x.ffPeak.inferenceSlack);
    const versus = (x: (typeof missed)[number]) => `${x.model} ${x.selection} ${x.ffPeak.layer}: ${x.ffPeak.leastBytes} B against ${left(x)} B left`;
    if (panels.length) {
      const named = panels.map(versus).join('; ');
      lines.push(`Trained GEMM/convolution layers: their weights change every pass, so they cannot run on panels packed once into flash as frozen layers do, and pack (and perturb) on every call. The session already packs such a layer one 8-column panel at a time wherever a larger chunk would raise the peak (src/runtime/scratch-budget.ts; results are identical for any chunk), and one panel — a 256 B header (bias − zin·Σw and the requantization lanes) plus K × 16 B of int16 weight pairs — is the least the 4×8 micro-kernel runs with, and it exceeds what the ${slack} B allowance leaves after the trainer's buffers and any sparse backup (plus inference's headroom at that op): ${named}. This holds for bias-only too: the weights stay in flash, but the panels bake in the bias, which training changes, so a bias-only layer packs per call like a trained one. What would close it is a kernel change (assembly/gemm.ts and conv.ts belong to the kernel work): a GEMM that reads the panel header (bias, requantization) from a separate pointer, so a trained layer keeps its weights in SRAM permanently in the packed int16-pair layout (the same bytes as 16-bit weights when K is even and the filters a multiple of 8) and is perturbed and restored there, and a bias-only layer runs on flash panels with its bias in SRAM.`);
    }
    if (depthwise.length) {
      const named = depthwise.map((x) => `${x.model} ${x.selection} ${x.ffPeak.layer} ${x.ffPeak.scratch} B`).join(', ');
      lines.push(`Trained depthwise layers: the depthwise kernel prepares the whole layer in scratch on every call (tap-paired int16 weights, effective bias, 24 B of requantization lanes per channel, the zero-point row and tap tables) and has no chunked form, so a trained depthwise layer needs that much more than a frozen one, whose prepared layer is in flash: ${named}. Even with the requantization lanes, zero-point row and interior tap table kept in flash (they do not depend on the weights), the tap-paired weights and effective bias alone exceed what the allowance leaves: ${depthwise.map(versus).join('; ')}. Closing it needs a depthwise kernel that prepares a few channels at a time (a kernel change).`);
    }
    if (sparse.length) {
      lines.push(`Sparse: the masks are in flash and each layer is perturbed in place from its mask just before it runs; a backup holds the stored values of its masked weights (10% of its weights × 2 B) while it runs, because a perturbed weight clamp(requant(w·1q ± εq·z)) cannot be undone exactly where it clamps or rounds. Each layer's backup is planned with that layer's op alone (\`SessionOptions.layerSram\`), so the peak carries only the backup of the layer running there, which alone exceeds what the allowance leaves in: ${sparse.map((x) => `${x.model} ${x.ffPeak.layer}: ${x.ffPeak.backup} B against ${slack - x.ffPeak.trainer + x.ffPeak.inferenceSlack} B left`).join('; ')}. What would close it: the masked perturbation fused into the weight packing (perturb a packed weight only where its mask bit is set, as the dense modes do), which needs no backup — a kernel change; or, for a dense layer on the small-batch GEMV path (which reads the stored weights in place and writes each output row contiguously), running the layer in blocks of output rows, each perturbed and restored with a block-sized backup. \`maskPerturbation: false\` (fused path, masked update only) needs no backup but perturbs every weight, a different estimator.`);
    }
    return lines;
  }
  if (v.id === 'bp-over-ff') return [head, 'Why: backprop keeps every activation for its backward pass plus gradients and two Adam moments per weight; where the ratio is low the trainable weights dominate both plans.'];
  if (v.id === 'kernels' && r.kernels) {
    const load = r.kernels.machine.loadAverage;
    const g256 = r.kernels.results.find((x) => x.impl === 'simd' && x.kernel === 'gemm-w8a8' && x.shape === '256x256x256');
    const absolute = g256 && g256.gmacs < KERNEL_TARGET_GEMM_256 && load > r.kernels.machine.cores
      ? [`Why the 256³ figure misses: ${g256.gmacs} GMAC/s is what one of ${r.kernels.machine.cores} cores gave at a 1-minute load average of ${load} (onnxruntime-web measured ${r.kernels.results.find((x) => x.impl === 'ort-web' && x.shape === '256x256x256')?.gmacs ?? '-'} GMAC/s in the same suite, against 31.4 on a quiet machine), so the ≥ ${KERNEL_TARGET_GEMM_256} GMAC/s target cannot be judged from this run; docs/KERNELS.md says why pre-packing should reach it and how to re-run it on a quiet machine.`]
      : [];
    return [head, ...absolute, `The kernel suite ran at a 1-minute load average of ${load} on ${r.kernels.machine.cores} cores${load > r.kernels.machine.cores ? ', i.e. with other work taking most of the machine, so its absolute GMAC/s (the 256³ figure) are far below what a quiet machine gives (docs/KERNELS.md records its runs); the ratios against onnxruntime-web, timed side by side, carry over better' : ''}. Kernel-level misses and their causes are discussed shape by shape in docs/KERNELS.md; the end-to-end inference suite above shows where they matter for whole models.`];
  }
  if (v.id === 'kernels') return [head, 'Kernel-level misses and their causes are discussed shape by shape in docs/KERNELS.md; the end-to-end inference suite above shows where they matter for whole models.'];
  return [head];
}

/** How much of the overhead suite's spread is timing noise, judged from ratios that cannot be real. */
function noiseBand(r: BenchResults): string[] {
  const o = r.overhead!;
  const target = Number(o.config.target);
  const min = Math.min(...o.results.map((x) => x.ratio));
  if (!(min < 1)) return [];
  const band = 1 - min;
  const close = o.results.filter((x) => x.ratio > target && x.ratio <= target + band);
  return [`Noise: this run measured a ratio of ${f2(min)}×, which cannot be real (a step contains its 2m forward passes), so its timing noise is at least ±${(100 * band).toFixed(0)}%.${close.length ? ` The misses within that band of the target (${close.map((x) => `${x.model} ${x.selection} m=${x.m}: ${f2(x.ratio)}×`).join(', ')}) cannot be told apart from meeting it in this run;` : ''} the misses on dense layers (several times the target) are far outside it.`];
}

export interface RenderedReport {
  markdown: string;
  charts: { file: string; svg: string; warnings: string[] }[];
}

export async function buildReport(results: BenchResults, options: { chartDir: string; runTimes?: RunTimes; render?: boolean } = { chartDir: 'bench' }): Promise<RenderedReport> {
  const verdicts = evaluateTargets(results);
  const specs = chartSpecs(results);
  const charts = options.render === false ? [] : await Promise.all(specs.map(async (c) => ({ file: c.file, ...(await renderChart(c.spec, c.file.replace('.svg', ''))) })));
  const img = (file: string) => {
    const c = specs.find((s) => s.file === file);
    return c ? `\n![${c.title}](${options.chartDir}/${c.file})\n` : '';
  };
  const quickAny = Object.values(results).some((v) => (v as { quick?: boolean } | undefined)?.quick);
  const out: string[] = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench:report` from bench/results/*.json. Do not edit by hand: re-run the suites and the report. -->',
    '',
    'Speed and memory claims about lastmile come from this page. Every figure is a median of benchmark.js samples; every ratio compares two implementations timed side by side in the same suite and run (cases compared by a ratio are measured in one benchmark.js suite, repeated in alternating order), because the machine is shared and its absolute speed varies from minute to minute.',
    quickAny ? '\n> **These results include `--quick` runs** (few samples): treat them as smoke-test figures, not measurements.\n' : '',
    'Models: the four MLPerf Tiny reference models and the MNIST CNN (`src/model/presets.ts`) with deterministic random He-normal weights, quantized with fixed activation ranges (`bench/models.ts`). Random weights are fine for speed and memory, which do not depend on the values; accuracy is measured only in the time-to-accuracy suite, on the shipped pre-trained backbone.',
    '',
    '## Targets',
    '',
    targetsSection(verdicts),
    '',
    '## Machine',
    '',
    machineSection(results),
    '',
    '## Commands',
    '',
    commandsSection(results, options.runTimes),
  ];
  if (results.kernels) out.push('', '## 1. Kernels', '', 'GMAC/s per MLPerf Tiny layer shape (w8a8 shown; `npm run bench:kernels` prints every build and w16a8) against onnxruntime-web\'s wasm backend running the same layer as a one-node QLinear model. Each layer is timed as a frozen layer of a session runs it: its weights packed once beforehand (GEMM/conv panels, the depthwise layer\'s packed weights and requantization lanes; a session places them in flash and counts them in its plan, docs/KERNELS.md), as ORT packs once per session. Trained layers pack per call with the perturbation fused; sections 3 and 4 time those. Depthwise convolution is not memory-bound: it needs at most 3.4 GB/s (0.22–0.82 bytes per MAC) against 25–29 GB/s measured; its limit is the exact kernel\'s instruction mix (interleave and widen on the shuffle port, then a TFLM requantization per 9 MACs), 7.4–8.1 GMAC/s per layer measured by `node --import tsx bench/depthwise-limit.ts` in process CPU time on 2026-12-06; the kernel reaches 70–89% of it on 6 of the 10 shapes and 38–67% on the four smallest maps, where border pixels and the per-call host work dominate (docs/KERNELS.md).', img('kernels.svg'), kernelsSection(results));
  if (results.inference) out.push('', '## 2. Inference', '', `Whole-model latency: lastmile's \`simd\` build (8w8a QuantizedSession) against the same model exported to ONNX QDQ int8 (\`src/onnx/export.ts\`) on onnxruntime-web (wasm, 1 thread) and onnxruntime-node (native CPU, 1 intra-op thread: the ceiling). Batches ${[...new Set(results.inference.results.map((x) => x.batch))].join(' and ')}.`, img('inference.svg'), inferenceSection(results));
  if (results.overhead) out.push('', '## 3. QZO-FF step overhead', '', `One QZO-FF step (16w8a, batch ${String(results.overhead.config.batch)}, ε = 1e-3, η = 3e-3, Gaussian z) against 2m plain forward passes on the same session: the step cannot cost less than its 2m forwards (ratio 1.0). Shares of the step: the fused perturbation (perturbed minus plain forward, × 2m), the per-step RNG/perturbation-spec setup and the update (from the kernel profiler), and the rest (integer loss, staging the batch, the host loop).`, img('overhead.svg'), overheadSection(results));
  if (results.training) out.push('', '## 4. Training against TF.js', '', `Time per step, samples/s and peak memory at batch ${String(results.training.config.batch)}: TF.js ${results.training.versions['@tensorflow/tfjs'] ?? ''} backprop (Adam, \`@tensorflow/tfjs-backend-wasm\`, 1 thread) on the same architecture and trainable selection (frozen layers \`trainable = false\`, only trainable variables given to the optimizer), against lastmile QZO-FF m = 1 and m = 3 (16w8a) and lastmile's f32 backprop (Adam) on the emulated MCU. Peak memory: TF.js \`tf.profile\` peakBytes (tensor bytes the engine tracks — every weight, optimizer state, activations and gradients — minus tensors that existed before the model was built); lastmile: the arena's SRAM high-water mark plus the flash the frozen weights occupy (the SRAM part alone in its own column). All three minimise softmax cross-entropy over the model's output (for the FC auto-encoder too, so the objectives match).`, img('training.svg'), trainingSection(results));
  if (results.memory) out.push('', '## 5. Memory', '', `Peak SRAM at batch ${String(results.memory.config.batch)} per preset and trainable selection (last:2 = the last two parameter layers; sparse = 10% of each weight tensor by magnitude), planned by the sessions' planner and checked against the arena high-water mark of an instantiated session. ✗ = does not fit ${(results.memory.config.device as { name: string }).name}. FF limit = inference peak + the SRAM bytes of the parameters being trained (${String(results.memory.config.ffLimit)}). Backprop is f32 with Adam; for bias-only it trains every parameter of the selected layers (there is no bias-only backprop session), so its column is the full-fine-tuning figure.`, img('memory.svg'), memorySection(results));
  if (results.tta) {
    const c = results.tta.config as { backbone: string; task: string; qzoFf: { steps: number }; backprop: { steps: number; batch: number } };
    out.push('', '## 6. Time to accuracy', '', `The main job (\`npm start\`): ${c.backbone}, ${c.task}, full fine-tuning. QZO-FF 16w8a m = 3, micro-batch 5, ${c.qzoFf.steps} steps; f32 backprop (Adam 1e-3) on the whole 25-image support set per step, ${c.backprop.steps} steps (adapt's baseline). The clock counts training steps only. The last four columns: the first evaluated step at or above backprop's final accuracy, the training wall time and the kernel MACs executed up to it, and the cost model's nRF52840 time for that compute (a QZO-FF step estimate; for other methods their MACs at the int8 forward's time per MAC, a lower bound for f32). Rows named \`adapt …\` run adapt() itself with that method's defaults, once per step count (every method adapt() accepts is listed). Backprop's SRAM is at batch ${c.backprop.batch} (the baseline's batch); at the micro-batch 5 that \`npm start\`'s plan table prints it would be smaller but still several times QZO-FF's.`, img('time-to-accuracy.svg'), ttaSection(results));
  }
  const misses = verdicts.flatMap((v) => missNotes(v, results));
  out.push('', '## Notes on missed targets', '', misses.length ? misses.join('\n\n') : 'Every target is met.', '');
  return { markdown: out.join('\n'), charts };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, fallback: string) => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] ? argv[i + 1]! : fallback;
  };
  const resultsDir = opt('--results', 'bench/results');
  const outFile = opt('--out', 'docs/BENCHMARKS.md');
  const chartDir = opt('--charts', 'docs/bench');
  const { results, runTimes } = await loadResults(resultsDir);
  const report = await buildReport(results, { chartDir: path.relative(path.dirname(outFile), chartDir) || '.', ...(runTimes ? { runTimes } : {}) });
  await mkdir(chartDir, { recursive: true });
  for (const c of report.charts) {
    if (c.warnings.length) console.warn(`${c.file}: ${c.warnings.join('; ')}`);
    await writeFile(path.join(chartDir, c.file), c.svg);
  }
  await writeFile(outFile, report.markdown);
  console.log(`wrote ${outFile} and ${report.charts.length} charts under ${chartDir}/`);
  for (const v of evaluateTargets(results)) console.log(`  ${v.met ? 'met    ' : 'not met'}  ${v.target}: ${v.measured} (${v.passed}/${v.total})`);
}

runIfEntryPoint(import.meta.url, main);
