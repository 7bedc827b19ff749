// Quick tuning run for the qs8 GEMM / Conv2D kernels: throughput of every build side by side in
// one process (samples interleaved round-robin, so a busy machine slows all of them alike), the
// packing-chunk budget, the fused-perturbation cost, onnxruntime-web on the same layers, and the
// relaxed-SIMD experiment (an exact 8-bit split of i32x4.relaxed_dot_i8x16_i7x16_add_s).
//
//   node --experimental-wasm-relaxed-simd --import tsx bench/gemm-tune.ts [--quick] [--only fc,chunk,gemv,conv,relaxed,limit]
//
// GMAC/s = multiply-accumulates per call / median seconds per call, host validation included.
// `--only limit` breaks the 256³ GEMM down against the bare i32x4.dot_i16x8_s peak, in process
// CPU time (see limitTable).
import asc from 'assemblyscript/asc';
import { Device } from '../src/device/device.js';
import { Arena, type DeviceBuffer } from '../src/device/arena.js';
import type { BuildFlavor } from '../src/device/features.js';
import { prepareRequant, type PreparedRequant } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import {
  fullyConnected, fullyConnectedScratchBytes, packedChunkPanels, packedPanelBytes, GEMM_MR, type FullyConnectedParams,
} from '../src/kernels/gemm.js';
import { packWeightPanels, packedPanelsBytes } from '../src/kernels/packed-weights.js';
import { conv2d, conv2dOutputShape, conv2dScratchBytes, type Conv2DParams } from '../src/kernels/conv.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { rng, randomInt8, randomInt16, randomInt32 } from '../test/helpers/devices.js';
import { describeMachine } from './machine.js';
import { ortWebConv, ortWebGemm, ortWebVersion, type OrtLayer } from './ort-web.js';
import type { ConvShape } from './shapes.js';
import { cpuMs } from './timing.js';

const quick = process.argv.includes('--quick');
const onlyArg = process.argv.indexOf('--only');
const sections = new Set((onlyArg > 0 ? process.argv[onlyArg + 1]! : 'fc,chunk,gemv,conv,relaxed,limit').split(','));
const SAMPLES = quick ? 3 : 9;
const SAMPLE_MS = quick ? 20 : 60;
const BUILDS: BuildFlavor[] = ['scalar', 'simd', 'relaxed'];

type Runner = () => void | Promise<void>;

/** Median seconds per call of each runner; samples alternate between runners. */
async function medianSeconds(runners: Runner[]): Promise<number[]> {
  const samples: number[][] = runners.map(() => []);
  for (const run of runners) for (let i = 0; i < 3; i++) await run(); // tier-up + warm caches
  for (let s = 0; s < SAMPLES; s++) {
    for (let i = 0; i < runners.length; i++) {
      const run = runners[i]!;
      let calls = 0;
      const t0 = performance.now();
      let t = t0;
      do {
        await run();
        calls++;
        t = performance.now();
      } while (t - t0 < SAMPLE_MS);
      samples[i]!.push((t - t0) / 1000 / calls);
    }
  }
  return samples.map((xs) => xs.sort((a, b) => a - b)[xs.length >> 1]!);
}

const gmacs = (macs: number, seconds: number) => macs / seconds / 1e9;
const fmt = (x: number) => x.toFixed(x < 10 ? 2 : 1).padStart(6);

interface Bench {
  build: BuildFlavor;
  device: Device;
  arena: Arena;
}

async function benches(): Promise<Bench[]> {
  return Promise.all(
    BUILDS.map(async (build) => {
      const device = await Device.create({ build, arenaBytes: 48 * 1024 * 1024 });
      return { build, device, arena: new Arena(device) };
    }),
  );
}

function outputQuant(arena: Arena, channels: number, perChannel: boolean): PreparedRequant {
  const count = perChannel ? channels : 1;
  const multiplier = new Int32Array(count);
  const shift = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const q = quantizeMultiplier(0.0003 * (1 + (i % 5) / 4));
    multiplier[i] = q.multiplier;
    shift[i] = q.shift;
  }
  return prepareRequant(arena, { multiplier, shift, outZeroPoint: 3 }, channels);
}

const oneQ = 36;
const perturbSpec = (): PerturbSpec => {
  const q = quantizeMultiplier(1 / oneQ);
  return { key: 0x1234567, start: 0, dist: 'gaussian', signedEps: 500, oneQ, multiplier: q.multiplier, shift: q.shift };
};

interface FcSetup {
  p: FullyConnectedParams;
  call: () => void;
  /** Raw device call with a chosen number of panels per packed chunk, or the GEMV path. */
  callChunked: (chunkPanels: number, gemv?: number) => void;
}

type FcOutput = 'per-tensor' | 'per-channel' | 'int32';

