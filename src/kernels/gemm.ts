// Host side of the qs8 GEMM (TFLite Micro FullyConnected semantics): validates shapes, zero
// points and buffers, sizes the scratch the device packs weights into, and calls the device's
// fully_connected_qs8. The packed layout (assembly/gemm.ts) fixes the sizes below; conv.ts
// shares them because Conv2D runs on the same packed panels and micro-kernel.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import { checkBuffer } from '../device/arena.js';
import { ConfigError, ShapeError } from '../errors.js';
import { checkPrepared, type PreparedRequant } from './requant.js';
import { perturbArgs, type PerturbSpec } from './perturb-spec.js';
import { requireIndexRange } from './rng.js';
import { requireInt } from './validate.js';
import { prepackedTileBytes, requirePackedFor, separateBiasOffset, type PackedPanels } from './packed-weights.js';

export interface FullyConnectedParams {
  /** M: rows of input (and output). */
  batch: number;
  /** K. */
  inFeatures: number;
  /** N. */
  outFeatures: number;
  weightBits: 8 | 16;
  inputZeroPoint: number;
  perturb?: PerturbSpec;
  /**
   * Most bytes of packed weights the kernel holds at once (default PACKED_WEIGHT_BUDGET_BYTES).
   * A smaller budget shrinks scratch; the layer is then packed in column chunks and the
   * activations are re-read once per chunk. At least one panel is always held.
   */
  packedWeightBudget?: number;
  /**
   * Columns per packed panel: 8 (default, the fastest micro-kernel), or 4 or 2, which hold K × 8 or
   * K × 4 bytes of weights instead of K × 16 at a lower speed (a session picks them only for a
   * per-call packing layer that would otherwise set the SRAM peak). Results are identical.
   */
  panelColumns?: PanelColumns;
  /**
   * The layer's weights packed once beforehand (packWeightPanels, src/kernels/packed-weights.ts):
   * batches above GEMV_MAX_BATCH then read these panels instead of packing. Not with perturb.
   */
  packed?: PackedPanels;
  /** Size scratch for calls that pass `packed` (one activation tile or the GEMV rows). */
  prepacked?: boolean;
  /**
   * Compute only output units [start, end) (columns of every output row; the rest of the output is
   * not written): each is the value the whole-width call gives, and a fused perturbation keeps the
   * stream indices of the whole tensor. Lets a caller change the weights of one block of units
   * between calls. Not with `packed`.
   */
  units?: { start: number; end: number };
}

/** Rows and columns of the device micro-kernel's register tile. */
export const GEMM_MR = 4;
export const GEMM_NR = 8;
/** Panel widths the device packs (assembly/gemm.ts): the 4x8 micro-kernel's, and the narrow 4x4 kernel's. */
export const PANEL_COLUMNS = [8, 4, 2] as const;
const PANEL_HEADER_BYTES = 256;
/** Bytes between two fields of a narrow panel's 4-lane header (8 fields). */
const NARROW_FIELD = 16;
export type PanelColumns = (typeof PANEL_COLUMNS)[number];
/**
 * Default for packedWeightBudget. Layers whose packed form is larger are packed in chunks of
 * columns, each reused for all rows; the activations are then re-read (and for conv re-gathered)
 * once per chunk. 128 KiB holds every MLPerf Tiny ResNet-8 / DS-CNN layer in one chunk;
 * bench/gemm-tune.ts measures the cost of smaller budgets (docs/KERNELS.md).
 */
export const PACKED_WEIGHT_BUDGET_BYTES = 128 * 1024;
/** Largest budget accepted: 1 GiB, the most device memory there can be. */
const MAX_BUDGET = 2 ** 30;
/** Upper bound for any one dimension, so every device-side index fits comfortably in 32 bits. */
export const MAX_DIM = 1 << 24;

/**
 * Bytes of one packed panel of `columns` columns: header (8 int32 fields of 8 lanes, 4 lanes for a
 * narrow panel) + K padded to even, as int16 pairs.
 */
export function packedPanelBytes(k: number, columns: PanelColumns = GEMM_NR): number {
  return (columns === GEMM_NR ? PANEL_HEADER_BYTES : NARROW_FIELD * 8) + Math.ceil(k / 2) * 2 * columns * 2;
}

