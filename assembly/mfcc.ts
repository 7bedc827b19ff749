// The MLPerf Tiny keyword-spotting front end in integer arithmetic, as a Cortex-M4 would run it:
// 16,000 int16 samples → 49 frames × 10 MFCC → int8 with the model's input quantization.
//
// Float definition (TensorFlow, MLPerf Tiny get_dataset.py): x / max(x); 480-sample periodic Hann
// frames every 320 samples; |FFT512|; 40 HTK mel bins 20–4000 Hz; ln(mel + 1e-6); DCT-II scaled by
// 2/sqrt(2·40) (tf.signal.mfccs_from_log_mel_spectrograms); first 10 coefficients.
//
// Fixed point: each frame, windowed with a Q30 Hann (64-bit products), is block-scaled so its largest value is just under 2^21 (shift
// sh), then a 256-point complex radix-2 FFT with Q30 twiddles (64-bit products, as SMULL) and the
// real-input split give 2·|X_k| in integers (64-bit magnitude², integer square root). The mel sums
// use Q15 weights in 64 bits. Gain normalisation and the 1e-6 floor are exact rescalings carried in
// the log domain: S = mel·2^(54+sh) + 1e-6·peak·2^(54+sh), ln(mel/peak + 1e-6) = ln S − ln peak −
// (54+sh)·ln 2, with ln from a 257-entry table and linear interpolation (|error| < 2e-6).
import {
  HANN_Q30, TWIDDLE_COS_Q30, TWIDDLE_SIN_Q30, MEL_FIRST_BIN, MEL_COUNT, MEL_OFFSET, MEL_WEIGHT_Q15, DCT_Q30, LN1P_Q30,
} from './mfcc_tables';

const SAMPLES: i32 = 16000;
const WINDOW: i32 = 480;
const STRIDE: i32 = 320;
const FRAMES: i32 = 49;
const HALF: i32 = 256; // complex FFT length (512 real samples)
const BINS: i32 = 128; // bins 0..127 cover every mel filter (the last filter ends at bin 127)
const MELS: i32 = 40;
const COEFFS: i32 = 10;
const BLOCK_BITS: i32 = 21;
/** round(1e-6 · 2^60) */
const EPS_Q60: i64 = 1152921504607;
/** round(ln 2 · 2^30) */
const LN2_Q30: i64 = 744261118;

/** Scratch layout (bytes): complex frame i32[512] | 2|X| u32[128] | log-mel i64[40]. */
const SCRATCH_FRAME: usize = 0;
const SCRATCH_MAG: usize = 2048;
const SCRATCH_LOG: usize = SCRATCH_MAG + 512;
export const MFCC_SCRATCH_BYTES: i32 = <i32>(SCRATCH_LOG + 320);

/** ln(v) in Q30 for v ≥ 1 (64-bit). */
function lnQ30(v: u64): i64 {
  const e = 63 - <i32>clz(v);
  const m = v << <u64>(63 - e); // top bit set: m / 2^63 ∈ [1, 2)
  const i = <i32>((m >> 55) & 0xff);
  const f = <i64>((m >> 31) & 0xffffff);
  const t0 = <i64>load<i32>(LN1P_Q30 + (<usize>i << 2));
  const t1 = <i64>load<i32>(LN1P_Q30 + (<usize>(i + 1) << 2));
  return <i64>e * LN2_Q30 + t0 + (((t1 - t0) * f + (1 << 23)) >> 24);
}

/** floor(sqrt(v)) for 64-bit v, bit by bit (no division, no float). */
function isqrt64(v: u64): u64 {
  let res: u64 = 0;
  let bit: u64 = <u64>1 << 62;
  while (bit > v) bit >>= 2;
  while (bit != 0) {
    if (v >= res + bit) {
      v -= res + bit;
      res = (res >> 1) + bit;
    } else {
      res >>= 1;
    }
    bit >>= 2;
  }
  return res;
}

@inline function mulQ30(a: i64, b: i64): i64 {
  return (a * b + (1 << 29)) >> 30;
}

