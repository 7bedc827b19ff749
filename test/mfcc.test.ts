import { describe, it, expect, beforeAll } from 'vitest';
import { makeAllBenches, type Bench } from './helpers/devices.js';
import { CLIP_KINDS, synthClip } from './helpers/synth-audio.js';
import { mfccRef, quantizeRef } from './reference/mfcc-ref.js';
import {
  KWS_FEATURES, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT, KWS_SAMPLES, MFCC_SCRATCH_BYTES, mfccInverseScale, mfccKws, mfccKwsClip, mfccScratchBytes,
} from '../src/kernels/mfcc.js';
import { ConfigError, ShapeError } from '../src/errors.js';

let benches: Bench[];
beforeAll(async () => {
  benches = await makeAllBenches(1 << 20);
});

const quant = { scale: KWS_INPUT_SCALE, zeroPoint: KWS_INPUT_ZERO_POINT };

describe('MLPerf Tiny KWS front end on the device (fixed point) vs float64', () => {
  it('agrees with the float64 reference within 1 input LSB on 1,000 synthetic clips, bit-identical across builds', () => {
    const CLIPS = 1000;
    let maxLsb = 0, maxContinuous = 0, sumContinuous = 0, values = 0, offByOne = 0;
    const perKind: Record<string, number> = {};
    for (let c = 0; c < CLIPS; c++) {
      const kind = CLIP_KINDS[c % CLIP_KINDS.length]!;
      const clip = synthClip(kind, 1000 + c);
      const ref = mfccRef(clip);
      const refQ = quantizeRef(ref, quant.scale, quant.zeroPoint);
      const [first, ...rest] = benches.map((b) => mfccKwsClip(b.arena, clip, quant, true));
      for (const other of rest) {
        expect(other.features).toEqual(first!.features);
        expect(other.q16).toEqual(first!.q16);
      }
      for (let i = 0; i < KWS_FEATURES; i++) {
        const d = Math.abs(first!.features[i]! - refQ[i]!);
        if (d > 0) offByOne++;
        maxLsb = Math.max(maxLsb, d);
        // Continuous error only where the value is inside the int8 range (clamped values agree anyway).
        const e = Math.abs(first!.q16![i]! / 65536 - ref[i]!) / quant.scale;
        maxContinuous = Math.max(maxContinuous, e);
        perKind[kind] = Math.max(perKind[kind] ?? 0, e);
        sumContinuous += e;
        values++;
      }
    }
    console.log(
      `MFCC front end, ${CLIPS} clips × ${KWS_FEATURES} values: max |q_device − q_ref| = ${maxLsb} LSB, ` +
        `${offByOne} values (${((100 * offByOne) / values).toFixed(4)}%) differ by 1; unquantized error max ${maxContinuous.toFixed(5)} LSB, ` +
        `mean ${(sumContinuous / values).toExponential(2)} LSB; worst per kind ${JSON.stringify(Object.fromEntries(Object.entries(perKind).map(([k, v]) => [k, +v.toFixed(5)])))}`,
    );
    expect(maxLsb).toBeLessThanOrEqual(1);
    // Below half an LSB the quantized outputs can differ by at most 1.
    expect(maxContinuous).toBeLessThan(0.5);
  }, 600_000);

  it('is invariant to the clip gain (x / max(x)) and maps digital silence to ln(1e-6) everywhere', () => {
    const b = benches[0]!;
    const clip = synthClip('speech', 7);
    const half = Int16Array.from(clip, (v) => v >> 1);
    const a = mfccKwsClip(b.arena, clip, quant, true).q16!;
    const h = mfccKwsClip(b.arena, half, quant, true).q16!;
    let worst = 0;
    for (let i = 0; i < KWS_FEATURES; i++) worst = Math.max(worst, Math.abs(a[i]! - h[i]!) / 65536);
    expect(worst).toBeLessThan(0.3); // only the 1e-6 floor and the rounding of x/2 differ
    const silent = mfccKwsClip(b.arena, new Int16Array(KWS_SAMPLES), quant, true);
    const c0 = (Math.log(1e-6) * 40 * 2) / Math.sqrt(80);
    for (let f = 0; f < 49; f++) {
      expect(Math.abs(silent.q16![f * 10]! / 65536 - c0)).toBeLessThan(1e-4);
      for (let k = 1; k < 10; k++) expect(Math.abs(silent.q16![f * 10 + k]!)).toBeLessThan(2);
    }
    expect(Array.from(silent.features)).toEqual(Array.from(quantizeRef(mfccRef(new Int16Array(KWS_SAMPLES)), quant.scale, quant.zeroPoint)));
  });

  it('takes the scale and zero point as parameters', () => {
    const b = benches[0]!;
    const clip = synthClip('chirp', 3);
    const ref = mfccRef(clip);
    for (const q of [{ scale: 0.25, zeroPoint: 0 }, { scale: 1.5, zeroPoint: -20 }]) {
      const got = mfccKwsClip(b.arena, clip, q).features;
      const want = quantizeRef(ref, q.scale, q.zeroPoint);
      let worst = 0;
      for (let i = 0; i < KWS_FEATURES; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst).toBeLessThanOrEqual(1);
    }
    const { invScale, invShift } = mfccInverseScale(KWS_INPUT_SCALE);
    expect(invScale).toBeLessThan(2 ** 30);
    expect(Math.abs(invScale / 2 ** invShift - 1 / KWS_INPUT_SCALE) * KWS_INPUT_SCALE).toBeLessThan(1e-8);
  });

  it('rejects bad arguments with typed errors before the device runs', () => {
    const b = benches[0]!;
    b.arena.reset();
    expect(() => mfccKwsClip(b.arena, new Int16Array(100))).toThrow(ConfigError);
    expect(() => mfccKwsClip(b.arena, new Int16Array(KWS_SAMPLES), { scale: 0, zeroPoint: 0 })).toThrow(ConfigError);
    expect(() => mfccKwsClip(b.arena, new Int16Array(KWS_SAMPLES), { scale: NaN, zeroPoint: 0 })).toThrow(ConfigError);
    expect(() => mfccKwsClip(b.arena, new Int16Array(KWS_SAMPLES), { scale: 0.5, zeroPoint: 200 })).toThrow(ConfigError);
    const input = b.arena.alloc(KWS_SAMPLES * 2, 'in');
    const out = b.arena.alloc(KWS_FEATURES, 'out');
    const small = b.arena.alloc(100, 'small');
    expect(() => mfccKws(b.arena, input, out, null)).toThrow(ShapeError);
    expect(() => mfccKws(b.arena, input, out, small)).toThrow(ShapeError);
    expect(() => mfccKws(b.arena, input, small, b.arena.alloc(mfccScratchBytes(), 's'))).toThrow(ShapeError);
    expect(() => mfccKws(b.arena, input, { name: 'overlap', offset: input.offset, bytes: KWS_FEATURES }, b.arena.alloc(MFCC_SCRATCH_BYTES, 's2'))).toThrow(ShapeError);
    expect(() => mfccKws(b.arena, input, { name: 'outside', offset: b.device.arenaEnd, bytes: KWS_FEATURES }, b.arena.alloc(MFCC_SCRATCH_BYTES, 's3'))).toThrow(ShapeError);
    b.arena.reset();
  });

  it('needs only its documented scratch and writes nothing past its output', () => {
    const b = benches[1]!;
    b.arena.reset();
    const input = b.arena.put(synthClip('noise', 5), 'in');
    const out = b.arena.alloc(KWS_FEATURES, 'out');
    const scratch = b.arena.alloc(MFCC_SCRATCH_BYTES, 'scratch');
    const guard = new Uint8Array(b.device.memory.buffer, scratch.offset + MFCC_SCRATCH_BYTES, 64);
    b.arena.alloc(64, 'guard');
    guard.fill(0x5a);
    const outGuard = new Uint8Array(b.device.memory.buffer, out.offset + KWS_FEATURES, scratch.offset - out.offset - KWS_FEATURES);
    outGuard.fill(0xa5);
    mfccKws(b.arena, input, out, scratch, quant);
    expect(guard.every((v) => v === 0x5a)).toBe(true);
    expect(outGuard.every((v) => v === 0xa5)).toBe(true);
    expect(b.device.kernel('mfcc_kws_scratch_bytes')()).toBe(MFCC_SCRATCH_BYTES);
    b.arena.reset();
  });
});