function setupFc(b: Bench, p: FullyConnectedParams, outKind: FcOutput = 'per-tensor'): FcSetup {
  const int32Out = outKind === 'int32';
  const r = rng(42);
  const { batch: m, inFeatures: k, outFeatures: n } = p;
  const input = b.arena.put(randomInt8(r, m * k), 'x');
  const weights = b.arena.put(p.weightBits === 16 ? randomInt16(r, n * k) : randomInt8(r, n * k, -127, 127), 'w');
  const bias = b.arena.put(randomInt32(r, n, -5000, 5000), 'b');
  const output = b.arena.alloc(m * n * 4, 'y');
  const requant = int32Out ? null : outputQuant(b.arena, n, outKind === 'per-channel');
  const allPanels = Math.ceil(n / 8);
  const bigScratch = b.arena.alloc(allPanels * packedPanelBytes(k) + GEMM_MR * 2 * Math.ceil(k / 2) * 2, 'scratch');
  const scratch: DeviceBuffer = { ...bigScratch, bytes: fullyConnectedScratchBytes(p) };
  return {
    p,
    call: () => fullyConnected(b.arena, input, weights, bias, output, p, requant, scratch),
    callChunked: (chunkPanels, gemv = 0) =>
      b.device.kernel('fully_connected_qs8')(
        input.offset, weights.offset, bias.offset, output.offset, bigScratch.offset, m, k, n, p.weightBits, p.inputZeroPoint, chunkPanels, gemv,
        int32Out ? 1 : 0, requant?.multiplier.offset ?? 0, requant?.shift.offset ?? 0, requant?.perChannel ? 1 : 0, requant?.outZeroPoint ?? 0, -128, 127,
        0, 0, 0, 0, 0, 0, 0, 0, n, 8,
      ),
  };
}

/** A raw conv2d_qs8 device call with a chosen number of panels per packed chunk. */
function setupConvChunked(b: Bench, p: Conv2DParams): { callChunked: (chunkPanels: number) => void } {
  const r = rng(44);
  const { height, width } = conv2dOutputShape(p);
  const k = p.kernelHeight * p.kernelWidth * p.inChannels;
  const input = b.arena.put(randomInt8(r, p.batch * p.inHeight * p.inWidth * p.inChannels), 'x');
  const weights = b.arena.put(randomInt16(r, p.outChannels * k), 'w');
  const output = b.arena.alloc(p.batch * height * width * p.outChannels, 'y');
  const requant = outputQuant(b.arena, p.outChannels, true);
  const scratch = b.arena.alloc(conv2dScratchBytes(p) + Math.ceil(p.outChannels / 8) * packedPanelBytes(k), 'scratch');
  const pad = (size: number, kernel: number, stride: number, out: number) => Math.floor(Math.max((out - 1) * stride + kernel - size, 0) / 2);
  return {
    callChunked: (chunkPanels) =>
      b.device.kernel('conv2d_qs8')(
        input.offset, weights.offset, 0, output.offset, scratch.offset, p.batch, p.inHeight, p.inWidth, p.inChannels, p.outChannels,
        p.kernelHeight, p.kernelWidth, p.strideHeight, p.strideWidth, pad(p.inHeight, p.kernelHeight, p.strideHeight, height),
        pad(p.inWidth, p.kernelWidth, p.strideWidth, width), height, width, 16, p.inputZeroPoint, chunkPanels,
        requant.multiplier.offset, requant.shift.offset, 1, requant.outZeroPoint, -128, 127, 0, 0, 0, 0, 0, 0, 0, 0, 8, p.outChannels,
      ),
  };
}

function setupConv(b: Bench, p: Conv2DParams): () => void {
  const r = rng(43);
  const { height, width } = conv2dOutputShape(p);
  const k = p.kernelHeight * p.kernelWidth * p.inChannels;
  const input = b.arena.put(randomInt8(r, p.batch * p.inHeight * p.inWidth * p.inChannels), 'x');
  const weights = b.arena.put(p.weightBits === 16 ? randomInt16(r, p.outChannels * k) : randomInt8(r, p.outChannels * k, -127, 127), 'w');
  const bias = b.arena.put(randomInt32(r, p.outChannels, -5000, 5000), 'b');
  const output = b.arena.alloc(p.batch * height * width * p.outChannels, 'y');
  const requant = outputQuant(b.arena, p.outChannels, true);
  const scratch = b.arena.alloc(conv2dScratchBytes(p), 'scratch');
  return () => conv2d(b.arena, input, weights, bias, output, p, requant, scratch);
}

function convMacs(p: Conv2DParams): number {
  const { height, width } = conv2dOutputShape(p);
  return p.batch * height * width * p.outChannels * p.kernelHeight * p.kernelWidth * p.inChannels;
}

async function fcTable(all: Bench[]): Promise<void> {
  console.log('\n## Fully connected M=K=N=256 (GMAC/s, median; ratios measured in the same run)');
  const ort = await ortWebGemm({ m: 256, k: 256, n: 256 });
  const p16: FullyConnectedParams = { batch: 256, inFeatures: 256, outFeatures: 256, weightBits: 16, inputZeroPoint: -3 };
  const rows: [string, FullyConnectedParams, FcOutput][] = [
    ['w16a8 → int8 (16w8a)', p16, 'per-tensor'],
    ['w8a8 → int8', { ...p16, weightBits: 8 }, 'per-tensor'],
    ['w16a8 → int8 per-channel', p16, 'per-channel'],
    ['w16a8 → int32', p16, 'int32'],
    ['w16a8 perturbed → int8', { ...p16, perturb: perturbSpec() }, 'per-tensor'],
  ];
  console.log('layer                      scalar   simd relaxed ort-web  simd/scalar relaxed/scalar simd/ort');
  for (const [label, p, outKind] of rows) {
    for (const b of all) b.arena.reset();
    const calls = all.map((b) => setupFc(b, p, outKind).call);
    const runners: Runner[] = [...calls, () => ort.run()];
    const [sc, si, re, ortS] = await medianSeconds(runners);
    const macs = 256 ** 3;
    console.log(
      `${label.padEnd(26)}${fmt(gmacs(macs, sc!))} ${fmt(gmacs(macs, si!))} ${fmt(gmacs(macs, re!))} ${fmt(gmacs(macs, ortS!))}` +
        `   ${(sc! / si!).toFixed(1).padStart(8)}x ${(sc! / re!).toFixed(1).padStart(12)}x ${(ortS! / si!).toFixed(2).padStart(7)}x`,
    );
  }
  await ort.release();
  console.log('\nsmall batches, w16a8 → int8 per-tensor (ort-web runs w8a8)');
  for (const [m, k, n] of [[1, 256, 256], [16, 256, 256], [1, 1024, 256], [16, 64, 10]] as const) {
    for (const b of all) b.arena.reset();
    const ortM = await ortWebGemm({ m, k, n });
    const p: FullyConnectedParams = { batch: m, inFeatures: k, outFeatures: n, weightBits: 16, inputZeroPoint: -3 };
    const [sc, si, re, ortS] = await medianSeconds([...all.map((b) => setupFc(b, p).call), () => ortM.run()]);
    await ortM.release();
    const macs = m * k * n;
    console.log(
      `${`M=${m} K=${k} N=${n}`.padEnd(26)}${fmt(gmacs(macs, sc!))} ${fmt(gmacs(macs, si!))} ${fmt(gmacs(macs, re!))} ${fmt(gmacs(macs, ortS!))}` +
        `   ${(sc! / si!).toFixed(1).padStart(8)}x ${(sc! / re!).toFixed(1).padStart(12)}x ${(ortS! / si!).toFixed(2).padStart(7)}x`,
    );
  }
}

