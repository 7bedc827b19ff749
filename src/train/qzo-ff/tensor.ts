// The state the QZO-FF step and its strategies share: one entry per trained tensor, built once by the
// trainer, plus the per-run constants every strategy needs.
import type { ParamSource, QuantizedSession } from '../../runtime/session.js';
import type { DeviceBuffer } from '../../device/arena.js';
import type { PerturbSpec } from '../../kernels/perturb-spec.js';
import { MAX_DIRECTIONS } from '../../kernels/update.js';
import type { DitherFactor } from '../../kernels/materialised-zo.js';
import type { QzoFfConfig } from '../qzo-ff.js';
import type { ResidualBits } from '../../kernels/residual-update.js';
import type { BackupBlocks } from './backup-blocks.js';

/** A trainable layer's weights as the paper's fused path sees them. */
export interface LayerState {
  name: string;
  /** Multiplies ε and η for this layer (1 without kernel-wise normalisation). */
  scale: number;
  tensorId: number;
  weightScale: number;
  bits: 8 | 16;
  count: number;
  weights: DeviceBuffer;
  /** This step's z of the current direction, drawn once for both passes (config.zBuffer), or null. */
  zbuf: DeviceBuffer | null;
}

/** How ε maps onto a tensor's grid: εq (deterministic), a dither factor, or the bias multiplier. */
export interface PerturbFactor {
  epsQ: number;
  dither: DitherFactor | null;
  bias: { multiplier: number; shift: number } | null;
}

/** c = η·Δz/(Δ·m) on a tensor's grid, in the form its update kernel takes. */
export interface UpdateFactor {
  multiplier: number;
  shift: number;
  dither: boolean;
}

/** One trained tensor (a layer's weights or its bias) and the SRAM its modes use. */
export interface TensorState {
  layer: string;
  part: 'w' | 'b';
  /** Stream id of z: the layer's index for weights, offset by BIAS_STREAM for biases. */
  tensorId: number;
  bits: 8 | 16 | 32;
  count: number;
  stored: DeviceBuffer;
  /** Real value of one LSB (Δw, or Δb = Δin·Δw for the bias; the coarsest channel's). */
  lsb: number;
  scale: number;
  mask: DeviceBuffer | null;
  /** Elements that train (the mask's keep count, else count). */
  trained: number;
  /** The fused path's z buffer (config.zBuffer), shared with the LayerState; null otherwise. */
  zbuf: DeviceBuffer | null;
  /**
   * Set for weights whose perturbation is materialised (mask, stored z, dither): the backup (the layer's
   * own or one shared by all layers) that holds its trainable stored values while they are perturbed in place.
   */
  panel: DeviceBuffer | null;
  /** Weights perturbed in place block by block (qzo-ff/backup-blocks.ts), or null to perturb the layer whole. */
  blocks: BackupBlocks | null;
  neighbour: DeviceBuffer | null;
  z: DeviceBuffer | null;
  history: DeviceBuffer | null;
  /** 8w8a with a residual: the sub-LSB remainder of every weight (int8 or int16), else null. */
  residual: { buffer: DeviceBuffer; bits: ResidualBits } | null;
  /** ε (and ρ) on this tensor's grid, derived once when training starts. */
  eps: PerturbFactor;
  rho: PerturbFactor | null;
}

/** Integer loss of the step's batch with the given perturbation and parameter sources (Q16.16, summed). */
export type BatchLoss = (perturb?: (layer: string) => PerturbSpec | undefined, source?: (layer: string) => ParamSource | undefined) => number;

/** What the trainer hands its strategies: the run's fixed parts (no per-step data). */
export interface TrainerParts {
  session: QuantizedSession;
  config: QzoFfConfig;
  tensors: readonly TensorState[];
  layers: readonly LayerState[];
  keysBuf: DeviceBuffer;
  signsBuf: DeviceBuffer;
  inverseOneQ: { multiplier: number; shift: number };
  updateFactor(t: TensorState, lr: number): UpdateFactor;
}

/** Bias streams are keyed apart from weight streams so a layer's w and b see independent z. */
export const BIAS_STREAM = 0x10000;
/** Direction index of the sharpness-aware probe (never used by the m ≤ 8 regular directions). */
export const PROBE_DIRECTION = MAX_DIRECTIONS;
/** Salts deriving the dither stream and momentum's second z stream from a direction's seed. */
export const DITHER_SALT = 0x6a09e667;
export const MOMENTUM_SALT = 0x3c6ef372;

/** A 32-bit mix of (run seed, step, direction): the seed of one direction's z. */
export function directionSeed(runSeed: number, step: number, direction: number): number {
  let x = (runSeed ^ Math.imul(step + 1, 0x9e3779b1) ^ Math.imul(direction + 1, 0x85ebca77)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}
