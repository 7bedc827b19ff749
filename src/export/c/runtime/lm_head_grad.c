#include "lm_head_grad.h"

#include <string.h>

#include "lm_kernels.h"

static int32_t saturating_add(int32_t acc, int64_t v) {
  const int64_t s = (int64_t)acc + v;
  return (int32_t)(s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : s);
}

int32_t lm_head_grad_accumulate(const int32_t *logits, int32_t rows, int32_t classes, const int32_t *labels,
                                int32_t mult, int32_t shift, const int8_t *features, int32_t feature_count,
                                int32_t feature_zero, int32_t *delta, int32_t *grad_w, int32_t *grad_b) {
  int32_t r, c, k;
  for (r = 0; r < rows; r++) {
    const int32_t label = labels[r];
    const int32_t *row = logits + (size_t)r * (size_t)classes;
    int32_t *d_row = delta + (size_t)r * (size_t)classes;
    const int8_t *f = features + (size_t)r * (size_t)feature_count;
    int64_t x_max, sum = 0;
    if ((uint32_t)label >= (uint32_t)classes) return r + 1;
    x_max = row[0];
    for (c = 1; c < classes; c++) if (row[c] > x_max) x_max = row[c];
    /* e_c waits in δ's slot (e ≤ 2^31 fits as unsigned): the sum needs every e before any p. */
    for (c = 0; c < classes; c++) {
      const int64_t e = lm_softmax_exp_q31(row[c], x_max, mult, shift);
      ((uint32_t *)d_row)[c] = (uint32_t)e;
      sum += e;
    }
    for (c = 0; c < classes; c++) {
      const int64_t e = (int64_t)((uint32_t *)d_row)[c];
      int32_t *g_row = grad_w + (size_t)c * (size_t)feature_count;
      /* sum ≥ 2^31 (the max contributes 2^31 exactly) and every term is ≥ 0: an exact division. */
      int32_t d = (int32_t)((e * 32768 + (sum >> 1)) / sum);
      if (c == label) d -= 32768;
      d_row[c] = d;
      for (k = 0; k < feature_count; k++) g_row[k] = saturating_add(g_row[k], (int64_t)d * (int64_t)((int32_t)f[k] - feature_zero));
      grad_b[c] = saturating_add(grad_b[c], d);
    }
  }
  return 0;
}

/* round(g·mult / 2^total_shift), half away from zero, on magnitudes (no shift of a negative value). */
static int64_t scaled_step(int32_t g, int32_t mult, int32_t total_shift) {
  const int64_t p = (int64_t)g * (int64_t)mult;
  const int64_t half = (int64_t)1 << (total_shift - 1);
  return p >= 0 ? (p + half) >> total_shift : -((-p + half) >> total_shift);
}

