// Cycles per instruction for each Cortex-M core the model covers. The fitted model counts
// instructions per loop of each kernel (shape.ts features); each loop is one of three classes, and
// each class gets the CPI of its loop body under the core's published timings:
//   smlad:    the four-tap dot product of 16-bit weights, as gcc 12.2 -O2 compiles
//             lm_kernels.c's DSP path for M4 (arm-none-eabi-objdump): 3 LDR, 2 SXTB16, 2 SADD16,
//             UXTH, ROR, 2 ORR, AND, 2 SMLAD, ADDS, CMP, BNE = 19 instructions per 4 MACs;
//   byteLoop: the one-tap loops (8-bit weights, depthwise taps, pools, remainders):
//             LDRSB, LDRSB/LDRSH, SUB, CMP, MLA, BNE = 6 instructions per tap;
//   control:  everything else — loop control, requantization, the z generator's hashing and
//             binary search, staging — a mix of ALU, loads, multiplies and taken branches.
// Where a TRM publishes no per-instruction table the figure is a labelled assumption.

export const CORE_IDS = ['cortex-m4', 'cortex-m7', 'cortex-m33', 'cortex-m55'] as const;
export type CoreId = (typeof CORE_IDS)[number];

export const LOOP_CLASSES = ['smlad', 'byteLoop', 'control'] as const;
export type LoopClass = (typeof LOOP_CLASSES)[number];

export interface CoreTiming {
  cpi: Record<LoopClass, number>;
  derivation: string;
  source: string;
  /** True where the TRM publishes no cycle table and the figures are our assumption. */
  assumed: boolean;
}

const M4_DERIVATION =
  'smlad: 3 pipelined LDR = 4 cycles, 15 single-cycle ALU/DSP instructions (SXTB16, SADD16, SMLAD are 1 cycle), taken BNE 1 + P with P = 2: 22 cycles / 19 instructions = 1.16; ' +
  'byteLoop: two back-to-back loads 3 cycles, SUB, CMP, MLA 1 each, taken BNE 3: 9 cycles / 6 instructions = 1.5; ' +
  'control: assumed 1.5 (about one load and one taken branch per five instructions)';

export const CORE_TIMING: Record<CoreId, CoreTiming> = {
  'cortex-m4': {
    cpi: { smlad: 22 / 19, byteLoop: 1.5, control: 1.5 },
    derivation: M4_DERIVATION,
    source: 'Arm Cortex-M4 Processor Technical Reference Manual r0p1 (DDI 0439B), section 3.3.1, Table 3-1 "Cortex-M4 instruction set summary": LDR 2 (neighbouring loads pipeline to N + 1), MLA/SMLAD/SXTB16/SADD16 1, B<cc> 1 or 1 + P (P = 1 to 3)',
    assumed: false,
  },
  'cortex-m33': {
    cpi: { smlad: 22 / 19, byteLoop: 1.5, control: 1.5 },
    derivation: `as the Cortex-M4 (${M4_DERIVATION}); the M33 has a 3-stage pipeline of the same class but its TRM publishes no per-instruction cycle table, so the M4 timings are assumed`,
    source: 'Arm Cortex-M33 Processor Technical Reference Manual r0p4 (100230): no instruction timing table; Cortex-M4 TRM (DDI 0439B) Table 3-1 assumed',
    assumed: true,
  },
  'cortex-m7': {
    cpi: { smlad: 0.65, byteLoop: 0.75, control: 0.9 },
    derivation: 'dual issue pairs most loads and ALU instructions, one MAC pipe limits SMLAD/MLA to one per cycle, predicted branches cost ~0: smlad ~12.5 cycles / 19, byteLoop ~4.5 / 6, control assumed 0.9; the M7 TRM publishes no per-instruction table, so all three are assumptions',
    source: 'Arm Cortex-M7 Processor Technical Reference Manual r1p2 (DDI 0489), chapter 1 "Introduction": 6-stage superscalar pipeline, dual issue, branch prediction; no cycle table',
    assumed: true,
  },
  'cortex-m55': {
    cpi: { smlad: 1.05, byteLoop: 1.1, control: 1.3 },
    derivation: 'the compiled loops end in LE (low-overhead loop, no taken-branch refill after the first iteration): smlad ~20 cycles / 19, byteLoop 5.5 / 5, control assumed 1.3; the M55 TRM publishes no scalar cycle table, so all three are assumptions',
    source: 'Arm Cortex-M55 Processor Technical Reference Manual r1p0 (101051): low-overhead loops with a loop-branch cache; no scalar cycle table',
    assumed: true,
  },
};

export function isCoreId(x: string): x is CoreId {
  return (CORE_IDS as readonly string[]).includes(x);
}