async function chunkTable(all: Bench[]): Promise<void> {
  console.log('\n## Packed-weight chunk size, simd build, M=K=N=256 w16 → int8 (GMAC/s)');
  const simd = all.find((b) => b.build === 'simd')!;
  simd.arena.reset();
  const p: FullyConnectedParams = { batch: 256, inFeatures: 256, outFeatures: 256, weightBits: 16, inputZeroPoint: -3 };
  const fc = setupFc(simd, p);
  const options = [1, 2, 4, 8, 11, 16, 32];
  const secs = await medianSeconds(options.map((c) => () => fc.callChunked(c)));
  console.log(`budget picks ${packedChunkPanels(256, 256)} panels per chunk (${packedChunkPanels(256, 256) * packedPanelBytes(256)} B)`);
  options.forEach((c, i) => console.log(`  ${String(c).padStart(2)} panels (${String(c * packedPanelBytes(256)).padStart(6)} B): ${fmt(gmacs(256 ** 3, secs[i]!))}`));
  simd.arena.reset();
  const fc16 = setupFc(simd, { ...p, batch: 16 });
  const s16 = await medianSeconds([() => fc16.callChunked(32), () => fc16.callChunked(11)]);
  console.log(`  batch 16: whole layer ${fmt(gmacs(16 * 65536, s16[0]!))}, budget chunks ${fmt(gmacs(16 * 65536, s16[1]!))}`);
  // Convs whose packed weights exceed the budget re-gather their im2col rows once per chunk.
  for (const [h, c, o] of [[8, 64, 64], [6, 128, 128], [4, 256, 256]] as const) {
    simd.arena.reset();
    const cp: Conv2DParams = {
      batch: 1, inHeight: h, inWidth: h, inChannels: c, outChannels: o, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 1, strideWidth: 1, padding: 'same', weightBits: 16, inputZeroPoint: -3,
    };
    const conv = setupConvChunked(simd, cp);
    const k = 9 * c;
    const budget = packedChunkPanels(k, o);
    const s = await medianSeconds([() => conv.callChunked(Math.ceil(o / 8)), () => conv.callChunked(budget)]);
    const macs = h * h * o * k;
    console.log(
      `  conv 3x3 ${c}→${o} ${h}x${h}: whole layer (${Math.ceil(o / 8) * packedPanelBytes(k)} B) ${fmt(gmacs(macs, s[0]!))}, ` +
        `budget chunks of ${budget} panels (${budget * packedPanelBytes(k)} B) ${fmt(gmacs(macs, s[1]!))}`,
    );
  }
}

async function gemvTable(all: Bench[]): Promise<void> {
  console.log('\n## Small batches: in-place GEMV vs packed panels, simd build, w16 → int8 (GMAC/s)');
  const simd = all.find((b) => b.build === 'simd')!;
  for (const [k, n] of [[256, 256], [1024, 256], [64, 10]] as const) {
    const line: string[] = [];
    for (const m of [1, 2, 3, 4, 8]) {
      simd.arena.reset();
      const fc = setupFc(simd, { batch: m, inFeatures: k, outFeatures: n, weightBits: 16, inputZeroPoint: -3 });
      const chunk = packedChunkPanels(k, n);
      const [g, packed] = await medianSeconds([() => fc.callChunked(chunk, 1), () => fc.callChunked(chunk, 0)]);
      line.push(`M=${m}: ${fmt(gmacs(m * k * n, g!)).trim()} vs ${fmt(gmacs(m * k * n, packed!)).trim()}`);
    }
    console.log(`  K=${k} N=${n}  gemv vs packed  ${line.join('   ')}`);
  }
}

