/* The hybrid method's second backprop layer (the "tail") in integer C (assembly/tail_grad.ts,
 * src/kernels/tail-grad.ts, src/train/hybrid-tail.ts): the layer whose output the dense head reads
 * through a global average pool (the last conv2d, optionally through a residual add carrying the ReLU)
 * or the last hidden dense layer (a 1×1 conv on a 1×1 map).
 *   per row:  g_o = round(Σ_c δ_c·Wh[c][o] / 2^15), half away from zero (δ: the head's Q.15 rows)
 *             per channel o with g_o ≠ 0: P[j] = Σ over positions whose gate value v has lo < v < hi of
 *             the input patch (x − zx) (out of bounds: 0), n_o = those positions;
 *             ΣW[o][j] += g_o·P[j], ΣB[o] += g_o·n_o   (int64, saturating at ±(2^47 − 1))
 *   per step: c_w[o] = η·s_h·s_x/(P·s_w[o]·N), c_b[o] = η·s_h/(P·s_x·s_w[o]·N) in double with the
 *             emulator's order of operations (N: rows summed, P: positions per pooled feature), each as
 *             a 15-bit multiplier and a shift in [1, 62], × min(1, (t+1)/warmup) in Q15; then
 *             W ← clamp(W − round(ΣW·mult/2^shift)), b ← clamp(b − round(ΣB·mult/2^shift)), sums ← 0.
 * SRAM: the int64 sums (8 B per weight and per bias), one filter of int32 patch sums and g (int32 per
 * output channel), all planner buffers; the tail's input and gate tensors live to the step's end. */
#ifndef LM_TAIL_GRAD_H
#define LM_TAIL_GRAD_H

#include <stdint.h>

/* round(g·mult / 2^shift), rounding half away from zero; mult < 2^15. */
typedef struct {
  int32_t mult;
  int32_t shift;
} lm_tail_step;

typedef struct {
  /* inH, inW, cin, outH, outW, cout, kH, kW, strideH, strideW, padTop, padLeft */
  int32_t in_h, in_w, cin, out_h, out_w, cout, k_h, k_w, stride_h, stride_w, pad_top, pad_left;
} lm_tail_geometry;

typedef struct {
  lm_tail_geometry geom;
  int32_t classes;
  const void *head_weights; /* the head's stored weights [classes][cout] (arena) */
  int32_t head_bits;        /* 8 or 16 */
  const int32_t *delta;     /* the head's δ rows [rows][classes], written for the same rows */
  const int8_t *input;      /* the tail's int8 input [rows][inH][inW][cin] (kept to the step's end) */
  int32_t input_zero;
  const int8_t *gate;       /* the tensor the pool reads [rows][outH][outW][cout] (kept to the step's end) */
  int32_t gate_lo, gate_hi; /* positions pass where lo < v < hi */
  int32_t *g;               /* [cout] scratch */
  int32_t *patch;           /* [kH·kW·cin] scratch */
  int64_t *grad_w;          /* [cout][kH][kW][cin] */
  int64_t *grad_b;          /* [cout] */
  void *weights;            /* the tail's stored weights (arena) */
  int32_t weight_bits;      /* 8 or 16 */
  int32_t *bias;            /* the tail's int32 bias (arena) */
  int32_t warmup;           /* Q15 warm-up steps, as the head's (0: none) */
  /* The step factors' constants (exact doubles): η, the head's weight scale s_h, the input scale s_x,
   * positions P and one weight scale s_w per output channel, or one for the tensor. */
  double lr, head_weight_scale, input_scale, positions;
  const double *weight_scales;
  int32_t weight_scale_count; /* 1 or cout */
} lm_tail;

/* Add the gradient of `rows` rows (δ in tail->delta) to the sums. */
void lm_tail_accumulate(const lm_tail *tail, int32_t rows);

/* c as a 15-bit multiplier and a right shift in [1, 62] (the emulator's makeTailStep); 1 if c cannot be. */
int32_t lm_tail_make_step(double c, lm_tail_step *out);

/* The factors of channel `channel` (0 for a per-tensor scale) of hybrid step `step` over `rows` summed
 * rows, warm-up included; 1 when a factor cannot be expressed. */
int32_t lm_tail_factors(const lm_tail *tail, int32_t channel, uint32_t step, int32_t rows, lm_tail_step *w, lm_tail_step *b);

/* Every factor of the step can be expressed (so a step is refused before anything moves): 0, else 1. */
int32_t lm_tail_check(const lm_tail *tail, uint32_t step, int32_t rows);

/* One SGD step on the tail's weights and bias from the sums, which it clears. Call lm_tail_check first. */
void lm_tail_apply(const lm_tail *tail, uint32_t step, int32_t rows);

/* Drop partial sums (a refused step must leave no trace in the next one). */
void lm_tail_clear(const lm_tail *tail);

#endif
