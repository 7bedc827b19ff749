/* Portable int8 kernels for the cost-model calibration sweep: the TFLite reference arithmetic
 * (input offset, int32 accumulator, per-channel fixed-point requantization, output offset, clamp)
 * that the exported C library implements, in plain C99 with no intrinsics. Weights are int8 or
 * int16 (the project's 8w8a and 16w8a precisions); the loop structure is the same for both. */
#include "kernels.h"

static int32_t srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  /* Division by 2^31 truncating toward zero, as TFLite's reference does, without a libgcc call. */
  const int64_t q = ab + nudge;
  return (int32_t)(q >= 0 ? q >> 31 : -((-q) >> 31));
}

static int32_t rdbpot(int32_t x, int e) {
  int32_t mask = (int32_t)((1u << e) - 1u);
  int32_t rem = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

static int32_t requant(int32_t acc, int32_t mult, int32_t shift) {
  int left = shift > 0 ? shift : 0;
  int right = shift > 0 ? 0 : -shift;
  return rdbpot(srdhm(acc * (1 << left), mult), right);
}

static int8_t clamp8(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

#define CONV_BODY(WT)                                                                              \
  for (int oy = 0; oy < p->out_h; oy++) {                                                          \
    for (int ox = 0; ox < p->out_w; ox++) {                                                        \
      const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;                      \
      for (int oc = 0; oc < p->out_c; oc++) {                                                      \
        int32_t acc = bias[oc];                                                                    \
        const WT *wo = w + (size_t)oc * p->k_h * p->k_w * p->in_c;                                 \
        for (int ky = 0; ky < p->k_h; ky++) {                                                      \
          const int iy = iy0 + ky;                                                                 \
          if (iy < 0 || iy >= p->in_h) continue;                                                   \
          for (int kx = 0; kx < p->k_w; kx++) {                                                    \
            const int ix = ix0 + kx;                                                               \
            if (ix < 0 || ix >= p->in_w) continue;                                                 \
            const int8_t *xi = in + ((size_t)iy * p->in_w + ix) * p->in_c;                         \
            const WT *wi = wo + ((size_t)ky * p->k_w + kx) * p->in_c;                              \
            for (int ic = 0; ic < p->in_c; ic++) acc += ((int32_t)xi[ic] + p->in_offset) * wi[ic]; \
          }                                                                                        \
        }                                                                                          \
        acc = requant(acc, mult[oc], shift[oc]) + p->out_offset;                                   \
        out[((size_t)oy * p->out_w + ox) * p->out_c + oc] = clamp8(acc, p->act_min, p->act_max);   \
      }                                                                                            \
    }                                                                                              \
  }

void conv_w8(const lm_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
             const int32_t *mult, const int32_t *shift, int8_t *out) {
  CONV_BODY(int8_t)
}

void conv_w16(const lm_conv_params *p, const int8_t *in, const int16_t *w, const int32_t *bias,
              const int32_t *mult, const int32_t *shift, int8_t *out) {
  CONV_BODY(int16_t)
}

/* Depthwise, depth multiplier 1, weights [kH][kW][C]. */
#define DW_BODY(WT)                                                                                \
  for (int oy = 0; oy < p->out_h; oy++) {                                                          \
    for (int ox = 0; ox < p->out_w; ox++) {                                                        \
      const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;                      \
      for (int c = 0; c < p->in_c; c++) {                                                          \
        int32_t acc = bias[c];                                                                     \
        for (int ky = 0; ky < p->k_h; ky++) {                                                      \
          const int iy = iy0 + ky;                                                                 \
          if (iy < 0 || iy >= p->in_h) continue;                                                   \
          for (int kx = 0; kx < p->k_w; kx++) {                                                    \
            const int ix = ix0 + kx;                                                               \
            if (ix < 0 || ix >= p->in_w) continue;                                                 \
            acc += ((int32_t)in[((size_t)iy * p->in_w + ix) * p->in_c + c] + p->in_offset) *       \
                   w[((size_t)ky * p->k_w + kx) * p->in_c + c];                                    \
          }                                                                                        \
        }                                                                                          \
        acc = requant(acc, mult[c], shift[c]) + p->out_offset;                                     \
        out[((size_t)oy * p->out_w + ox) * p->in_c + c] = clamp8(acc, p->act_min, p->act_max);     \
      }                                                                                            \
    }                                                                                              \
  }

void dw_w8(const lm_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
           const int32_t *mult, const int32_t *shift, int8_t *out) {
  DW_BODY(int8_t)
}

void dw_w16(const lm_conv_params *p, const int8_t *in, const int16_t *w, const int32_t *bias,
            const int32_t *mult, const int32_t *shift, int8_t *out) {
  DW_BODY(int16_t)
}

#define FC_BODY(WT)                                                                                \
  for (int b = 0; b < p->batch; b++) {                                                             \
    const int8_t *x = in + (size_t)b * p->in_c;                                                    \
    for (int o = 0; o < p->out_c; o++) {                                                           \
      const WT *wo = w + (size_t)o * p->in_c;                                                      \
      int32_t acc = bias[o];                                                                       \
      for (int i = 0; i < p->in_c; i++) acc += ((int32_t)x[i] + p->in_offset) * wo[i];             \
      acc = requant(acc, mult[o], shift[o]) + p->out_offset;                                       \
      out[(size_t)b * p->out_c + o] = clamp8(acc, p->act_min, p->act_max);                         \
    }                                                                                              \
  }

void fc_w8(const lm_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
           const int32_t *mult, const int32_t *shift, int8_t *out) {
  FC_BODY(int8_t)
}

void fc_w16(const lm_conv_params *p, const int8_t *in, const int16_t *w, const int32_t *bias,
            const int32_t *mult, const int32_t *shift, int8_t *out) {
  FC_BODY(int16_t)
}

void maxpool_s8(const lm_conv_params *p, const int8_t *in, int8_t *out) {
  for (int oy = 0; oy < p->out_h; oy++) {
    for (int ox = 0; ox < p->out_w; ox++) {
      const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
      for (int c = 0; c < p->in_c; c++) {
        int32_t m = -128;
        for (int ky = 0; ky < p->k_h; ky++) {
          const int iy = iy0 + ky;
          if (iy < 0 || iy >= p->in_h) continue;
          for (int kx = 0; kx < p->k_w; kx++) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= p->in_w) continue;
            const int32_t v = in[((size_t)iy * p->in_w + ix) * p->in_c + c];
            if (v > m) m = v;
          }
        }
        out[((size_t)oy * p->out_w + ox) * p->in_c + c] = clamp8(m, p->act_min, p->act_max);
      }
    }
  }
}

