// Before/after of pre-packing frozen layers, side by side in one process (samples interleaved
// round-robin, medians), on the shapes issue 21 names: the large GEMMs, ResNet-8's 3×3
// convolutions and every depthwise layer. Per shape:
//
//   before   the simd build of another checkout (default ../main: the kernels before this change,
//            weights packed on every call), served to Device.create over a local HTTP server
//   per-call this checkout's simd build packing on every call (what a trained layer runs)
//   packed   this checkout's simd build on weights packed once (what a frozen layer runs)
//   ort-web  onnxruntime-web, 1 thread, the layer as a one-node QLinear model
//
//   node --experimental-wasm-relaxed-simd --import tsx bench/prepack-gain.ts [--quick] [--before DIR] [--before-packed] [--no-depthwise]
//
// --before-packed: the other checkout has pre-packing too (its build exports the pre-packed
// kernels), so it is timed both ways and the table compares like with like: before per call vs
// per call, before pre-packed vs pre-packed. --no-depthwise skips the depthwise rows.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Device } from '../src/device/device.js';
import { Arena } from '../src/device/arena.js';
import { fullyConnected, fullyConnectedScratchBytes, type FullyConnectedParams } from '../src/kernels/gemm.js';
import { conv2d, conv2dOutputShape, conv2dScratchBytes, type Conv2DParams } from '../src/kernels/conv.js';
import { packWeightPanels, packedPanelsBytes } from '../src/kernels/packed-weights.js';
import {
  depthwiseConv2d, depthwiseConv2dOutputShape, depthwiseConv2dScratchBytes, depthwisePrepack, depthwisePreparedBytes, type DepthwiseConv2DParams,
} from '../src/kernels/depthwise.js';
import { prepareRequant } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { rng, randomInt8, randomInt32 } from '../test/helpers/devices.js';
import { BENCH_QUANT, ortWebConv, ortWebDepthwise, ortWebGemm } from './ort-web.js';
import { CONV_SHAPES, DEPTHWISE_SHAPES, convLabel, gemmLabel } from './shapes.js';
import { describeMachine } from './machine.js';
import { cpuMs } from './timing.js';

const quick = process.argv.includes('--quick');
const beforeArg = process.argv.indexOf('--before');
const beforeDir = resolve(beforeArg > 0 ? process.argv[beforeArg + 1]! : join(process.cwd(), '../main'));
const beforePacked = process.argv.includes('--before-packed');
const withDepthwise = !process.argv.includes('--no-depthwise');
const SAMPLES = quick ? 5 : 9;
const SAMPLE_MS = quick ? 20 : 50;

type Call = () => void | Promise<void>;

async function medians(calls: Call[]): Promise<number[]> {
  const samples: number[][] = calls.map(() => []);
  for (const c of calls) {
    const end = cpuMs() + 150;
    while (cpuMs() < end) await c();
  }
  for (let s = 0; s < SAMPLES; s++) {
    for (let i = 0; i < calls.length; i++) {
      let n = 0;
      const t0 = cpuMs();
      let t = t0;
      do {
        await calls[i]!();
        n++;
        t = cpuMs();
      } while (t - t0 < SAMPLE_MS);
      samples[i]!.push((t - t0) / 1000 / n);
    }
  }
  return samples.map((xs) => xs.sort((a, b) => a - b)[xs.length >> 1]!);
}

