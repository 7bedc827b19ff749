/* The hybrid method's head in integer C (assembly/head_grad.ts, src/train/hybrid.ts): exact
 * backprop for the dense classifier head while the layers before it train by QZO-FF.
 *   per row:  δ_c = round(softmax_c·2^15) − 2^15·[c = label]          (Q.15, the loss's own exp)
 *             ΣδF[c][d] += δ_c·(f_d − zf),  Σδ[c] += δ_c             (int32, saturating)
 *   per step: W ← clamp(W − round(ΣδF·c_w)),  b ← clamp(b − round(Σδ·c_b)), then the sums ← 0.
 * c_w and c_b depend on the rows summed, so the host derives them (as the emulator's trainer does)
 * for every batch size up to the exported one and bakes them in as multiplier/shift pairs. */
#ifndef LM_HEAD_GRAD_H
#define LM_HEAD_GRAD_H

#include <stdint.h>

/* round(g·mult / 2^shift), rounding half away from zero; shift 0 marks a batch size without factors. */
typedef struct {
  int32_t mult;
  int32_t shift;
} lm_head_step;

typedef struct {
  int32_t classes, features, feature_zero;
  void *weights;        /* in the arena, layout OI ([classes][features]) */
  int32_t weight_bits;  /* 8 or 16 */
  int32_t *bias;        /* in the arena */
  const int8_t *input;  /* the head's int8 input of the last forward (planner buffer) */
  int32_t *delta;       /* [micro_batch][classes] scratch */
  int32_t *grad_w;      /* [classes][features] */
  int32_t *grad_b;      /* [classes] */
  /* Factors for a step on n samples are at index n − 1, n in [1, max_batch]. */
  int32_t max_batch;
  const lm_head_step *step_w;
  const lm_head_step *step_b;
} lm_head;

/* Add the gradient of `rows` rows to the sums; returns 0 or r + 1 for a label outside [0, classes).
 * mult/shift: the TFLM multiplier of the logit scale·2^26 (the cross-entropy's). */
int32_t lm_head_grad_accumulate(const int32_t *logits, int32_t rows, int32_t classes, const int32_t *labels,
                                int32_t mult, int32_t shift, const int8_t *features, int32_t feature_count,
                                int32_t feature_zero, int32_t *delta, int32_t *grad_w, int32_t *grad_b);

/* params ← clamp(params − round(grad·mult/2^total_shift)), grad ← 0. bits 8/16: symmetric weight
 * grid; 32: int32 bias. total_shift in [1, 62]. */
void lm_head_sgd_update(void *params, int32_t bits, uint32_t count, int32_t *grad, int32_t mult, int32_t total_shift);

/* Whether a step on n samples has factors (the host could derive c_w and c_b for it). */
int32_t lm_head_can_step(const lm_head *head, int32_t n);
/* The step on the sums of a batch of n samples, then the sums are cleared. */
void lm_head_apply(const lm_head *head, int32_t n);
/* Drop partial sums (a refused step must leave no trace in the next one). */
void lm_head_clear(const lm_head *head);

#endif
