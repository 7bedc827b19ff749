// The per-weight QZO-FF kernels (z generation, perturbation, update, and the optional modes'
// materialised forms) have SIMD paths in the simd and relaxed builds. They must produce the scalar
// build's bytes exactly — the z stream, every rounding tie, the clamps, the masked and g = 0 lanes —
// so these tests drive the raw device kernels with the same inputs on every build, including the
// argument extremes the host allows, and compare the outputs byte for byte. The scalar build is
// itself checked against the BigInt references in rng/perturb/update tests.
import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, rng, randInt, randomInt16, randomInt8, type Bench } from './helpers/devices.js';
import type { DeviceBuffer } from '../src/device/arena.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(4 * 1024 * 1024);
});

const ONE_Q = 36;
/** The TFLM multiplier/shift of 1/36 that makePerturbSpec derives. */
const INV_ONE_Q = { mult: 1908874354, shift: -5 };
const GAUSSIAN = 0;
const RADEMACHER = 1;

type Kernel = (b: Bench, put: (data: Int8Array | Int16Array | Uint8Array | Uint32Array | Int32Array, name: string) => DeviceBuffer) => DeviceBuffer;

/** Runs `kernel` on every build from a fresh arena; returns each build's output bytes. */
function onEveryBuild(kernel: Kernel, bytes: number): Uint8Array[] {
  return benches.map((b) => {
    b.arena.reset();
    const out = kernel(b, (data, name) => b.arena.put(data, name));
    return new Uint8Array(b.device.memory.buffer, out.offset, bytes).slice();
  });
}

function expectSameOnEveryBuild(outputs: Uint8Array[], what: string): void {
  for (let k = 1; k < outputs.length; k++) {
    const a = outputs[0]!;
    const b = outputs[k]!;
    const first = a.findIndex((x, i) => x !== b[i]);
    expect(first, `${what}: ${benches[k]!.build} differs from scalar at byte ${first}`).toBe(-1);
  }
}

function weightsFor(r: () => number, bits: 8 | 16, n: number): Int8Array | Int16Array {
  const w = bits === 16 ? randomInt16(r, n) : randomInt8(r, n, -127, 127);
  // The grid's edges, where the clamp decides.
  const hi = bits === 16 ? 32767 : 127;
  for (let i = 0; i < Math.min(n, 24); i++) w[randInt(r, 0, n - 1)] = i % 2 ? hi : -hi;
  return w;
}

function randomMask(r: () => number, n: number, density: number): Uint8Array {
  const m = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) if (r() < density) m[i >> 3]! |= 1 << (i & 7);
  return m;
}

const u32 = (r: () => number) => Math.floor(r() * 2 ** 32) >>> 0;

