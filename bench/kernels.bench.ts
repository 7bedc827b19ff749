// Kernel throughput (GMAC/s = MACs / median time per call) of lastmile's int8/int16 GEMM, conv
// and depthwise conv on every build, against onnxruntime-web's single-threaded wasm backend
// running the same layer. Shapes are the MLPerf Tiny reference models' layers (bench/shapes.ts).
//
//   npm run bench:kernels [-- --quick] [-- --json DIR|FILE.json] [-- --filter TEXT]
//
// benchmark.js does the timing: each benchmark's function is one kernel call (one session.run
// for ORT, timed with defer because it is async), samples are collected until minSamples and
// maxTime are met, and the median of the per-call sample means is reported.
//
// Two paths of our kernels are timed. scalar / simd / relaxed run a layer as a frozen layer of a
// session does: weights packed once beforehand (GEMM/conv panels, the depthwise layer's prepared
// weights and requantization lanes; in flash on an MCU), as ORT packs once per session.
// simd-per-call is the simd build packing the weights inside every call, the path a trained
// layer takes (there with the perturbation fused; here unperturbed).
import Benchmark from 'benchmark';
import { Device } from '../src/device/device.js';
import { Arena } from '../src/device/arena.js';
import { supportsBuild, type BuildFlavor } from '../src/device/features.js';
import { prepareRequant } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { fullyConnected, fullyConnectedScratchBytes, type FullyConnectedParams } from '../src/kernels/gemm.js';
import { packWeightPanels, packedPanelsBytes } from '../src/kernels/packed-weights.js';
import { conv2d, conv2dOutputShape, conv2dScratchBytes, type Conv2DParams } from '../src/kernels/conv.js';
import {
  depthwiseConv2d,
  depthwiseConv2dOutputShape,
  depthwiseConv2dScratchBytes,
  depthwisePrepack,
  depthwisePreparedBytes,
  type DepthwiseConv2DParams,
} from '../src/kernels/depthwise.js';
import { rng, randomInt8, randomInt16, randomInt32 } from '../test/helpers/devices.js';
import { describeMachine, type MachineInfo } from './machine.js';
import { median, runSuite } from './timing.js';
import { parseBenchArgs, runIfEntryPoint, writeJson } from './cli.js';
import { KERNEL_TARGET_GEMM_256, KERNEL_TARGET_VS_ORT } from './targets.js';
import { BENCH_QUANT, benchWeightScale, ortWebConv, ortWebDepthwise, ortWebGemm, ortWebVersion } from './ort-web.js';
import {
  CONV_SHAPES,
  DEPTHWISE_SHAPES,
  GEMM_SHAPES,
  convLabel,
  convMacs,
  depthwiseLabel,
  depthwiseMacs,
  gemmLabel,
  gemmMacs,
  type ConvShape,
  type DepthwiseShape,
  type GemmShape,
} from './shapes.js';

/** Our builds on pre-packed weights, the simd build packing per call, and ORT. */
export type Impl = BuildFlavor | 'simd-per-call' | 'ort-web';
/** The impl that times the simd build packing weights inside every call (a trained layer's path). */
export const PER_CALL_IMPL = 'simd-per-call' as const;
export type WeightBits = 8 | 16;
export type Op = 'gemm' | 'conv' | 'dwconv';
export type KernelName = `${Op}-w${WeightBits}a8`;

export interface BenchResult {
  kernel: KernelName;
  shape: string;
  impl: Impl;
  gmacs: number;
}

export interface BenchReport {
  machine: MachineInfo;
  results: BenchResult[];
}

export type Layer =
  | { op: 'gemm'; shape: Omit<GemmShape, 'layers'> & { layers?: string } }
  | { op: 'conv'; shape: Omit<ConvShape, 'layers'> & { layers?: string } }
  | { op: 'dwconv'; shape: Omit<DepthwiseShape, 'layers'> & { layers?: string } };

