// Cycles per instruction for each Cortex-M core the model covers. The fitted model counts
// instructions; turning them into cycles needs the cost of the instructions the kernels actually
// run, and >90% of a MAC kernel's instructions are its inner loop. That loop, as gcc 12.2 -O2
// compiles the portable kernels (arm-none-eabi-objdump of bench/cost/kernels.c), is
//   M4/M7/M33:  LDRSB, LDRSB(H), ADD, CMP, MLA, BNE          (6 instructions per MAC)
//   M55:        LDRSB, LDRSB(H), ADD, MLA, LE (low-overhead loop)  (5 instructions per MAC)
// The CPI below is that loop's cycle count divided by its instruction count, from the timings
// each TRM gives; where a TRM gives no per-instruction table it is a labelled assumption.

export const CORE_IDS = ['cortex-m4', 'cortex-m7', 'cortex-m33', 'cortex-m55'] as const;
export type CoreId = (typeof CORE_IDS)[number];

export interface CoreTiming {
  /** Cycles per instruction of the kernels' inner loop. */
  cpi: number;
  /** How the figure was derived. */
  derivation: string;
  source: string;
  /** True where the TRM publishes no cycle table and the figure is our assumption. */
  assumed: boolean;
}

export const CORE_TIMING: Record<CoreId, CoreTiming> = {
  'cortex-m4': {
    cpi: 1.5,
    derivation: 'two back-to-back LDRSB = 3 cycles (2 + 1 pipelined), ADD 1, CMP 1, MLA 1, taken BNE 1 + P with P = 2: 9 cycles / 6 instructions',
    source: 'Arm Cortex-M4 Processor Technical Reference Manual r0p1 (DDI 0439B), section 3.3.1, Table 3-1 "Cortex-M4 instruction set summary" (LDR 2, "neighboring load and store single instructions can pipeline", MLA 1, B<cc> 1 or 1 + P, P = 1 to 3)',
    assumed: false,
  },
  'cortex-m33': {
    cpi: 1.5,
    derivation: 'same loop as the M4; the M33 has a 3-stage pipeline of the same class but its TRM publishes no per-instruction cycle table, so the M4 timings are assumed',
    source: 'Arm Cortex-M33 Processor Technical Reference Manual r0p4 (100230): no instruction timing table; M4 table (DDI 0439B, Table 3-1) assumed',
    assumed: true,
  },
  'cortex-m7': {
    cpi: 0.75,
    derivation: 'dual issue of the ADD/CMP with the loads and MLA, branch predicted taken: ~4.5 cycles / 6 instructions; the M7 TRM publishes no per-instruction cycle table, so this is an assumption',
    source: 'Arm Cortex-M7 Processor Technical Reference Manual r1p2 (DDI 0489), chapter 1 "Introduction": 6-stage superscalar pipeline with dual issue and branch prediction; no cycle table',
    assumed: true,
  },
  'cortex-m55': {
    cpi: 1.1,
    derivation: 'LDRSB pair 3 cycles, ADD 1, MLA 1, LE with loop-branch cache ~0.5: 5.5 cycles / 5 instructions; the M55 TRM publishes no scalar cycle table, so this is an assumption',
    source: 'Arm Cortex-M55 Processor Technical Reference Manual r1p0 (101051): low-overhead loops (LE) with a loop-branch cache; no scalar cycle table',
    assumed: true,
  },
};

export function isCoreId(x: string): x is CoreId {
  return (CORE_IDS as readonly string[]).includes(x);
}
