// How a layer perturbed in place (sparse mask, stored z, dither) is run: whole, with a backup of all its
// trainable weights, or (for an op that runs on a range of its output units, ops' `unitBlocks`) in
// blocks of units, each perturbed just before it runs and restored from a backup the size of one block.
// The rule: the most units per block whose busiest block's trainable weights fit BLOCK_BACKUP_BYTES
// (block starts on a mask byte, so a block's mask is a byte range of the layer's); at least one
// step of units even when a single unit's weights do not fit; the whole layer when it fits at once.
// z stream indices, mask bits and the update are those of the whole layer: only the backup shrinks.
import type { LoweredGraph } from '../../runtime/lowering.js';
import { opDef } from '../../ops/registry.js';

/** Bytes a block's backup may hold: leaves room in the memory target's 1024 B allowance for the rest. */
export const BLOCK_BACKUP_BYTES = 512;
/**
 * Smaller block budgets a session short of SRAM may pick instead (SessionOptions.layerSram `smaller`):
 * smaller blocks, more calls per pass (for a convolution, re-gathered input), less backup.
 */
export const SMALLER_BLOCK_BUDGETS = [256, 128, 64] as const;

export interface BackupBlocks {
  /** Output units per block (the last may hold fewer). */
  units: number;
  weightsPerUnit: number;
  /** Trainable weights in each block, in order. */
  trained: number[];
  /** The backup one block needs: its busiest block's trainable weights. */
  backupBytes: number;
}

/** The layer's output units and weights per unit, if its op runs in blocks of them. */
export function layerUnits(lowered: LoweredGraph, layer: string): { units: number; weightsPerUnit: number } | undefined {
  const op = lowered.ops.find((o) => o.node.node.name === layer);
  if (!op) return undefined;
  return opDef(op.node.node.kind).quantized?.unitBlocks?.(op.node);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const largest = (xs: readonly number[]): number => xs.reduce((a, b) => (b > a ? b : a), 0);

/**
 * The backup sizes a layer can run with: the default rule's (blocks within BLOCK_BACKUP_BYTES, or the
 * whole layer), then each smaller block budget's, strictly decreasing. A trainer given any of them as
 * its backup gets blocks that fit it from planBackupBlocks with that size as the budget.
 */
export function backupSizes(shape: { units: number; weightsPerUnit: number } | undefined, count: number, bits: 8 | 16, mask: Uint8Array | null, wholeBytes: number): number[] {
  const sizes = [planBackupBlocks(shape, count, bits, mask)?.backupBytes ?? wholeBytes];
  for (const budget of SMALLER_BLOCK_BUDGETS) {
    const b = planBackupBlocks(shape, count, bits, mask, budget);
    if (b && b.backupBytes < sizes.at(-1)!) sizes.push(b.backupBytes);
  }
  return sizes;
}

/**
 * The blocks of a layer of `count` weights of `bits` bits (mask: 1 bit per weight, LSB first, or null
 * when every weight trains), or null to run it whole (its op has no units, or all of it fits at once).
 */
export function planBackupBlocks(
  shape: { units: number; weightsPerUnit: number } | undefined, count: number, bits: 8 | 16, mask: Uint8Array | null, budget = BLOCK_BACKUP_BYTES,
): BackupBlocks | null {
  if (!shape || shape.units * shape.weightsPerUnit !== count || shape.units < 2) return null;
  const { units, weightsPerUnit: per } = shape;
  const bytes = bits / 8;
  // before[u]: trainable weights of units [0, u), so a block's count is one subtraction.
  const before = new Array<number>(units + 1);
  before[0] = 0;
  for (let u = 0; u < units; u++) {
    let n = per;
    if (mask) {
      n = 0;
      for (let i = u * per; i < (u + 1) * per; i++) n += (mask[i >> 3]! >> (i & 7)) & 1;
    }
    before[u + 1] = before[u]! + n;
  }
  const blocksOf = (r: number): number[] => {
    const out: number[] = [];
    for (let u0 = 0; u0 < units; u0 += r) out.push(before[Math.min(units, u0 + r)]! - before[u0]!);
    return out;
  };
  if (before[units]! * bytes <= budget) return null;
  const step = mask ? 8 / gcd(per, 8) : 1;
  let best = blocksOf(Math.min(step, units));
  let bestUnits = Math.min(step, units);
  for (let r = 2 * step; r < units; r += step) {
    const b = blocksOf(r);
    if (largest(b) * bytes <= budget) {
      best = b;
      bestUnits = r;
    }
  }
  if (bestUnits >= units) return null;
  return { units: bestUnits, weightsPerUnit: per, trained: best, backupBytes: largest(best) * bytes };
}
