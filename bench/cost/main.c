/* Calibration sweep for the MCU cost model: runs every shape in shapes.h through the exported C
 * kernel it names (src/export/c/runtime/lm_kernels.c) on the emulated board and prints how many
 * SysTick ticks each call took. Under `qemu-system-arm -icount
 * shift=0` every instruction advances virtual time by exactly 1 ns and SysTick counts the board's
 * CPU clock, so ticks × (1e9 / SYSCLK) is an exact instruction count; the runner also checks the
 * factor against a loop of known length. Output goes through Arm semihosting (BKPT 0xAB). */
#include <stdint.h>
#include <string.h>
#include "lm_kernels.h"
#include "shapes.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

static int semihost(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
static void put(const char *s) { semihost(0x04, s); }
static void put_u(uint32_t v) {
  char buf[12];
  int i = 11;
  buf[i] = 0;
  do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  put(buf + i);
}
static void finish(int ok) { semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026u : 0x20023u)); for (;;) {} }

/* Buffers sized for the largest shape in shapes.h (the runner computes the sizes). */
static int8_t act_in[LM_MAX_IN], act_in2[LM_MAX_IN], act_out[LM_MAX_OUT];
static int16_t weights[LM_MAX_WEIGHTS], scratch[LM_MAX_SCRATCH];
static int32_t bias[LM_MAX_CH], mult[LM_MAX_CH], shift[LM_MAX_CH];
static uint32_t keys[LM_MAX_CH];
static int32_t signs[LM_MAX_CH];

static uint32_t lcg = 12345u;
static uint32_t next_rand(void) { lcg = lcg * 1664525u + 1013904223u; return lcg >> 8; }

static void fill(void) {
  for (int i = 0; i < LM_MAX_IN; i++) { act_in[i] = (int8_t)next_rand(); act_in2[i] = (int8_t)next_rand(); }
  for (int i = 0; i < LM_MAX_WEIGHTS; i++) weights[i] = (int16_t)((int32_t)(next_rand() & 0x3ff) - 512);
  for (int i = 0; i < LM_MAX_CH; i++) {
    bias[i] = (int32_t)(next_rand() & 0xffff) - 32768;
    mult[i] = 1073741824 + (int32_t)(next_rand() & 0x3fffffff);
    shift[i] = -(int32_t)(7 + (next_rand() & 3));
    keys[i] = next_rand();
    signs[i] = (next_rand() & 1) ? 1 : -1;
  }
}

static inline uint32_t now(void) { return SYST_CVR; }
static inline uint32_t elapsed(uint32_t t0, uint32_t t1) { return (t0 - t1) & 0xFFFFFFu; }

/* One call of the exported kernel the shape names, with the arguments an exported model passes. */
static void run_once(const lm_shape *s) {
  const lm_requant rq = {mult, shift, 1, -5, -128, 127};
  const lm_perturb pt = {keys[0], 0, LM_DIST_GAUSSIAN, 3 * 256, 256, 1518500250, -8, 0};
  const lm_perturb *p = s->perturb ? &pt : 0;
  lm_conv_geom g = {s->batch, s->in_h, s->in_w, s->in_c, s->out_c, s->k_h, s->k_w, s->stride_h, s->stride_w, s->pad_h, s->pad_w, s->out_h, s->out_w, 1};
  const lm_pool_geom pg = {s->batch, s->in_h, s->in_w, s->in_c, s->k_h, s->k_w, s->stride_h, s->stride_w, s->pad_h, s->pad_w, s->out_h, s->out_w, -128, 127};
  switch (s->kernel) {
    case F_CONV: lm_conv2d(act_in, weights, s->bits, bias, act_out, &g, 3, &rq, p, scratch, sizeof scratch); break;
    case F_DW: lm_depthwise(act_in, weights, s->bits, bias, act_out, &g, 3, &rq, p, scratch, sizeof scratch); break;
    case F_FC: lm_dense(act_in, weights, s->bits, bias, act_out, s->batch, s->in_h * s->in_w * s->in_c, s->out_c, 3, &rq, p, scratch, sizeof scratch); break;
    case F_MAXPOOL: lm_maxpool(act_in, act_out, &pg); break;
    case F_AVGPOOL: lm_avgpool(act_in, act_out, &pg); break;
    case F_GAP: lm_global_avgpool(act_in, act_out, s->batch, s->in_h, s->in_w, s->in_c); break;
    case F_ADD: {
      const lm_add_params a = {20, 7, -3, -2, 1623821475, -19, 1580962734, -19, 1880186231, -18, -128, 127};
      lm_add(act_in, act_in2, act_out, s->batch * s->in_h * s->in_w * s->in_c, &a);
      break;
    }
    case F_UPDATE:
      lm_update(weights, s->bits, (uint32_t)(s->in_h * s->in_w * s->in_c), keys, signs, s->out_c, LM_DIST_GAUSSIAN, 256, 1518500250, -12);
      break;
  }
}

/* A loop of exactly 2·n instructions (SUBS + BNE), to check the ticks-to-instructions factor. */
static uint32_t known_loop(uint32_t n) {
  uint32_t t0 = now();
  __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n) : : "cc");
  return elapsed(t0, now());
}

int main(void) {
  SYST_CSR = 0;
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 5; /* enable, processor clock, no interrupt */
  fill();
  put("calibration loop_instructions=200000 ticks=");
  put_u(known_loop(100000));
  put("\n");
  for (unsigned i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
    uint32_t reps = 1, ticks = 0;
    for (;;) {
      const uint32_t t0 = now();
      for (uint32_t r = 0; r < reps; r++) run_once(&SHAPES[i]);
      ticks = elapsed(t0, now());
      if (ticks >= 2500u || reps >= 4096u) break;
      reps *= 4u;
    }
    put("shape ");
    put_u(i);
    put(" reps=");
    put_u(reps);
    put(" ticks=");
    put_u(ticks);
    put(" check=");
    put_u((uint32_t)(uint8_t)act_out[0]);
    put("\n");
  }
  put("done\n");
  return 0;
}

/* Startup: vector table, .data copy, .bss clear, coprocessor access (FPU/MVE code from the
 * compiler must not fault), then main. */
extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
void reset_handler(void);
static void fault_handler(void) { put("FAULT\n"); finish(0); }

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top, (const void *)reset_handler, (const void *)fault_handler, (const void *)fault_handler,
    (const void *)fault_handler, (const void *)fault_handler, (const void *)fault_handler, 0, 0, 0, 0,
    (const void *)fault_handler, (const void *)fault_handler, 0, (const void *)fault_handler,
    (const void *)fault_handler,
};

void reset_handler(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  CPACR |= 0xFu << 20;
  __asm__ volatile("dsb\n isb");
  finish(main() == 0);
}