async function convTable(all: Bench[]): Promise<void> {
  console.log('\n## Conv2D (GMAC/s, median; batch 1, same padding, per-channel requantization)');
  // ConvShape: the TFLite 'same'/'valid' rules, which both our conv2d and the ORT model builder take.
  const layers: [string, Omit<ConvShape, 'layers'>][] = [
    ['ResNet-8 3x3 16→16 32x32', { batch: 1, inHeight: 32, inWidth: 32, inChannels: 16, outChannels: 16, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same' }],
    ['ResNet-8 3x3 32→32 16x16', { batch: 1, inHeight: 16, inWidth: 16, inChannels: 32, outChannels: 32, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same' }],
    ['ResNet-8 3x3 s2 32→64 16x16', { batch: 1, inHeight: 16, inWidth: 16, inChannels: 32, outChannels: 64, kernelHeight: 3, kernelWidth: 3, strideHeight: 2, strideWidth: 2, padding: 'same' }],
    ['ResNet-8 conv1 3x3 3→16', { batch: 1, inHeight: 32, inWidth: 32, inChannels: 3, outChannels: 16, kernelHeight: 3, kernelWidth: 3, strideHeight: 1, strideWidth: 1, padding: 'same' }],
    ['DS-CNN conv1 10x4 s2 1→64', { batch: 1, inHeight: 49, inWidth: 10, inChannels: 1, outChannels: 64, kernelHeight: 10, kernelWidth: 4, strideHeight: 2, strideWidth: 2, padding: 'same' }],
    ['DS-CNN pw 1x1 64→64 25x5', { batch: 1, inHeight: 25, inWidth: 5, inChannels: 64, outChannels: 64, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padding: 'same' }],
    ['MobileNet pw1 1x1 8→16 48x48', { batch: 1, inHeight: 48, inWidth: 48, inChannels: 8, outChannels: 16, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padding: 'same' }],
    ['MobileNet pw3 1x1 32→32 24x24', { batch: 1, inHeight: 24, inWidth: 24, inChannels: 32, outChannels: 32, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padding: 'same' }],
    ['MobileNet pw7 1x1 128→128 6x6', { batch: 1, inHeight: 6, inWidth: 6, inChannels: 128, outChannels: 128, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padding: 'same' }],
    ['MobileNet pw13 1x1 256→256 3x3', { batch: 1, inHeight: 3, inWidth: 3, inChannels: 256, outChannels: 256, kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padding: 'same' }],
  ];
  console.log('layer                          w16: scalar   simd relaxed | w8: simd ort-web | simd/scalar simd/ort');
  for (const [label, shape] of layers) {
    for (const b of all) b.arena.reset();
    const p16: Conv2DParams = { ...shape, weightBits: 16, inputZeroPoint: -3 };
    const p8: Conv2DParams = { ...p16, weightBits: 8 };
    const simd = all.find((b) => b.build === 'simd')!;
    const ort: OrtLayer = await ortWebConv(shape);
    const runners: Runner[] = [...all.map((b) => setupConv(b, p16)), setupConv(simd, p8), () => ort.run()];
    const [sc, si, re, si8, ortS] = await medianSeconds(runners);
    await ort.release();
    const macs = convMacs(p16);
    console.log(
      `${label.padEnd(31)}${fmt(gmacs(macs, sc!))} ${fmt(gmacs(macs, si!))} ${fmt(gmacs(macs, re!))} | ${fmt(gmacs(macs, si8!))} ${fmt(gmacs(macs, ortS!))}` +
        ` | ${(sc! / si!).toFixed(1).padStart(9)}x ${(ortS! / si8!).toFixed(2).padStart(7)}x`,
    );
  }
}

// The relaxed experiment: a relaxed dot is deterministic only when its 7-bit operand is in
// 0..127, so an int8 activation x is split exactly as x + 128 = lo + 128·hi (lo in 0..127,
// hi in 0..1): Σx·w = Σlo·w + 128·Σhi·w − 128·Σw. That is two relaxed dots per 4 k where the
// baseline needs two i32x4.dot_i16x8_s, so it can only win if a relaxed dot is > 2× cheaper.
const EXPERIMENT = `
export function dot16_4x8c2(a0: usize, w0: usize, kPairs: i32, panels: i32, out: usize): void {
  for (let p = 0; p < panels; p++) {
    const w = w0 + <usize>p * (<usize>kPairs << 5);
    let c00 = i32x4.splat(0); let c01 = c00; let c10 = c00; let c11 = c00;
    let c20 = c00; let c21 = c00; let c30 = c00; let c31 = c00;
    let a = a0; let q = w; const aEnd = a0 + (<usize>kPairs << 4);
    while (a < aEnd) {
      const w0 = v128.load(q); const w1 = v128.load(q, 16);
      const x0 = v128.load32_splat(a); c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, w1));
      const x1 = v128.load32_splat(a, 4); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, w1));
      const x2 = v128.load32_splat(a, 8); c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, w1));
      const x3 = v128.load32_splat(a, 12); c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, w1));
      a += 16; q += 32;
    }
    const o = out + <usize>p * 32;
    v128.store(o, c00); v128.store(o, c01, 16); v128.store(o, c10, 1024); v128.store(o, c11, 1040);
    v128.store(o, c20, 2048); v128.store(o, c21, 2064); v128.store(o, c30, 3072); v128.store(o, c31, 3088);
  }
}
// lo/hi tiles: [k/4][2 rows][4] bytes each; weights [k/4][8 cols][4] int8; 2 rows x 8 columns.
export function relaxedSplit_2x8c4(lo0: usize, hi0: usize, w0: usize, kQuads: i32, panels: i32, out: usize): void {
  for (let p = 0; p < panels; p++) {
    const w = w0 + <usize>p * (<usize>kQuads << 5);
    let l00 = i32x4.splat(0); let l01 = l00; let l10 = l00; let l11 = l00;
    let h00 = l00; let h01 = l00; let h10 = l00; let h11 = l00;
    let lo = lo0; let hi = hi0; let q = w; const end = lo0 + (<usize>kQuads << 3);
    while (lo < end) {
      const w0 = v128.load(q); const w1 = v128.load(q, 16);
      const a0 = v128.load32_splat(lo); const a1 = v128.load32_splat(lo, 4);
      const b0 = v128.load32_splat(hi); const b1 = v128.load32_splat(hi, 4);
      l00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, a0, l00); l01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, a0, l01);
      l10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, a1, l10); l11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, a1, l11);
      h00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, b0, h00); h01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, b0, h01);
      h10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, b1, h10); h11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, b1, h11);
      lo += 8; hi += 8; q += 32;
    }
    const o = out + <usize>p * 32;
    v128.store(o, i32x4.add(l00, i32x4.shl(h00, 7))); v128.store(o, i32x4.add(l01, i32x4.shl(h01, 7)), 16);
    v128.store(o, i32x4.add(l10, i32x4.shl(h10, 7)), 1024); v128.store(o, i32x4.add(l11, i32x4.shl(h11, 7)), 1040);
  }
}
`;

async function relaxedExperiment(): Promise<void> {
  console.log('\n## Relaxed-SIMD experiment: one 256-deep tile row block × 256 columns (micro-kernel only)');
  const result = await asc.compileString(EXPERIMENT, { optimizeLevel: 3, runtime: 'stub', importMemory: true, noAssert: true, enable: ['simd', 'relaxed-simd'] } as never);
  if (result.error || !result.binary) throw new Error(`experiment build failed: ${result.stderr.toString()}`);
  const memory = new WebAssembly.Memory({ initial: 64 });
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(result.binary as Uint8Array<ArrayBuffer>), { env: { memory, abort: () => {} } });
  const ex = instance.exports as Record<string, (...a: number[]) => void>;
  const K = 256;
  const N = 256;
  const r = rng(5);
  const x = randomInt8(r, 4 * K);
  const w = randomInt8(r, N * K, -127, 127);
  const bytes = new Uint8Array(memory.buffer);
  const view = new DataView(memory.buffer);
  const A16 = 65536, W16 = 131072, LO = 393216, HI = 401408, W8 = 409600, OUT_A = 532480, OUT_B = 536576;
  for (let k = 0; k < K; k++) {
    for (let row = 0; row < 4; row++) view.setInt16(A16 + ((k >> 1) * 4 + row) * 4 + (k & 1) * 2, x[row * K + k]!, true);
    for (let row = 0; row < 2; row++) {
      const u = x[row * K + k]! + 128;
      bytes[LO + ((k >> 2) * 2 + row) * 4 + (k & 3)] = u & 127;
      bytes[HI + ((k >> 2) * 2 + row) * 4 + (k & 3)] = u >> 7;
    }
  }
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const v = w[n * K + k]!;
      view.setInt16(W16 + (n >> 3) * K * 16 + ((k >> 1) * 8 + (n & 7)) * 4 + (k & 1) * 2, v, true);
      view.setInt8(W8 + (n >> 3) * K * 8 + ((k >> 2) * 8 + (n & 7)) * 4 + (k & 3), v);
    }
  }
  const panels = N / 8;
  const [baseS, relaxedS] = await medianSeconds([
    () => ex.dot16_4x8c2!(A16, W16, K / 2, panels, OUT_A),
    () => {
      ex.relaxedSplit_2x8c4!(LO, HI, W8, K / 4, panels, OUT_B);
      ex.relaxedSplit_2x8c4!(LO, HI, W8, K / 4, panels, OUT_B);
    },
  ]);
  // Exactness: Σlo·w + 128·Σhi·w equals Σ(x + 128)·w, i.e. the baseline plus 128·Σw.
  let exact = true;
  for (let n = 0; n < N; n++) {
    let sw = 0;
    for (let k = 0; k < K; k++) sw += w[n * K + k]!;
    for (let row = 0; row < 2; row++) {
      const base = view.getInt32(OUT_A + row * 1024 + (n >> 3) * 32 + (n & 7) * 4, true);
      const split = view.getInt32(OUT_B + row * 1024 + (n >> 3) * 32 + (n & 7) * 4, true);
      if (split !== ((base + 128 * sw) | 0)) exact = false;
    }
  }
  const macs = 4 * K * N;
  console.log(`  dot16 4x8c2 (shipped loop):           ${fmt(gmacs(macs, baseS!))} GMAC/s`);
  console.log(`  relaxed split 2x8c4 (x = lo + 128·hi): ${fmt(gmacs(macs, relaxedS!))} GMAC/s, exact: ${exact}`);
}

// Where the 256³ GEMM's time goes. Micro-kernels compiled on the fly (simd) give ceilings:
//   dots          8 independent i32x4.dot_i16x8_s + i32x4.add chains on registers (the "bare" loop)
//   loopL1        the shipped loop's step (2 weight loads, 4 activation splats, 8 dot + add) repeated
//                 on one L1-resident step
//   loop          the shipped 4x8c2 loop over pre-widened tiles and the layer's 32 panels, tiles
//                 outer as the kernel runs it, accumulators stored raw (no widening, no requant)
//   loopUnrolled  the same with two k pairs per iteration
//   loopBlocked   8 tiles at a time with panels outer (each panel reused from L1 by 8 tiles): needs
//                 8 widened tiles of scratch (16 KiB at K = 256) instead of one
//   widen         the int8 → int16 tile widening of all 256 rows alone
// and the device rows are the real kernels. On V8 11.3 the register-only loops measure *below* the
// streaming loop (V8 keeps their loop-invariant operands on the stack and reloads them every
// iteration), so the fastest loop measured, not the bare one, is the ceiling fractions refer to.
const LIMIT_MICRO = `
// Bare: 8 independent i32x4.dot_i16x8_s + i32x4.add chains on registers (bench/depthwise-limit.ts's).
export function dots(n: i32, seed: i32): i32 {
  const x = i16x8.splat(<i16>seed);
  const y = i16x8.splat(<i16>(seed + 1));
  let a0 = i32x4.splat(0); let a1 = a0; let a2 = a0; let a3 = a0; let a4 = a0; let a5 = a0; let a6 = a0; let a7 = a0;
  let z = y;
  for (let i = 0; i < n; i++) {
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x, z)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(z, x));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(x, x)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(z, z));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(y, z)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(z, y));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(y, x)); a7 = i32x4.add(a7, i32x4.dot_i16x8_s(x, y));
    z = i16x8.add(z, x);
  }
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  return i32x4.extract_lane(s, 0);
}
// The shipped loop's instruction mix on one L1-resident tile and panel step (no pointer advance).
export function loopL1(n: i32, p: usize): i32 {
  let c00 = i32x4.splat(0); let c01 = c00; let c10 = c00; let c11 = c00;
  let c20 = c00; let c21 = c00; let c30 = c00; let c31 = c00;
  for (let i = 0; i < n; i++) {
    const w0 = v128.load(p, 16); const w1 = v128.load(p, 32);
    const x0 = v128.load32_splat(p); c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, w1));
    const x1 = v128.load32_splat(p, 4); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, w1));
    const x2 = v128.load32_splat(p, 8); c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, w1));
    const x3 = v128.load32_splat(p, 12); c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, w1));
  }
  const s = i32x4.add(i32x4.add(i32x4.add(c00, c01), i32x4.add(c10, c11)), i32x4.add(i32x4.add(c20, c21), i32x4.add(c30, c31)));
  return i32x4.extract_lane(s, 0);
}
@inline function tile(a0: usize, w0: usize, kPairs: i32, o: usize): void {
  let c00 = i32x4.splat(0); let c01 = c00; let c10 = c00; let c11 = c00;
  let c20 = c00; let c21 = c00; let c30 = c00; let c31 = c00;
  let a = a0; let q = w0; const aEnd = a0 + (<usize>kPairs << 4);
  while (a < aEnd) {
    const w0 = v128.load(q); const w1 = v128.load(q, 16);
    const x0 = v128.load32_splat(a); c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, w1));
    const x1 = v128.load32_splat(a, 4); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, w1));
    const x2 = v128.load32_splat(a, 8); c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, w1));
    const x3 = v128.load32_splat(a, 12); c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, w1));
    a += 16; q += 32;
  }
  v128.store(o, c00); v128.store(o, c01, 16); v128.store(o, c10, 32); v128.store(o, c11, 48);
  v128.store(o, c20, 64); v128.store(o, c21, 80); v128.store(o, c30, 96); v128.store(o, c31, 112);
}
// The same tile with two k pairs per iteration (kPairs even): half the loop control per step.
@inline function tile2(a0: usize, w0: usize, kPairs: i32, o: usize): void {
  let c00 = i32x4.splat(0); let c01 = c00; let c10 = c00; let c11 = c00;
  let c20 = c00; let c21 = c00; let c30 = c00; let c31 = c00;
  let a = a0; let q = w0; const aEnd = a0 + (<usize>kPairs << 4);
  while (a < aEnd) {
    let w0 = v128.load(q); let w1 = v128.load(q, 16);
    let x0 = v128.load32_splat(a); c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, w1));
    let x1 = v128.load32_splat(a, 4); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, w1));
    let x2 = v128.load32_splat(a, 8); c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, w1));
    let x3 = v128.load32_splat(a, 12); c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, w1));
    w0 = v128.load(q, 32); w1 = v128.load(q, 48);
    x0 = v128.load32_splat(a, 16); c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x0, w0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x0, w1));
    x1 = v128.load32_splat(a, 20); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x1, w0)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x1, w1));
    x2 = v128.load32_splat(a, 24); c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x2, w0)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x2, w1));
    x3 = v128.load32_splat(a, 28); c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x3, w0)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x3, w1));
    a += 32; q += 64;
  }
  v128.store(o, c00); v128.store(o, c01, 16); v128.store(o, c10, 32); v128.store(o, c11, 48);
  v128.store(o, c20, 64); v128.store(o, c21, 80); v128.store(o, c30, 96); v128.store(o, c31, 112);
}
export function loopUnrolled(a0: usize, w0: usize, kPairs: i32, tiles: i32, panels: i32, out: usize): void {
  for (let t = 0; t < tiles; t++) {
    const a = a0 + <usize>t * (<usize>kPairs << 4);
    for (let p = 0; p < panels; p++) tile2(a, w0 + <usize>p * (<usize>kPairs << 5), kPairs, out + (<usize>p << 7));
  }
}
// Every 4-row tile across every panel (tiles outer: the shipped order).
export function loop(a0: usize, w0: usize, kPairs: i32, tiles: i32, panels: i32, out: usize): void {
  for (let t = 0; t < tiles; t++) {
    const a = a0 + <usize>t * (<usize>kPairs << 4);
    for (let p = 0; p < panels; p++) tile(a, w0 + <usize>p * (<usize>kPairs << 5), kPairs, out + (<usize>p << 7));
  }
}
// Tiles in blocks of \`block\`; within a block, panels outer (each panel reused from L1 by the block).
export function loopBlocked(a0: usize, w0: usize, kPairs: i32, tiles: i32, panels: i32, block: i32, out: usize): void {
  for (let t0 = 0; t0 < tiles; t0 += block) {
    for (let p = 0; p < panels; p++) {
      const w = w0 + <usize>p * (<usize>kPairs << 5);
      for (let t = t0; t < t0 + block; t++) tile(a0 + <usize>t * (<usize>kPairs << 4), w, kPairs, out + (<usize>p << 7));
    }
  }
}
@inline function transpose4x4(v0: v128, v1: v128, v2: v128, v3: v128, dst: usize): void {
  const t0 = v128.shuffle<i32>(v0, v1, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(v2, v3, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(v0, v1, 2, 6, 3, 7);
  const t3 = v128.shuffle<i32>(v2, v3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst, v128.shuffle<i32>(t0, t1, 2, 3, 6, 7), 16);
  v128.store(dst, v128.shuffle<i32>(t2, t3, 0, 1, 4, 5), 32);
  v128.store(dst, v128.shuffle<i32>(t2, t3, 2, 3, 6, 7), 48);
}
// The activation widening of M rows of K int8 (K a multiple of 8) into 4-row tiles.
export function widen(src: usize, M: i32, K: i32, dst: usize): void {
  for (let m = 0; m < M; m += 4) {
    const r = src + <usize>m * <usize>K;
    const d = dst + <usize>m * (<usize>K << 1);
    for (let k = 0; k < K; k += 8) {
      transpose4x4(
        i16x8.extend_low_i8x16_s(v128.load64_zero(r + <usize>k)), i16x8.extend_low_i8x16_s(v128.load64_zero(r + <usize>(K + k))),
        i16x8.extend_low_i8x16_s(v128.load64_zero(r + <usize>(2 * K + k))), i16x8.extend_low_i8x16_s(v128.load64_zero(r + <usize>(3 * K + k))),
        d + (<usize>k << 3));
    }
  }
}
`;

/**
 * Fastest sample's CPU seconds per call of each runner (round-robin samples; ORT's session.run is
 * awaited). The minimum, not the median: on this shared 2-core machine another process on the
 * sibling hyperthread slows a sample without showing in CPU time, so the least disturbed sample
 * is the closest to the code's own speed, and small differences between rows stay visible.
 */
async function fastestCpuSeconds(runners: Record<string, Runner>): Promise<Record<string, number>> {
  const names = Object.keys(runners);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) for (let i = 0; i < 3; i++) await runners[n]!();
  for (let s = 0; s < SAMPLES; s++) {
    for (const n of names) {
      let calls = 0;
      const t0 = cpuMs();
      let t = t0;
      do {
        await runners[n]!();
        calls++;
        t = cpuMs();
      } while (t - t0 < SAMPLE_MS);
      samples[n]!.push((t - t0) / 1000 / calls);
    }
  }
  return Object.fromEntries(names.map((n) => [n, Math.min(...samples[n]!)]));
}