static int32_t sat32(int64_t v) {
  return (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
}

int32_t lm_head_observe(const lm_head *head, const int32_t *logits, const int32_t *labels, int32_t rows,
                        int32_t loss_mult, int32_t loss_shift) {
  if (lm_head_grad_accumulate(logits, rows, head->classes, labels, loss_mult, loss_shift, head->input, head->features,
                              head->feature_zero, head->delta, head->grad_w, head->grad_b) != 0) return 2;
  if (!head->state->measured) {
    const int32_t features = head->features;
    int64_t squares = 0;
    int32_t r, d;
    for (r = 0; r < rows; r++) {
      const int8_t *f = head->input + (size_t)r * (size_t)features;
      for (d = 0; d < features; d++) {
        const int64_t v = (int64_t)f[d] - head->feature_zero;
        head->feature_sums[d] += v;
        squares += v * v;
      }
    }
    head->state->squares += squares;
    head->state->rows += rows;
  }
  return 0;
}

int32_t lm_make_step_factor(double c, int32_t bits, int32_t *mult, int32_t *shift) {
  double x = c;
  int32_t e = 0;
  int64_t mant;
  /* c = x·2^e with x in [0.5, 1): e = ⌊log2 c⌋ + 1 exactly (halving and doubling are exact). Next to a
   * power of two, where the emulator's Math.log2 may round, both exponents give the same (mult, shift):
   * the mantissa rounds to 2^bits and is halved. Far outside the shift range the loops stop early; the
   * range check below refuses those c. */
  if (!(c > 0.0) || c - c != 0.0) return 1;
  while (x >= 1.0 && e < 80) {
    x *= 0.5;
    e++;
  }
  while (x < 0.5 && e > -80) {
    x *= 2.0;
    e--;
  }
  /* Math.round of x·2^bits ∈ [2^(bits−1), 2^bits): x·2^bits + 0.5 is exact there, so truncation is its floor. */
  mant = (int64_t)(x * (double)((int64_t)1 << bits) + 0.5);
  if (mant == ((int64_t)1 << bits)) {
    mant >>= 1;
    e++;
  }
  if (bits - e < 1 || bits - e > 62) return 1;
  *mult = (int32_t)mant;
  *shift = bits - e;
  return 0;
}

int32_t lm_head_make_step(double c, lm_head_step *out) {
  return lm_make_step_factor(c, 31, &out->mult, &out->shift);
}

int32_t lm_warmup_q15(uint32_t step, int32_t warmup) {
  if (warmup <= 0 || (int64_t)step + 1 >= warmup) return 32768;
  return (int32_t)((((int64_t)step + 1) * 32768) / warmup);
}

/* round(a / b) half away from zero, b > 0 (hybrid-center.ts divRound). */
static int32_t div_round(int64_t a, int64_t b) {
  const int64_t q = ((a < 0 ? -a : a) * 2 + b) / (2 * b);
  return (int32_t)(a < 0 ? -q : q);
}

int32_t lm_head_factors(const lm_head *head, uint32_t step, int32_t rows, lm_head_step *w, lm_head_step *b) {
  lm_head_state *st = head->state;
  double lr = st->lr, unit;
  int32_t q15, d;
  if (!st->measured) {
    const int64_t r = st->rows > 1 ? st->rows : 1;
    int64_t cross = 0, mm = 0, v;
    for (d = 0; d < head->features; d++) {
      const int32_t m = head->center ? div_round(head->feature_sums[d], r) : 0;
      head->feature_mean[d] = m;
      cross += (int64_t)m * head->feature_sums[d];
      mm += (int64_t)m * m;
    }
    v = (st->squares - 2 * cross + r * mm) / r;
    if (v < 1) v = 1;
    /* The run's one division that depends on the device's data (JS: headStep / (s_f ** 2 * V)). */
    lr = head->fixed_lr > 0.0 ? head->fixed_lr : head->head_step / (head->feature_scale_sq * (double)v);
  }
  unit = (double)rows * 32768.0;
  if (lm_head_make_step((lr * head->feature_scale) / (unit * head->weight_scale), w) != 0 ||
      lm_head_make_step(lr / (unit * head->feature_scale * head->weight_scale), b) != 0) return 1;
  q15 = lm_warmup_q15(step, head->warmup);
  if (q15 < 32768) {
    w->mult = (int32_t)(((int64_t)w->mult * q15) / 32768);
    b->mult = (int32_t)(((int64_t)b->mult * q15) / 32768);
  }
  if (!st->measured) {
    st->lr = lr;
    st->measured = 1;
  }
  return 0;
}

void lm_head_apply(const lm_head *head, const lm_head_step *w, const lm_head_step *b) {
  const int32_t features = head->features;
  const int32_t *m = head->feature_mean;
  int32_t c, d;
  LM_PROFILE_BEGIN(-4);
  for (c = 0; c < head->classes; c++) {
    int32_t *g = head->grad_w + (size_t)c * (size_t)features;
    const int32_t gb = head->grad_b[c];
    /* Σ_d ΔW[c][d]·m_d of the change this row actually stored (the bias keeps b + W·m in place). */
    int64_t moved = 0;
    int64_t v;
    for (d = 0; d < features; d++) {
      const int32_t gd = head->center ? sat32((int64_t)g[d] - (int64_t)m[d] * gb) : g[d];
      const int64_t s = scaled_step(gd, w->mult, w->shift);
      const size_t i = (size_t)c * (size_t)features + (size_t)d;
      g[d] = 0;
      if (head->weight_bits == 16) {
        int16_t *p = (int16_t *)head->weights + i;
        const int64_t nv = (int64_t)*p - s;
        const int16_t stored = (int16_t)(nv > 32767 ? 32767 : nv < -32767 ? -32767 : nv);
        moved += ((int64_t)stored - *p) * m[d];
        *p = stored;
      } else {
        int8_t *p = (int8_t *)head->weights + i;
        const int64_t nv = (int64_t)*p - s;
        const int8_t stored = (int8_t)(nv > 127 ? 127 : nv < -127 ? -127 : nv);
        moved += ((int64_t)stored - *p) * m[d];
        *p = stored;
      }
    }
    head->grad_b[c] = 0;
    v = (int64_t)sat32((int64_t)head->bias[c] - scaled_step(gb, b->mult, b->shift));
    head->bias[c] = head->center ? sat32(v - moved) : (int32_t)v;
  }
  LM_PROFILE_END(-4);
}

void lm_head_clear(const lm_head *head) {
  memset(head->grad_w, 0, (size_t)head->classes * (size_t)head->features * sizeof(int32_t));
  memset(head->grad_b, 0, (size_t)head->classes * sizeof(int32_t));
  if (!head->state->measured) {
    memset(head->feature_sums, 0, (size_t)head->features * sizeof(int64_t));
    head->state->squares = 0;
    head->state->rows = 0;
  }
}
