/* The QZO-FF step in integer C (src/train/qzo-ff.ts, plain path): for each of m directions, the
 * batch loss at w + εz and at w − εz with the perturbation fused into the kernels, the sign of
 * their difference, then one integer update per trained tensor. With a hybrid head (src/train/
 * hybrid.ts) the dense head is not perturbed: its exact gradient is summed over those same 2m
 * forwards (or one unperturbed forward when only the head trains) and it takes an integer SGD
 * step; with a tail (lm_tail_grad.h) the layer below the head learns from the same forwards by
 * integer backprop too. The only floating point is the backprop layers' step factors, in double. */
#ifndef LM_QZO_H
#define LM_QZO_H

#include <stdint.h>
#include "lm_kernels.h"
#include "lm_head_grad.h"
#include "lm_tail_grad.h"

#define LM_MAX_DIRECTIONS 8
/* Parameter layers a network may have (the perturbation table lives on the stack). */
#define LM_MAX_LAYERS 64

/* One trained weight tensor, with its ε and update factor on its own grid (derived by the host). */
typedef struct {
  uint32_t tensor_id;  /* index among the model's parameter layers: the z stream id */
  int32_t layer;       /* the same index, into the forward's perturbation table */
  void *weights;       /* in the arena */
  int32_t bits;
  uint32_t count;
  int32_t eps_q;       /* εq = round(ε/Δw) */
  int32_t update_mult; /* c = η·Δz/(Δw·m) as a TFLM multiplier/shift (dither: mult/2^shift) */
  int32_t update_shift;
  /* Dither mode (stochastic rounding of ε·z and of the update): the panel the perturbed weights
   * are written to, and ε·Δz/Δw as mult/2^shift; dither_shift 0 means the deterministic path. */
  void *panel;
  int32_t dither_mult;
  int32_t dither_shift;
} lm_trained_tensor;

/* Everything the step needs to know about the exported network. */
typedef struct {
  uint32_t seed;
  int32_t directions, dist, one_q, inv_one_q_mult, inv_one_q_shift;
  int32_t micro_batch, input_size, classes, input_zero_point;
  int32_t loss_mult, loss_shift;
  int32_t param_layers;
  int32_t trained_count;
  const lm_trained_tensor *trained;
  /* Arena buffers the planner placed for the trainer. */
  int8_t *input;
  int32_t *logits;
  int32_t *labels;
  int32_t *loss;
  uint32_t *keys;
  int32_t *signs;
  /* One forward pass of the micro-batch; perturb[layer] is null for unperturbed layers. */
  void (*forward)(const lm_perturb *const *perturb);
  /* The hybrid method's head (null: plain QZO-FF, the head is one of the trained tensors). */
  const lm_head *head;
  /* Step controls (step-control.ts), Q15 on the update multipliers: linear warm-up over this many steps
   * (0: none), and with batch_scale the √(n/set_count) scale of a step on n of set_count samples. */
  int32_t warmup, batch_scale, set_count;
  /* The hybrid's tail, the layer below the head learned by integer backprop (null: the head alone). */
  const lm_tail *tail;
} lm_net;

typedef struct {
  int32_t loss_plus[LM_MAX_DIRECTIONS];  /* Q16.16 nats, summed over the batch (saturating) */
  int32_t loss_minus[LM_MAX_DIRECTIONS];
  int32_t signs[LM_MAX_DIRECTIONS];
  /* Hybrid, head only: the batch loss at the stored weights (the step's one forward per sample);
   * 0 for a step with directions. */
  int32_t loss;
} lm_step_report;

/* One step on samples[indices[0..n)] (each input_size int8 values, already quantized). Returns 0,
 * or a positive code: 1 = bad arguments (for a hybrid head also a step whose factor c_w or c_b falls
 * outside the multiplier/shift range, or a tail factor outside its range), 2 = a label outside [0, classes). Weights are
 * written only after every loss was computed, so a refused step leaves them unchanged. */
int32_t lm_qzo_step(const lm_net *net, uint32_t step, const int8_t *samples, const int32_t *labels,
                    const uint16_t *indices, int32_t n, lm_step_report *report);

/* Integer logits [n][classes] of n quantized samples, run in micro-batches. */
void lm_qzo_infer(const lm_net *net, const int8_t *samples, int32_t n, int32_t *logits);

#endif
