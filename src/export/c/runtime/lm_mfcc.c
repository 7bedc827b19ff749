/* C99 port of assembly/mfcc.ts (the emulated device's front end), step for step: Q30 Hann window
 * with per-frame block scaling, 256-point complex radix-2 FFT with Q30 twiddles plus the real-input
 * split, integer magnitude, Q15 mel sums, table log, Q30 DCT, quantization. Every product is
 * 32x32->64 bits; signed right shifts go through asr64 so the result does not depend on the
 * compiler's choice for negative values. */
#include "lm_mfcc.h"
#include "lm_mfcc_tables.h"

#define LM_WINDOW 480
#define LM_STRIDE 320
#define LM_HALF 256
#define LM_BINS 128
#define LM_MELS 40
#define LM_BLOCK_BITS 21
#define LM_EPS_Q60 ((uint64_t)1152921504607ULL) /* round(1e-6 * 2^60) */
#define LM_LN2_Q30 ((int64_t)744261118)         /* round(ln 2 * 2^30) */

static int64_t asr64(int64_t x, int n) { return x >= 0 ? x >> n : -1 - ((-1 - x) >> n); }
static int64_t shl64(int64_t x, int n) { return (int64_t)((uint64_t)x << n); }

static int clz64(uint64_t v) {
#if defined(__GNUC__)
  return v == 0 ? 64 : __builtin_clzll(v);
#else
  int n = 0;
  if (v == 0) return 64;
  while (!(v & ((uint64_t)1 << 63))) { v <<= 1; n++; }
  return n;
#endif
}

/* ln(v) in Q30 for v >= 1. */
static int64_t ln_q30(uint64_t v) {
  const int e = 63 - clz64(v);
  const uint64_t m = v << (63 - e);
  const int i = (int)((m >> 55) & 0xff);
  const int64_t f = (int64_t)((m >> 31) & 0xffffff);
  const int64_t t0 = LM_LN1P_Q30[i];
  const int64_t t1 = LM_LN1P_Q30[i + 1];
  return (int64_t)e * LM_LN2_Q30 + t0 + asr64((t1 - t0) * f + ((int64_t)1 << 23), 24);
}

