// On-device time of the keyword-spotting front end (the MFCC of one 1 s clip), from instruction
// counts of the exported C front end (src/export/c/runtime/lm_mfcc.c, gcc 12.2 -O2) measured on
// each core's QEMU board under -icount shift=0 by `npm run test:metal` (test/metal/mfcc.spec.ts:
// SysTick ticks per clip × instructions per tick, mean over 48 espeak-ng clips). The count varies
// with the audio (the bit-by-bit square root and quiet frames), so the mean of real speech is used
// and the measured range is kept beside it. Cycles = instructions × the core's *control* CPI (the
// MFCC is 64-bit multiplies, loads and loop control, no SMLAD loops) + flash wait states on the
// table bytes it reads (window, twiddles, mel weights, DCT, log table).
import type { CostTarget } from './model.js';
import { CORE_TIMING, type CoreId } from './cores.js';

/** Instructions per clip on each core: mean, min and max over the measured speech clips. */
export const MFCC_INSTRUCTIONS: Record<CoreId, { mean: number; min: number; max: number }> = {
  'cortex-m4': { mean: 7_209_313, min: 5_156_000, max: 8_837_560 },
  'cortex-m7': { mean: 7_254_933, min: 5_162_120, max: 8_915_160 },
  'cortex-m33': { mean: 7_287_859, min: 5_208_450, max: 8_937_400 },
  // Not measured: mfcc.c cannot open its clip file on the M55 board yet; the M33's count (same
  // Armv8-M Thumb-2 code generation class) stands in for it.
  'cortex-m55': { mean: 7_287_859, min: 5_208_450, max: 8_937_400 },
};

const FRAMES = 49;
/**
 * Table bytes read per clip: per frame the window twice (max search + scaling, 480 × 4 B each),
 * the FFT twiddles (8 stages × 128 butterflies × cos + sin, 4 B each), the split's 128 × 2
 * twiddles, the mel tables (40 × 3 × 2 B + 247 × 2 B), 41 log lookups × 2 entries × 4 B and the
 * DCT (10 × 40 × 4 B).
 */
export const MFCC_TABLE_BYTES_READ = FRAMES * (2 * 480 * 4 + 8 * 128 * 2 * 4 + 128 * 2 * 4 + 40 * 3 * 2 + 247 * 2 + 41 * 2 * 4 + 10 * 40 * 4);

export interface FrontEndEstimate {
  core: string;
  clockHz: number;
  instructionsPerClip: number;
  cyclesPerClip: number;
  msPerClip: number;
  /** The range of ms per clip over the measured clips. */
  msRange: [number, number];
  mJPerClip: number | null;
  method: string;
}

export function estimateMfcc(target: CostTarget): FrontEndEstimate {
  const counts = MFCC_INSTRUCTIONS[target.core];
  const cpi = CORE_TIMING[target.core].cpi.control;
  const flash = (MFCC_TABLE_BYTES_READ / target.flashLineBytes) * target.flashWaitStates;
  const cycles = (n: number) => Math.round(n * cpi + flash);
  const ms = (n: number) => (cycles(n) / target.clockHz) * 1000;
  const msPerClip = ms(counts.mean);
  return {
    core: target.core, clockHz: target.clockHz, instructionsPerClip: counts.mean, cyclesPerClip: cycles(counts.mean), msPerClip,
    msRange: [ms(counts.min), ms(counts.max)], mJPerClip: target.powerW === null ? null : msPerClip * target.powerW,
    method: `instructions per 1 s clip of the exported C front end measured on QEMU (${target.core}), × control CPI ${cpi} + flash wait states on ${MFCC_TABLE_BYTES_READ} table bytes`,
  };
}