/** benchmark.js knobs (seconds) plus an untimed warm-up so V8 has tiered up both wasm modules. */
export interface Timing {
  minSamples: number;
  minTime: number;
  maxTime: number;
  warmup: number;
}

// benchmark.js only starts counting maxTime once minSamples are taken, so one benchmark lasts
// about calibration + minSamples·minTime + maxTime + warmup: ≈ 1 s full, ≈ 0.1 s --quick,
// for ~330 benchmarks.
export const FULL_TIMING: Timing = { minSamples: 5, minTime: 0.05, maxTime: 0.5, warmup: 0.15 };
export const QUICK_TIMING: Timing = { minSamples: 3, minTime: 0.01, maxTime: 0.03, warmup: 0.02 };

/** ONNX has no int16-weight QLinear ops, so ORT is measured on the w8a8 layers only. */
export const ORT_WEIGHT_BITS: WeightBits = 8;

const ARENA_BYTES = 32 * 1024 * 1024;

export function kernelName(op: Op, bits: WeightBits): KernelName {
  return `${op}-w${bits}a8`;
}

export function layerLabel(layer: Layer): string {
  if (layer.op === 'gemm') return gemmLabel(layer.shape);
  if (layer.op === 'conv') return convLabel(layer.shape);
  return depthwiseLabel(layer.shape);
}

export function layerMacs(layer: Layer): number {
  if (layer.op === 'gemm') return gemmMacs(layer.shape);
  if (layer.op === 'conv') return convMacs(layer.shape);
  return depthwiseMacs(layer.shape);
}

export function allLayers(): Layer[] {
  return [
    ...GEMM_SHAPES.map((shape): Layer => ({ op: 'gemm', shape })),
    ...CONV_SHAPES.map((shape): Layer => ({ op: 'conv', shape })),
    ...DEPTHWISE_SHAPES.map((shape): Layer => ({ op: 'dwconv', shape })),
  ];
}

/** scalar and simd always; relaxed when the engine has relaxed SIMD; simd-per-call and ort-web always. */
export function availableImpls(): Impl[] {
  const builds: BuildFlavor[] = ['scalar', 'simd', 'relaxed'];
  return [...builds.filter((b) => supportsBuild(b)), PER_CALL_IMPL, 'ort-web'];
}

/** The device build an impl runs on, and whether its weights are packed once beforehand. */
function deviceOf(impl: Exclude<Impl, 'ort-web'>): { build: BuildFlavor; prepacked: boolean } {
  return impl === PER_CALL_IMPL ? { build: 'simd', prepacked: false } : { build: impl, prepacked: true };
}

/** One device (and arena) per build, reused across layers; the arena is reset per layer. */
export class DevicePool {
  private readonly arenas = new Map<BuildFlavor, Promise<Arena>>();

  arena(build: BuildFlavor): Promise<Arena> {
    let arena = this.arenas.get(build);
    if (!arena) {
      arena = Device.create({ build, arenaBytes: ARENA_BYTES }).then((device) => new Arena(device));
      this.arenas.set(build, arena);
    }
    return arena;
  }
}

type Runner = { kind: 'sync'; call: () => void; release: () => Promise<void> } | { kind: 'async'; call: () => Promise<void>; release: () => Promise<void> };

const noRelease = async (): Promise<void> => {};

function weightData(r: () => number, count: number, bits: WeightBits): Int8Array | Int16Array {
  return bits === 8 ? randomInt8(r, count, -127, 127) : randomInt16(r, count);
}