/** In-place 256-point complex FFT (radix-2 DIT), data as interleaved i32 re/im. */
function fft256(buf: usize): void {
  // Bit-reversal permutation (8 bits).
  for (let i = 0; i < HALF; i++) {
    let r = 0;
    for (let b = 0; b < 8; b++) r |= ((i >> b) & 1) << (7 - b);
    if (r > i) {
      const pi = buf + (<usize>i << 3);
      const pr = buf + (<usize>r << 3);
      const re = load<i32>(pi);
      const im = load<i32>(pi, 4);
      store<i32>(pi, load<i32>(pr));
      store<i32>(pi, load<i32>(pr, 4), 4);
      store<i32>(pr, re);
      store<i32>(pr, im, 4);
    }
  }
  for (let size = 2; size <= HALF; size <<= 1) {
    const half = size >> 1;
    const step = (HALF / size) << 1; // twiddle index step in the 512-point table
    for (let start = 0; start < HALF; start += size) {
      for (let j = 0; j < half; j++) {
        const c = <i64>load<i32>(TWIDDLE_COS_Q30 + (<usize>(j * step) << 2));
        const s = <i64>load<i32>(TWIDDLE_SIN_Q30 + (<usize>(j * step) << 2));
        const pa = buf + (<usize>(start + j) << 3);
        const pb = buf + (<usize>(start + j + half) << 3);
        const br = <i64>load<i32>(pb);
        const bi = <i64>load<i32>(pb, 4);
        const tr = mulQ30(br, c) - mulQ30(bi, s);
        const ti = mulQ30(br, s) + mulQ30(bi, c);
        const ar = <i64>load<i32>(pa);
        const ai = <i64>load<i32>(pa, 4);
        store<i32>(pa, <i32>(ar + tr));
        store<i32>(pa, <i32>(ai + ti), 4);
        store<i32>(pb, <i32>(ar - tr));
        store<i32>(pb, <i32>(ai - ti), 4);
      }
    }
  }
}

/**
 * One frame: window + block scaling, FFT, 2|X_k| for k < 128, mel sums, log → log-mel i64 Q30
 * (relative to the clip peak). Returns nothing; writes SCRATCH_LOG.
 */
function frameLogMel(input: usize, frame: i32, peak: i32, silent: bool, scratch: usize): void {
  const buf = scratch + SCRATCH_FRAME;
  const mag = scratch + SCRATCH_MAG;
  const logs = scratch + SCRATCH_LOG;
  const base = input + (<usize>(frame * STRIDE) << 1);
  let maxAbs: i64 = 0;
  if (!silent) {
    for (let n = 0; n < WINDOW; n++) {
      const v = <i64>load<i16>(base + (<usize>n << 1)) * <i64>load<i32>(HANN_Q30 + (<usize>n << 2));
      const a = v < 0 ? -v : v;
      if (a > maxAbs) maxAbs = a;
    }
  }
  // sh: largest shift keeping |y| < 2^21 (x·w_q30 < 2^45, so sh ≥ −24; a non-zero frame has
  // |x·w_q30| ≥ w[1]·2^30 > 2^15, so sh ≤ 5); an all-zero frame takes 5.
  const sh: i32 = maxAbs == 0 ? 5 : BLOCK_BITS - (64 - <i32>clz(maxAbs));
  if (maxAbs == 0) {
    for (let k = 0; k < BINS; k++) store<u32>(mag + (<usize>k << 2), 0);
  } else {
    for (let n = 0; n < 2 * HALF; n++) {
      let y: i32 = 0;
      if (n < WINDOW) {
        const v = <i64>load<i16>(base + (<usize>n << 1)) * <i64>load<i32>(HANN_Q30 + (<usize>n << 2));
        y = <i32>(sh >= 0 ? v << sh : (v + (<i64>1 << (-sh - 1))) >> -sh);
      }
      store<i32>(buf + (<usize>n << 2), y); // z[n/2] = y[2m] + i·y[2m+1] interleaved
    }
    fft256(buf);
    // Real-input split: 2X_k = (A + B) − i·W^k·(A − B), A = Z_k, B = conj(Z_{256−k}).
    for (let k = 0; k < BINS; k++) {
      const pa = buf + (<usize>k << 3);
      const pb = buf + (<usize>((HALF - k) & (HALF - 1)) << 3);
      const ar = <i64>load<i32>(pa);
      const ai = <i64>load<i32>(pa, 4);
      const br = <i64>load<i32>(pb);
      const bi = -<i64>load<i32>(pb, 4);
      const er = ar + br, ei = ai + bi;
      // O = −i·(A − B) = (ai − bi) − i·(ar − br)
      const or = ai - bi, oi = br - ar;
      const c = <i64>load<i32>(TWIDDLE_COS_Q30 + (<usize>k << 2));
      const s = <i64>load<i32>(TWIDDLE_SIN_Q30 + (<usize>k << 2));
      const xr = er + mulQ30(or, c) - mulQ30(oi, s);
      const xi = ei + mulQ30(or, s) + mulQ30(oi, c);
      const m2 = <u64>(xr * xr) + <u64>(xi * xi);
      store<u32>(mag + (<usize>k << 2), <u32>isqrt64(m2));
    }
  }
  // y = x·w·2^(30+sh), so Σ w_q15 · 2|X| = mel·2^(46+sh); S = mel·2^(54+sh) + 1e-6·peak·2^(54+sh).
  const epsTerm: u64 = (<u64>EPS_Q60 * <u64>peak) >> <u64>(6 - sh);
  const offset: i64 = lnQ30(<u64>peak) + <i64>(54 + sh) * LN2_Q30;
  for (let j = 0; j < MELS; j++) {
    const first = <i32>load<u16>(MEL_FIRST_BIN + (<usize>j << 1));
    const count = <i32>load<u16>(MEL_COUNT + (<usize>j << 1));
    const w0 = <i32>load<u16>(MEL_OFFSET + (<usize>j << 1));
    let acc: u64 = 0;
    for (let t = 0; t < count; t++) {
      acc += <u64>load<u16>(MEL_WEIGHT_Q15 + (<usize>(w0 + t) << 1)) * <u64>load<u32>(mag + (<usize>(first + t) << 2));
    }
    store<i64>(logs + (<usize>j << 3), lnQ30((acc << 8) + epsTerm) - offset);
  }
}

