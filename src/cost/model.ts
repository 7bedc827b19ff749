// The MCU cost model: instructions per kernel call from the fitted coefficients, cycles from the
// core's CPI plus the flash wait-state stalls of weight reads, time at the device clock, energy
// from the device's active-mode power. Everything here is a pure function of shapes and data.
import { ConfigError, UnsupportedError } from '../errors.js';
import { FITTED, COST_MODEL_VERSION } from './coefficients.js';
import { CORE_TIMING, LOOP_CLASSES, isCoreId, type CoreId } from './cores.js';
import { DEVICE_COSTS, runPowerW, type DeviceCost } from './device-costs.js';
import { predictByLoop, type CoreFit } from './fit.js';
import { kernelFeatures, type KernelShape } from './shape.js';

export { COST_MODEL_VERSION };

/** A target to estimate for: a core at a clock with a memory system and a power figure. */
export interface CostTarget {
  /** Preset name or a label for a custom system. */
  name: string;
  core: CoreId;
  clockHz: number;
  flashWaitStates: number;
  flashLineBytes: number;
  /** Active power in watts; null when no figure is known (then energy is null). */
  powerW: number | null;
}

export interface KernelEstimate {
  instructions: number;
  cycles: number;
  /** Of the cycles, those spent waiting on flash. */
  waitCycles: number;
  ms: number;
  mJ: number | null;
}

/** The target for a device preset; a typed error names why a preset has no estimate. */
export function targetForPreset(preset: string): CostTarget {
  const cost: DeviceCost | undefined = DEVICE_COSTS[preset];
  if (!cost) throw new ConfigError(`cost model: no time/energy data for device '${preset}'; known: ${Object.keys(DEVICE_COSTS).join(', ')}`);
  if (!cost.core) throw new UnsupportedError(`${preset}: ${cost.note ?? 'no estimate: its core has no calibrated model'}`);
  return { name: preset, core: cost.core, clockHz: cost.clockHz, flashWaitStates: cost.flashWaitStates, flashLineBytes: cost.flashLineBytes, powerW: runPowerW(cost) };
}

export function checkTarget(t: CostTarget): void {
  if (!isCoreId(t.core)) throw new ConfigError(`cost model: unknown core '${String(t.core)}'`);
  if (!(t.clockHz > 0 && t.clockHz < 10e9)) throw new ConfigError(`cost model: clock must be a positive frequency in Hz, got ${t.clockHz}`);
  if (!(Number.isInteger(t.flashWaitStates) && t.flashWaitStates >= 0 && t.flashWaitStates < 64)) throw new ConfigError(`cost model: flash wait states must be an integer 0-63, got ${t.flashWaitStates}`);
  if (!(t.flashLineBytes >= 1)) throw new ConfigError(`cost model: flash line bytes must be positive, got ${t.flashLineBytes}`);
  if (t.powerW !== null && !(t.powerW > 0)) throw new ConfigError(`cost model: power must be positive watts or null, got ${t.powerW}`);
}

function coreFit(core: CoreId, fits: Record<string, CoreFit>): CoreFit {
  const fit = fits[core];
  if (!fit) throw new UnsupportedError(`cost model ${COST_MODEL_VERSION}: no calibration for ${core}`);
  return fit;
}

/**
 * One kernel call on a target. Weights are assumed to live in flash (the planner puts frozen
 * weights there): every flash line a weight read touches stalls for the wait states.
 */
export function estimateKernel(shape: KernelShape, target: CostTarget, fits: Record<string, CoreFit> = FITTED): KernelEstimate {
  checkTarget(target);
  const kfit = coreFit(target.core, fits)[shape.kernel];
  if (!kfit) throw new UnsupportedError(`cost model ${COST_MODEL_VERSION}: kernel ${shape.kernel} is not calibrated on ${target.core}`);
  const byLoop = predictByLoop(kfit, shape);
  const cpi = CORE_TIMING[target.core].cpi;
  let instructions = 0, coreCycles = 0;
  for (const loop of LOOP_CLASSES) {
    instructions += byLoop[loop];
    coreCycles += byLoop[loop] * cpi[loop];
  }
  instructions = Math.max(0, instructions);
  const f = kernelFeatures(shape);
  const waitCycles = (f.weightBytesRead / target.flashLineBytes) * target.flashWaitStates;
  const cycles = Math.max(0, coreCycles) + waitCycles;
  const ms = (cycles / target.clockHz) * 1000;
  return { instructions, cycles, waitCycles, ms, mJ: target.powerW === null ? null : ms * target.powerW };
}
