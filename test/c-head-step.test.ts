// The exported hybrid head's float step against the emulator's (host cc): the C derives the feature
// mean, V, η = headStep/(s_f²·V) and the Q31 step factors itself in double (runtime/lm_head_grad.c),
// and must get the bits src/train/hybrid.ts gets in JavaScript. Random statistics and scales, edge
// factors next to powers of two, and the refusals of makeHeadStep.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cDouble, headStepFactors } from '../src/export/c/head.js';
import { makeHeadStep } from '../src/kernels/head-grad.js';
import { featureMean, meanSquare, type FeatureStats } from '../src/train/hybrid-center.js';
import { scaleMultiplier, warmupQ15 } from '../src/train/qzo-ff/step-control.js';
import { ConfigError } from '../src/errors.js';

const RUNTIME = fileURLToPath(new URL('../src/export/c/runtime/', import.meta.url));

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => (err ? rej(new Error(`${cmd}: ${err.message}\n${stderr}`)) : res(stdout))));
}

/** A deterministic generator (xorshift32) so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

/** A C99 %a literal (normal values) as a double, exactly: the hex mantissa is at most 53 bits. */
function parseHexDouble(text: string): number {
  const m = /^(-?)0x([01])(?:\.([0-9a-f]*))?p([+-]?\d+)$/.exec(text);
  if (!m) throw new Error(`not a hex double: ${text}`);
  const frac = m[3] ?? '';
  const mant = BigInt(`0x${m[2]}${frac}`);
  const v = Number(mant) * 2 ** (Number(m[4]) - 4 * frac.length);
  return m[1] ? -v : v;
}

interface Case { features: number; stats: FeatureStats; fs: number; ws: number; headStep: number; fixedLr: number | null; step: number; rows: number; center: boolean }

function makeCases(n: number): Case[] {
  const r = rng(0x5eed);
  const cases: Case[] = [];
  for (let k = 0; k < n; k++) {
    const features = 1 + Math.floor(r() * 40);
    const rows = 1 + Math.floor(r() * 300);
    const zero = -128 + Math.floor(r() * 40);
    const stats: FeatureStats = { rows, sums: new Float64Array(features), squares: 0 };
    for (let i = 0; i < rows; i++) {
      for (let d = 0; d < features; d++) {
        const f = r() < 0.4 ? zero : Math.min(127, zero + Math.floor(r() * r() * 255));
        stats.sums[d]! += f - zero;
        stats.squares += (f - zero) ** 2;
      }
    }
    cases.push({
      features, stats, fs: 0.005 + r() * 0.5, ws: 10 ** (-5 + r() * 3), headStep: k % 7 === 0 ? 0.5 + r() * 3 : 2,
      fixedLr: k % 5 === 0 ? 10 ** (-4 + r() * 3) : null, step: Math.floor(r() * 30), rows: rows * (k % 3 === 0 ? 1 : 6), center: k % 4 !== 3,
    });
  }
  return cases;
}

/** What src/train/hybrid.ts computes for a case (applyHead's first step). */
function reference(c: Case): { mean: Int32Array; lr: number; w: [number, number]; b: [number, number] } | null {
  const mean = c.center ? featureMean(c.stats) : new Int32Array(c.features);
  const lr = c.fixedLr ?? c.headStep / (c.fs ** 2 * meanSquare(c.stats, mean));
  let f;
  try {
    f = headStepFactors({ name: 'head', classes: 2, features: c.features, featureScale: c.fs, featureZero: 0, weightScale: c.ws, weightBits: 16 }, lr, c.rows);
  } catch (e) {
    if (e instanceof ConfigError) return null;
    throw e;
  }
  const q = warmupQ15(c.step, 20);
  return { mean, lr, w: [scaleMultiplier(f.w.multiplier, q), f.w.totalShift], b: [scaleMultiplier(f.b.multiplier, q), f.b.totalShift] };
}

