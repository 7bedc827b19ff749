// The exported hybrid tail (runtime/lm_tail_grad.c, host cc) against the emulator's kernels
// (assembly/tail_grad.ts through src/kernels/tail-grad.ts) and step (src/train/hybrid-tail.ts
// tailStepFactors + applyTail): the int64 gradient sums after several accumulations, then the weights
// and bias after the SGD step with the warm-up, bit for bit, over random geometries (stride 1 and 2,
// 'same' and 'valid' padding, dense tails), 8- and 16-bit head and tail weights, per-tensor and
// per-channel scales, ReLU/ReLU6/no gates, sums near the ±(2^47 − 1) saturation, factors the step
// must refuse; and lm_tail_make_step against makeTailStep next to powers of two.
import { describe, expect, it, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBench, rng, randInt, randomInt8, randomInt16, type Bench } from './helpers/devices.js';
import { cDouble } from '../src/export/c/head.js';
import { accumulateTailGradient, makeTailStep, tailFilterSize, writeTailGeometry, type TailGeometry } from '../src/kernels/tail-grad.js';
import { applyTail, tailStepFactors, type TailInfo } from '../src/train/hybrid-tail.js';
import { paddedAxis } from '../src/kernels/geometry.js';
import { warmupQ15 } from '../src/train/qzo-ff/step-control.js';
import { ConfigError } from '../src/errors.js';
import type { QuantizedSession } from '../src/runtime/session.js';
import type { DeviceBuffer } from '../src/device/arena.js';

const RUNTIME = fileURLToPath(new URL('../src/export/c/runtime/', import.meta.url));
const LIMIT = 2n ** 47n - 1n;

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => execFile(cmd, args, { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => (err ? rej(new Error(`${cmd}: ${err.message}\n${stderr}`)) : res(stdout))));
}

interface Batch { rows: number; delta: Int32Array; input: Int8Array; gate: Int8Array }

interface Case {
  geometry: TailGeometry;
  ties: boolean;
  classes: number;
  headBits: 8 | 16;
  headWeights: Int8Array | Int16Array;
  inputZero: number;
  gateLo: number;
  gateHi: number;
  batches: Batch[];
  /** The sums before the first accumulation (zeros, or values next to the saturation bound). */
  priorW: BigInt64Array;
  priorB: BigInt64Array;
  weightBits: 8 | 16;
  weights: Int8Array | Int16Array;
  bias: Int32Array;
  weightScales: number[];
  inputScale: number;
  headScale: number;
  positions: number;
  lr: number;
  step: number;
  /** Rows the step's factors use (the head's N). */
  rows: number;
}

function randomGeometry(r: () => number): TailGeometry {
  if (r() < 0.2) {
    // A dense tail: a 1×1 convolution on a 1×1 map.
    const cin = randInt(r, 1, 48);
    return { inHeight: 1, inWidth: 1, inChannels: cin, outHeight: 1, outWidth: 1, outChannels: randInt(r, 1, 12), kernelHeight: 1, kernelWidth: 1, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0 };
  }
  for (;;) {
    const kh = randInt(r, 1, 3), kw = randInt(r, 1, 3);
    const sh = randInt(r, 1, 2), sw = randInt(r, 1, 2);
    const h = randInt(r, kh, 9), w = randInt(r, kw, 9);
    const padding = r() < 0.5 ? 'same' : 'valid';
    const ay = paddedAxis(h, kh, sh, padding, 0);
    const ax = paddedAxis(w, kw, sw, padding, 1);
    if (ay.out < 1 || ax.out < 1) continue;
    return { inHeight: h, inWidth: w, inChannels: randInt(r, 1, 6), outHeight: ay.out, outWidth: ax.out, outChannels: randInt(r, 1, 8), kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: ay.padBefore, padLeft: ax.padBefore };
  }
}

