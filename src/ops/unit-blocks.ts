// Running an op in blocks of output units (ParamSource.blocks): the caller's enter/leave around each
// block, and the leave whatever the block's call threw, so no block is ever left changed.
import { ConfigError } from '../errors.js';
import type { UnitBlocks } from './types.js';

/** Calls run(start, end) for consecutive blocks of `blocks.units` units covering [0, units). */
export function runUnitBlocks(blocks: UnitBlocks, units: number, run: (start: number, end: number) => void): void {
  if (!Number.isInteger(blocks.units) || blocks.units < 1) throw new ConfigError(`a block of output units must hold an integer ≥ 1 of them, got ${blocks.units}`);
  for (let start = 0; start < units; start += blocks.units) {
    const end = Math.min(units, start + blocks.units);
    const leave = blocks.enter(start, end);
    try {
      run(start, end);
    } finally {
      leave();
    }
  }
}
