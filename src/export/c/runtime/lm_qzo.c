#include "lm_qzo.h"

#include <stddef.h>
#include <string.h>

/* Stages rows [from, from + rows) of the batch; rows past `rows` are padding (zero point, label 0). */
static void load_micro_batch(const lm_net *net, const int8_t *samples, const int32_t *labels,
                             const uint16_t *indices, int32_t from, int32_t rows) {
  const size_t size = (size_t)net->input_size;
  int32_t r;
  for (r = 0; r < net->micro_batch; r++) {
    int8_t *dst = net->input + (size_t)r * size;
    if (r < rows) {
      const uint32_t i = indices ? indices[from + r] : (uint32_t)(from + r);
      memcpy(dst, samples + (size_t)i * size, size);
      net->labels[r] = labels ? labels[i] : 0;
    } else {
      memset(dst, (int)(uint8_t)(int8_t)net->input_zero_point, size);
      net->labels[r] = 0;
    }
  }
}

static int32_t batch_loss(const lm_net *net, const int8_t *samples, const int32_t *labels, const uint16_t *indices,
                          int32_t n, const lm_perturb *const *perturb, int32_t *total_out) {
  int64_t total = 0;
  int32_t from;
  for (from = 0; from < n; from += net->micro_batch) {
    const int32_t rows = n - from < net->micro_batch ? n - from : net->micro_batch;
    load_micro_batch(net, samples, labels, indices, from, rows);
    net->forward(perturb);
    LM_PROFILE_BEGIN(-1);
    if (lm_cross_entropy_i32(net->logits, rows, net->classes, net->labels, net->loss_mult, net->loss_shift, net->loss) != 0) {
      LM_PROFILE_END(-1);
      return 2;
    }
    LM_PROFILE_END(-1);
    if (net->head) {
      /* The hybrid head learns from this very forward (perturbed body, unperturbed head). */
      int32_t bad;
      LM_PROFILE_BEGIN(-3);
      bad = lm_head_observe(net->head, net->logits, net->labels, rows, net->loss_mult, net->loss_shift);
      LM_PROFILE_END(-3);
      if (bad != 0) return 2;
      /* The tail reads the δ rows the head just wrote and the tail's kept input and gate. */
      if (net->tail) lm_tail_accumulate(net->tail, rows);
    }
    total += *net->loss;
    if (total > INT32_MAX) total = INT32_MAX;
  }
  *total_out = (int32_t)total;
  return 0;
}

/* The hybrid step when only the head trains: one unperturbed forward per micro-batch feeds the
 * head's sums, then its SGD step (no direction, no sign). */
static int32_t head_only_step(const lm_net *net, uint32_t step, const int8_t *samples, const int32_t *labels,
                              const uint16_t *indices, int32_t n, lm_step_report *report) {
  lm_head_step w, b;
  int32_t total;
  const int32_t code = batch_loss(net, samples, labels, indices, n, (const lm_perturb *const *)0, &total);
  if (code != 0 || (net->tail && lm_tail_check(net->tail, step, n) != 0) || lm_head_factors(net->head, step, n, &w, &b) != 0) {
    lm_head_clear(net->head);
    if (net->tail) lm_tail_clear(net->tail);
    return code != 0 ? code : 1;
  }
  report->loss = total;
  /* The emulator's order (hybrid.ts applyHead): the tail's step, then the head's. */
  if (net->tail) lm_tail_apply(net->tail, step, n);
  lm_head_apply(net->head, &w, &b);
  return 0;
}

/* ⌊√x⌋ by Newton's method on integers (step-control.ts isqrt). */
static uint64_t isqrt64(uint64_t x) {
  uint64_t r, y;
  if (x < 2) return x;
  r = x;
  y = r / 2 + (r & 1);
  while (y < r) {
    r = y;
    y = (r + x / r) / 2;
  }
  return r;
}

/* The body's Q15 step scale (step-control.ts stepScale): warm-up min(1, (step+1)/W), then × √(n/N). */
static int32_t body_scale_q15(const lm_net *net, uint32_t step, int32_t n) {
  int32_t q15 = 32768;
  if (net->warmup > 0 && (int64_t)step + 1 < net->warmup) q15 = (int32_t)((((int64_t)step + 1) * 32768) / net->warmup);
  if (net->batch_scale && n < net->set_count) {
    const int32_t b = (int32_t)isqrt64(((uint64_t)n << 30) / (uint64_t)net->set_count);
    q15 = (int32_t)(((int64_t)q15 * b) / 32768);
  }
  return q15;
}

