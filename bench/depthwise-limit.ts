// What bounds the int8 depthwise convolution on this machine? For every MLPerf Tiny depthwise
// shape this measures, side by side in one process (samples interleaved round-robin, medians):
//
//   kernel    depthwiseConv2d on the simd build, host wrapper included (what bench:kernels times)
//   loop+rq   the kernel's SIMD work alone: the same tap-pair loop (two input loads, interleave,
//             widen, four i32x4.dot_i16x8_s per 16 channels × 2 taps) and the same per-channel
//             TFLM requantization, over every output pixel, without the per-call weight packing,
//             border tables and host checks — the compute ceiling of this instruction mix
//   loop      the same without the requantization (an upper bound no exact kernel reaches)
//   dot       i32x4.dot_i16x8_s on registers only: the multiply ports' peak, in MAC slots
//
// and the memory side: bytes per MAC that must come from memory (input + weights + bias + output
// once per call, divided by the MACs) against the measured read bandwidth of a buffer of the
// layer's size and of a 64 MiB buffer. A layer is memory-bound only if bytes/MAC × GMAC/s comes
// near the bandwidth.
//
//   node --import tsx bench/depthwise-limit.ts [--quick]
//
// Times are this process's CPU time (process.cpuUsage), not wall-clock time: see cpuMs() in bench/timing.ts.
import asc from 'assemblyscript/asc';
import { Device } from '../src/device/device.js';
import { Arena } from '../src/device/arena.js';
import { prepareRequant } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { depthwiseConv2d, depthwiseConv2dOutputShape, depthwiseConv2dScratchBytes, type DepthwiseConv2DParams } from '../src/kernels/depthwise.js';
import { rng, randomInt8, randomInt32 } from '../test/helpers/devices.js';
import { DEPTHWISE_SHAPES } from './shapes.js';
import { describeMachine } from './machine.js';
import { timeInterleavedCpu } from './timing.js';

const quick = process.argv.includes('--quick');
const SAMPLING = { samples: quick ? 5 : 11, sampleMs: quick ? 15 : 40 };

const MICRO = `
@inline function srdhm4(a: v128, b: v128): v128 {
  const nudge = i64x2.splat(<i64>1 << 31);
  const lo = i64x2.extmul_low_i32x4_s(a, b);
  const hi = i64x2.extmul_high_i32x4_s(a, b);
  return v128.shuffle<i32>(i64x2.add(i64x2.add(lo, lo), nudge), i64x2.add(i64x2.add(hi, hi), nudge), 1, 3, 5, 7);
}
@inline function requant4(acc: v128, q: usize): v128 {
  const y = srdhm4(acc, v128.load(q, 16));
  const pw = v128.load(q, 32);
  const lo = i64x2.extmul_low_i32x4_s(y, pw);
  const hi = i64x2.extmul_high_i32x4_s(y, pw);
  const floored = v128.shuffle<i32>(i64x2.add(lo, lo), i64x2.add(hi, hi), 1, 3, 5, 7);
  const threshold = i32x4.sub(v128.load(q, 80), i32x4.shr_s(y, 31));
  return i32x4.sub(floored, i32x4.gt_s(v128.and(y, v128.load(q, 64)), threshold));
}
// One pass over outH × outW pixels of a padded input (every window inside), C channels in
// blocks of 16, pairs tap pairs; tab holds the 2·pairs relative tap offsets.
export function loop(input: usize, w0: usize, bias: usize, rq: usize, tab: usize, out: usize,
  outH: i32, outW: i32, inW: i32, C: i32, stride: i32, pairs: i32, requant: i32): void {
  const zp = i32x4.splat(3);
  let o = out;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const base = input + <usize>(((oy * stride) * inW + ox * stride) * C);
      let w = w0;
      for (let blk = 0; blk < C; blk += 16) {
        const b = bias + (<usize>blk << 2);
        let acc0 = v128.load(b); let acc1 = v128.load(b, 16); let acc2 = v128.load(b, 32); let acc3 = v128.load(b, 48);
        let t = tab;
        for (let p = 0; p < pairs; p++) {
          const a = v128.load(base + <usize>load<u32>(t) + <usize>blk);
          const bb = v128.load(base + <usize>load<u32>(t, 4) + <usize>blk);
          const l = i8x16.shuffle(a, bb, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
          const h = i8x16.shuffle(a, bb, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
          acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), v128.load(w)));
          acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), v128.load(w, 16)));
          acc2 = i32x4.add(acc2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), v128.load(w, 32)));
          acc3 = i32x4.add(acc3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), v128.load(w, 48)));
          t += 8;
          w += 64;
        }
        if (requant) {
          const q = rq + <usize>blk * 24;
          const n0 = i16x8.narrow_i32x4_s(i32x4.add(requant4(acc0, q), zp), i32x4.add(requant4(acc1, q + 96), zp));
          const n1 = i16x8.narrow_i32x4_s(i32x4.add(requant4(acc2, q + 192), zp), i32x4.add(requant4(acc3, q + 288), zp));
          v128.store(o, i8x16.narrow_i16x8_s(n0, n1));
        } else {
          v128.store(o, i32x4.add(i32x4.add(acc0, acc1), i32x4.add(acc2, acc3)));
        }
        o += 16;
      }
    }
  }
}
// n iterations of 8 independent i32x4.dot_i16x8_s + add chains on registers.
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
// Streams bytes (a multiple of 64) reps times with four independent accumulators.
export function read(src: usize, bytes: i32, reps: i32): i32 {
  let a = i32x4.splat(0); let b = a; let c = a; let d = a;
  for (let r = 0; r < reps; r++) {
    const end = src + <usize>bytes;
    for (let p = src; p < end; p += 64) {
      a = i32x4.add(a, v128.load(p)); b = i32x4.add(b, v128.load(p, 16));
      c = i32x4.add(c, v128.load(p, 32)); d = i32x4.add(d, v128.load(p, 48));
    }
  }
  return i32x4.extract_lane(i32x4.add(i32x4.add(a, b), i32x4.add(c, d)), 0);
}
`;

