// Weights packed once for many calls (assembly/gemm_prepacked.ts). A frozen layer's packed panels
// — int16 weight pairs plus a header holding bias − zin·Σw and the requant constants — depend
// only on its weights, bias, input zero point and requantization, none of which change while a
// session runs, so they are packed when the session is prepared (into flash, next to the
// weights) instead of on every call. Trained layers keep packing per call with the perturbation
// fused. The packed bytes equal what the per-call path packs, so the results are identical. A
// layer whose bias alone trains packs its panels without the bias (separateBias) and each call
// adds the SRAM bias to the accumulators: the same wrapping int32 sum, so the same results.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { PreparedRequant } from './requant.js';
import { requireInt } from './validate.js';
import { GEMM_MR, GEMM_NR, MAX_DIM, packedPanelBytes, requantArgs, requireDisjoint, requireWeightBits, requireZeroPoint } from './gemm.js';

/** A layer's packed panels and what was baked into them. */
export interface PackedPanels {
  readonly panels: DeviceBuffer;
  /** GEMM depth (conv: kernelHeight·kernelWidth·inChannels). */
  readonly k: number;
  /** Output features / channels. */
  readonly n: number;
  readonly inputZeroPoint: number;
  /** Whether requant constants were packed (false: the layer outputs int32 accumulators). */
  readonly requantized: boolean;
  readonly perChannel: boolean;
  /**
   * The panels were packed without the bias (header −zin·Σw): every call passes the bias, which the
   * kernel adds to the accumulators. A bias-trained layer keeps its weights packed in flash this way
   * and only its bias in SRAM, where training perturbs and updates it.
   */
  readonly separateBias: boolean;
}

export interface PackParams {
  k: number;
  n: number;
  weightBits: 8 | 16;
  inputZeroPoint: number;
  /** Pack without the bias (PackedPanels.separateBias); the `bias` argument must then be null. */
  separateBias?: boolean;
}

/** Bytes of a whole layer's packed panels: ceil(n / 8) panels of packedPanelBytes(k). */
export function packedPanelsBytes(k: number, n: number): number {
  requireInt(k, 'packedPanelsBytes: k', 1, MAX_DIM);
  requireInt(n, 'packedPanelsBytes: n', 1, MAX_DIM);
  return Math.ceil(n / GEMM_NR) * packedPanelBytes(k);
}

/** Scratch of a pre-packed call: one activation tile of GEMM_MR rows of k (padded to even) int16. */
export function prepackedTileBytes(k: number): number {
  return Math.ceil(k / 2) * 2 * GEMM_MR * 2;
}

/**
 * Packs weights [n][k] (int8/int16), bias and requantization (null: int32 output) into dst, which
 * must hold packedPanelsBytes(k, n) bytes and overlap none of them.
 */
export function packWeightPanels(
  arena: Arena,
  weights: DeviceBuffer,
  bias: DeviceBuffer | null,
  requant: PreparedRequant | null,
  dst: DeviceBuffer,
  p: PackParams,
): PackedPanels {
  requireInt(p.k, 'packWeightPanels: k', 1, MAX_DIM);
  requireInt(p.n, 'packWeightPanels: n', 1, MAX_DIM);
  requireWeightBits(p.weightBits, 'packWeightPanels');
  requireZeroPoint(p.inputZeroPoint, 'packWeightPanels');
  if (p.separateBias === true && bias !== null) throw new ConfigError('packWeightPanels: panels packed with separateBias hold no bias; pass bias = null (each call passes it)');
  const device = arena.device;
  const wBytes = p.k * p.n * (p.weightBits / 8);
  const bytes = packedPanelsBytes(p.k, p.n);
  checkBuffer(device, weights, wBytes, 'packWeightPanels weights');
  if (bias !== null) checkBuffer(device, bias, p.n * 4, 'packWeightPanels bias');
  checkBuffer(device, dst, bytes, 'packWeightPanels panels');
  const q = requantArgs(arena, requant, p.n, 'packWeightPanels');
  const reads = [{ buffer: weights, bytes: wBytes, what: 'weights' }];
  if (bias !== null) reads.push({ buffer: bias, bytes: p.n * 4, what: 'bias' });
  requireDisjoint({ buffer: dst, bytes, what: 'packed panels' }, reads);
  device.kernel('pack_weight_panels_qs8')(
    weights.offset, p.weightBits, p.k, p.n, dst.offset, bias === null ? 0 : bias.offset, p.inputZeroPoint,
    q[0]!, q[1]!, requant === null ? 0 : 1, q[2]!,
  );
  return { panels: dst, k: p.k, n: p.n, inputZeroPoint: p.inputZeroPoint, requantized: requant !== null, perChannel: requant?.perChannel ?? false, separateBias: p.separateBias === true };
}

/** Throws unless `packed` was packed for this layer geometry, zero point and output kind. */
export function requirePackedFor(
  arena: Arena, packed: PackedPanels, k: number, n: number, inputZeroPoint: number, requant: PreparedRequant | null, what: string,
): void {
  if (packed.k !== k || packed.n !== n) {
    throw new ShapeError(`${what}: packed panels are for k = ${packed.k}, n = ${packed.n} but the call has k = ${k}, n = ${n}`);
  }
  if (packed.inputZeroPoint !== inputZeroPoint || packed.requantized !== (requant !== null) || (requant !== null && packed.perChannel !== requant.perChannel)) {
    throw new ConfigError(`${what}: packed panels were packed with a different input zero point or requantization; pack them again with this layer's`);
  }
  checkBuffer(arena.device, packed.panels, packedPanelsBytes(k, n), `${what} packed panels`);
}

/**
 * The bias pointer a pre-packed call hands the kernel: 0 when the bias is in the panels, else the
 * call's bias (packed.separateBias; it must be given — the caller checks its size and overlaps).
 */
export function separateBiasOffset(packed: PackedPanels, bias: DeviceBuffer | null, what: string): number {
  if (!packed.separateBias) return 0;
  if (bias === null) throw new ConfigError(`${what}: the packed panels were packed without the bias (separateBias); pass the layer's bias`);
  return bias.offset;
}
