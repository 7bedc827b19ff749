// Time of the hybrid's tail gradient kernel (assembly/tail_grad.ts tail_grad_accumulate) on the
// tails of the shipped models, in each Wasm build, this tree beside an optional baseline build
// (calls alternate; median of 15 samples). The inputs are synthetic but shaped like a training
// batch: about half the gate positions pass (a ReLU output), the input is a ReLU output too, and
// the head's δ sums to at most 2^16 in magnitude as softmax minus one-hot does. Both builds get the
// same inputs and must leave the same int64 sums, or the script exits with an error.
//
//   node --experimental-wasm-relaxed-simd --import tsx bench/tail-grad-ab.ts [--baseline DIR] [--build scalar|simd|relaxed] [--rows N]
//
// DIR holds scalar.wasm, simd.wasm and relaxed.wasm of another tree (e.g. a copy of build/ made
// before a kernel change).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const builds = arg('--build') ? [arg('--build')!] : ['scalar', 'simd', 'relaxed'];
const baseline = arg('--baseline');
const ROWS = Number(arg('--rows') ?? 8);
const here = path.dirname(fileURLToPath(import.meta.url));
const CLASSES = 10;

interface Shape { name: string; h: number; w: number; cin: number; cout: number; k: number; pad: number }
// Both are 3×3 'same' convs with stride 1 (src/model/presets.ts).
const SHAPES: Shape[] = [
  { name: 'mnist-cnn conv3 (7×7×16 → 32)', h: 7, w: 7, cin: 16, cout: 32, k: 3, pad: 1 },
  { name: 'resnet8 s3b (8×8×64 → 64)', h: 8, w: 8, cin: 64, cout: 64, k: 3, pad: 1 },
];

/** A small deterministic generator, so every build sees the same bytes. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s; };
}

interface Instance { run: () => void; sums: () => BigInt64Array }

async function instance(file: string, sh: Shape): Promise<Instance> {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 64 });
  const { instance: inst } = await WebAssembly.instantiate(readFileSync(file), { env: { memory, abort: () => { throw new Error('device abort'); } } });
  const kernel = inst.exports.tail_grad_accumulate as (...a: number[]) => void;
  const K = sh.k * sh.k * sh.cin;
  let at = 65536;
  const take = (bytes: number) => { const o = at; at += (bytes + 15) & ~15; return o; };
  const geom = take(48), delta = take(ROWS * CLASSES * 4), headW = take(CLASSES * sh.cout * 2);
  const x = take(ROWS * sh.h * sh.w * sh.cin), gate = take(ROWS * sh.h * sh.w * sh.cout);
  const g = take(sh.cout * 4), patch = take(K * 4), gradW = take(sh.cout * K * 8), gradB = take(sh.cout * 8);
  new Int32Array(memory.buffer, geom, 12).set([sh.h, sh.w, sh.cin, sh.h, sh.w, sh.cout, sh.k, sh.k, 1, 1, sh.pad, sh.pad]);
  const rnd = lcg(0x7a11 + K);
  const d = new Int32Array(memory.buffer, delta, ROWS * CLASSES);
  for (let r = 0; r < ROWS; r++) {
    const label = rnd() % CLASSES;
    for (let c = 0; c < CLASSES; c++) d[r * CLASSES + c] = c === label ? -16000 : rnd() % 3000;
  }
  const hw = new Int16Array(memory.buffer, headW, CLASSES * sh.cout);
  for (let i = 0; i < hw.length; i++) hw[i] = (rnd() % 20001) - 10000;
  const xs = new Int8Array(memory.buffer, x, ROWS * sh.h * sh.w * sh.cin);
  for (let i = 0; i < xs.length; i++) xs[i] = rnd() & 1 ? -128 : (rnd() & 0xff) - 128;
  const gs = new Int8Array(memory.buffer, gate, ROWS * sh.h * sh.w * sh.cout);
  for (let i = 0; i < gs.length; i++) gs[i] = rnd() & 1 ? -128 : (rnd() & 0x7f) - 100;
  const sums = () => new BigInt64Array(memory.buffer, gradW, sh.cout * K + sh.cout).slice();
  const run = () => kernel(delta, ROWS, CLASSES, headW, 16, x, -128, gate, -128, 128, geom, g, patch, gradW, gradB);
  return { run, sums };
}

const median = (a: number[]) => { const s = [...a].sort((p, q) => p - q); return s[s.length >> 1]!; };
console.log(`tail_grad_accumulate, ${ROWS} rows per call, µs per call (median of 15)${baseline ? `; baseline ${baseline}` : ''}`);
for (const sh of SHAPES) {
  for (const build of builds) {
    const variants: Instance[] = [];
    if (baseline) variants.push(await instance(path.join(path.resolve(baseline), `${build}.wasm`), sh));
    variants.push(await instance(path.join(here, '..', 'build', `${build}.wasm`), sh));
    for (const v of variants) for (let i = 0; i < 5; i++) v.run();
    if (variants.length === 2) {
      const [a, b] = variants.map((v) => v.sums());
      if (a!.some((v, i) => v !== b![i])) { console.error(`${sh.name}, ${build}: the two builds left different sums`); process.exit(1); }
    }
    const samples = variants.map(() => [] as number[]);
    const reps = 4;
    for (let s = 0; s < 15; s++) {
      variants.forEach((v, i) => {
        const t0 = performance.now();
        for (let r = 0; r < reps; r++) v.run();
        samples[i]!.push(((performance.now() - t0) * 1000) / reps);
      });
    }
    const us = samples.map(median);
    console.log(`  ${sh.name.padEnd(32)} ${build.padEnd(8)} ${us.map((u) => u.toFixed(1).padStart(9)).join('  ')}${us.length === 2 ? `   ${(us[0]! / us[1]!).toFixed(2)}× faster` : ''}`);
  }
}