function randomCase(r: () => number): Case {
  const g = randomGeometry(r);
  const classes = randInt(r, 2, 10);
  const headBits = r() < 0.5 ? 8 : 16;
  const weightBits = r() < 0.5 ? 8 : 16;
  const k = tailFilterSize(g);
  const inputZero = randInt(r, -128, 127);
  const gateZero = randInt(r, -128, 20);
  // ReLU (lo = zero point, hi = 127), ReLU6 (a hi inside the range) or no activation (every value passes).
  const gate = [[gateZero, 127], [gateZero, randInt(r, gateZero + 1, 127)], [-129, 128]][randInt(r, 0, 2)]!;
  // Ties: δ in multiples of 2^14 and head weights in {−1, 0, 1} put g = Σδ·Wh/2^15 on .5 often (both signs).
  const ties = r() < 0.15;
  const batches: Batch[] = [];
  let rows = 0;
  for (let b = randInt(r, 1, 3); b > 0; b--) {
    const n = randInt(r, 1, 4);
    rows += n;
    const delta = new Int32Array(n * classes);
    for (let i = 0; i < n; i++) {
      // softmax − onehot in Q.15: non-negative entries and one ≥ −2^15 (random, not normalised).
      const label = randInt(r, 0, classes - 1);
      for (let c = 0; c < classes; c++) delta[i * classes + c] = ties ? 16384 * randInt(r, -3, 3) : randInt(r, 0, 32768 / classes) - (c === label ? 32768 : 0);
    }
    batches.push({
      rows: n, delta,
      input: randomInt8(r, n * g.inHeight * g.inWidth * g.inChannels),
      gate: randomInt8(r, n * g.outHeight * g.outWidth * g.outChannels),
    });
  }
  const near = r() < 0.2;
  const prior = (n: number) => BigInt64Array.from({ length: n }, () => (near ? (r() < 0.5 ? -1n : 1n) * (LIMIT - BigInt(randInt(r, 0, 1 << 20))) : 0n));
  const perChannel = r() < 0.5;
  const positions = g.outHeight * g.outWidth;
  return {
    geometry: g, classes, headBits, ties,
    headWeights: headBits === 16 ? randomInt16(r, classes * g.outChannels, ties ? -1 : -32767, ties ? 1 : 32767) : randomInt8(r, classes * g.outChannels, ties ? -1 : -127, ties ? 1 : 127),
    inputZero, gateLo: gate[0]!, gateHi: gate[1]!, batches, priorW: prior(g.outChannels * k), priorB: prior(g.outChannels),
    weightBits, weights: weightBits === 16 ? randomInt16(r, g.outChannels * k) : randomInt8(r, g.outChannels * k, -127, 127),
    bias: Int32Array.from({ length: g.outChannels }, () => randInt(r, -(2 ** 31), 2 ** 31 - 1)),
    weightScales: Array.from({ length: perChannel ? g.outChannels : 1 }, () => 10 ** (-5 + 3 * r())),
    inputScale: 10 ** (-3 + 2 * r()), headScale: 10 ** (-5 + 3 * r()), positions,
    // Mostly moderate η; now and then one so large or small that a factor leaves the 15-bit range.
    lr: r() < 0.1 ? 10 ** (r() < 0.5 ? 9 : -14) : 10 ** (-3 + 3 * r()),
    step: randInt(r, 0, 30), rows: rows * [1, 2, 6][randInt(r, 0, 2)]!,
  };
}

const tailInfo = (c: Case): TailInfo => ({
  name: 'tail', input: 'x', gate: 'gate', geometry: c.geometry, positions: c.positions, inputScale: c.inputScale, inputZero: c.inputZero,
  gateLo: c.gateLo, gateHi: c.gateHi, weightBits: c.weightBits, weightScales: c.weightScales,
});

/** The emulator: sums after the accumulations, then (unless the factors are refused) weights and bias after the step. */
function emulate(bench: Bench, c: Case): { sumsW: BigInt64Array; sumsB: BigInt64Array; after: { weights: number[]; bias: number[] } | null } {
  const a = bench.arena;
  a.reset();
  const g = c.geometry;
  const k = tailFilterSize(g);
  const geometry = a.alloc(48, 'geometry');
  writeTailGeometry(a, geometry, g);
  const buffers = {
    geometry, g: a.alloc(g.outChannels * 4, 'g'), patch: a.alloc(k * 4, 'patch'),
    gradW: a.put(new Int32Array(c.priorW.buffer), 'gradW'), gradB: a.put(new Int32Array(c.priorB.buffer), 'gradB'),
  };
  const headWeights = a.put(c.headWeights, 'head weights');
  for (const b of c.batches) {
    accumulateTailGradient(a, b.rows, g, {
      delta: a.put(b.delta, 'delta'), classes: c.classes, headWeights, headBits: c.headBits,
      input: a.put(b.input, 'input'), inputZero: c.inputZero, gate: a.put(b.gate, 'gate'), gateLo: c.gateLo, gateHi: c.gateHi,
    }, buffers);
  }
  const mem = bench.device.memory.buffer;
  const sumsW = new BigInt64Array(mem, buffers.gradW.offset, g.outChannels * k).slice();
  const sumsB = new BigInt64Array(mem, buffers.gradB.offset, g.outChannels).slice();
  let factors;
  try {
    factors = tailStepFactors(tailInfo(c), c.lr, c.rows, c.headScale);
  } catch (e) {
    if (e instanceof ConfigError) return { sumsW, sumsB, after: null };
    throw e;
  }
  const weights: DeviceBuffer = a.put(c.weights, 'weights');
  const bias: DeviceBuffer = a.put(c.bias, 'bias');
  // applyTail reads the session's weight and bias buffers and its arena: the rest of a session is not needed.
  const session = { weights: new Map([['tail', weights]]), biases: new Map([['tail', bias]]), mcu: { sram: a, device: bench.device } } as unknown as QuantizedSession;
  applyTail(session, tailInfo(c), buffers, factors, warmupQ15(c.step, 20));
  const w = c.weightBits === 16 ? new Int16Array(mem, weights.offset, c.weights.length) : new Int8Array(mem, weights.offset, c.weights.length);
  return { sumsW, sumsB, after: { weights: Array.from(w), bias: Array.from(new Int32Array(mem, bias.offset, c.bias.length)) } };
}

