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
  // Methods, not arrow properties: built every step, and `time` is also called unbound (it uses no `this`).
  return {
    phase(phase, detail) {
      hook?.(phase, detail);
    },
    time(label, kind, f) {
      return timed(profiler, label, kind, f);
    },
    commit(step, updates, after) {
      let deferred: unknown = undefined;
      timed(profiler, 'update', 'update', () => {
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

function timed<T>(profiler: Profiler | undefined | null, label: string, kind: string, f: () => T): T {
  return profiler ? profiler.time(label, kind, f) : f();
}