/** Per-channel (or per-tensor) TFLM multipliers for inputScale · weightScale[c] / outputScale. */
function requantFor(channels: number, bits: WeightBits, perChannel: boolean) {
  const count = perChannel ? channels : 1;
  const multiplier = new Int32Array(count);
  const shift = new Int32Array(count);
  // int16 weights cover the same real range with 256× finer steps.
  const weightStep = bits === 8 ? 1 : 1 / 256;
  for (let c = 0; c < count; c++) {
    const q = quantizeMultiplier((BENCH_QUANT.inputScale * benchWeightScale(c) * weightStep) / BENCH_QUANT.outputScale);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  return { multiplier, shift, outZeroPoint: BENCH_QUANT.outputZeroPoint };
}

/**
 * Stages one layer's buffers in the build's arena and returns a closure making one kernel call:
 * on weights packed once beforehand (prepacked, a frozen layer) or packing inside the call.
 */
function deviceRunner(arena: Arena, layer: Layer, bits: WeightBits, prepacked: boolean): Runner {
  arena.reset();
  const r = rng(0x5eed);
  const sync = (call: () => void): Runner => ({ kind: 'sync', call, release: async () => arena.reset() });
  if (layer.op === 'gemm') {
    const s = layer.shape;
    const p: FullyConnectedParams = { batch: s.m, inFeatures: s.k, outFeatures: s.n, weightBits: bits, inputZeroPoint: BENCH_QUANT.inputZeroPoint };
    const input = arena.put(randomInt8(r, s.m * s.k), 'input');
    const weights = arena.put(weightData(r, s.n * s.k, bits), 'weights');
    const output = arena.alloc(s.m * s.n, 'output');
    // Per tensor, no bias: exactly ONNX QLinearMatMul, the op ORT is timed on.
    const requant = prepareRequant(arena, requantFor(s.n, bits, false), s.n);
    // A frozen layer, as the runtime runs it: panels packed once when prepared, outside the timing.
    const pp: FullyConnectedParams = prepacked
      ? { ...p, packed: packWeightPanels(arena, weights, null, requant, arena.alloc(packedPanelsBytes(s.k, s.n), 'packed panels'), { k: s.k, n: s.n, weightBits: bits, inputZeroPoint: p.inputZeroPoint }) }
      : p;
    const scratchBytes = fullyConnectedScratchBytes(pp);
    const scratch = scratchBytes > 0 ? arena.alloc(scratchBytes, 'scratch') : null;
    return sync(() => fullyConnected(arena, input, weights, null, output, pp, requant, scratch));
  }
  if (layer.op === 'conv') {
    const s = layer.shape;
    const p: Conv2DParams = { ...withoutLayers(s), weightBits: bits, inputZeroPoint: BENCH_QUANT.inputZeroPoint };
    const { height, width } = conv2dOutputShape(p);
    const input = arena.put(randomInt8(r, s.batch * s.inHeight * s.inWidth * s.inChannels), 'input');
    const weights = arena.put(weightData(r, s.outChannels * s.kernelHeight * s.kernelWidth * s.inChannels, bits), 'weights');
    const bias = arena.put(randomInt32(r, s.outChannels, -500, 500), 'bias');
    const output = arena.alloc(s.batch * height * width * s.outChannels, 'output');
    const requant = prepareRequant(arena, requantFor(s.outChannels, bits, true), s.outChannels);
    const k = s.kernelHeight * s.kernelWidth * s.inChannels;
    const pp: Conv2DParams = prepacked
      ? { ...p, packed: packWeightPanels(arena, weights, bias, requant, arena.alloc(packedPanelsBytes(k, s.outChannels), 'packed panels'), { k, n: s.outChannels, weightBits: bits, inputZeroPoint: p.inputZeroPoint }) }
      : p;
    const scratchBytes = conv2dScratchBytes(pp);
    const scratch = scratchBytes > 0 ? arena.alloc(scratchBytes, 'scratch') : null;
    return sync(() => conv2d(arena, input, weights, bias, output, pp, requant, scratch));
  }
  const s = layer.shape;
  const p: DepthwiseConv2DParams = {
    batch: s.batch, inHeight: s.inHeight, inWidth: s.inWidth, inChannels: s.channels, depthMultiplier: s.depthMultiplier,
    kernelHeight: s.kernelHeight, kernelWidth: s.kernelWidth, strideHeight: s.strideHeight, strideWidth: s.strideWidth,
    padding: s.padding, weightBits: bits, inputZeroPoint: BENCH_QUANT.inputZeroPoint,
  };
  const outChannels = s.channels * s.depthMultiplier;
  const { height, width } = depthwiseConv2dOutputShape(p);
  const input = arena.put(randomInt8(r, s.batch * s.inHeight * s.inWidth * s.channels), 'input');
  const weights = arena.put(weightData(r, s.kernelHeight * s.kernelWidth * outChannels, bits), 'weights');
  const bias = arena.put(randomInt32(r, outChannels, -500, 500), 'bias');
  const output = arena.alloc(s.batch * height * width * outChannels, 'output');
  const requant = prepareRequant(arena, requantFor(outChannels, bits, true), outChannels);
  // Frozen, as the runtime runs it: weights, bias and requant lanes prepared once, outside the timing.
  const pp: DepthwiseConv2DParams = prepacked
    ? { ...p, prepared: depthwisePrepack(arena, weights, bias, requant, arena.alloc(depthwisePreparedBytes(p), 'prepared'), p) }
    : p;
  const scratchBytes = depthwiseConv2dScratchBytes(pp);
  const scratch = scratchBytes > 0 ? arena.alloc(scratchBytes, 'scratch') : null;
  return sync(() => depthwiseConv2d(arena, input, weights, bias, output, pp, requant, scratch));
}

function withoutLayers<T extends { layers?: string }>(s: T): Omit<T, 'layers'> {
  const { layers: _layers, ...rest } = s;
  return rest;
}

async function deviceRunnerFor(impl: Exclude<Impl, 'ort-web'>, pool: DevicePool, layer: Layer, bits: WeightBits): Promise<Runner> {
  const { build, prepacked } = deviceOf(impl);
  return deviceRunner(await pool.arena(build), layer, bits, prepacked);
}

async function ortRunner(layer: Layer): Promise<Runner> {
  const session =
    layer.op === 'gemm' ? await ortWebGemm(layer.shape) : layer.op === 'conv' ? await ortWebConv(withoutLayers(layer.shape)) : await ortWebDepthwise(withoutLayers(layer.shape));
  return { kind: 'async', call: () => session.run(), release: () => session.release() };
}

async function warmUp(runner: Runner, seconds: number): Promise<void> {
  const end = performance.now() + seconds * 1000;
  do {
    if (runner.kind === 'sync') runner.call();
    else await runner.call();
  } while (performance.now() < end);
}

// V8 first runs wasm as baseline (Liftoff) code and swaps in optimized code for hot functions
// in the background; on a busy machine that can outlast a per-layer warm-up. One pass over
// every kernel family (and weight width) on every implementation settles it before timing.
const ENGINE_WARMUP_LAYERS: Layer[] = [
  { op: 'gemm', shape: { m: 256, k: 256, n: 256 } },
  { op: 'conv', shape: { batch: 1, inHeight: 16, inWidth: 16, inChannels: 32, outChannels: 32, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same' } },
  { op: 'conv', shape: { batch: 1, inHeight: 12, inWidth: 12, inChannels: 64, outChannels: 64, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padding: 'same' } },
  { op: 'dwconv', shape: { batch: 1, inHeight: 24, inWidth: 24, channels: 32, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same' } },
];

export async function warmUpEngines(impls: readonly Impl[], pool: DevicePool, secondsEach: number): Promise<void> {
  for (const layer of ENGINE_WARMUP_LAYERS) {
    for (const bits of [8, 16] as const) {
      for (const impl of impls) {
        if (impl === 'ort-web' && bits !== ORT_WEIGHT_BITS) continue;
        const runner = impl === 'ort-web' ? await ortRunner(layer) : await deviceRunnerFor(impl, pool, layer, bits);
        try {
          await warmUp(runner, secondsEach);
        } finally {
          await runner.release();
        }
      }
    }
  }
}


/**
 * Times one layer at one weight width on each requested implementation (ort-web only at 8 bits)
 * as one benchmark.js Suite, and returns GMAC/s from the median time per call.
 */
export async function measureLayer(layer: Layer, bits: WeightBits, impls: readonly Impl[], timing: Timing, pool: DevicePool): Promise<BenchResult[]> {
  const kernel = kernelName(layer.op, bits);
  const shape = layerLabel(layer);
  const macs = layerMacs(layer);
  const runners = new Map<Impl, Runner>();
  try {
    for (const impl of impls) {
      if (impl === 'ort-web') {
        if (bits === ORT_WEIGHT_BITS) runners.set(impl, await ortRunner(layer));
      } else {
        runners.set(impl, await deviceRunnerFor(impl, pool, layer, bits));
      }
    }
    const suite = new Benchmark.Suite(`${kernel} ${shape}`);
    const options = { minSamples: timing.minSamples, minTime: timing.minTime, maxTime: timing.maxTime, delay: 0, initCount: 1 };
    // benchmark.js catches synchronous throws itself; a rejected async call must still resolve
    // its deferred (or the suite would wait forever), so the failure is kept and rethrown below.
    let asyncFailure: unknown;
    for (const [impl, runner] of runners) {
      await warmUp(runner, timing.warmup);
      if (runner.kind === 'sync') {
        suite.add(impl, runner.call, options);
      } else {
        const call = runner.call;
        const onCall = (deferred: { resolve(): void }) =>
          void call().then(
            () => deferred.resolve(),
            (error: unknown) => {
              asyncFailure ??= error;
              deferred.resolve();
            },
          );
        suite.add(impl, onCall, { ...options, defer: true });
      }
    }
    await runSuite(suite);
    if (asyncFailure !== undefined) throw new Error(`${kernel} ${shape} on ort-web: ${String(asyncFailure)}`);
    const results: BenchResult[] = [];
    suite.forEach((bench: Benchmark) => {
      if (bench.error) throw new Error(`${kernel} ${shape} on ${bench.name}: ${bench.error.message ?? bench.error}`);
      const seconds = median(bench.stats.sample);
      results.push({ kernel, shape, impl: bench.name as Impl, gmacs: macs / seconds / 1e9 });
    });
    return results;
  } finally {
    for (const runner of runners.values()) await runner.release();
  }
}

export function makeReport(results: BenchResult[], machine: MachineInfo = describeMachine()): BenchReport {
  return { machine, results: results.map(({ kernel, shape, impl, gmacs }) => ({ kernel, shape, impl, gmacs: Number(gmacs.toPrecision(4)) })) };
}

/** GMAC/s of ORT on the same shape: the w8a8 layer for both weight widths (ORT has no int16 weights). */
function ortBaseline(results: BenchResult[], r: BenchResult): BenchResult | undefined {
  const op = r.kernel.split('-')[0] as Op;
  return results.find((x) => x.impl === 'ort-web' && x.shape === r.shape && x.kernel === kernelName(op, ORT_WEIGHT_BITS));
}

function ratio(a: number, b: number | undefined): string {
  return b ? `${(a / b).toFixed(2)}x` : '-';
}

function gmacsText(g: number): string {
  return g >= 10 ? g.toFixed(1) : g.toFixed(2);
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i >= 3 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
}

export function formatTable(results: BenchResult[], layersByShape = new Map<string, string>()): string {
  const header = ['kernel', 'shape', 'impl', 'GMAC/s', 'vs ort-web', 'vs scalar', 'layers'];
  const rows = results.map((r) => {
    const ort = ortBaseline(results, r);
    const scalar = results.find((x) => x.impl === 'scalar' && x.kernel === r.kernel && x.shape === r.shape);
    const ortCell = r.impl === 'ort-web' ? '1.00x' : ort ? ratio(r.gmacs, ort.gmacs) + (ort.kernel === r.kernel ? '' : '†') : '-';
    return [r.kernel, r.shape, r.impl, gmacsText(r.gmacs), ortCell, r.impl === 'ort-web' ? '-' : ratio(r.gmacs, scalar?.gmacs), layersByShape.get(r.shape) ?? ''];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const lines = [pad(header, widths), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((row) => pad(row, widths))];
  if (results.some((r) => r.kernel.includes('w16'))) lines.push('† w16a8 vs ORT running the same shape with int8 weights (ONNX has no int16-weight QLinear ops)');
  return lines.join('\n');
}

export const TARGET_VS_ORT = KERNEL_TARGET_VS_ORT;
export const TARGET_GEMM_256_GMACS = KERNEL_TARGET_GEMM_256;

/** Per shape: does the simd build reach 1.5× ORT-web, and 42 GMAC/s on the 256³ GEMM? */
export function formatTargets(results: BenchResult[]): string {
  const lines = [`simd targets: >= ${TARGET_VS_ORT}x ort-web on every shape, >= ${TARGET_GEMM_256_GMACS} GMAC/s on 256x256x256`];
  let met = 0;
  let total = 0;
  for (const r of results.filter((x) => x.impl === 'simd')) {
    const ort = ortBaseline(results, r);
    const checks: string[] = [];
    let ok = true;
    if (ort) {
      const x = r.gmacs / ort.gmacs;
      ok &&= x >= TARGET_VS_ORT;
      checks.push(`${x.toFixed(2)}x ort-web${ort.kernel === r.kernel ? '' : '†'}`);
    }
    if (r.kernel.startsWith('gemm') && r.shape === '256x256x256') {
      ok &&= r.gmacs >= TARGET_GEMM_256_GMACS;
      checks.push(`${gmacsText(r.gmacs)} GMAC/s`);
    }
    if (!checks.length) continue;
    total++;
    if (ok) met++;
    lines.push(`  ${(ok ? 'meets' : 'MISSES').padEnd(6)}  ${r.kernel.padEnd(12)} ${r.shape.padEnd(24)} ${checks.join(', ')}`);
  }
  lines.push(`simd meets the targets on ${met} of ${total} kernel/shape pairs`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), 'kernels');
  const timing = args.quick ? QUICK_TIMING : FULL_TIMING;
  const impls = availableImpls();
  const machine = describeMachine();
  const pool = new DevicePool();
  console.log(`lastmile kernel benchmark${args.quick ? ' (--quick)' : ''}: ${machine.cpu}, ${machine.cores} cores, load ${machine.loadAverage}, Node ${machine.node}, V8 ${machine.v8}, onnxruntime-web ${ortWebVersion()} (wasm, 1 thread)`);
  console.log(`impls: ${impls.join(', ')}${impls.includes('relaxed') ? '' : " (relaxed needs node --experimental-wasm-relaxed-simd)"}`);
  await warmUpEngines(impls, pool, args.quick ? 0.1 : 0.3);
  const results: BenchResult[] = [];
  const layersByShape = new Map<string, string>();
  const started = performance.now();
  for (const layer of allLayers()) {
    for (const bits of [8, 16] as const) {
      const label = `${kernelName(layer.op, bits)} ${layerLabel(layer)}`;
      if (args.filter && !label.includes(args.filter)) continue;
      layersByShape.set(layerLabel(layer), layer.shape.layers ?? '');
      const measured = await measureLayer(layer, bits, impls, timing, pool);
      results.push(...measured);
      console.log(`  ${label.padEnd(40)} ${measured.map((m) => `${m.impl} ${gmacsText(m.gmacs)}`).join('  ')}`);
    }
  }
  console.log(`\nmeasured ${results.length} kernel/shape/impl triples in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  console.log(formatTable(results, layersByShape));
  console.log();
  console.log(formatTargets(results));
  if (args.json) {
    await writeJson(args.json, makeReport(results, machine));
  }
}

runIfEntryPoint(import.meta.url, main);
