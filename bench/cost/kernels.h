#ifndef LM_COST_KERNELS_H
#define LM_COST_KERNELS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w, batch;
  int32_t in_offset, out_offset, act_min, act_max;
} lm_conv_params;

typedef struct {
  int32_t a_offset, b_offset, out_offset, left_shift;
  int32_t a_mult, a_shift, b_mult, b_shift, out_mult, out_shift, act_min, act_max;
} lm_add_params;

void conv_w8(const lm_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);
void conv_w16(const lm_conv_params *p, const int8_t *in, const int16_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);
void dw_w8(const lm_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);
void dw_w16(const lm_conv_params *p, const int8_t *in, const int16_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);
void fc_w8(const lm_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);
void fc_w16(const lm_conv_params *p, const int8_t *in, const int16_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);
void maxpool_s8(const lm_conv_params *p, const int8_t *in, int8_t *out);
void avgpool_s8(const lm_conv_params *p, const int8_t *in, int8_t *out);
void add_s8(const lm_add_params *p, const int8_t *a, const int8_t *b, int8_t *out, int n);
#endif