function cProgram(cases: Case[], edges: number[]): string {
  const body = cases.map((c, k) => {
    const sums = Array.from(c.stats.sums, (v) => `${v}`).join(', ');
    return `  {
    static int64_t sums[${c.features}] = { ${sums} };
    static int32_t mean[${c.features}];
    lm_head h;
    lm_head_state st;
    lm_head_step w, b;
    int32_t d, code;
    memset(&h, 0, sizeof h);
    memset(&st, 0, sizeof st);
    st.squares = ${c.stats.squares}; st.rows = ${c.stats.rows};
    h.features = ${c.features}; h.feature_sums = sums; h.feature_mean = mean; h.center = ${c.center ? 1 : 0}; h.warmup = 20;
    h.fixed_lr = ${c.fixedLr === null ? '0.0' : cDouble(c.fixedLr)}; h.head_step = ${cDouble(c.headStep)};
    h.feature_scale = ${cDouble(c.fs)}; h.feature_scale_sq = ${cDouble(c.fs ** 2)}; h.weight_scale = ${cDouble(c.ws)}; h.state = &st;
    code = lm_head_factors(&h, ${c.step}u, ${c.rows}, &w, &b);
    printf("case ${k} %d", (int)code);
    if (code == 0) {
      printf(" %a %ld %ld %ld %ld", st.lr, (long)w.mult, (long)w.shift, (long)b.mult, (long)b.shift);
      for (d = 0; d < ${c.features}; d++) printf(" %ld", (long)mean[d]);
    }
    printf("\\n");
  }`;
  }).join('\n');
  const edge = edges.map((x, k) => `  { lm_head_step s; int32_t code = lm_head_make_step(${cDouble(x)}, &s); printf("edge ${k} %d %ld %ld\\n", (int)code, (long)(code ? 0 : s.mult), (long)(code ? 0 : s.shift)); }`).join('\n');
  return `#include <stdio.h>\n#include <string.h>\n#include "lm_head_grad.h"\n\nint main(void) {\n${body}\n${edge}\n  return 0;\n}\n`;
}

describe('the exported hybrid head step (host cc) equals the emulator', () => {
  it('mean, V, η and the Q31 step factors of 300 random first steps, and makeHeadStep next to powers of two', async () => {
    const cases = makeCases(300);
    const edges: number[] = [];
    for (let e = -70; e <= 34; e += 3) {
      const p = 2 ** e;
      edges.push(p, p * (1 - 2 ** -53), p * (1 + 2 ** -52), p * (1 - 2 ** -32), p * (1 - 2 ** -31), p * 1.5, p * (1 + 2 ** -31));
    }
    edges.push(Number.MIN_VALUE, Number.MAX_VALUE, 0, -1, Number.POSITIVE_INFINITY, Number.NaN);
    const dir = await mkdtemp(join(tmpdir(), 'lm-head-step-'));
    // Infinity and NaN cannot be written as literals; the C test gets them from 1.0/0.0 and 0.0/0.0.
    const program = cProgram(cases, edges.map((x) => (Number.isFinite(x) ? x : 0))).replace(/lm_head_make_step\(0\.0, &s\); printf\("edge (\d+)/g, (m, k: string) => {
      const x = edges[Number(k)]!;
      const lit = Number.isNaN(x) ? '(zero / zero)' : x === Infinity ? '(1.0 / zero)' : '0.0';
      return `lm_head_make_step(${lit}, &s); printf("edge ${k}`;
    }).replace('int main(void) {\n', 'int main(void) {\n  volatile double zero = 0.0;\n');
    await writeFile(join(dir, 'main.c'), program);
    const exe = join(dir, 'head-step');
    await run('cc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-ffp-contract=off', '-O2', `-I${RUNTIME}`, join(dir, 'main.c'), join(RUNTIME, 'lm_head_grad.c'), join(RUNTIME, 'lm_kernels.c'), '-o', exe]);
    const lines = (await run(exe, [])).trim().split('\n');
    let refused = 0;
    cases.forEach((c, k) => {
      const want = reference(c);
      const got = lines[k]!.split(' ');
      expect(got.slice(0, 2)).toEqual(['case', String(k)]);
      if (want === null) {
        refused++;
        expect({ k, code: got[2] }).toEqual({ k, code: '1' });
        return;
      }
      expect({ k, code: got[2], lr: parseHexDouble(got[3]!), w: got.slice(4, 6).map(Number), b: got.slice(6, 8).map(Number), mean: got.slice(8).map(Number) })
        .toEqual({ k, code: '0', lr: want.lr, w: want.w, b: want.b, mean: Array.from(want.mean) });
    });
    expect(refused).toBeLessThan(cases.length / 2);
    edges.forEach((x, k) => {
      const got = lines[cases.length + k]!.split(' ');
      let want: [string, number, number];
      try {
        const s = makeHeadStep(x, 'edge');
        want = ['0', s.multiplier, s.totalShift];
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        want = ['1', 0, 0];
      }
      expect({ x, got: [got[2], Number(got[3]), Number(got[4])] }).toEqual({ x, got: want });
    });
  });

  it('cDouble writes the exact bits of a double', () => {
    expect(cDouble(0.1)).toBe('0x1.999999999999ap-4');
    expect(cDouble(2)).toBe('0x1.0000000000000p1');
    expect(cDouble(-0.75)).toBe('-0x1.8000000000000p-1');
    expect(cDouble(Number.MIN_VALUE)).toBe('0x0.0000000000001p-1022');
    expect(() => cDouble(Number.NaN)).toThrow(ConfigError);
  });
});