async function limitTable(): Promise<void> {
  console.log('\n## 256³ w8a8 GEMM against the bare dot16 peak (simd, process CPU time, fastest of the interleaved samples, one run)');
  const result = await asc.compileString(LIMIT_MICRO, { optimizeLevel: 3, runtime: 'stub', importMemory: true, noAssert: true, enable: ['simd'] } as never);
  if (result.error || !result.binary) throw new Error(`limit micro-kernels failed to build: ${result.stderr.toString()}`);
  const memory = new WebAssembly.Memory({ initial: 64 });
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(result.binary as Uint8Array<ArrayBuffer>), { env: { memory, abort: () => {} } });
  const ex = instance.exports as Record<string, (...a: number[]) => number>;
  const M = 256, K = 256, N = 256;
  const kPairs = K / 2, tiles = M / 4, panels = N / 8;
  const A = 65536, W = A + M * K * 2, X = W + N * K * 2, OUT = X + M * K;
  const bytes = new Uint8Array(memory.buffer);
  const r = rng(11);
  for (let i = A; i < OUT; i++) bytes[i] = (r() * 256) | 0;
  const DOT_ITERS = 1 << 15;

  const device = await Device.create({ build: 'simd', arenaBytes: 8 * 1024 * 1024 });
  const arena = new Arena(device);
  const p: FullyConnectedParams = { batch: M, inFeatures: K, outFeatures: N, weightBits: 8, inputZeroPoint: -3 };
  const input = arena.put(randomInt8(r, M * K), 'x');
  const weights = arena.put(randomInt8(r, N * K, -127, 127), 'w');
  const output = arena.alloc(M * N * 4, 'y');
  const requant = outputQuant(arena, N, false);
  const packed = packWeightPanels(arena, weights, null, requant, arena.alloc(packedPanelsBytes(K, N), 'panels'), { k: K, n: N, weightBits: 8, inputZeroPoint: -3 });
  const packed32 = packWeightPanels(arena, weights, null, null, arena.alloc(packedPanelsBytes(K, N), 'panels32'), { k: K, n: N, weightBits: 8, inputZeroPoint: -3 });
  const pp = { ...p, packed };
  const pp32 = { ...p, packed: packed32 };
  const scratchPre = arena.alloc(fullyConnectedScratchBytes(pp), 'scratch pre');
  const scratchCall = arena.alloc(fullyConnectedScratchBytes(p), 'scratch per call');
  const ort = await ortWebGemm({ m: M, k: K, n: N });
  const prepackedKernel = device.kernel('fully_connected_qs8_prepacked');
  // The host wrapper's own cost (validation, overlap checks), on an 8×8×8 pre-packed layer whose
  // kernel work is negligible: the wrapper minus the bare device call.
  const tp: FullyConnectedParams = { batch: 8, inFeatures: 8, outFeatures: 8, weightBits: 8, inputZeroPoint: -3 };
  const tIn = arena.put(randomInt8(r, 64), 'tiny x');
  const tW = arena.put(randomInt8(r, 64, -127, 127), 'tiny w');
  const tOut = arena.alloc(64, 'tiny y');
  const tQ = outputQuant(arena, 8, false);
  const tPacked = packWeightPanels(arena, tW, null, tQ, arena.alloc(packedPanelsBytes(8, 8), 'tiny panels'), { k: 8, n: 8, weightBits: 8, inputZeroPoint: -3 });
  const tpp = { ...tp, packed: tPacked };
  const tScratch = arena.alloc(fullyConnectedScratchBytes(tpp), 'tiny scratch');
  const t = await fastestCpuSeconds({
    dots: () => void ex.dots!(DOT_ITERS, 1),
    loopL1: () => void ex.loopL1!(DOT_ITERS, A),
    loop: () => void ex.loop!(A, W, kPairs, tiles, panels, OUT),
    loopUnrolled: () => void ex.loopUnrolled!(A, W, kPairs, tiles, panels, OUT),
    loopBlocked: () => void ex.loopBlocked!(A, W, kPairs, tiles, panels, 8, OUT),
    widen: () => void ex.widen!(X, M, K, A),
    prepackedInt32: () => fullyConnected(arena, input, weights, null, output, pp32, null, scratchPre),
    prepacked: () => fullyConnected(arena, input, weights, null, output, pp, requant, scratchPre),
    perCall: () => fullyConnected(arena, input, weights, null, output, p, requant, scratchCall),
    ort: () => ort.run(),
    tinyWrapped: () => { for (let i = 0; i < 100; i++) fullyConnected(arena, tIn, tW, null, tOut, tpp, tQ, tScratch); },
    tinyKernel: () => { for (let i = 0; i < 100; i++) prepackedKernel(tIn.offset, tPacked.panels.offset, tOut.offset, tScratch.offset, 8, 8, 8, 0, 0, tQ.outZeroPoint, -128, 127, 0); },
  });
  await ort.release();
  const macs = M * K * N;
  const g = (name: string, m = macs) => m / t[name]! / 1e9;
  const ceiling = Math.max(g('loop'), g('loopBlocked'), g('loopUnrolled'), g('loopL1', DOT_ITERS * 64), g('dots', DOT_ITERS * 64));
  const line = (label: string, gm: number, note = '') => console.log(`  ${label.padEnd(48)}${fmt(gm)} GMAC/s  ${((100 * gm) / ceiling).toFixed(0).padStart(3)}% of the fastest loop${note}`);
  line('bare dot16 + add, registers only', g('dots', DOT_ITERS * 64));
  line('shipped loop step, one L1-resident step', g('loopL1', DOT_ITERS * 64));
  line('shipped loop over the layer, tiles outer', g('loop'));
  line('  unrolled to 2 k pairs', g('loopUnrolled'));
  line('  8-tile blocks, panels outer (16 KiB scratch)', g('loopBlocked'));
  line('device pre-packed → int32 (no requantization)', g('prepackedInt32'));
  line('device pre-packed → int8 (frozen layer)', g('prepacked'), `  ${(g('prepacked') / g('ort')).toFixed(2)}x ort-web`);
  line('device packing per call → int8 (trained layer)', g('perCall'), `  ${(g('perCall') / g('ort')).toFixed(2)}x ort-web`);
  line('onnxruntime-web QLinearMatMul', g('ort'));
  const pct = (seconds: number) => `${((100 * seconds) / t.prepacked!).toFixed(1)}%`;
  const loopS = macs / g('loop') / 1e9;
  const hostS = Math.max(0, (t.tinyWrapped! - t.tinyKernel!) / 100);
  const requantS = Math.max(0, t.prepacked! - t.prepackedInt32!);
  console.log(`  shares of the pre-packed int8 call (${(t.prepacked! * 1e6).toFixed(0)} µs):`);
  console.log(`    streaming loop ${pct(loopS)}; widening ${pct(t.widen!)}; requantization epilogue (int8 − int32 call) ${pct(requantS)}; ` +
    `host wrapper ${(hostS * 1e6).toFixed(1)} µs = ${pct(hostS)}; rest (per-tile set-up, accumulator spills, stores) ${pct(t.prepacked! - loopS - t.widen! - requantS - hostS)}`);
}

async function main(): Promise<void> {
  const machine = describeMachine();
  console.log(`# gemm-tune — ${machine.cpu}, ${machine.cores} cores, node ${machine.node} (V8 ${machine.v8}), load ${machine.loadAverage}, ort-web ${ortWebVersion()}`);
  console.log(`samples: ${SAMPLES} × ${SAMPLE_MS} ms per implementation, interleaved`);
  const all = await benches();
  if (sections.has('fc')) await fcTable(all);
  if (sections.has('chunk')) await chunkTable(all);
  if (sections.has('gemv')) await gemvTable(all);
  if (sections.has('conv')) await convTable(all);
  if (sections.has('relaxed')) await relaxedExperiment();
  if (sections.has('limit')) await limitTable();
}

await main();
