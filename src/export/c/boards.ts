// The QEMU boards the Makefile targets (one per core), their linker scripts, the vector table and
// the Makefile itself. Memory maps are QEMU's models of the Arm MPS2/MPS3 FPGA images: the vector
// table sits at the reset VTOR, code and constants in the code SRAM, data and stack in data SRAM.
export interface Board {
  cpu: string;
  machine: string;
  vectors: number;
  code: { origin: number; bytes: number };
  ram: { origin: number; bytes: number };
}

const MIB = 1024 * 1024;

export const BOARDS: readonly Board[] = [
  { cpu: 'cortex-m4', machine: 'mps2-an386', vectors: 0x00000000, code: { origin: 0x00000400, bytes: 4 * MIB - 0x400 }, ram: { origin: 0x20000000, bytes: 4 * MIB } },
  { cpu: 'cortex-m7', machine: 'mps2-an500', vectors: 0x00000000, code: { origin: 0x00000400, bytes: 4 * MIB - 0x400 }, ram: { origin: 0x20000000, bytes: 4 * MIB } },
  { cpu: 'cortex-m33', machine: 'mps2-an505', vectors: 0x10000000, code: { origin: 0x10000400, bytes: 4 * MIB - 0x400 }, ram: { origin: 0x38000000, bytes: 2 * MIB } },
  { cpu: 'cortex-m55', machine: 'mps3-an547', vectors: 0x00000000, code: { origin: 0x01000000, bytes: 2 * MIB }, ram: { origin: 0x21000000, bytes: 2 * MIB } },
];

export const CORES = BOARDS.map((b) => b.cpu);

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

export function linkerScript(b: Board): string {
  return `/* ${b.machine} (${b.cpu}) under QEMU: vectors at the reset VTOR, code + constants, then data, bss and stack. */
MEMORY {
  VECTORS (rx) : ORIGIN = ${hex(b.vectors)}, LENGTH = 1K
  CODE (rx)    : ORIGIN = ${hex(b.code.origin)}, LENGTH = ${b.code.bytes}
  RAM (rwx)    : ORIGIN = ${hex(b.ram.origin)}, LENGTH = ${b.ram.bytes}
}
SECTIONS {
  .vectors : { KEEP(*(.vectors)) } > VECTORS
  .text : { *(.text*) KEEP(*(.init)) KEEP(*(.fini)) . = ALIGN(4); } > CODE
  .rodata : { *(.rodata*) . = ALIGN(4); } > CODE
  .ARM.exidx : { *(.ARM.exidx*) } > CODE
  .preinit_array : { PROVIDE_HIDDEN(__preinit_array_start = .); KEEP(*(.preinit_array)) PROVIDE_HIDDEN(__preinit_array_end = .); } > CODE
  .init_array : { PROVIDE_HIDDEN(__init_array_start = .); KEEP(*(.init_array*)) PROVIDE_HIDDEN(__init_array_end = .); } > CODE
  .fini_array : { PROVIDE_HIDDEN(__fini_array_start = .); KEEP(*(.fini_array*)) PROVIDE_HIDDEN(__fini_array_end = .); } > CODE
  .data : { *(.data*) . = ALIGN(4); } > RAM
  .bss (NOLOAD) : { __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(8); __bss_end__ = .; } > RAM
  end = .;
  PROVIDE(_end = .);
  PROVIDE(__end__ = .);
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
  PROVIDE(__stack = __stack_top);
}
`;
}

export const STARTUP_C = `/* Vector table and reset for the QEMU boards: reset enters newlib's crt0 (_start), which clears
 * .bss, sets up semihosting and calls main. SysTick feeds the instruction counter of the benchmark. */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack_top;

void lm_reset(void);
void lm_systick(void);

void lm_reset(void) {
  _start();
}

static void lm_fault(void) {
  for (;;) {
  }
}

/* Counts SysTick wraps (24-bit counter) for the benchmark build; a no-op otherwise. */
volatile uint32_t lm_systick_wraps;

void lm_systick(void) {
  lm_systick_wraps++;
}

typedef void (*lm_handler)(void);

__attribute__((section(".vectors"), used)) const uintptr_t lm_vectors[16] = {
  (uintptr_t)&__stack_top, (uintptr_t)lm_reset, (uintptr_t)lm_fault, (uintptr_t)lm_fault,
  (uintptr_t)lm_fault, (uintptr_t)lm_fault, (uintptr_t)lm_fault, 0, 0, 0, 0,
  (uintptr_t)lm_fault, (uintptr_t)lm_fault, 0, (uintptr_t)lm_fault, (uintptr_t)lm_systick,
};
`;

