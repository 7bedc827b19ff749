/* Portable C99 integer kernels of lastmile: the same integer algorithms as the emulated device
 * (the assembly folder), so a forward pass and a QZO-FF step give the same bits on any C99 target.
 * All accumulation wraps modulo 2^32 exactly as the device's int32 arithmetic does; signed
 * overflow is avoided by doing wrapping arithmetic in uint32_t. No malloc, no VLAs, no recursion. */
#ifndef LM_KERNELS_H
#define LM_KERNELS_H

#include <stdint.h>

/* Longest convolution patch (kH·kW·Cin taps) gathered into a column on the stack: two pixels'
 * columns, 4 bytes per tap; longer patches run a slower per-row path. 576 (3×3×64) covers every
 * shipped and MLPerf Tiny model. */
#ifndef LM_COL_MAX
#define LM_COL_MAX 576
#endif

#define LM_DIST_GAUSSIAN 0
#define LM_DIST_RADEMACHER 1

/* A fused perturbation w' = clamp(requant(w·1q + εq·z(key, start + i), 1/1q)) of a weight tensor. */
typedef struct {
  uint32_t key;
  uint32_t start;
  int32_t dist;
  int32_t signed_eps;
  int32_t one_q;
  int32_t mult;
  int32_t shift;
  /* Non-null: read the weights from here unperturbed (a panel the trainer filled, as in dither mode). */
  const void *source;
} lm_perturb;

/* TFLM requantization of int32 accumulators to int8; mult == 0 (null) means raw int32 output. */
typedef struct {
  const int32_t *mult;
  const int32_t *shift;
  int32_t per_channel;
  int32_t out_zp;
  int32_t act_min;
  int32_t act_max;
} lm_requant;

typedef struct {
  int32_t batch, in_h, in_w, in_c, out_c, k_h, k_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w;
  int32_t depth_mult; /* depthwise only */
} lm_conv_geom;

typedef struct {
  int32_t batch, in_h, in_w, channels, f_h, f_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w, act_min, act_max;
} lm_pool_geom;

typedef struct {
  int32_t left_shift, off_a, off_b, out_off, mult_a, shift_a, mult_b, shift_b, mult_out, shift_out, act_min, act_max;
} lm_add_params;

/* Scalar helpers (exposed for the trainer and the tests). */
uint32_t lm_hash32(uint32_t x);
uint32_t lm_stream_key(uint32_t seed, uint32_t tensor_id);
uint32_t lm_direction_seed(uint32_t run_seed, uint32_t step, uint32_t direction);
int32_t lm_z_at(uint32_t key, uint32_t index, int32_t dist, int32_t one_q);
int32_t lm_requant_scalar(int32_t x, int32_t multiplier, int32_t shift);
int32_t lm_perturb_value(int32_t w, int32_t z, const lm_perturb *p, int32_t hi);

/* Kernels. `weights` are int16 (bits 16) or int8 (bits 8); scratch holds the perturbed or widened
 * weights of a chunk of output channels as int16 (the planner's scratch buffer of the layer). */
void lm_dense(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, void *out,
              int32_t M, int32_t K, int32_t N, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
              void *scratch, uint32_t scratch_bytes);
void lm_conv2d(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
               const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
               void *scratch, uint32_t scratch_bytes);
void lm_depthwise(const int8_t *in, const void *weights, int32_t bits, const int32_t *bias, int8_t *out,
                  const lm_conv_geom *g, int32_t zin, const lm_requant *rq, const lm_perturb *pt,
                  void *scratch, uint32_t scratch_bytes);
void lm_maxpool(const int8_t *in, int8_t *out, const lm_pool_geom *g);
void lm_avgpool(const int8_t *in, int8_t *out, const lm_pool_geom *g);
void lm_global_avgpool(const int8_t *in, int8_t *out, int32_t batch, int32_t h, int32_t w, int32_t c);
void lm_add(const int8_t *a, const int8_t *b, int8_t *out, int32_t count, const lm_add_params *p);

/* Summed softmax cross-entropy of int32 logits in Q16.16 nats (saturating); returns 0 or r + 1
 * when row r's label is outside [0, classes). mult/shift: TFLM multiplier of scale·2^26. */
int32_t lm_cross_entropy_i32(const int32_t *logits, int32_t rows, int32_t classes, const int32_t *labels,
                             int32_t mult, int32_t shift, int32_t *out);

/* The cross-entropy's softmax numerator: exp((x − x_max)·scale) in Q0.31, with (x − x_max)·scale
 * rounded to Q5.26 exactly as lm_cross_entropy_i32 does (2^31 at the max, 0 below −32 nats). */
int64_t lm_softmax_exp_q31(int32_t x, int64_t x_max, int32_t mult, int32_t shift);

/* Stochastic rounding (assembly/materialised_zo.ts): floor((x·mult + d) / 2^shift), d from the top bits of
 * the uniform draw (key, index); shift in [1, 62]. */
int32_t lm_dither_scale(int32_t x, int32_t mult, int32_t shift, uint32_t key, uint32_t index);
/* dst[i] = clamp(src[i] ± dither(z(key, i))): the dithered perturbation into a panel. */
void lm_perturb_dither(const void *src, void *dst, int32_t bits, uint32_t count, uint32_t key, uint32_t dither_key,
                       int32_t dist, int32_t one_q, int32_t sign, int32_t mult, int32_t shift);
/* w[i] <- clamp(w[i] - dither(Σ_j s_j·z_j(i))) where the sum is not 0. */
void lm_update_dither(void *weights, int32_t bits, uint32_t count, const uint32_t *keys, const int32_t *signs,
                      int32_t m, int32_t dist, int32_t one_q, int32_t mult, int32_t shift, uint32_t dither_key);

/* w[i] <- clamp(w[i] - requant(Σ_j s_j·z_j(i), c)) for count int16/int8 weights. */
void lm_update(void *weights, int32_t bits, uint32_t count, const uint32_t *keys, const int32_t *signs,
               int32_t m, int32_t dist, int32_t one_q, int32_t c_mult, int32_t c_shift);

/* Optional per-kernel instrumentation: the application defines LM_PROFILE and these hooks. */
#ifdef LM_PROFILE
void lm_profile_begin(int32_t op);
void lm_profile_end(int32_t op);
#define LM_PROFILE_BEGIN(op) lm_profile_begin(op)
#define LM_PROFILE_END(op) lm_profile_end(op)
#else
#define LM_PROFILE_BEGIN(op) ((void)0)
#define LM_PROFILE_END(op) ((void)0)
#endif

#endif
