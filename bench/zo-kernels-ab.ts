// Per-weight cost of the QZO-FF stream kernels, in ns per weight, on this tree's simd build and
// optionally a baseline build side by side (calls alternate; minimum of 25 samples of 4 calls, the
// least disturbed figure on a shared machine). 64 Ki weights per call, so the data stays in cache as
// a layer's weights do during a step. These are the per-weight figures docs/BENCHMARKS.md's overhead
// section uses for the step's lower bound: z generation, one application of z to a weight (z read
// from a buffer), and the update.
//
//   node --import tsx bench/zo-kernels-ab.ts [--baseline DIR_WITH_simd.wasm] [--build simd|relaxed|scalar]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quantizeMultiplier } from '../src/kernels/multiplier.js';
import { ONE_Q } from '../src/kernels/rng.js';

const argv = process.argv.slice(2);
const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const flavor = arg('--build') ?? 'simd';
const baseline = arg('--baseline');
const here = path.dirname(fileURLToPath(import.meta.url));
const N = 65536;
const { multiplier: invMult, shift: invShift } = quantizeMultiplier(1 / ONE_Q);
const EPS_Q = 100;
// An update step size with a left shift, as η·Δz/Δw takes for 16-bit weights.
const UPDATE = { mult: 1500000000, shift: 3 };

async function kernels(file: string): Promise<Record<string, () => number>> {
  const memory = new WebAssembly.Memory({ initial: 160, maximum: 160 });
  const { instance } = await WebAssembly.instantiate(readFileSync(file), { env: { memory, abort: () => { throw new Error('device abort'); } } });
  const K = instance.exports as Record<string, (...a: number[]) => number>;
  const base = 65536;
  const src = base, dst = src + 2 * N + 64, z = dst + 2 * N + 64, keys = z + N + 64, signs = keys + 64, zKey = keys + 32;
  const bytes = new Uint8Array(memory.buffer);
  for (let i = 0; i < 2 * N; i++) bytes[src + i] = (i * 37) & 0xff;
  new Uint32Array(memory.buffer, keys, 3).set([0x12345678, 0x9abcdef0, 0x55555555]);
  new Int32Array(memory.buffer, signs, 3).set([1, -1, 1]);
  K.rng_fill_z!(z, N, 0x1234567, 0, 0, ONE_Q);
  new Uint32Array(memory.buffer, zKey, 1)[0] = z;
  return {
    'z generation (Gaussian, rng_fill_z)': () => K.rng_fill_z!(z, N, 0x1234567, 0, 0, ONE_Q),
    'z generation (Rademacher)': () => K.rng_fill_z!(z, N, 0x1234567, 0, 1, ONE_Q),
    'perturb_w16, z regenerated': () => K.perturb_w16!(src, dst, N, 0x1234567, 0, 0, EPS_Q, ONE_Q, invMult, invShift),
    'perturb_w16, z from buffer': () => K.perturb_w16!(src, dst, N, z, 0, 2, EPS_Q, ONE_Q, invMult, invShift),
    'perturb_w8, z regenerated': () => K.perturb_w8!(src, dst, N, 0x1234567, 0, 0, 1, ONE_Q, invMult, invShift),
    'update_w16 m=1, z regenerated': () => K.update_w16!(dst, N, 0, keys, signs, 1, 0, ONE_Q, UPDATE.mult, UPDATE.shift, 0),
    'update_w16 m=3, z regenerated': () => K.update_w16!(dst, N, 0, keys, signs, 3, 0, ONE_Q, UPDATE.mult, UPDATE.shift, 0),
    'update_w16 m=1, z from buffer': () => K.update_w16!(dst, N, 0, zKey, signs, 1, 2, ONE_Q, UPDATE.mult, UPDATE.shift, 0),
    'zo_perturb_w16 (materialised)': () => K.zo_perturb_w16!(src, dst, N, 0, 0x1234567, 0, 0, EPS_Q, ONE_Q, invMult, invShift, 0, 0, 0, 0),
    'zo_update_w16 m=1 (materialised)': () => K.zo_update_w16!(dst, N, 0, 0, N, keys, signs, 1, 0, ONE_Q, UPDATE.mult, UPDATE.shift, 0, 0, 0),
  };
}

const variants: [string, Record<string, () => number>][] = [];
if (baseline) variants.push(['baseline', await kernels(path.join(path.resolve(baseline), `${flavor}.wasm`))]);
variants.push(['this build', await kernels(path.join(here, '..', 'build', `${flavor}.wasm`))]);
const time = (fn: () => number) => { const t0 = performance.now(); for (let i = 0; i < 4; i++) fn(); return (performance.now() - t0) / 4; };
console.log(`ns per weight, ${flavor} build, ${N} weights per call${baseline ? `; baseline ${baseline}` : ''}`);
for (const name of Object.keys(variants[0]![1])) {
  for (const [, k] of variants) for (let i = 0; i < 3; i++) k[name]!();
  const best = variants.map(() => Infinity);
  for (let r = 0; r < 25; r++) variants.forEach(([, k], v) => { best[v] = Math.min(best[v]!, time(k[name]!)); });
  const ns = best.map((ms) => (ms * 1e6) / N);
  console.log(`  ${name.padEnd(36)} ${ns.map((x) => x.toFixed(2).padStart(7)).join('  ')}${ns.length === 2 ? `   ${(ns[0]! / ns[1]!).toFixed(2)}× faster` : ''}`);
}
