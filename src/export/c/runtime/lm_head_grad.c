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

void lm_head_sgd_update(void *params, int32_t bits, uint32_t count, int32_t *grad, int32_t mult, int32_t total_shift) {
  uint32_t i;
  for (i = 0; i < count; i++) {
    const int64_t step = scaled_step(grad[i], mult, total_shift);
    grad[i] = 0;
    if (bits == 16) {
      int16_t *p = (int16_t *)params + i;
      const int64_t v = (int64_t)*p - step;
      *p = (int16_t)(v > 32767 ? 32767 : v < -32767 ? -32767 : v);
    } else if (bits == 8) {
      int8_t *p = (int8_t *)params + i;
      const int64_t v = (int64_t)*p - step;
      *p = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    } else {
      int32_t *p = (int32_t *)params + i;
      const int64_t v = (int64_t)*p - step;
      *p = (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
    }
  }
}

int32_t lm_head_can_step(const lm_head *head, int32_t n) {
  return n >= 1 && n <= head->max_batch && head->step_w[n - 1].shift != 0 && head->step_b[n - 1].shift != 0;
}

void lm_head_apply(const lm_head *head, int32_t n) {
  const lm_head_step *w = &head->step_w[n - 1];
  const lm_head_step *b = &head->step_b[n - 1];
  LM_PROFILE_BEGIN(-4);
  lm_head_sgd_update(head->weights, head->weight_bits, (uint32_t)head->classes * (uint32_t)head->features, head->grad_w, w->mult, w->shift);
  lm_head_sgd_update(head->bias, 32, (uint32_t)head->classes, head->grad_b, b->mult, b->shift);
  LM_PROFILE_END(-4);
}

void lm_head_clear(const lm_head *head) {
  memset(head->grad_w, 0, (size_t)head->classes * (size_t)head->features * sizeof(int32_t));
  memset(head->grad_b, 0, (size_t)head->classes * sizeof(int32_t));
}
