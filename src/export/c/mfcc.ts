// The keyword-spotting front end in a C export: runtime/lm_mfcc.{h,c} (the C99 port of the
// device's fixed-point MFCC, assembly/mfcc.ts) and mfcc.c, a program that turns the 1 s clips of
// clips.s16 (16 kHz int16 little-endian, 16,000 samples each) into the model's int8 input and
// prints each clip's features in hex, on the host or on a QEMU board (semihosting file I/O). On
// a board it also reads SysTick under -icount shift=0, so it measures instructions per clip the
// way bench/cost measures the other kernels.
import type { PreparedRun } from './prepare.js';
import { elementCount } from '../../model/graph.js';
import { KWS_FEATURES, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT, mfccInverseScale } from '../../kernels/mfcc.js';

export const MFCC_RUNTIME_FILES = ['lm_mfcc.h', 'lm_mfcc.c', 'lm_mfcc_tables.h'];

/** The input quantization the front end produces: the model's own when it takes 49 × 10 MFCC, else MLPerf Tiny KWS's. */
export function mfccQuantOf(run: PreparedRun): { scale: number; zeroPoint: number; fromModel: boolean } {
  const input = run.graph.nodes[0]!;
  const q = run.quantized.activations[input.node.name];
  if (elementCount(run.graph.inputShape) === KWS_FEATURES && q) {
    try {
      mfccInverseScale(q.scale);
      return { scale: q.scale, zeroPoint: q.zeroPoint, fromModel: true };
    } catch {
      // A scale outside the front end's range: fall through to the reference quantization.
    }
  }
  return { scale: KWS_INPUT_SCALE, zeroPoint: KWS_INPUT_ZERO_POINT, fromModel: false };
}

export function mfccProgram(quant: { scale: number; zeroPoint: number; fromModel: boolean }): string {
  const { invScale, invShift } = mfccInverseScale(quant.scale);
  return `/* The keyword-spotting front end on this target: clips.s16 (1 s clips, 16 kHz int16 LE) -> the
 * model's int8 input, one line per clip: "clip <n> <980 hex digits>". Quantization: scale ${quant.scale},
 * zero point ${quant.zeroPoint} (${quant.fromModel ? "the model's input" : "MLPerf Tiny KWS's input; this model does not take 49 x 10 MFCC"}).
 * On an Arm board (make mfcc-qemu, -icount shift=0) it also prints SysTick ticks per clip and the
 * ticks of 100,000 NOPs, which turn ticks into instructions. */
#include <stdint.h>
#include <stdio.h>

#include "lm_mfcc.h"

#define LM_MFCC_INV_SCALE ${invScale}
#define LM_MFCC_INV_SHIFT ${invShift}
#define LM_MFCC_ZERO_POINT ${quant.zeroPoint}

#if defined(__arm__)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
extern volatile uint32_t lm_systick_wraps;
static uint64_t now(void) {
  uint32_t wraps, value;
  do {
    wraps = lm_systick_wraps;
    value = SYST_CVR;
  } while (wraps != lm_systick_wraps);
  return (uint64_t)wraps * 0x1000000u + (uint64_t)(0xffffffu - value);
}
__attribute__((noinline)) static void nops(void) {
  __asm__ volatile(".rept 100000\\n\\tnop\\n\\t.endr");
}
#endif

static unsigned char raw[LM_MFCC_SAMPLES * 2];
static int16_t clip[LM_MFCC_SAMPLES];
static int8_t features[LM_MFCC_FEATURES];
static uint64_t scratch[(LM_MFCC_SCRATCH_BYTES + 7) / 8];

int main(void) {
  FILE *f = fopen("clips.s16", "rb");
  int n = 0, i;
#if defined(__arm__)
  uint64_t t0;
  SYST_RVR = 0xffffffu;
  SYST_CVR = 0;
  SYST_CSR = 7u;
  while (SYST_CVR == 0u) {
  }
  t0 = now();
  nops();
  printf("calibration-100000-nops %lu\\n", (unsigned long)(now() - t0));
#endif
  if (!f) {
    printf("mfcc: cannot open clips.s16\\n");
    return 1;
  }
  while (fread(raw, 1, sizeof raw, f) == sizeof raw) {
    for (i = 0; i < LM_MFCC_SAMPLES; i++) clip[i] = (int16_t)(uint16_t)(raw[2 * i] | (raw[2 * i + 1] << 8));
#if defined(__arm__)
    t0 = now();
#endif
    lm_mfcc_kws_s8(clip, features, 0, scratch, LM_MFCC_INV_SCALE, LM_MFCC_INV_SHIFT, LM_MFCC_ZERO_POINT);
#if defined(__arm__)
    printf("ticks %d %lu\\n", n, (unsigned long)(now() - t0));
#endif
    printf("clip %d ", n);
    for (i = 0; i < LM_MFCC_FEATURES; i++) printf("%02x", (unsigned)(uint8_t)features[i]);
    printf("\\n");
    n++;
  }
  fclose(f);
  printf("clips %d\\n", n);
  return 0;
}
`;
}
