/* Instruction counts per kernel call, per QZO-FF step and per inference on a QEMU board, read from
 * SysTick under `-icount shift=0` (every guest instruction advances virtual time by 1 ns, so SysTick
 * ticks are a fixed number of instructions; a straight block of 100,000 NOPs calibrates how many). The 24-bit
 * counter wraps every 2^24 ticks; the SysTick interrupt counts the wraps (boards/startup.c). */
#include <stdio.h>

#include "lm_data.h"
#include "lm_model.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define LM_BENCH_MAX_OPS 128
#ifndef LM_BENCH_STEPS
#define LM_BENCH_STEPS 2
#endif

extern volatile uint32_t lm_systick_wraps;

static uint64_t now(void) {
  uint32_t wraps, value;
  do {
    wraps = lm_systick_wraps;
    value = SYST_CVR;
  } while (wraps != lm_systick_wraps);
  return (uint64_t)wraps * 0x1000000u + (uint64_t)(0xffffffu - value);
}

/* Phase 0: inside training steps; phase 1: inference. Slot op + 6 (loss is -1, update -2, the
 * hybrid head's gradient -3 and its update -4, the hybrid tail's gradient -5 and its update -6). */
static int32_t phase;
static uint64_t started[LM_BENCH_MAX_OPS + 6];
static uint64_t total[2][LM_BENCH_MAX_OPS + 6];
static uint32_t calls[2][LM_BENCH_MAX_OPS + 6];

void lm_profile_begin(int32_t op) {
  started[op + 6] = now();
}

void lm_profile_end(int32_t op) {
  total[phase][op + 6] += now() - started[op + 6];
  calls[phase][op + 6]++;
}

/* In a function of its own, so no literal pool has to reach across 200 KB of code. */
__attribute__((noinline)) static void nops(void) {
  __asm__ volatile(".rept 100000\n\tnop\n\t.endr");
}

static void print_u64(const char *label, uint64_t v) {
  printf("%s %lu %lu\n", label, (unsigned long)(v >> 32), (unsigned long)(v & 0xffffffffu));
}

int main(void) {
  static int32_t logits[LM_MICRO_BATCH * LM_CLASSES];
  lm_step_report report;
  uint64_t t0;
  int32_t i, p;
  uint32_t s;
  SYST_RVR = 0xffffffu;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
  while (SYST_CVR == 0u) {
    /* the counter loads its reload value on the first tick after enabling */
  }
  t0 = now();
  nops();
  print_u64("calibration-100000-nops", now() - t0);
  if (lm_op_count > LM_BENCH_MAX_OPS) {
    printf("too many ops\n");
    return 1;
  }
  lm_init();
  phase = 0;
  for (s = 0; s < LM_BENCH_STEPS && s < LM_STEPS; s++) {
    t0 = now();
    if (lm_train_step_indexed(lm_train_images, lm_train_labels, lm_train_order + (uint32_t)LM_STEP_BATCH * s, LM_STEP_BATCH, &report) != 0) return 1;
    print_u64("step", now() - t0);
  }
  phase = 1;
  t0 = now();
  lm_infer(lm_query_images, LM_MICRO_BATCH, logits);
  print_u64("infer-micro-batch", now() - t0);
  printf("micro-batch %d step-batch %d directions-x2-forwards-per-step %d\n", LM_MICRO_BATCH, LM_STEP_BATCH, 2);
  for (p = 0; p < 2; p++) {
    for (i = -6; i < lm_op_count; i++) {
      const char *name = i == -6 ? "tail-update" : i == -5 ? "tail-grad" : i == -4 ? "head-update" : i == -3 ? "head-grad" : i == -2 ? "update" : i == -1 ? "loss" : lm_ops[i].name;
      if (calls[p][i + 6] == 0) continue;
      printf("op %ld %s %s %lu", (long)i, p == 0 ? "train" : "infer", name, (unsigned long)calls[p][i + 6]);
      print_u64("", total[p][i + 6]);
    }
  }
  printf("done\n");
  return 0;
}