describe('z generation, perturbation and update: simd and relaxed builds equal the scalar build', () => {
  it('rng_fill_z: Gaussian and Rademacher streams, odd lengths, indices near 2^32', () => {
    const r = rng(21);
    for (const dist of [GAUSSIAN, RADEMACHER]) {
      for (const [count, start] of [[1003, 0], [64, 2 ** 32 - 64], [17, 123456789]] as const) {
        const key = u32(r);
        const out = onEveryBuild((b) => {
          const dst = b.arena.alloc(count, 'z');
          b.device.kernel('rng_fill_z')(dst.offset, count, key | 0, start | 0, dist, ONE_Q);
          return dst;
        }, count);
        expectSameOnEveryBuild(out, `rng_fill_z dist ${dist} start ${start}`);
      }
    }
  });

  for (const bits of [16, 8] as const) {
    it(`perturb_w${bits}: regenerated and buffered z, εq up to the host's limit, other multipliers`, () => {
      const r = rng(bits);
      const n = 1003;
      // (signedEps, mult, shift): the 1/1q spec at small and extreme εq, and multipliers of both shift signs.
      const cases: [number, number, number][] = [
        [1, INV_ONE_Q.mult, INV_ONE_Q.shift], [-1, INV_ONE_Q.mult, INV_ONE_Q.shift],
        [2 ** 20, INV_ONE_Q.mult, INV_ONE_Q.shift], [-(2 ** 20), INV_ONE_Q.mult, INV_ONE_Q.shift],
        [37, 2 ** 30, -1], [-513, 2 ** 31 - 1, -31], [5, 1234567891, 0], [3, 1500000000, 2], [-3, -(2 ** 31), -4],
      ];
      for (const [eps, mult, shift] of cases) {
        for (const dist of [GAUSSIAN, RADEMACHER, 2]) {
          const w = weightsFor(r, bits, n);
          const key = u32(r);
          const z = randomInt8(r, n, -127, 127);
          const out = onEveryBuild((b, put) => {
            const src = put(w, 'w');
            const zb = put(z, 'z');
            const dst = b.arena.alloc(n * (bits / 8), 'dst');
            b.device.kernel(`perturb_w${bits}`)(src.offset, dst.offset, n, dist === 2 ? zb.offset : key | 0, 0, dist, eps, ONE_Q, mult, shift);
            return dst;
          }, n * (bits / 8));
          expectSameOnEveryBuild(out, `perturb_w${bits} eps ${eps} mult ${mult} shift ${shift} dist ${dist}`);
        }
      }
    });

    it(`update_w${bits}: m = 1..8 with zero signs, shifts −31..16, dense and sparse masks`, () => {
      const r = rng(100 + bits);
      const n = 1003;
      for (let c = 0; c < 24; c++) {
        const m = 1 + (c % 8);
        const keys = Array.from({ length: m }, () => u32(r));
        const signs = Array.from({ length: m }, () => randInt(r, -1, 1));
        if (c % 3 === 0) signs[0] = 1;
        const shift = [-31, -12, -5, -1, 0, 1, 4, 16][c % 8]!;
        const mult = c % 5 === 0 ? 2 ** 31 - 1 : randInt(r, 2 ** 30, 2 ** 31 - 1);
        const mask = c % 4 === 1 ? randomMask(r, n, 0.1) : c % 4 === 2 ? randomMask(r, n, 0.7) : null;
        const dist = c % 2 ? RADEMACHER : GAUSSIAN;
        const w = weightsFor(r, bits, n);
        const out = onEveryBuild((b, put) => {
          const wb = put(w, 'w');
          const kb = put(Uint32Array.from(keys), 'keys');
          const sb = put(Int32Array.from(signs), 'signs');
          const mb = mask ? put(mask, 'mask') : null;
          b.device.kernel(`update_w${bits}`)(wb.offset, n, 7, kb.offset, sb.offset, m, dist, ONE_Q, mult, shift, mb ? mb.offset : 0);
          return wb;
        }, n * (bits / 8));
        expectSameOnEveryBuild(out, `update_w${bits} case ${c} (m ${m}, shift ${shift})`);
      }
    });

    it(`zo_perturb_w${bits} and zo_perturb_inplace: masks, z buffers, dither, tails`, () => {
      const r = rng(200 + bits);
      for (let c = 0; c < 16; c++) {
        const n = [1003, 4, 3, 64][c % 4]!;
        const mask = c % 3 === 1 ? randomMask(r, n, 0.3) : c % 3 === 2 ? randomMask(r, n, 0.9) : null;
        const useZ = c % 2 === 1;
        const dither = c % 8 >= 6;
        const eps = dither ? (c % 2 ? -1 : 1) : randInt(r, -5000, 5000) || 1;
        const key = u32(r);
        const start = randInt(r, 0, 1 << 20);
        const w = weightsFor(r, bits, n);
        const z = randomInt8(r, n, -127, 127);
        const args = (zb: DeviceBuffer, mb: DeviceBuffer | null) => [useZ ? zb.offset : 0, key | 0, start, GAUSSIAN, eps, ONE_Q, INV_ONE_Q.mult, INV_ONE_Q.shift, mb ? mb.offset : 0, dither ? 77 : 0, dither ? 1300000000 : 0, dither ? 9 : 0];
        const panel = onEveryBuild((b, put) => {
          const src = put(w, 'w');
          const zb = put(z, 'z');
          const mb = mask ? put(mask, 'mask') : null;
          const dst = b.arena.alloc(n * (bits / 8), 'dst');
          b.device.kernel(`zo_perturb_w${bits}`)(src.offset, dst.offset, n, ...args(zb, mb));
          return dst;
        }, n * (bits / 8));
        expectSameOnEveryBuild(panel, `zo_perturb_w${bits} case ${c}`);
        const inPlace = onEveryBuild((b, put) => {
          const wb = put(w, 'w');
          const zb = put(z, 'z');
          const mb = mask ? put(mask, 'mask') : null;
          const backup = b.arena.alloc(n * (bits / 8), 'backup');
          const saved = b.device.kernel('zo_perturb_inplace')(wb.offset, n, bits === 16 ? 1 : 0, backup.offset, n, ...args(zb, mb));
          expect(saved).toBeGreaterThanOrEqual(0);
          // In place gives exactly the panel's values.
          expect(new Uint8Array(b.device.memory.buffer, wb.offset, n * (bits / 8))).toEqual(panel[0]);
          b.device.kernel('zo_restore_inplace')(wb.offset, n, bits === 16 ? 1 : 0, backup.offset, mb ? mb.offset : 0);
          expect(new Uint8Array(b.device.memory.buffer, wb.offset, n * (bits / 8))).toEqual(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
          return wb;
        }, n * (bits / 8));
        expectSameOnEveryBuild(inPlace, `zo_perturb_inplace w${bits} case ${c}`);
      }
    });

    it(`zo_update_w${bits}: stored z, regenerated z, masks, dither, g = 0 lanes untouched`, () => {
      const r = rng(300 + bits);
      for (let c = 0; c < 16; c++) {
        const n = [1003, 4, 7, 64][c % 4]!;
        const m = 1 + (c % 4);
        const keys = Array.from({ length: m }, () => u32(r));
        // Opposite signs on equal z make g = 0 on every lane of a stored-z case.
        const signs = Array.from({ length: m }, () => randInt(r, -1, 1));
        const useZ = c % 2 === 1;
        const dither = c % 8 === 7;
        const mask = c % 3 === 1 ? randomMask(r, n, 0.4) : null;
        const shift = dither ? 20 : [-3, 2, -20, 0][c % 4]!;
        const mult = dither ? 1400000000 : randInt(r, 2 ** 30, 2 ** 31 - 1);
        const w = weightsFor(r, bits, n);
        // -32768 / -128 is outside the grid: a g = 0 lane must leave it as stored, unclamped.
        w[0] = bits === 16 ? -32768 : -128;
        const z = randomInt8(r, m * n, -127, 127);
        if (c === 5) { z.copyWithin(n, 0, n); signs[0] = 1; signs[1] = -1; }
        const out = onEveryBuild((b, put) => {
          const wb = put(w, 'w');
          const zb = put(z, 'z');
          const kb = put(Uint32Array.from(keys), 'keys');
          const sb = put(Int32Array.from(signs), 'signs');
          const mb = mask ? put(mask, 'mask') : null;
          b.device.kernel(`zo_update_w${bits}`)(wb.offset, n, 11, useZ ? zb.offset : 0, n, kb.offset, sb.offset, m, GAUSSIAN, ONE_Q, mult, shift, mb ? mb.offset : 0, dither ? 99 : 0, dither ? shift : 0);
          return wb;
        }, n * (bits / 8));
        expectSameOnEveryBuild(out, `zo_update_w${bits} case ${c}`);
      }
    });
  }
});
