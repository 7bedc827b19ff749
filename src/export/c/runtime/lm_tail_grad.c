#include "lm_tail_grad.h"

#include <string.h>

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

void lm_tail_accumulate(const lm_tail *tail, int32_t rows) {
  const lm_tail_geometry *gm = &tail->geom;
  const int32_t cout = gm->cout, cin = gm->cin, classes = tail->classes;
  const int32_t k = gm->k_h * gm->k_w * cin;
  const size_t in_row = (size_t)gm->in_h * (size_t)gm->in_w * (size_t)cin;
  const size_t gate_row = (size_t)gm->out_h * (size_t)gm->out_w * (size_t)cout;
  int32_t r, o, c, j;
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
      int32_t passed = 0, oy, ox, ky, kx, i;
      int64_t *gw;
      if (go == 0) continue;
      memset(tail->patch, 0, (size_t)k * sizeof(int32_t));
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
              int32_t *dst;
              if ((uint32_t)ix >= (uint32_t)gm->in_w) continue;
              src = xr + (size_t)(iy * gm->in_w + ix) * (size_t)cin;
              dst = tail->patch + (size_t)((ky * gm->k_w + kx) * cin);
              for (i = 0; i < cin; i++) dst[i] += (int32_t)src[i] - tail->input_zero;
            }
          }
        }
      }
      if (passed == 0) continue;
      gw = tail->grad_w + (size_t)o * (size_t)k;
      for (j = 0; j < k; j++) gw[j] = saturating_add47(gw[j], go * (int64_t)tail->patch[j]);
      tail->grad_b[o] = saturating_add47(tail->grad_b[o], go * (int64_t)passed);
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