static uint64_t isqrt64(uint64_t v) {
  uint64_t res = 0;
  uint64_t bit = (uint64_t)1 << 62;
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

static int64_t mul_q30(int64_t a, int64_t b) { return asr64(a * b + ((int64_t)1 << 29), 30); }

/* In-place 256-point complex FFT (radix-2 DIT) on interleaved re/im. */
static void fft256(int32_t *buf) {
  int i, size;
  for (i = 0; i < LM_HALF; i++) {
    int r = 0, b;
    for (b = 0; b < 8; b++) r |= ((i >> b) & 1) << (7 - b);
    if (r > i) {
      const int32_t re = buf[2 * i], im = buf[2 * i + 1];
      buf[2 * i] = buf[2 * r];
      buf[2 * i + 1] = buf[2 * r + 1];
      buf[2 * r] = re;
      buf[2 * r + 1] = im;
    }
  }
  for (size = 2; size <= LM_HALF; size <<= 1) {
    const int half = size >> 1;
    const int step = (LM_HALF / size) << 1;
    int start, j;
    for (start = 0; start < LM_HALF; start += size) {
      for (j = 0; j < half; j++) {
        const int64_t c = LM_TWIDDLE_COS_Q30[j * step];
        const int64_t s = LM_TWIDDLE_SIN_Q30[j * step];
        int32_t *pa = buf + 2 * (start + j);
        int32_t *pb = buf + 2 * (start + j + half);
        const int64_t br = pb[0], bi = pb[1];
        const int64_t tr = mul_q30(br, c) - mul_q30(bi, s);
        const int64_t ti = mul_q30(br, s) + mul_q30(bi, c);
        const int64_t ar = pa[0], ai = pa[1];
        pa[0] = (int32_t)(ar + tr);
        pa[1] = (int32_t)(ai + ti);
        pb[0] = (int32_t)(ar - tr);
        pb[1] = (int32_t)(ai - ti);
      }
    }
  }
}

static void frame_log_mel(const int16_t *input, int frame, int32_t peak, int silent, uint8_t *scratch) {
  int32_t *buf = (int32_t *)(void *)scratch;
  uint32_t *mag = (uint32_t *)(void *)(scratch + 2048);
  int64_t *logs = (int64_t *)(void *)(scratch + 2048 + 512);
  const int16_t *base = input + frame * LM_STRIDE;
  int64_t max_abs = 0;
  int n, k, j, sh;
  uint64_t eps_term;
  int64_t offset;
  if (!silent) {
    for (n = 0; n < LM_WINDOW; n++) {
      const int64_t v = (int64_t)base[n] * LM_HANN_Q30[n];
      const int64_t a = v < 0 ? -v : v;
      if (a > max_abs) max_abs = a;
    }
  }
  sh = max_abs == 0 ? 5 : LM_BLOCK_BITS - (64 - clz64((uint64_t)max_abs));
  if (max_abs == 0) {
    for (k = 0; k < LM_BINS; k++) mag[k] = 0;
  } else {
    for (n = 0; n < 2 * LM_HALF; n++) {
      int32_t y = 0;
      if (n < LM_WINDOW) {
        const int64_t v = (int64_t)base[n] * LM_HANN_Q30[n];
        y = (int32_t)(sh >= 0 ? shl64(v, sh) : asr64(v + ((int64_t)1 << (-sh - 1)), -sh));
      }
      buf[n] = y;
    }
    fft256(buf);
    for (k = 0; k < LM_BINS; k++) {
      const int32_t *pa = buf + 2 * k;
      const int32_t *pb = buf + 2 * ((LM_HALF - k) & (LM_HALF - 1));
      const int64_t ar = pa[0], ai = pa[1];
      const int64_t br = pb[0], bi = -(int64_t)pb[1];
      const int64_t er = ar + br, ei = ai + bi;
      const int64_t o_r = ai - bi, o_i = br - ar;
      const int64_t c = LM_TWIDDLE_COS_Q30[k];
      const int64_t s = LM_TWIDDLE_SIN_Q30[k];
      const int64_t xr = er + mul_q30(o_r, c) - mul_q30(o_i, s);
      const int64_t xi = ei + mul_q30(o_r, s) + mul_q30(o_i, c);
      const uint64_t m2 = (uint64_t)(xr * xr) + (uint64_t)(xi * xi);
      mag[k] = (uint32_t)isqrt64(m2);
    }
  }
  eps_term = (LM_EPS_Q60 * (uint64_t)peak) >> (6 - sh);
  offset = ln_q30((uint64_t)peak) + (int64_t)(54 + sh) * LM_LN2_Q30;
  for (j = 0; j < LM_MELS; j++) {
    const int first = LM_MEL_FIRST_BIN[j];
    const int count = LM_MEL_COUNT[j];
    const int w0 = LM_MEL_OFFSET[j];
    uint64_t acc = 0;
    int t;
    for (t = 0; t < count; t++) acc += (uint64_t)LM_MEL_WEIGHT_Q15[w0 + t] * (uint64_t)mag[first + t];
    logs[j] = ln_q30((acc << 8) + eps_term) - offset;
  }
}

void lm_mfcc_kws_s8(const int16_t *input, int8_t *out, int32_t *out_q16, void *scratch,
                    int32_t inv_scale, int32_t inv_shift, int32_t zero_point) {
  uint8_t *s = (uint8_t *)scratch;
  const int64_t *logs = (const int64_t *)(void *)(s + 2048 + 512);
  int32_t peak = -32768;
  int i, f, k, n, silent;
  for (i = 0; i < LM_MFCC_SAMPLES; i++)
    if (input[i] > peak) peak = input[i];
  /* No positive sample: TF's x / max(x) is undefined there; treat the clip as digital silence. */
  silent = peak <= 0;
  if (silent) peak = 1;
  for (f = 0; f < LM_MFCC_FRAMES; f++) {
    frame_log_mel(input, f, peak, silent, s);
    for (k = 0; k < LM_MFCC_COEFFS; k++) {
      int64_t acc = 0; /* Q54 */
      int64_t c16, v, r, q, half;
      int sh;
      for (n = 0; n < LM_MELS; n++) acc += asr64(logs[n] + 32, 6) * (int64_t)LM_DCT_Q30[k * LM_MELS + n];
      c16 = asr64(acc + ((int64_t)1 << 37), 38);
      if (out_q16) out_q16[f * LM_MFCC_COEFFS + k] = (int32_t)c16;
      v = c16 * (int64_t)inv_scale;
      sh = 16 + inv_shift;
      half = (int64_t)1 << (sh - 1);
      r = v >= 0 ? asr64(v + half, sh) : -asr64(-v + half, sh);
      q = r + zero_point;
      if (q < -128) q = -128;
      if (q > 127) q = 127;
      out[f * LM_MFCC_COEFFS + k] = (int8_t)q;
    }
  }
}