function requant(arena: Arena, channels: number, perChannel: boolean) {
  const count = perChannel ? channels : 1;
  const multiplier = new Int32Array(count);
  const shift = new Int32Array(count);
  for (let c = 0; c < count; c++) {
    const q = quantizeMultiplier((BENCH_QUANT.inputScale * 0.01 * (1 + (c % 7) / 7)) / BENCH_QUANT.outputScale);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  return prepareRequant(arena, { multiplier, shift, outZeroPoint: BENCH_QUANT.outputZeroPoint }, channels);
}

/** [before, per-call, packed] runners for one layer on the given arenas. */
function gemmCalls(old: Arena, cur: Arena, m: number, k: number, n: number): Call[] {
  const mk = (arena: Arena, packedToo: boolean): Call[] => {
    arena.reset();
    const r = rng(3);
    const p: FullyConnectedParams = { batch: m, inFeatures: k, outFeatures: n, weightBits: 8, inputZeroPoint: BENCH_QUANT.inputZeroPoint };
    const x = arena.put(randomInt8(r, m * k), 'x');
    const w = arena.put(randomInt8(r, n * k, -127, 127), 'w');
    const y = arena.alloc(m * n, 'y');
    const q = requant(arena, n, false);
    const scratch = arena.alloc(fullyConnectedScratchBytes(p), 'scratch');
    const calls: Call[] = [() => fullyConnected(arena, x, w, null, y, p, q, scratch)];
    if (packedToo) {
      const packed = packWeightPanels(arena, w, null, q, arena.alloc(packedPanelsBytes(k, n), 'panels'), { k, n, weightBits: 8, inputZeroPoint: p.inputZeroPoint });
      const pp = { ...p, packed };
      calls.push(() => fullyConnected(arena, x, w, null, y, pp, q, scratch));
    }
    return calls;
  };
  return [...mk(old, beforePacked), ...mk(cur, true)];
}

function convCalls(old: Arena, cur: Arena, s: Omit<Conv2DParams, 'weightBits' | 'inputZeroPoint'>): Call[] {
  const mk = (arena: Arena, packedToo: boolean): Call[] => {
    arena.reset();
    const r = rng(4);
    const p: Conv2DParams = { ...s, weightBits: 8, inputZeroPoint: BENCH_QUANT.inputZeroPoint };
    const k = p.kernelHeight * p.kernelWidth * p.inChannels;
    const { height, width } = conv2dOutputShape(p);
    const x = arena.put(randomInt8(r, p.batch * p.inHeight * p.inWidth * p.inChannels), 'x');
    const w = arena.put(randomInt8(r, p.outChannels * k, -127, 127), 'w');
    const b = arena.put(randomInt32(r, p.outChannels, -500, 500), 'b');
    const y = arena.alloc(p.batch * height * width * p.outChannels, 'y');
    const q = requant(arena, p.outChannels, true);
    const scratch = arena.alloc(conv2dScratchBytes(p), 'scratch');
    const calls: Call[] = [() => conv2d(arena, x, w, b, y, p, q, scratch)];
    if (packedToo) {
      const packed = packWeightPanels(arena, w, b, q, arena.alloc(packedPanelsBytes(k, p.outChannels), 'panels'), { k, n: p.outChannels, weightBits: 8, inputZeroPoint: p.inputZeroPoint });
      const pp = { ...p, packed };
      calls.push(() => conv2d(arena, x, w, b, y, pp, q, scratch));
    }
    return calls;
  };
  return [...mk(old, beforePacked), ...mk(cur, true)];
}

function depthwiseCalls(old: Arena, cur: Arena, s: Omit<DepthwiseConv2DParams, 'weightBits' | 'inputZeroPoint'>): Call[] {
  const mk = (arena: Arena, packedToo: boolean): Call[] => {
    arena.reset();
    const r = rng(5);
    const p: DepthwiseConv2DParams = { ...s, weightBits: 8, inputZeroPoint: BENCH_QUANT.inputZeroPoint };
    const oc = p.inChannels * p.depthMultiplier;
    const { height, width } = depthwiseConv2dOutputShape(p);
    const x = arena.put(randomInt8(r, p.batch * p.inHeight * p.inWidth * p.inChannels), 'x');
    const w = arena.put(randomInt8(r, p.kernelHeight * p.kernelWidth * oc, -127, 127), 'w');
    const b = arena.put(randomInt32(r, oc, -500, 500), 'b');
    const y = arena.alloc(p.batch * height * width * oc, 'y');
    const q = requant(arena, oc, true);
    const scratch = arena.alloc(depthwiseConv2dScratchBytes(p), 'scratch');
    const calls: Call[] = [() => depthwiseConv2d(arena, x, w, b, y, p, q, scratch)];
    if (packedToo) {
      const prepared = depthwisePrepack(arena, w, b, q, arena.alloc(depthwisePreparedBytes(p), 'prepared'), p);
      const pp = { ...p, prepared };
      calls.push(() => depthwiseConv2d(arena, x, w, b, y, pp, q, scratch));
    }
    return calls;
  };
  return [...mk(old, beforePacked), ...mk(cur, true)];
}

async function main(): Promise<void> {
  const server = createServer((req, res) => {
    const name = (req.url ?? '').replace(/^\//, '');
    if (!/^(scalar|simd|relaxed)\.wasm$/.test(name)) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(beforeDir, 'build', name)).then(
      (b) => res.writeHead(200, { 'content-type': 'application/wasm' }).end(b),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const oldDevice = await Device.create({ build: 'simd', arenaBytes: 32 * 1024 * 1024, wasmBaseUrl: `http://127.0.0.1:${port}/` });
  server.close();
  const curDevice = await Device.create({ build: 'simd', arenaBytes: 32 * 1024 * 1024 });
  const old = new Arena(oldDevice);
  const cur = new Arena(curDevice);
  const m = describeMachine();
  console.log(`pre-packing before/after: ${m.cpu}, ${m.cores} cores, load ${m.loadAverage}, Node ${m.node}; before = ${beforeDir}${quick ? ' (--quick)' : ''}`);
  console.log('GMAC/s, simd, w8a8; medians of interleaved samples of process CPU time\n');
  const head = beforePacked
    ? ['layer', 'before call', 'before pk', 'per-call', 'packed', 'ort-web', 'call/before', 'pk/before', 'packed/ort', 'call/ort']
    : ['layer', 'before', 'per-call', 'packed', 'ort-web', 'before/ort', 'packed/ort', 'packed/before'];
  console.log(head.map((h, i) => (i ? h.padStart(12) : h.padEnd(30))).join(''));
  const rows: { label: string; macs: number; calls: () => Call[]; ort: () => Promise<{ run: () => Promise<void>; release: () => Promise<void> }> }[] = [];
  for (const [mm, k, n] of [[256, 256, 256], [16, 640, 128], [16, 128, 640]] as const) {
    rows.push({ label: `gemm ${gemmLabel({ m: mm, k, n })}`, macs: mm * k * n, calls: () => gemmCalls(old, cur, mm, k, n), ort: () => ortWebGemm({ m: mm, k, n }) });
  }
  for (const s of CONV_SHAPES.filter((c) => c.kernelHeight === 3 && c.inChannels >= 16)) {
    const { layers: _l, ...shape } = s;
    const { height, width } = conv2dOutputShape({ ...shape, weightBits: 8, inputZeroPoint: 0 });
    rows.push({ label: `conv ${convLabel(s)}`, macs: height * width * s.outChannels * 9 * s.inChannels, calls: () => convCalls(old, cur, shape), ort: () => ortWebConv(shape) });
  }
  for (const s of withDepthwise ? DEPTHWISE_SHAPES : []) {
    const { layers: _l, ...shape } = s;
    const p = { batch: s.batch, inHeight: s.inHeight, inWidth: s.inWidth, inChannels: s.channels, depthMultiplier: s.depthMultiplier, kernelHeight: s.kernelHeight, kernelWidth: s.kernelWidth, strideHeight: s.strideHeight, strideWidth: s.strideWidth, padding: s.padding };
    const { height, width } = depthwiseConv2dOutputShape({ ...p, weightBits: 8, inputZeroPoint: 0 });
    rows.push({ label: `dw ${s.inHeight}x${s.inWidth}x${s.channels}-s${s.strideHeight}`, macs: height * width * s.channels * 9, calls: () => depthwiseCalls(old, cur, p), ort: () => ortWebDepthwise(shape) });
  }
  for (const row of rows) {
    const ort = await row.ort();
    // The arenas are reset per layer, so each layer's calls are built right before timing.
    const t = await medians([...row.calls(), () => ort.run()]);
    await ort.release();
    const g = t.map((sec) => row.macs / sec / 1e9);
    if (beforePacked) {
      const [beforeCall, beforePk, perCall, packed, web] = g as [number, number, number, number, number];
      const cells = [beforeCall, beforePk, perCall, packed, web].map((v) => v.toFixed(2));
      cells.push(`${(perCall / beforeCall).toFixed(3)}×`, `${(packed / beforePk).toFixed(3)}×`, `${(packed / web).toFixed(2)}×`, `${(perCall / web).toFixed(2)}×`);
      console.log(row.label.padEnd(30) + cells.map((c) => c.padStart(12)).join(''));
      continue;
    }
    const [before, perCall, packed, web] = g as [number, number, number, number];
    const cells = [before, perCall, packed, web].map((v) => v.toFixed(2));
    cells.push(`${(before / web).toFixed(2)}×`, `${(packed / web).toFixed(2)}×`, `${(packed / before).toFixed(2)}×`);
    console.log(row.label.padEnd(30) + cells.map((c) => c.padStart(12)).join(''));
  }
}

await main();