/**
 * input: i16[16000]; out: i8[49·10] (frame-major); outQ16: i32[49·10] of the unquantized MFCC in
 * Q16, or 0 for none; scratch: MFCC_SCRATCH_BYTES. q = clamp(round(c · invScale / 2^invShift) + zp)
 * with invScale = round(2^invShift / scale), rounding half away from zero.
 */
export function mfcc_kws_s8(input: usize, out: usize, outQ16: usize, scratch: usize, invScale: i32, invShift: i32, zeroPoint: i32): void {
  let peak: i32 = -32768;
  for (let i = 0; i < SAMPLES; i++) {
    const v = <i32>load<i16>(input + (<usize>i << 1));
    if (v > peak) peak = v;
  }
  // No positive sample: TF's x / max(x) is undefined there; treat the clip as digital silence.
  const silent = peak <= 0;
  if (silent) peak = 1;
  const logs = scratch + SCRATCH_LOG;
  for (let f = 0; f < FRAMES; f++) {
    frameLogMel(input, f, peak, silent, scratch);
    for (let k = 0; k < COEFFS; k++) {
      let acc: i64 = 0; // Q54
      for (let n = 0; n < MELS; n++) {
        const l24 = (load<i64>(logs + (<usize>n << 3)) + 32) >> 6;
        acc += l24 * <i64>load<i32>(DCT_Q30 + (<usize>(k * MELS + n) << 2));
      }
      const c16 = (acc + (<i64>1 << 37)) >> 38;
      if (outQ16 != 0) store<i32>(outQ16 + (<usize>(f * COEFFS + k) << 2), <i32>c16);
      const v = c16 * <i64>invScale;
      const sh = <i64>(16 + invShift);
      const half = <i64>1 << (sh - 1);
      const r = v >= 0 ? (v + half) >> sh : -((-v + half) >> sh);
      let q = r + <i64>zeroPoint;
      if (q < -128) q = -128;
      if (q > 127) q = 127;
      store<i8>(out + <usize>(f * COEFFS + k), <i8>q);
    }
  }
}

export function mfcc_kws_scratch_bytes(): i32 {
  return MFCC_SCRATCH_BYTES;
}
