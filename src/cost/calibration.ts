// The calibration data the cost model is fitted on: instructions per kernel call, measured on an
// emulated Cortex-M board, per core. Produced by bench/cost/calibrate.ts; read and checked here.
import { FormatError } from '../errors.js';
import { COST_KERNELS, type KernelShape } from './shape.js';

export interface CalibrationRecord {
  shape: KernelShape;
  /** True for shapes kept out of the fit to check it. */
  heldOut: boolean;
  reps: number;
  instructions: number;
}

export interface CoreCalibration {
  board: string;
  sysclkHz: number;
  instructionsPerTick: number;
  loopCheck: { instructions: number; ticks: number };
  cflags: string;
  records: CalibrationRecord[];
}

export interface CalibrationFile {
  source: string;
  compiler: string;
  emulator: string;
  date: string;
  cores: Record<string, CoreCalibration>;
}

const MAX_CALIBRATION_BYTES = 16 * 1024 * 1024;

/** Parses and checks a calibration file (bounded; every record names a known kernel and a count). */
export function parseCalibration(text: string, where = 'calibration'): CalibrationFile {
  if (text.length > MAX_CALIBRATION_BYTES) throw new FormatError(`${where}: ${text.length} characters is more than the ${MAX_CALIBRATION_BYTES} a calibration file may have`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${where}: not JSON (${(e as Error).message})`);
  }
  const file = data as CalibrationFile;
  if (!file || typeof file !== 'object' || !file.cores || typeof file.cores !== 'object') throw new FormatError(`${where}: expected {cores: {<core>: {records: [...]}}}`);
  for (const [core, c] of Object.entries(file.cores)) {
    if (!c || !Array.isArray(c.records)) throw new FormatError(`${where}: core '${core}' has no records array`);
    for (const r of c.records) {
      if (!r || !r.shape || !(COST_KERNELS as readonly string[]).includes(r.shape.kernel)) throw new FormatError(`${where}: core '${core}': a record names an unknown kernel '${String(r?.shape?.kernel)}'`);
      if (typeof r.instructions !== 'number' || !(r.instructions > 0)) throw new FormatError(`${where}: core '${core}': instructions must be a positive number, got ${String(r.instructions)}`);
    }
  }
  return file;
}