const list = (a: ArrayLike<number | bigint>): string => Array.from(a as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? `${v}LL` : v === -2147483648 ? '(-2147483647 - 1)' : String(v))).join(', ');

function cCase(c: Case, k: number): string {
  const g = c.geometry;
  const filter = tailFilterSize(g);
  const ct = (bits: number) => (bits === 16 ? 'int16_t' : 'int8_t');
  const batches = c.batches.map((b, i) => `    static const int32_t d${i}[${b.delta.length}] = { ${list(b.delta)} };
    static const int8_t x${i}[${b.input.length}] = { ${list(b.input)} };
    static const int8_t q${i}[${b.gate.length}] = { ${list(b.gate)} };
    t.delta = d${i}; t.input = x${i}; t.gate = q${i};
    lm_tail_accumulate(&t, ${b.rows});`).join('\n');
  return `  {
    static const ${ct(c.headBits)} hw[${c.headWeights.length}] = { ${list(c.headWeights)} };
    static ${ct(c.weightBits)} w[${c.weights.length}] = { ${list(c.weights)} };
    static int32_t bias[${c.bias.length}] = { ${list(c.bias)} };
    static int64_t gw[${c.priorW.length}] = { ${list(c.priorW)} };
    static int64_t gb[${c.priorB.length}] = { ${list(c.priorB)} };
    static int32_t g[${g.outChannels}], patch[${filter}];
    static const double scales[${c.weightScales.length}] = { ${c.weightScales.map(cDouble).join(', ')} };
    lm_tail t;
    int32_t i, code;
    memset(&t, 0, sizeof t);
    t.geom.in_h = ${g.inHeight}; t.geom.in_w = ${g.inWidth}; t.geom.cin = ${g.inChannels}; t.geom.out_h = ${g.outHeight}; t.geom.out_w = ${g.outWidth}; t.geom.cout = ${g.outChannels};
    t.geom.k_h = ${g.kernelHeight}; t.geom.k_w = ${g.kernelWidth}; t.geom.stride_h = ${g.strideHeight}; t.geom.stride_w = ${g.strideWidth}; t.geom.pad_top = ${g.padTop}; t.geom.pad_left = ${g.padLeft};
    t.classes = ${c.classes}; t.head_weights = hw; t.head_bits = ${c.headBits}; t.input_zero = ${c.inputZero}; t.gate_lo = ${c.gateLo}; t.gate_hi = ${c.gateHi};
    t.g = g; t.patch = patch; t.grad_w = gw; t.grad_b = gb; t.weights = w; t.weight_bits = ${c.weightBits}; t.bias = bias; t.warmup = 20;
    t.lr = ${cDouble(c.lr)}; t.head_weight_scale = ${cDouble(c.headScale)}; t.input_scale = ${cDouble(c.inputScale)}; t.positions = ${cDouble(c.positions)};
    t.weight_scales = scales; t.weight_scale_count = ${c.weightScales.length};
${batches}
    printf("sums ${k}");
    for (i = 0; i < ${c.priorW.length}; i++) printf(" %lld", (long long)gw[i]);
    for (i = 0; i < ${c.priorB.length}; i++) printf(" %lld", (long long)gb[i]);
    printf("\\n");
    code = lm_tail_check(&t, ${c.step}u, ${c.rows});
    printf("after ${k} %d", (int)code);
    if (code == 0) {
      lm_tail_apply(&t, ${c.step}u, ${c.rows});
      for (i = 0; i < ${c.weights.length}; i++) printf(" %d", (int)w[i]);
      for (i = 0; i < ${c.bias.length}; i++) printf(" %ld", (long)bias[i]);
      for (i = 0; i < ${c.priorW.length}; i++) if (gw[i] != 0) printf(" uncleared");
    }
    printf("\\n");
  }`;
}

