// Throughput of the QZO-FF stream kernels (z generation, perturbation, update, integer loss) on
// every build, and the integer loss's error against float64 cross-entropy.
//
//   node --experimental-wasm-relaxed-simd --import tsx bench/qzo-kernels.bench.ts
//
// Each figure is the median of 7 timed samples of a host-wrapper call (validation included).
import { makeBench, rng, randInt, randomInt16, randomInt8 } from '../test/helpers/devices.js';
import { fillZ, ONE_Q } from '../src/kernels/rng.js';
import { makePerturbSpec, perturbWeights } from '../src/kernels/perturb.js';
import { makeUpdateMultiplier, prepareUpdate, updateWeights } from '../src/kernels/update.js';
import { crossEntropyI32, crossEntropyI8, prepareCrossEntropy, type LogitType } from '../src/kernels/loss.js';
import type { BuildFlavor } from '../src/device/features.js';

const BUILDS: BuildFlavor[] = ['scalar', 'simd', 'relaxed'];
function median(run: () => void, reps: number): number {
  for (let i = 0; i < 5; i++) run(); // let V8 tier the Wasm up to TurboFan
  const times: number[] = [];
  for (let s = 0; s < 7; s++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) run();
    times.push((performance.now() - t0) / reps);
  }
  return times.sort((a, b) => a - b)[3]!;
}
const ns = (ms: number, n: number) => ((ms * 1e6) / n).toFixed(2);

const N = 1 << 20;
console.log(`ns per element, ${N} elements per call`);
console.log('kernel'.padEnd(34) + BUILDS.map((b) => b.padStart(9)).join(''));
const rows: Record<string, string[]> = {};
for (const build of BUILDS) {
  const b = await makeBench(build, 16 << 20);
  const r = rng(1);
  const z = b.arena.alloc(N, 'z');
  const w16 = b.arena.put(randomInt16(r, N), 'w16');
  const p16 = b.arena.alloc(N * 2, 'p16');
  const w8 = b.arena.put(randomInt8(r, N, -127, 127), 'w8');
  const p8 = b.arena.alloc(N, 'p8');
  const mask = b.arena.alloc(N / 8, 'mask');
  const maskBytes = b.arena.u8(mask);
  for (let i = 0; i < N; i++) if (r() < 0.1) maskBytes[i >> 3]! |= 1 << (i & 7);
  const add = (name: string, run: () => void) => (rows[name] ??= []).push(ns(median(run, 2), N));
  for (const dist of ['gaussian', 'rademacher'] as const) {
    add(`rng_fill_z ${dist}`, () => fillZ(b.arena, z, N, { key: 7, start: 0, dist, oneQ: ONE_Q }));
  }
  const spec16 = makePerturbSpec({ seed: 1, tensorId: 0, epsilon: 1e-3, weightScale: 1e-4, dist: 'gaussian', sign: 1, weightBits: 16 }, b.device);
  add('perturb_w16 gaussian', () => perturbWeights(b.arena, w16, p16, N, 16, spec16));
  const spec8 = makePerturbSpec({ seed: 1, tensorId: 0, epsilon: 1e-2, weightScale: 1e-2, dist: 'gaussian', sign: 1, weightBits: 8 }, b.device);
  add('perturb_w8 gaussian', () => perturbWeights(b.arena, w8, p8, N, 8, spec8));
  const q = makeUpdateMultiplier(1e-3, 1e-4, 3);
  const prepared = prepareUpdate(b.arena, { directions: 3, dist: 'gaussian', multiplier: q.multiplier, shift: q.shift });
  const step = { keys: [1, 2, 3], signs: [1, -1, 1] };
  add('update_w16 m=3 dense', () => updateWeights(b.arena, prepared, w16, N, 16, step));
  add('update_w16 m=3 10% mask', () => updateWeights(b.arena, prepared, w16, N, 16, { ...step, mask }));
  add('update_w8 m=3 dense', () => updateWeights(b.arena, prepared, w8, N, 8, step));
  for (const classes of [10, 100]) {
    const batch = 256;
    const logits = b.arena.put(randomInt8(r, batch * classes), 'logits');
    const labels = b.arena.put(Int32Array.from({ length: batch }, () => randInt(r, 0, classes - 1)), 'labels');
    const out = b.arena.alloc(4, 'loss');
    const p = prepareCrossEntropy({ scale: 0.1, zeroPoint: 0 }, 'int8');
    (rows[`cross_entropy_i8 ${classes} classes (per logit)`] ??= []).push(
      ns(median(() => crossEntropyI8(b.arena, logits, labels, out, batch, classes, p), 50), batch * classes),
    );
  }
}
for (const [name, values] of Object.entries(rows)) console.log(name.padEnd(34) + values.map((v) => v.padStart(9)).join(''));

// Loss accuracy against float64, over random batches (1..64 rows, 1..100 classes).
const b = await makeBench('scalar', 8 << 20);
for (const type of ['int8', 'int32'] as LogitType[]) {
  const r = rng(type === 'int8' ? 11 : 12);
  let max = 0, sum = 0, perRowMax = 0, n = 0;
  for (let t = 0; t < 3000; t++) {
    b.arena.reset();
    const rowsN = randInt(r, 1, 64), classes = randInt(r, 1, 100);
    const span = type === 'int8' ? 128 : Math.floor(2 ** (3 + r() * 28));
    const scale = type === 'int8' ? 0.1 * Math.exp((r() - 0.5) * 6) : (2 + 20 * r()) / span;
    const x = type === 'int8' ? new Int8Array(rowsN * classes) : new Int32Array(rowsN * classes);
    for (let i = 0; i < x.length; i++) x[i] = randInt(r, -span, span - 1);
    const labels = Int32Array.from({ length: rowsN }, () => randInt(r, 0, classes - 1));
    let exact = 0;
    for (let i = 0; i < rowsN; i++) {
      let m = -Infinity;
      for (let c = 0; c < classes; c++) m = Math.max(m, x[i * classes + c]!);
      let s = 0;
      for (let c = 0; c < classes; c++) s += Math.exp(scale * (x[i * classes + c]! - m));
      exact += Math.log(s) - scale * (x[i * classes + labels[i]!]! - m);
    }
    const p = prepareCrossEntropy({ scale, zeroPoint: 0 }, type);
    const run = type === 'int8' ? crossEntropyI8 : crossEntropyI32;
    const got = run(b.arena, b.arena.put(x, 'x'), b.arena.put(labels, 'l'), b.arena.alloc(4, 'o'), rowsN, classes, p);
    if (got.saturated) continue;
    const err = Math.abs(got.nats - exact);
    max = Math.max(max, err);
    sum += err;
    perRowMax = Math.max(perRowMax, err / rowsN);
    n++;
  }
  console.log(`loss ${type}: ${n} batches, |error| max ${max.toExponential(2)} nats, mean ${(sum / n).toExponential(2)} nats`);
}
