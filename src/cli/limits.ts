// Bounds on what a command line may ask for: seeds that are recorded exactly, and runs that finish
// in a human lifetime. A huge run is shown with its estimated time and needs --yes; an absurd one
// (more steps than any run can finish) is refused outright.
import { ConfigError } from '../errors.js';

/** Seeds are uint32 everywhere (Mulberry32 state, checkpoint field): reject, never wrap. */
export const MAX_SEED = 2 ** 32 - 1;

export function seedOption(value: string, flag = 'seed'): number {
  const v = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(v) || v > MAX_SEED) {
    throw new ConfigError(`--${flag} must be an integer in [0, ${MAX_SEED}] (a 32-bit seed), got '${value}'`);
  }
  return v;
}

/** More steps than this are refused even with --yes: at a microsecond a step it would still run for hours per model. */
export const MAX_STEPS = 10_000_000;
/** Runs estimated longer than this need --yes. */
export const CONFIRM_SECONDS = 3600;
/**
 * Integer MACs per second assumed by the estimate. `lastmile profile --model mnist-cnn --batch 5`
 * measures about 5 GMAC/s for a QZO-FF step on the simd build of a 2-core machine; the scalar build
 * and a loaded machine are several times slower, so the estimate takes 1 GMAC/s and errs long.
 */
export const NOMINAL_MACS_PER_SECOND = 1e9;
/**
 * adapt prints the host-time bound only for runs it puts over this. Decided, not forgotten: the bound
 * errs long (see above): the default run, 1000 steps of 76 MMAC, is bounded at 76 s ("up to 1 min")
 * where the README's run trained in 10.4 s — a worse guide than the progress bar's ETA, which is
 * measured and appears after the first steps. For a run of tens of minutes the bound is worth a line before training starts, so the user
 * can stop and lower --steps without waiting for the bar.
 */
export const SHOW_BOUND_SECONDS = 600;

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${(seconds / 3600).toFixed(1)} h`;
  if (seconds < 2 * 365 * 86400) return `${Math.round(seconds / 86400)} days`;
  return `${(seconds / (365 * 86400)).toPrecision(2)} years`;
}

export interface RunSize {
  /** The flag that set the size, for the message: '--steps', '--epochs'. */
  flag: string;
  value: string;
  steps: number;
  /** Integer MACs one step costs (estimate). */
  macsPerStep: number;
  yes: boolean;
}

/** The estimated run time, or a ConfigError if the run is beyond MAX_STEPS, or long and not confirmed with --yes. */
export function checkRunSize(r: RunSize): { seconds: number; text: string } {
  if (!Number.isSafeInteger(r.steps) || r.steps > MAX_STEPS) {
    throw new ConfigError(`${r.flag} ${r.value} asks for ${Number.isFinite(r.steps) ? r.steps.toExponential(2) : r.steps} steps, more than the ${MAX_STEPS.toLocaleString('en-US')} any run may take; lower ${r.flag}`);
  }
  const seconds = (r.steps * r.macsPerStep) / NOMINAL_MACS_PER_SECOND;
  const text = `≈ ${formatDuration(seconds)}`;
  if (seconds > CONFIRM_SECONDS && !r.yes) {
    throw new ConfigError(`${r.flag} ${r.value} means ${r.steps.toLocaleString('en-US')} steps, estimated ${text} of training; lower ${r.flag}, or pass --yes to run it anyway`);
  }
  return { seconds, text };
}
