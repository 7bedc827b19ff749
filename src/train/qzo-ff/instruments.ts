// Everything a step does besides the math: phase hooks (instrumentation and fault-injection tests),
// profiler timing, and the commit rule for the update.
import type { Profiler } from '../../device/profiler.js';
import type { StepPhase } from '../qzo-ff.js';

/** One trained tensor's update, ready to run. */
export interface PlannedUpdate {
  layer: string;
  run(): void;
}

export interface StepInstruments {
  phase(phase: StepPhase, detail: { step: number; direction?: number; layer?: string }): void;
  time<T>(label: string, kind: string, f: () => T): T;
  /**
   * Run every update, then `after`. From the first write on the step is committed: an exception from
   * the 'update' hook is held until every tensor is written (and momentum's history advanced), so the
   * stored weights are always at post-step values, never a mix. Returns the held exception.
   */
  commit(step: number, updates: readonly PlannedUpdate[], after: () => void): unknown;
}

export function stepInstruments(
  profiler: Profiler | undefined | null,
  hook: ((phase: StepPhase, detail: { step: number; direction?: number; layer?: string }) => void) | undefined,
): StepInstruments {
  const time = <T>(label: string, kind: string, f: () => T): T => (profiler ? profiler.time(label, kind, f) : f());
  return {
    phase: (phase, detail) => hook?.(phase, detail),
    time,
    commit(step, updates, after) {
      let deferred: unknown = undefined;
      time('update', 'update', () => {
        for (const u of updates) {
          u.run();
          try {
            hook?.('update', { step, layer: u.layer });
          } catch (e) {
            deferred ??= e;
          }
        }
        after();
      });
      return deferred;
    },
  };
}
