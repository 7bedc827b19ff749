#include "lm_tail_grad.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(LM_PORTABLE_ONLY)
#include <arm_acle.h>
#define LM_USE_DSP 1
#else
#define LM_USE_DSP 0
#endif

#include "lm_head_grad.h"
#include "lm_kernels.h"

#define LM_TAIL_GRAD_LIMIT (((int64_t)1 << 47) - 1)

static int64_t saturating_add47(int64_t acc, int64_t v) {
  const int64_t s = acc + v;
  return s > LM_TAIL_GRAD_LIMIT ? LM_TAIL_GRAD_LIMIT : s < -LM_TAIL_GRAD_LIMIT ? -LM_TAIL_GRAD_LIMIT : s;
}

/* round(v / 2^15), half away from zero, on magnitudes (no shift of a negative value). */
static int32_t round_shift15(int64_t v) {
  return (int32_t)(v >= 0 ? (v + 16384) >> 15 : -((-v + 16384) >> 15));
}

/* Σ over gate-passing positions of the patch (x − zin) of channel o, then ΣW += g·patch and
 * ΣB += g·passed. With the DSP extension, at most 128 positions and cin a multiple of four, the
 * patch sums fit int16 (|x − zin| ≤ 255, × 128 < 2^15) and add as packed pairs: SXTB16 widens
 * four input bytes into taps (0, 2) and (1, 3), SADD16 adds two at once; the sums are the same
 * integers as the int32 loop's. */
static void accumulate_channel(const lm_tail *tail, const int8_t *xr, const int8_t *gr, int32_t o, int64_t go, int32_t k) {
  const lm_tail_geometry *gm = &tail->geom;
  const int32_t cout = gm->cout, cin = gm->cin;
  int32_t passed = 0, oy, ox, ky, kx, i, j;
  int64_t *gw;
#if LM_USE_DSP
  const int packed = gm->out_h * gm->out_w <= 128 && cin % 4 == 0;
  const uint32_t offset = (uint32_t)(uint16_t)(int16_t)(-tail->input_zero) * 0x00010001u;
#else
  const int packed = 0;
#endif
  memset(tail->patch, 0, (size_t)k * (packed ? sizeof(int16_t) : sizeof(int32_t)));
  for (oy = 0; oy < gm->out_h; oy++) {
    for (ox = 0; ox < gm->out_w; ox++) {
      const int32_t v = gr[(size_t)(oy * gm->out_w + ox) * (size_t)cout + (size_t)o];
      if (v <= tail->gate_lo || v >= tail->gate_hi) continue;
      passed++;
      for (ky = 0; ky < gm->k_h; ky++) {
        const int32_t iy = oy * gm->stride_h - gm->pad_top + ky;
        if ((uint32_t)iy >= (uint32_t)gm->in_h) continue;
        for (kx = 0; kx < gm->k_w; kx++) {
          const int32_t ix = ox * gm->stride_w - gm->pad_left + kx;
          const int8_t *src;
          const size_t tap = (size_t)((ky * gm->k_w + kx) * cin);
          if ((uint32_t)ix >= (uint32_t)gm->in_w) continue;
          src = xr + (size_t)(iy * gm->in_w + ix) * (size_t)cin;
#if LM_USE_DSP
          if (packed) {
            int16_t *dst = (int16_t *)tail->patch + tap;
            for (i = 0; i < cin; i += 4, dst += 4) {
              uint32_t xb, s02, s13;
              memcpy(&xb, src + i, 4);
              memcpy(&s02, dst, 4);
              memcpy(&s13, dst + 2, 4);
              s02 = __sadd16(s02, __sadd16(__sxtb16(xb), offset));
              s13 = __sadd16(s13, __sadd16(__sxtb16((xb >> 8) | (xb << 24)), offset));
              memcpy(dst, &s02, 4);
              memcpy(dst + 2, &s13, 4);
            }
            continue;
          }
#endif
          {
            int32_t *dst = tail->patch + tap;
            for (i = 0; i < cin; i++) dst[i] += (int32_t)src[i] - tail->input_zero;
          }
        }
      }
    }
  }
  if (passed == 0) return;
  gw = tail->grad_w + (size_t)o * (size_t)k;
  if (packed) {
    /* Group order (0, 2, 1, 3) back to tap order. */
    const int16_t *p = (const int16_t *)tail->patch;
    for (j = 0; j < k; j += 4) {
      gw[j] = saturating_add47(gw[j], go * (int64_t)p[j]);
      gw[j + 1] = saturating_add47(gw[j + 1], go * (int64_t)p[j + 2]);
      gw[j + 2] = saturating_add47(gw[j + 2], go * (int64_t)p[j + 1]);
      gw[j + 3] = saturating_add47(gw[j + 3], go * (int64_t)p[j + 3]);
    }
  } else {
    for (j = 0; j < k; j++) gw[j] = saturating_add47(gw[j], go * (int64_t)tail->patch[j]);
  }
  tail->grad_b[o] = saturating_add47(tail->grad_b[o], go * (int64_t)passed);
}

