// The integer loss per build, side by side in one process: the exponential alone (uniformly random
// Q5.26 arguments in [−32, 0), every bit pattern of n) and the whole softmax cross-entropy of a
// batch of 8 × 640 int32 logits (the FC auto-encoder's output) — scalar (one exp per class) against
// simd (four classes per step, bit-identical: test/loss.test.ts). Fastest of 10 rounds each.
//
//   node --import tsx bench/loss-simd.ts
import { Device } from '../src/device/device.js';
import { Arena } from '../src/device/arena.js';
import { prepareCrossEntropy, crossEntropyI32 } from '../src/kernels/loss.js';
import { rng, randInt } from '../test/helpers/devices.js';

const ROWS = 8;
const CLASSES = 640;
const r = rng(5);
const args = Int32Array.from({ length: 1 << 16 }, () => -randInt(r, 1, 2 ** 31 - 1));
const logits = Int32Array.from({ length: ROWS * CLASSES }, () => randInt(r, -10_000, 10_000));

function fastest(rounds: number, calls: number, fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    for (let c = 0; c < calls; c++) fn();
    best = Math.min(best, (performance.now() - t) / calls);
  }
  return best;
}

const rows: string[] = [];
for (const build of ['scalar', 'simd'] as const) {
  const device = await Device.create({ build, arenaBytes: 4 << 20 });
  const arena = new Arena(device);
  const a = arena.put(args, 'a');
  const out = arena.alloc(4 * args.length, 'exp');
  const exp = device.kernel('exp_negative_q26');
  const expMs = fastest(10, 20, () => exp(a.offset, out.offset, args.length));
  const l = arena.put(logits, 'logits');
  const labels = arena.put(Int32Array.from({ length: ROWS }, (_, i) => i), 'labels');
  const loss = arena.alloc(4, 'loss');
  const prepared = prepareCrossEntropy({ scale: 1e-3, zeroPoint: 0 }, 'int32');
  const ceMs = fastest(10, 100, () => crossEntropyI32(arena, l, labels, loss, ROWS, CLASSES, prepared));
  rows.push(`${build.padEnd(6)}  exp ${((expMs * 1e6) / args.length).toFixed(2)} ns per value   cross-entropy ${ROWS}x${CLASSES} ${(ceMs * 1e3).toFixed(1)} µs (${((ceMs * 1e6) / (ROWS * CLASSES)).toFixed(2)} ns per logit)`);
}
console.log(rows.join('\n'));