/** Panels packed per chunk: as many as the budget allows, split evenly across chunks. */
export function packedChunkPanels(k: number, n: number, budget = PACKED_WEIGHT_BUDGET_BYTES, columns: PanelColumns = GEMM_NR): number {
  const total = Math.ceil(n / columns);
  const fit = Math.max(1, Math.floor(budget / packedPanelBytes(k, columns)));
  const chunks = Math.ceil(total / fit);
  return Math.ceil(total / chunks);
}

/** Packed weight chunk + one activation tile (GEMM_MR rows of K padded to even, int16). */
export function gemmCoreScratchBytes(k: number, n: number, budget = PACKED_WEIGHT_BUDGET_BYTES, columns: PanelColumns = GEMM_NR): number {
  return packedChunkPanels(k, n, budget, columns) * packedPanelBytes(k, columns) + Math.ceil(k / 2) * 2 * GEMM_MR * 2;
}

/** The panel width a call packs, checked. */
export function panelColumnsOf(p: { panelColumns?: number }, what: string): PanelColumns {
  const columns = p.panelColumns ?? GEMM_NR;
  if (!(PANEL_COLUMNS as readonly number[]).includes(columns)) {
    throw new ConfigError(`${what}: panelColumns must be one of ${PANEL_COLUMNS.join(', ')}, got ${columns}`);
  }
  return columns as PanelColumns;
}

/** The packing budget a call uses, checked. */
export function packedBudgetOf(p: { packedWeightBudget?: number }, what: string): number {
  const budget = p.packedWeightBudget ?? PACKED_WEIGHT_BUDGET_BYTES;
  if (!Number.isInteger(budget) || budget < 0 || budget > MAX_BUDGET) {
    throw new ConfigError(`${what}: packedWeightBudget must be an integer number of bytes in [0, 2^30], got ${budget}`);
  }
  return budget;
}

/**
 * Batches up to this size take the device's GEMV path (assembly/gemm_gemv.ts): it reads the
 * stored weights in place, because packing costs more than the multiply when each weight is used
 * only a few times. It handles rows in pairs and perturbs weights once per pair, so a perturbed
 * call switches to packing (which perturbs each weight once) above 2 rows. bench/gemm-tune.ts
 * measured the crossovers.
 */
export const GEMV_MAX_BATCH = 4;
export const GEMV_MAX_BATCH_PERTURBED = 2;

/** GEMV scratch: 2 centered activation rows + 4 perturbed weight rows, K padded to 8, int16. */
function gemvScratchBytes(k: number): number {
  return 6 * Math.ceil(k / 8) * 8 * 2;
}

export function requireWeightBits(bits: number, what: string): void {
  if (bits !== 8 && bits !== 16) {
    throw new ConfigError(`${what}: weightBits must be 8 or 16, got ${bits}; 16w8a is the paper's default`);
  }
}

export function requireZeroPoint(zp: number, what: string): void {
  if (!Number.isInteger(zp) || zp < -128 || zp > 127) {
    throw new ConfigError(`${what}: input zero point must be an integer in [-128, 127] (int8 activations), got ${zp}`);
  }
}

/** A span of device memory a kernel reads or writes, for overlap checks. */
export interface Span {
  buffer: DeviceBuffer;
  bytes: number;
  what: string;
}

/** Throws if `written` overlaps any of `others`: the kernel would read what it already overwrote. */
export function requireDisjoint(written: Span, others: Span[]): void {
  const a0 = written.buffer.offset;
  const a1 = a0 + written.bytes;
  for (const o of others) {
    const b0 = o.buffer.offset;
    const b1 = b0 + o.bytes;
    if (a0 < b1 && b0 < a1) {
      throw new ShapeError(
        `${written.what} '${written.buffer.name}' overlaps ${o.what} '${o.buffer.name}' ([${a0}, ${a1}) vs [${b0}, ${b1})); ` +
          'kernels do not work in place: pass separate buffers',
      );
    }
  }
}