export function makefile(): string {
  const cases = BOARDS.map((b, i) => `${i === 0 ? 'ifeq' : 'else ifeq'} ($(CPU),${b.cpu})\n  BOARD = ${b.machine}`).join('\n');
  return `# lastmile C export.
#   make host                       build with the system cc and run
#   make qemu CPU=cortex-m4         cross-compile and run on QEMU (${BOARDS.map((b) => `${b.cpu}: ${b.machine}`).join(', ')})
#   make size CPU=cortex-m4         section sizes from arm-none-eabi-size
#   make bench CPU=cortex-m4        per-kernel instruction counts (SysTick under -icount shift=0)
#   make mfcc-host / mfcc-qemu CPU=… the keyword-spotting front end on the clips in clips.s16
#   DEFS=-DLM_COL_MAX=…             compile-time options of the runtime, with any target (make clean first)
CPU ?= cortex-m4
CC ?= cc
ARM_CC ?= arm-none-eabi-gcc
ARM_SIZE ?= arm-none-eabi-size
QEMU ?= qemu-system-arm
WARN = -std=c99 -Wall -Wextra -Werror -pedantic
# The hybrid head's step factors are computed in double: no fused multiply-add, so every target rounds alike.
FP = -ffp-contract=off
HOST_CFLAGS ?= $(WARN) $(FP) -O2
ARM_CFLAGS ?= $(WARN) $(FP) -O2 -mcpu=$(CPU) -mthumb -mfloat-abi=soft -ffunction-sections -fdata-sections
LIB = lm_model.c runtime/lm_kernels.c runtime/lm_qzo.c runtime/lm_head_grad.c runtime/lm_tail_grad.c runtime/lm_sha256.c
SRC = main.c lm_data.c $(LIB)
DEFS ?=
INC = -I. -Iruntime $(DEFS)
QEMU_FLAGS = -nographic -monitor none -serial none -semihosting-config enable=on,target=native

${cases}
else
  $(error CPU must be one of ${CORES.join(', ')})
endif

.PHONY: host qemu size bench mfcc-host mfcc-qemu all-elf clean

build/host/lastmile-run: $(SRC) $(wildcard *.h runtime/*.h)
\tmkdir -p build/host
\t$(CC) $(HOST_CFLAGS) $(INC) $(SRC) -o $@

host: build/host/lastmile-run
\t./build/host/lastmile-run

build/$(CPU)/lastmile-run.elf: $(SRC) boards/startup.c boards/$(BOARD).ld $(wildcard *.h runtime/*.h)
\tmkdir -p build/$(CPU)
\t$(ARM_CC) $(ARM_CFLAGS) $(INC) $(SRC) boards/startup.c --specs=rdimon.specs -T boards/$(BOARD).ld -Wl,--gc-sections -Wl,-e,lm_reset -o $@

qemu: build/$(CPU)/lastmile-run.elf
\t$(QEMU) -M $(BOARD) -cpu $(CPU) $(QEMU_FLAGS) -kernel $<

size: build/$(CPU)/lastmile-run.elf
\t$(ARM_SIZE) -A $<

build/$(CPU)/lastmile-bench.elf: bench.c lm_data.c $(LIB) boards/startup.c boards/$(BOARD).ld $(wildcard *.h runtime/*.h)
\tmkdir -p build/$(CPU)
\t$(ARM_CC) $(ARM_CFLAGS) -DLM_PROFILE $(INC) bench.c lm_data.c $(LIB) boards/startup.c --specs=rdimon.specs -T boards/$(BOARD).ld -Wl,--gc-sections -Wl,-e,lm_reset -o $@

bench: build/$(CPU)/lastmile-bench.elf
\t$(QEMU) -M $(BOARD) -cpu $(CPU) $(QEMU_FLAGS) -icount shift=0 -kernel $<

MFCC_SRC = mfcc.c runtime/lm_mfcc.c

build/host/lastmile-mfcc: $(MFCC_SRC) runtime/lm_mfcc.h runtime/lm_mfcc_tables.h
\tmkdir -p build/host
\t$(CC) $(HOST_CFLAGS) $(INC) $(MFCC_SRC) -o $@

mfcc-host: build/host/lastmile-mfcc
\t./build/host/lastmile-mfcc

build/$(CPU)/lastmile-mfcc.elf: $(MFCC_SRC) runtime/lm_mfcc.h runtime/lm_mfcc_tables.h boards/startup.c boards/$(BOARD).ld
\tmkdir -p build/$(CPU)
\t$(ARM_CC) $(ARM_CFLAGS) $(INC) $(MFCC_SRC) boards/startup.c --specs=rdimon.specs -T boards/$(BOARD).ld -Wl,--gc-sections -Wl,-e,lm_reset -o $@

mfcc-qemu: build/$(CPU)/lastmile-mfcc.elf
\t$(QEMU) -M $(BOARD) -cpu $(CPU) $(QEMU_FLAGS) -icount shift=0 -kernel $<

clean:
\trm -rf build
`;
}
