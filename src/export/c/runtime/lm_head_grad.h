/* The hybrid method's head in integer C (assembly/head_grad.ts, src/train/hybrid.ts,
 * src/train/hybrid-center.ts): exact backprop for the dense classifier head while the layers before
 * it train by QZO-FF.
 *   per row:  δ_c = round(softmax_c·2^15) − 2^15·[c = label]          (Q.15, the loss's own exp)
 *             ΣδF[c][d] += δ_c·(f_d − zf),  Σδ[c] += δ_c             (int32, saturating)
 *   step 0:   the features' statistics over every forward of the step (S_d, SS, R, int64), then the
 *             mean m_d = round(S_d/R) and V = max(1, ⌊mean ‖f − zf − m‖²⌋), and, without a fixed η,
 *             η = head_step/(s_f²·V): the one double division of the run, fixed from then on.
 *   per step: c_w = η·s_f/(N·2^15·Δw), c_b = η/(N·2^15·s_f·Δw) in double (the emulator's order of
 *             operations; IEEE-754 × and ÷ are correctly rounded, so every target gets the same bits),
 *             as a Q31 multiplier and shift, × min(1, (t+1)/warmup) in Q15; then per class, centred:
 *             G_W ← sat(ΣδF − m·Σδ), W ← clamp(W − round(c_w·G_W)), b ← clamp(b − round(c_b·Σδ)),
 *             b ← sat(b − ΔW·m) with ΔW the change actually stored; the sums ← 0. */
#ifndef LM_HEAD_GRAD_H
#define LM_HEAD_GRAD_H

#include <stdint.h>

/* round(g·mult / 2^shift), rounding half away from zero. */
typedef struct {
  int32_t mult;
  int32_t shift;
} lm_head_step;

/* What the head carries from step to step (reset by lm_init). */
typedef struct {
  int64_t squares;  /* step 0: Σ Σ (f_d − zf)² */
  int64_t rows;     /* step 0: rows summed */
  double lr;        /* η once measured */
  int32_t measured; /* 1 once the first step committed its statistics */
} lm_head_state;

typedef struct {
  int32_t classes, features, feature_zero;
  void *weights;         /* in the arena, layout OI ([classes][features]) */
  int32_t weight_bits;   /* 8 or 16 */
  int32_t *bias;         /* in the arena */
  const int8_t *input;   /* the head's int8 input of the last forward (planner buffer) */
  int32_t *delta;        /* [micro_batch][classes] scratch */
  int32_t *grad_w;       /* [classes][features] */
  int32_t *grad_b;       /* [classes] */
  int64_t *feature_sums; /* [features] S_d of the first step (planner buffer) */
  int32_t *feature_mean; /* [features] m_d (planner buffer; zeros without centring) */
  int32_t center;        /* centred steps */
  int32_t warmup;        /* Q15 warm-up steps of the head's multipliers (0: none) */
  double fixed_lr;       /* > 0: a fixed η; 0: η = head_step/(s_f²·V) from the first step */
  double head_step, feature_scale, feature_scale_sq, weight_scale;
  lm_head_state *state;
} lm_head;

/* Add the gradient of `rows` rows to the sums; returns 0 or r + 1 for a label outside [0, classes).
 * mult/shift: the TFLM multiplier of the logit scale·2^26 (the cross-entropy's). */
int32_t lm_head_grad_accumulate(const int32_t *logits, int32_t rows, int32_t classes, const int32_t *labels,
                                int32_t mult, int32_t shift, const int8_t *features, int32_t feature_count,
                                int32_t feature_zero, int32_t *delta, int32_t *grad_w, int32_t *grad_b);

/* The learning step of the last forward's rows: the gradient sums and, on the first step, the features'
 * statistics. Returns 0 or 2 for a bad label. */
int32_t lm_head_observe(const lm_head *head, const int32_t *logits, const int32_t *labels, int32_t rows,
                        int32_t loss_mult, int32_t loss_shift);

/* c as a Q31 multiplier and a right shift in [1, 62] (the emulator's makeHeadStep); 1 if c cannot be. */
int32_t lm_head_make_step(double c, lm_head_step *out);

/* c as round(g·mult / 2^shift) with a `bits`-bit mantissa (31: the head's Q31; 15: the tail's, whose sums
 * are int64) and shift in [1, 62], as src/kernels/step-factor.ts makeStepFactor; 1 when c cannot be expressed. */
int32_t lm_make_step_factor(double c, int32_t bits, int32_t *mult, int32_t *shift);

/* min(1, (step + 1)/warmup) in Q15 (step-control.ts warmupQ15), the warm-up of both backprop layers. */
int32_t lm_warmup_q15(uint32_t step, int32_t warmup);

/* The factors of hybrid step `step` over `rows` summed rows (measuring m, V and η on the first);
 * returns 1, and leaves the state as before the step, when a factor cannot be expressed. */
int32_t lm_head_factors(const lm_head *head, uint32_t step, int32_t rows, lm_head_step *w, lm_head_step *b);

/* The (centred) SGD step with the factors, then the sums are cleared. */
void lm_head_apply(const lm_head *head, const lm_head_step *w, const lm_head_step *b);
/* Drop partial sums and unmeasured statistics (a refused step must leave no trace in the next one). */
void lm_head_clear(const lm_head *head);

#endif
