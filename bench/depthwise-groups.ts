// What preparing a trained depthwise layer 16 channels at a time costs against preparing the whole
// layer (the session's choice wherever the whole layer would raise the SRAM peak): for each MLPerf
// Tiny depthwise shape with more than 16 channels, one perturbed 16-bit-weight call per sample,
// whole and grouped interleaved round-robin, median CPU microseconds per call, per build.
//
//   node --experimental-wasm-relaxed-simd --import tsx bench/depthwise-groups.ts [--quick]
//
// Times are this process's CPU time (process.cpuUsage), so other processes on a loaded machine
// slow both columns alike instead of inflating one sample.
import { prepareRequant } from '../src/kernels/requant.js';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import {
  depthwiseConv2d, depthwiseConv2dOutputShape, depthwiseConv2dScratchBytes, depthwiseGroupChannels, type DepthwiseConv2DParams,
} from '../src/kernels/depthwise.js';
import type { PerturbSpec } from '../src/kernels/perturb-spec.js';
import { makeBench, randomInt16, randomInt32, randomInt8, rng } from '../test/helpers/devices.js';
import { DEPTHWISE_SHAPES } from './shapes.js';
import { timeInterleavedCpu } from './timing.js';

const quick = process.argv.includes('--quick');
const SAMPLING = { samples: quick ? 5 : 11, sampleMs: quick ? 15 : 40 };

const r = rng(5);
console.log('build    shape                         channels  group  scratch B whole/grouped  µs whole  µs grouped  grouped/whole');
for (const build of ['scalar', 'simd'] as const) {
  const bench = await makeBench(build, 8 * 1024 * 1024);
  for (const s of DEPTHWISE_SHAPES) {
    const p: DepthwiseConv2DParams = {
      batch: 1, inHeight: s.inHeight, inWidth: s.inWidth, inChannels: s.channels, depthMultiplier: s.depthMultiplier,
      kernelHeight: s.kernelHeight, kernelWidth: s.kernelWidth, strideHeight: s.strideHeight, strideWidth: s.strideWidth,
      padding: s.padding, weightBits: 16, inputZeroPoint: -3,
    };
    const c = s.channels;
    const grouped = { ...p, packedWeightBudget: 0 };
    const group = depthwiseGroupChannels(grouped);
    if (group >= c) continue;
    const arena = bench.arena;
    arena.reset();
    const { height, width } = depthwiseConv2dOutputShape(p);
    const input = arena.put(randomInt8(r, s.inHeight * s.inWidth * c), 'input');
    const weights = arena.put(randomInt16(r, s.kernelHeight * s.kernelWidth * c, -20000, 20000), 'weights');
    const bias = arena.put(randomInt32(r, c, -(1 << 16), 1 << 16), 'bias');
    const q = quantizeMultiplier(1 / 3000);
    const requant = prepareRequant(arena, { multiplier: Int32Array.of(q.multiplier), shift: Int32Array.of(q.shift), outZeroPoint: 0 }, c);
    const output = arena.alloc(height * width * c, 'output');
    const wholeBytes = depthwiseConv2dScratchBytes(p);
    const groupedBytes = depthwiseConv2dScratchBytes(grouped);
    const scratch = arena.alloc(wholeBytes, 'scratch');
    const perturb: PerturbSpec = { key: 0x1234567, start: 0, dist: 'gaussian', signedEps: 40, oneQ: 36, ...quantizeMultiplier(1 / 36) };
    // Median CPU seconds per call, shown in µs.
    const t = timeInterleavedCpu({
      whole: () => depthwiseConv2d(arena, input, weights, bias, output, { ...p, perturb }, requant, scratch),
      grouped: () => depthwiseConv2d(arena, input, weights, bias, output, { ...grouped, perturb }, requant, scratch),
    }, SAMPLING);
    console.log(
      `${build.padEnd(8)} ${`${s.layers} ${s.inHeight}×${s.inWidth}×${c} s${s.strideHeight}`.padEnd(30)} ${String(c).padStart(8)} ${String(group).padStart(6)} ` +
        `${`${wholeBytes}/${groupedBytes}`.padStart(24)} ${(t.whole! * 1e6).toFixed(1).padStart(9)} ${(t.grouped! * 1e6).toFixed(1).padStart(11)} ${(t.grouped! / t.whole!).toFixed(2).padStart(14)}`,
    );
  }
}
