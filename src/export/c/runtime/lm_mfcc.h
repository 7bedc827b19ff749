/* The MLPerf Tiny keyword-spotting front end in C99 integer arithmetic: 1 s of 16 kHz int16 audio
 * -> 49 frames x 10 MFCC -> int8 with the model's input quantization. The same algorithm and tables
 * as the emulated device's kernel (assembly/mfcc.ts), so both give the same bits (docs/AUDIO.md). */
#ifndef LM_MFCC_H
#define LM_MFCC_H

#include <stdint.h>

#define LM_MFCC_SAMPLES 16000
#define LM_MFCC_FRAMES 49
#define LM_MFCC_COEFFS 10
#define LM_MFCC_FEATURES (LM_MFCC_FRAMES * LM_MFCC_COEFFS)
/* complex frame int32[512] | 2|X| uint32[128] | log-mel int64[40] */
#define LM_MFCC_SCRATCH_BYTES (2048 + 512 + 320)

/* input: LM_MFCC_SAMPLES samples; out: LM_MFCC_FEATURES int8, frame-major [49][10]; out_q16: the
 * unquantized MFCC in Q16 (or NULL); scratch: LM_MFCC_SCRATCH_BYTES bytes, 8-byte aligned.
 * q = clamp(round(c * inv_scale / 2^inv_shift) + zero_point), inv_scale = round(2^inv_shift / scale),
 * rounding half away from zero. */
void lm_mfcc_kws_s8(const int16_t *input, int8_t *out, int32_t *out_q16, void *scratch,
                    int32_t inv_scale, int32_t inv_shift, int32_t zero_point);

#endif