int32_t lm_qzo_step(const lm_net *net, uint32_t step, const int8_t *samples, const int32_t *labels,
                    const uint16_t *indices, int32_t n, lm_step_report *report) {
  lm_perturb specs[LM_MAX_LAYERS];
  const lm_perturb *table[LM_MAX_LAYERS];
  uint32_t seeds[LM_MAX_DIRECTIONS];
  lm_head_step head_w, head_b;
  int32_t i, t, sign, q15;
  if (n < 1 || net->directions < 1 || net->directions > LM_MAX_DIRECTIONS || net->param_layers > LM_MAX_LAYERS ||
      net->trained_count > net->param_layers) return 1;
  report->loss = 0;
  if (net->head) {
    if (net->trained_count == 0) return head_only_step(net, step, samples, labels, indices, n, report);
  }
  for (i = 0; i < net->param_layers; i++) table[i] = NULL;
  for (i = 0; i < net->directions; i++) {
    int32_t loss[2];
    seeds[i] = lm_direction_seed(net->seed, step, (uint32_t)i);
    for (sign = 0; sign < 2; sign++) {
      int32_t code;
      for (t = 0; t < net->trained_count; t++) {
        const lm_trained_tensor *tt = &net->trained[t];
        lm_perturb *p = &specs[t];
        p->key = lm_stream_key(seeds[i], tt->tensor_id);
        p->start = 0;
        p->dist = net->dist;
        p->signed_eps = sign == 0 ? tt->eps_q : -tt->eps_q;
        p->one_q = net->one_q;
        p->mult = net->inv_one_q_mult;
        p->shift = net->inv_one_q_shift;
        p->source = (const void *)0;
        if (tt->dither_shift != 0) {
          /* The device materialises a dithered perturbation into the tensor's panel and reads that. */
          lm_perturb_dither(tt->weights, tt->panel, tt->bits, tt->count, p->key, lm_stream_key(seeds[i] ^ 0x6a09e667u, tt->tensor_id),
                            net->dist, net->one_q, sign == 0 ? 1 : -1, tt->dither_mult, tt->dither_shift);
          p->source = tt->panel;
        }
        table[tt->layer] = p;
      }
      code = batch_loss(net, samples, labels, indices, n, table, &loss[sign]);
      if (code != 0) {
        if (net->head) lm_head_clear(net->head);
        if (net->tail) lm_tail_clear(net->tail);
        return code;
      }
    }
    report->loss_plus[i] = loss[0];
    report->loss_minus[i] = loss[1];
    report->signs[i] = loss[0] > loss[1] ? 1 : loss[0] < loss[1] ? -1 : 0;
  }
  if (net->head && ((net->tail && lm_tail_check(net->tail, step, 2 * net->directions * n) != 0) ||
                    lm_head_factors(net->head, step, 2 * net->directions * n, &head_w, &head_b) != 0)) {
    lm_head_clear(net->head);
    if (net->tail) lm_tail_clear(net->tail);
    return 1;
  }
  /* Every loss is known: from here on the step is committed. */
  q15 = body_scale_q15(net, step, n);
  for (t = 0; t < net->trained_count; t++) {
    const lm_trained_tensor *tt = &net->trained[t];
    /* multiplier·q15 >> 15 (step-control.ts scaleMultiplier); a tensor scaled to 0 does not move. */
    const int32_t mult = q15 >= 32768 ? tt->update_mult : (int32_t)(((int64_t)tt->update_mult * q15) / 32768);
    if (mult == 0) continue;
    for (i = 0; i < net->directions; i++) {
      net->keys[i] = lm_stream_key(seeds[i], tt->tensor_id);
      net->signs[i] = report->signs[i];
    }
    LM_PROFILE_BEGIN(-2);
    if (tt->dither_shift != 0) {
      /* Stochastic rounding of the step, keyed by a stream no regular direction uses. */
      const uint32_t dither_key = lm_stream_key(lm_direction_seed(net->seed, step, LM_MAX_DIRECTIONS + 1u), tt->tensor_id);
      lm_update_dither(tt->weights, tt->bits, tt->count, net->keys, net->signs, net->directions, net->dist, net->one_q,
                       mult, tt->update_shift, dither_key);
    } else {
      lm_update(tt->weights, tt->bits, tt->count, net->keys, net->signs, net->directions, net->dist, net->one_q,
                mult, tt->update_shift);
    }
    LM_PROFILE_END(-2);
  }
  if (net->tail) lm_tail_apply(net->tail, step, 2 * net->directions * n);
  if (net->head) lm_head_apply(net->head, &head_w, &head_b);
  return 0;
}

void lm_qzo_infer(const lm_net *net, const int8_t *samples, int32_t n, int32_t *logits) {
  int32_t from;
  for (from = 0; from < n; from += net->micro_batch) {
    const int32_t rows = n - from < net->micro_batch ? n - from : net->micro_batch;
    load_micro_batch(net, samples, (const int32_t *)0, (const uint16_t *)0, from, rows);
    net->forward((const lm_perturb *const *)0);
    memcpy(logits + (size_t)from * (size_t)net->classes, net->logits, (size_t)rows * (size_t)net->classes * sizeof(int32_t));
  }
}
