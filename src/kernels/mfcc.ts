// Host side of the MLPerf Tiny keyword-spotting front end (assembly/mfcc.ts): 1 s of 16 kHz int16
// audio → 49 × 10 MFCC, int8 with the model's input quantization. See docs/AUDIO.md.
import { Arena, type DeviceBuffer } from '../device/arena.js';
import { Device } from '../device/device.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError } from '../errors.js';
import { requireDisjoint, requireScratch } from './gemm.js';

export const KWS_SAMPLE_RATE = 16000;
export const KWS_SAMPLES = 16000;
export const KWS_FRAMES = 49;
export const KWS_COEFFS = 10;
export const KWS_FEATURES = KWS_FRAMES * KWS_COEFFS;
/** The MLPerf Tiny KWS reference model's input quantization. */
export const KWS_INPUT_SCALE = 0.5847029;
export const KWS_INPUT_ZERO_POINT = 83;
/** Scratch the device front end needs (the complex frame, magnitudes and log-mel values). */
export const MFCC_SCRATCH_BYTES = 2048 + 512 + 320;

export interface MfccQuant {
  scale: number;
  zeroPoint: number;
}

export function mfccScratchBytes(): number {
  return MFCC_SCRATCH_BYTES;
}

/** invScale = round(2^shift / scale) with the largest shift keeping it below 2^30. */
export function mfccInverseScale(scale: number): { invScale: number; invShift: number } {
  if (!Number.isFinite(scale) || scale < 2 ** -10 || scale > 2 ** 10) {
    throw new ConfigError(`MFCC input scale must be a finite number in [2^-10, 2^10], got ${scale}`);
  }
  let invShift = 0;
  while (invShift < 40 && Math.round(2 ** (invShift + 1) / scale) < 2 ** 30) invShift++;
  return { invScale: Math.round(2 ** invShift / scale), invShift };
}

function requireQuant(q: MfccQuant): void {
  if (!Number.isInteger(q.zeroPoint) || q.zeroPoint < -128 || q.zeroPoint > 127) {
    throw new ConfigError(`MFCC input zero point must be an integer in [-128, 127], got ${q.zeroPoint}`);
  }
  mfccInverseScale(q.scale);
}

/**
 * input: KWS_SAMPLES int16 samples; output: KWS_FEATURES int8 (frame-major [49][10]);
 * outputQ16: optional KWS_FEATURES int32, the unquantized MFCC in Q16 (for error measurement);
 * scratch: mfccScratchBytes() bytes.
 */
export function mfccKws(
  arena: Arena, input: DeviceBuffer, output: DeviceBuffer, scratch: DeviceBuffer | null,
  quant: MfccQuant = { scale: KWS_INPUT_SCALE, zeroPoint: KWS_INPUT_ZERO_POINT }, outputQ16: DeviceBuffer | null = null,
): void {
  const what = 'mfccKws';
  requireQuant(quant);
  checkBuffer(arena.device, input, KWS_SAMPLES * 2, `${what} input`);
  checkBuffer(arena.device, output, KWS_FEATURES, `${what} output`);
  const scratchOffset = requireScratch(arena, scratch, MFCC_SCRATCH_BYTES, 'mfccScratchBytes', what);
  const inputs = [{ buffer: input, bytes: KWS_SAMPLES * 2, what: 'input' }, { buffer: scratch!, bytes: MFCC_SCRATCH_BYTES, what: 'scratch' }];
  requireDisjoint({ buffer: output, bytes: KWS_FEATURES, what: 'output' }, inputs);
  requireDisjoint({ buffer: scratch!, bytes: MFCC_SCRATCH_BYTES, what: 'scratch' }, [inputs[0]!]);
  if (outputQ16) {
    checkBuffer(arena.device, outputQ16, KWS_FEATURES * 4, `${what} outputQ16`);
    requireDisjoint({ buffer: outputQ16, bytes: KWS_FEATURES * 4, what: 'outputQ16' }, [...inputs, { buffer: output, bytes: KWS_FEATURES, what: 'output' }]);
  }
  const { invScale, invShift } = mfccInverseScale(quant.scale);
  arena.device.kernel('mfcc_kws_s8')(input.offset, output.offset, outputQ16 ? outputQ16.offset : 0, scratchOffset, invScale, invShift, quant.zeroPoint);
}

/** Convenience: runs the front end on one clip in a temporary arena region and returns the int8 features. */
export function mfccKwsClip(arena: Arena, samples: Int16Array, quant?: MfccQuant, withQ16 = false): { features: Int8Array; q16: Int32Array | null } {
  if (samples.length !== KWS_SAMPLES) throw new ConfigError(`mfccKws needs exactly ${KWS_SAMPLES} samples (1 s at 16 kHz), got ${samples.length}`);
  const mark = arena.mark();
  try {
    const input = arena.put(samples, 'mfcc input');
    const output = arena.alloc(KWS_FEATURES, 'mfcc output');
    const scratch = arena.alloc(MFCC_SCRATCH_BYTES, 'mfcc scratch');
    const q16 = withQ16 ? arena.alloc(KWS_FEATURES * 4, 'mfcc q16') : null;
    mfccKws(arena, input, output, scratch, quant, q16);
    return { features: arena.i8(output).slice(), q16: q16 ? arena.i32(q16).slice() : null };
  } finally {
    arena.release(mark);
  }
}

/** Constant tables the front end keeps in flash (assembly/mfcc_tables.ts): window, twiddles, mel, DCT, log. */
export const MFCC_TABLE_BYTES = 480 * 4 + 2 * 256 * 4 + 3 * 40 * 2 + 247 * 2 + 10 * 40 * 4 + 257 * 4;

export interface MfccFootprint {
  /** SRAM while it runs: the 1 s int16 clip, the int8 features and the scratch. */
  sramBytes: number;
  flashBytes: number;
  /** 32×32→64-bit multiplies per clip (window, FFT, split, magnitude², mel, DCT, quantization). */
  multiplies: number;
  /** Integer square roots per clip (one per FFT bin below 4 kHz per frame). */
  squareRoots: number;
}

/** What one clip's features cost on the device, for the memory plan and time estimates. */
export function mfccFootprint(): MfccFootprint {
  const perFrame = 2 * 480 + 8 * 128 * 4 + 128 * 6 + 247 + 41 + 10 * 40 + 10;
  return { sramBytes: KWS_SAMPLES * 2 + KWS_FEATURES + MFCC_SCRATCH_BYTES, flashBytes: MFCC_TABLE_BYTES, multiplies: KWS_FRAMES * perFrame, squareRoots: KWS_FRAMES * 128 };
}

/**
 * The device front end as a feature extractor for data sources (src/data/wav-folder.ts): one small
 * scalar device (the integer code is the same in every build) computing each clip in its own arena.
 */
export async function createMfccFrontEnd(quant: MfccQuant = { scale: KWS_INPUT_SCALE, zeroPoint: KWS_INPUT_ZERO_POINT }): Promise<{ features(clip: Int16Array): Int8Array; quant: MfccQuant }> {
  requireQuant(quant);
  const device = await Device.create({ build: 'scalar', arenaBytes: 64 * 1024 });
  const arena = new Arena(device);
  return { quant, features: (clip) => mfccKwsClip(arena, clip, quant).features };
}