/** Checks the prepared requant and returns the device arguments for it (or for int32 output). */
export function requantArgs(arena: Arena, requant: PreparedRequant | null, channels: number, what: string): number[] {
  if (requant === null) return [0, 0, 0, 0, -128, 127];
  checkPrepared(requant, channels, what);
  const count = requant.perChannel ? channels : 1;
  checkBuffer(arena.device, requant.multiplier, count * 4, `${what} requant multipliers`);
  checkBuffer(arena.device, requant.shift, count * 4, `${what} requant shifts`);
  return [requant.multiplier.offset, requant.shift.offset, requant.perChannel ? 1 : 0, requant.outZeroPoint, requant.actMin, requant.actMax];
}

/** Checks the scratch buffer against the size the kernel needs; returns its offset. */
export function requireScratch(arena: Arena, scratch: DeviceBuffer | null, needed: number, sizeFn: string, what: string): number {
  if (scratch === null || scratch === undefined) {
    throw new ShapeError(`${what}: needs ${needed} B of scratch but got null; allocate ${sizeFn}(params) bytes and pass them in`);
  }
  if (scratch.bytes < needed) {
    throw new ShapeError(`${what}: scratch '${scratch.name}' holds ${scratch.bytes} B but ${needed} B are needed; allocate ${sizeFn}(params) bytes`);
  }
  checkBuffer(arena.device, scratch, needed, `${what} scratch`);
  return scratch.offset;
}

function validateParams(p: FullyConnectedParams): void {
  requireInt(p.batch, 'fullyConnected: batch', 1, MAX_DIM);
  requireInt(p.inFeatures, 'fullyConnected: inFeatures', 1, MAX_DIM);
  requireInt(p.outFeatures, 'fullyConnected: outFeatures', 1, MAX_DIM);
  requireWeightBits(p.weightBits, 'fullyConnected');
  requireZeroPoint(p.inputZeroPoint, 'fullyConnected');
  packedBudgetOf(p, 'fullyConnected');
  panelColumnsOf(p, 'fullyConnected');
}

/**
 * Scratch the kernel needs: one chunk of packed weight panels and one activation tile. It does
 * not depend on the batch or on p.perturb (the small-batch path needs less), so one plan fits
 * every call on a layer.
 */
export function fullyConnectedScratchBytes(p: FullyConnectedParams): number {
  validateParams(p);
  if (p.prepacked || p.packed) return Math.max(prepackedTileBytes(p.inFeatures), gemvScratchBytes(p.inFeatures));
  return Math.max(gemmCoreScratchBytes(p.inFeatures, p.outFeatures, packedBudgetOf(p, 'fullyConnected'), panelColumnsOf(p, 'fullyConnected')), gemvScratchBytes(p.inFeatures));
}

/**
 * output[m][n] = requant(bias[n] + Σ_k (input[m][k] − zin)·w[n][k]) as int8, or the int32
 * accumulators (wrapping) when requant is null. Weights are [N][K] int8 or int16, never written;
 * with p.perturb they are perturbed on the fly while packing.
 */
export function fullyConnected(
  arena: Arena,
  input: DeviceBuffer,
  weights: DeviceBuffer,
  bias: DeviceBuffer | null,
  output: DeviceBuffer,
  p: FullyConnectedParams,
  requant: PreparedRequant | null,
  scratch: DeviceBuffer | null,
): void {
  const { units, ...whole } = p;
  const run = prepareFullyConnected(arena, input, weights, bias, output, whole, requant, scratch);
  if (units) run(units.start, units.end);
  else run(0, p.outFeatures);
}

/**
 * fullyConnected checked once for the whole layer, returned as a call on output units [start, end)
 * (only those columns of every output row are written): a caller running the layer block by block,
 * changing a block's weights between calls, pays the checks once. p.units is refused here.
 */