let bench: Bench;
beforeAll(async () => {
  bench = await makeBench('scalar', 4 * 1024 * 1024);
});

async function compileAndRun(name: string, body: string, preamble = ''): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), `lm-tail-${name}-`));
  await writeFile(join(dir, 'main.c'), `#include <stdio.h>\n#include <string.h>\n#include "lm_tail_grad.h"\n\nint main(void) {\n${preamble}${body}\n  return 0;\n}\n`);
  const exe = join(dir, name);
  await run('cc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-Wno-overlength-strings', '-ffp-contract=off', '-O2', `-I${RUNTIME}`, join(dir, 'main.c'), join(RUNTIME, 'lm_tail_grad.c'), join(RUNTIME, 'lm_head_grad.c'), join(RUNTIME, 'lm_kernels.c'), '-o', exe]);
  return (await run(exe, [])).trim().split('\n');
}

describe('the exported hybrid tail (host cc) equals the emulator', () => {
  it('gradient sums, refusals and the SGD step of 160 random cases, bit for bit', async () => {
    const r = rng(0x7a11);
    const cases = Array.from({ length: 160 }, () => randomCase(r));
    const lines = await compileAndRun('step', cases.map(cCase).join('\n'));
    expect(lines.length).toBe(2 * cases.length);
    const seen = { refused: 0, stepped: 0, saturated: 0, stride2: 0, same: 0, dense: 0, perChannel: 0, moved: 0, ties: 0 };
    cases.forEach((c, k) => {
      const want = emulate(bench, c);
      const sums = lines[2 * k]!.split(' ');
      expect(sums.slice(0, 2)).toEqual(['sums', String(k)]);
      expect({ k, sums: sums.slice(2) }).toEqual({ k, sums: [...want.sumsW, ...want.sumsB].map(String) });
      const after = lines[2 * k + 1]!.split(' ');
      expect(after.slice(0, 2)).toEqual(['after', String(k)]);
      if (want.after === null) {
        seen.refused++;
        expect({ k, code: after[2] }).toEqual({ k, code: '1' });
        return;
      }
      seen.stepped++;
      expect({ k, code: after[2], values: after.slice(3) }).toEqual({ k, code: '0', values: [...want.after.weights, ...want.after.bias].map(String) });
      if (want.after.weights.some((v, i) => v !== c.weights[i])) seen.moved++;
      if ([...want.sumsW, ...want.sumsB].some((v) => v === LIMIT || v === -LIMIT)) seen.saturated++;
      if (c.geometry.strideHeight === 2 || c.geometry.strideWidth === 2) seen.stride2++;
      if (c.geometry.padTop > 0 || c.geometry.padLeft > 0) seen.same++;
      if (c.geometry.inHeight === 1 && c.geometry.kernelHeight === 1 && c.geometry.inWidth === 1) seen.dense++;
      if (c.weightScales.length > 1) seen.perChannel++;
      if (c.ties) seen.ties++;
    });
    // The cases cover what they claim to.
    for (const [what, n] of Object.entries(seen)) expect({ what, enough: n >= 5 }).toEqual({ what, enough: true });
  });

  it('lm_tail_make_step gives makeTailStep\'s (multiplier, shift) next to powers of two, and refuses what it refuses', async () => {
    const edges: number[] = [];
    for (let e = -52; e <= 18; e += 2) {
      const p = 2 ** e;
      edges.push(p, p * (1 - 2 ** -53), p * (1 + 2 ** -52), p * (1 - 2 ** -17), p * (1 - 2 ** -16), p * (1 + 2 ** -16), p * 1.5, p * (1 - 2 ** -15));
    }
    edges.push(Number.MIN_VALUE, Number.MAX_VALUE, 0, -1);
    const body = edges.map((x, k) => `  { lm_tail_step s; int32_t code = lm_tail_make_step(${cDouble(x)}, &s); printf("edge ${k} %d %ld %ld\\n", (int)code, (long)(code ? 0 : s.mult), (long)(code ? 0 : s.shift)); }`).join('\n');
    const lines = await compileAndRun('edges', body);
    let refused = 0;
    edges.forEach((x, k) => {
      let want: [string, number, number];
      try {
        const s = makeTailStep(x, 'edge');
        want = ['0', s.multiplier, s.totalShift];
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        want = ['1', 0, 0];
        refused++;
      }
      const got = lines[k]!.split(' ');
      expect({ x, got: [got[2], Number(got[3]), Number(got[4])] }).toEqual({ x, got: want });
    });
    expect(refused).toBeGreaterThan(4);
    expect(refused).toBeLessThan(edges.length / 2);
  });
});