type Fn = (...a: number[]) => number;


async function main(): Promise<void> {
  const machine = describeMachine();
  console.log(`depthwise limits: ${machine.cpu}, load ${machine.loadAverage}, Node ${process.version}${quick ? ' (--quick)' : ''}`);
  const result = await asc.compileString(MICRO, { optimizeLevel: 3, runtime: 'stub', importMemory: true, noAssert: true, enable: ['simd'] } as never);
  if (result.error || !result.binary) throw new Error(`micro-benchmark build failed: ${result.stderr.toString()}`);
  const memory = new WebAssembly.Memory({ initial: 1100 }); // 68.75 MiB: a 64 MiB stream + the layer buffers
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(result.binary as Uint8Array<ArrayBuffer>), { env: { memory, abort: () => {} } });
  const ex = instance.exports as Record<string, Fn>;
  const bytes = new Uint8Array(memory.buffer);
  const r = rng(9);
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (r() * 256) | 0;

  const device = await Device.create({ build: 'simd', arenaBytes: 16 * 1024 * 1024 });
  const arena = new Arena(device);

  // Machine-wide figures: dot peak and 64 MiB read bandwidth.
  const DOT_ITERS = 1 << 16;
  const BIG = 64 * 1024 * 1024;
  const STREAM = 1 << 20; // buffers start at 1 MiB; the layer buffers follow the stream
  const machineTimes = timeInterleavedCpu({
    dot: () => void ex.dots!(DOT_ITERS, 1),
    dram: () => void ex.read!(STREAM, BIG, 1),
  }, SAMPLING);
  const dotMacs = DOT_ITERS * 8 * 8; // 8 dots of 8 MAC slots per iteration
  const dotPeak = dotMacs / machineTimes.dot! / 1e9;
  const dramGBs = BIG / machineTimes.dram! / 1e9;
  console.log(`i32x4.dot_i16x8_s peak on registers: ${dotPeak.toFixed(1)} GMAC/s (MAC slots); 64 MiB read bandwidth: ${dramGBs.toFixed(1)} GB/s\n`);

  const rows: string[][] = [];
  for (const s of DEPTHWISE_SHAPES) {
    const C = s.channels;
    const p: DepthwiseConv2DParams = {
      batch: 1, inHeight: s.inHeight, inWidth: s.inWidth, inChannels: C, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 3,
      strideHeight: s.strideHeight, strideWidth: s.strideWidth, padding: 'same', weightBits: 8, inputZeroPoint: -3,
    };
    const { height: outH, width: outW } = depthwiseConv2dOutputShape(p);
    const macs = outH * outW * C * 9;
    // The real kernel, as bench:kernels calls it.
    arena.reset();
    const kin = arena.put(randomInt8(r, s.inHeight * s.inWidth * C), 'input');
    const kw = arena.put(randomInt8(r, 9 * C, -127, 127), 'weights');
    const kb = arena.put(randomInt32(r, C, -500, 500), 'bias');
    const kout = arena.alloc(outH * outW * C, 'output');
    const mult = new Int32Array(C);
    const shift = new Int32Array(C);
    for (let c = 0; c < C; c++) {
      const q = quantizeMultiplier(0.004 * (1 + c / C));
      mult[c] = q.multiplier;
      shift[c] = q.shift;
    }
    const requant = prepareRequant(arena, { multiplier: mult, shift, outZeroPoint: 2 }, C);
    const kscratch = arena.alloc(depthwiseConv2dScratchBytes(p), 'scratch');
    // The micro-kernel's buffers: a padded input (every window inside), packed weights, bias, requant lanes, taps.
    const padW = (outW - 1) * s.strideWidth + 3;
    const padH = (outH - 1) * s.strideHeight + 3;
    const CP = Math.ceil(C / 16) * 16;
    const IN = STREAM + BIG;
    const W = IN + padH * padW * C + 64;
    const B = W + CP * 5 * 4 * 16;
    const RQ = B + CP * 4;
    const TAB = RQ + CP * 24;
    const OUT = TAB + 64;
    const view = new DataView(memory.buffer);
    for (let c = 0; c < CP; c++) {
      const q = RQ + (c >> 2) * 96 + (c & 3) * 4;
      view.setInt32(q + 16, mult[Math.min(c, C - 1)]!, true);
      const right = -shift[Math.min(c, C - 1)]!;
      view.setInt32(q + 32, 2 ** (31 - right), true);
      view.setInt32(q + 64, 2 ** right - 1, true);
      view.setInt32(q + 80, (2 ** right - 1) >> 1, true);
    }
    for (let t = 0; t < 10; t++) view.setUint32(TAB + t * 4, t < 9 ? (Math.floor(t / 3) * padW + (t % 3)) * C : 0, true);
    const call = (requantize: number) => () => void ex.loop!(IN, W, B, RQ, TAB, OUT, outH, outW, padW, C, s.strideHeight, 5, requantize);
    const t = timeInterleavedCpu({
      kernel: () => depthwiseConv2d(arena, kin, kw, kb, kout, p, requant, kscratch),
      loopRq: call(1),
      loop: call(0),
      l1: () => void ex.read!(IN, Math.ceil((padH * padW * C) / 64) * 64, 1),
    }, SAMPLING);
    const g = (sec: number) => macs / sec / 1e9;
    // Bytes that must cross from memory per call: input, weights, bias, per-channel requant, output.
    const moved = s.inHeight * s.inWidth * C + 9 * C + 4 * C + 8 * C + outH * outW * C;
    const bytesPerMac = moved / macs;
    const layerGBs = (Math.ceil((padH * padW * C) / 64) * 64) / t.l1! / 1e9;
    const kernel = g(t.kernel!);
    rows.push([
      `${s.inHeight}x${s.inWidth}x${C}-s${s.strideHeight}`, kernel.toFixed(2), g(t.loopRq!).toFixed(2), g(t.loop!).toFixed(2),
      `${((100 * kernel) / g(t.loopRq!)).toFixed(0)}%`, bytesPerMac.toFixed(3), (bytesPerMac * kernel).toFixed(2), layerGBs.toFixed(1),
    ]);
  }
  const head = ['shape', 'kernel', 'loop+rq', 'loop', 'kernel / loop+rq', 'B/MAC', 'GB/s needed', 'GB/s (layer-size read)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  console.log(head.map((h, i) => h.padEnd(widths[i]!)).join('  '));
  for (const row of rows) console.log(row.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  '));
  console.log('\nGMAC/s counts 9 MACs per output (the 10th tap slot of each pair is padding); medians of interleaved samples of process CPU time.');
}

await main();