export function prepareFullyConnected(
  arena: Arena,
  input: DeviceBuffer,
  weights: DeviceBuffer,
  bias: DeviceBuffer | null,
  output: DeviceBuffer,
  p: FullyConnectedParams,
  requant: PreparedRequant | null,
  scratch: DeviceBuffer | null,
): (start: number, end: number) => void {
  if (p.units) throw new ConfigError('prepareFullyConnected: pass the block of units to the returned call, not as params.units');
  validateParams(p);
  const { batch: m, inFeatures: k, outFeatures: n, weightBits } = p;
  const device = arena.device;
  const wBytes = n * k * (weightBits / 8);
  const outBytes = m * n * (requant === null ? 4 : 1);
  checkBuffer(device, input, m * k, 'fullyConnected input');
  checkBuffer(device, weights, wBytes, 'fullyConnected weights');
  if (bias !== null) checkBuffer(device, bias, n * 4, 'fullyConnected bias');
  checkBuffer(device, output, outBytes, 'fullyConnected output');
  const needed = fullyConnectedScratchBytes(p);
  const scratchOffset = requireScratch(arena, scratch, needed, 'fullyConnectedScratchBytes', 'fullyConnected');
  const q = requantArgs(arena, requant, n, 'fullyConnected');
  const perturb = perturbArgs(p.perturb, weightBits, n * k);
  if (p.perturb) requireIndexRange(p.perturb.start, n * k, 'fullyConnected perturbation');

  if (p.packed) {
    if (p.perturb) throw new ConfigError('fullyConnected: pre-packed panels hold the stored weights; a perturbed call must pack (drop packed or perturb)');
    requirePackedFor(arena, p.packed, k, n, p.inputZeroPoint, requant, 'fullyConnected');
  }
  const prepacked = p.packed !== undefined && m > GEMV_MAX_BATCH;

  const reads: Span[] = [
    { buffer: input, bytes: m * k, what: 'input' },
    { buffer: weights, bytes: wBytes, what: 'weights' },
  ];
  if (bias !== null) reads.push({ buffer: bias, bytes: n * 4, what: 'bias' });
  if (p.packed) reads.push({ buffer: p.packed.panels, bytes: p.packed.panels.bytes, what: 'packed panels' });
  if (requant !== null) {
    const count = requant.perChannel ? n : 1;
    reads.push({ buffer: requant.multiplier, bytes: count * 4, what: 'requant multipliers' });
    reads.push({ buffer: requant.shift, bytes: count * 4, what: 'requant shifts' });
  }
  const scratchSpan: Span = { buffer: scratch!, bytes: needed, what: 'scratch' };
  requireDisjoint({ buffer: output, bytes: outBytes, what: 'output' }, [...reads, scratchSpan]);
  requireDisjoint(scratchSpan, reads);

  if (prepacked) {
    const kernel = device.kernel('fully_connected_qs8_prepacked');
    const biasOffset = separateBiasOffset(p.packed!, bias, 'fullyConnected');
    return (start, end) => {
      if (start !== 0 || end !== n) throw new ConfigError('fullyConnected: pre-packed panels run the whole layer; a call on a block of units must pack (drop packed)');
      kernel(input.offset, p.packed!.panels.offset, output.offset, scratchOffset, m, k, n, requant === null ? 1 : 0, ...q.slice(2), biasOffset);
    };
  }
  // A block of units: every pointer moves to the block's first unit, the output keeps its row length,
  // and packing holds at most the whole layer's chunk (the scratch it was sized for).
  const kernel = device.kernel('fully_connected_qs8');
  const esize = weightBits / 8;
  const outElem = requant === null ? 4 : 1;
  const perChannel = requant?.perChannel === true;
  const columns = panelColumnsOf(p, 'fullyConnected');
  const chunkPanels = packedChunkPanels(k, n, packedBudgetOf(p, 'fullyConnected'), columns);
  const gemv = m <= (p.perturb ? GEMV_MAX_BATCH_PERTURBED : GEMV_MAX_BATCH) ? 1 : 0;
  const [perturbOn, zKey, zStart, ...zRest] = perturb;
  return (u0, u1) => {
    requireInt(u0, 'fullyConnected: units.start', 0, n - 1);
    requireInt(u1, 'fullyConnected: units.end', u0 + 1, n);
    const perUnit = perChannel ? u0 * 4 : 0;
    kernel(
      input.offset, weights.offset + u0 * k * esize, bias === null ? 0 : bias.offset + u0 * 4, output.offset + u0 * outElem, scratchOffset,
      m, k, u1 - u0, weightBits, p.inputZeroPoint, chunkPanels, gemv,
      requant === null ? 1 : 0, q[0]! + perUnit, q[1]! + perUnit, q[2]!, q[3]!, q[4]!, q[5]!,
      perturbOn!, zKey!, perturbOn ? (zStart! + u0 * k) | 0 : 0, ...zRest, n, columns,
    );
  };
}