/* Average pooling, TFLite rounding: (sum ± count/2) / count over the valid taps. */
void avgpool_s8(const lm_conv_params *p, const int8_t *in, int8_t *out) {
  for (int oy = 0; oy < p->out_h; oy++) {
    for (int ox = 0; ox < p->out_w; ox++) {
      const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
      for (int c = 0; c < p->in_c; c++) {
        int32_t sum = 0, count = 0;
        for (int ky = 0; ky < p->k_h; ky++) {
          const int iy = iy0 + ky;
          if (iy < 0 || iy >= p->in_h) continue;
          for (int kx = 0; kx < p->k_w; kx++) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= p->in_w) continue;
            sum += in[((size_t)iy * p->in_w + ix) * p->in_c + c];
            count++;
          }
        }
        const int32_t avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        out[((size_t)oy * p->out_w + ox) * p->in_c + c] = clamp8(avg, p->act_min, p->act_max);
      }
    }
  }
}

/* TFLite's quantized add: both inputs shifted left by 20, rescaled to a common scale, summed and
 * requantized to the output scale. */
void add_s8(const lm_add_params *p, const int8_t *a, const int8_t *b, int8_t *out, int n) {
  for (int i = 0; i < n; i++) {
    const int32_t x = ((int32_t)a[i] + p->a_offset) * (1 << p->left_shift);
    const int32_t y = ((int32_t)b[i] + p->b_offset) * (1 << p->left_shift);
    const int32_t sx = requant(x, p->a_mult, p->a_shift);
    const int32_t sy = requant(y, p->b_mult, p->b_shift);
    const int32_t r = requant(sx + sy, p->out_mult, p->out_shift) + p->out_offset;
    out[i] = clamp8(r, p->act_min, p->act_max);
  }
}