void lm_tail_accumulate(const lm_tail *tail, int32_t rows) {
  const lm_tail_geometry *gm = &tail->geom;
  const int32_t cout = gm->cout, cin = gm->cin, classes = tail->classes;
  const int32_t k = gm->k_h * gm->k_w * cin;
  const size_t in_row = (size_t)gm->in_h * (size_t)gm->in_w * (size_t)cin;
  const size_t gate_row = (size_t)gm->out_h * (size_t)gm->out_w * (size_t)cout;
  int32_t r, o, c;
  LM_PROFILE_BEGIN(-5);
  for (r = 0; r < rows; r++) {
    const int32_t *d_row = tail->delta + (size_t)r * (size_t)classes;
    const int8_t *xr = tail->input + (size_t)r * in_row;
    const int8_t *gr = tail->gate + (size_t)r * gate_row;
    for (o = 0; o < cout; o++) {
      int64_t s = 0;
      for (c = 0; c < classes; c++) {
        const size_t i = (size_t)c * (size_t)cout + (size_t)o;
        const int32_t w = tail->head_bits == 16 ? (int32_t)((const int16_t *)tail->head_weights)[i] : (int32_t)((const int8_t *)tail->head_weights)[i];
        s += (int64_t)d_row[c] * (int64_t)w;
      }
      tail->g[o] = round_shift15(s);
    }
    for (o = 0; o < cout; o++) {
      const int64_t go = tail->g[o];
      if (go != 0) accumulate_channel(tail, xr, gr, o, go, k);
    }
  }
  LM_PROFILE_END(-5);
}

int32_t lm_tail_make_step(double c, lm_tail_step *out) {
  return lm_make_step_factor(c, 15, &out->mult, &out->shift);
}

int32_t lm_tail_factors(const lm_tail *tail, int32_t channel, uint32_t step, int32_t rows, lm_tail_step *w, lm_tail_step *b) {
  const double sw = tail->weight_scales[channel];
  const int32_t q15 = lm_warmup_q15(step, tail->warmup);
  /* The emulator's expressions (hybrid-tail.ts tailStepFactors), left to right. */
  if (lm_tail_make_step((tail->lr * tail->head_weight_scale * tail->input_scale) / (tail->positions * sw * (double)rows), w) != 0 ||
      lm_tail_make_step((tail->lr * tail->head_weight_scale) / (tail->positions * tail->input_scale * sw * (double)rows), b) != 0) return 1;
  if (q15 < 32768) {
    w->mult = (int32_t)(((int64_t)w->mult * q15) / 32768);
    b->mult = (int32_t)(((int64_t)b->mult * q15) / 32768);
  }
  return 0;
}

int32_t lm_tail_check(const lm_tail *tail, uint32_t step, int32_t rows) {
  int32_t ch;
  lm_tail_step w, b;
  for (ch = 0; ch < tail->weight_scale_count; ch++) {
    if (lm_tail_factors(tail, ch, step, rows, &w, &b) != 0) return 1;
  }
  return 0;
}

/* round(g·mult / 2^shift), half away from zero; |g| ≤ 2^47 and mult < 2^15, so g·mult fits int64. */
static int64_t tail_scaled_step(int64_t g, int32_t mult, int32_t shift) {
  const int64_t p = g * (int64_t)mult;
  const int64_t half = (int64_t)1 << (shift - 1);
  return p >= 0 ? (p + half) >> shift : -((-p + half) >> shift);
}

void lm_tail_apply(const lm_tail *tail, uint32_t step, int32_t rows) {
  const int32_t cout = tail->geom.cout;
  const int32_t k = tail->geom.k_h * tail->geom.k_w * tail->geom.cin;
  lm_tail_step w = { 0, 1 }, b = { 0, 1 };
  int32_t o, j;
  LM_PROFILE_BEGIN(-6);
  for (o = 0; o < cout; o++) {
    int64_t *g = tail->grad_w + (size_t)o * (size_t)k;
    int64_t nv;
    if (o == 0 || tail->weight_scale_count > 1) (void)lm_tail_factors(tail, tail->weight_scale_count > 1 ? o : 0, step, rows, &w, &b);
    for (j = 0; j < k; j++) {
      const int64_t s = tail_scaled_step(g[j], w.mult, w.shift);
      const size_t i = (size_t)o * (size_t)k + (size_t)j;
      g[j] = 0;
      if (tail->weight_bits == 16) {
        int16_t *p = (int16_t *)tail->weights + i;
        const int64_t v = (int64_t)*p - s;
        *p = (int16_t)(v > 32767 ? 32767 : v < -32767 ? -32767 : v);
      } else {
        int8_t *p = (int8_t *)tail->weights + i;
        const int64_t v = (int64_t)*p - s;
        *p = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
      }
    }
    nv = (int64_t)tail->bias[o] - tail_scaled_step(tail->grad_b[o], b.mult, b.shift);
    tail->grad_b[o] = 0;
    tail->bias[o] = (int32_t)(nv > INT32_MAX ? INT32_MAX : nv < INT32_MIN ? INT32_MIN : nv);
  }
  LM_PROFILE_END(-6);
}

void lm_tail_clear(const lm_tail *tail) {
  const int32_t k = tail->geom.k_h * tail->geom.k_w * tail->geom.cin;
  memset(tail->grad_w, 0, (size_t)tail->geom.cout * (size_t)k * sizeof(int64_t));
  memset(tail->grad_b, 0, (size_t)tail->geom.cout * sizeof(int64_t));
}
