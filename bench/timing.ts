// benchmark.js timing shared by the end-to-end suites. Cases that are compared by a ratio are timed
// in the same Suite, and the Suite is run several rounds with the order reversed every other round,
// so a burst of load from the other tenants of the machine lands on both sides of the ratio rather
// than on one. Every sample benchmark.js takes (a mean over its cycle) is pooled across rounds and
// the median is reported.
import Benchmark from 'benchmark';

export interface Timing {
  minSamples: number;
  /** Seconds per sample (benchmark.js repeats fast calls until a sample lasts this long). */
  minTime: number;
  /** Seconds per benchmark per round, once minSamples are taken. */
  maxTime: number;
  /** Rounds over all cases (order alternates). */
  rounds: number;
  /** Untimed calls of each case before the first round (JIT tier-up, lazy allocation). */
  warmupCalls: number;
}

export type Case = { name: string; fn: () => void } | { name: string; fnAsync: () => Promise<unknown> };

export interface Measured {
  name: string;
  /** Median milliseconds per call over every sample of every round. */
  medianMs: number;
  samples: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * This process's CPU time in ms. What the CPU-time benches time is single-threaded and synchronous,
 * so CPU time is the time the work ran; on a shared machine it excludes the time other processes held
 * the core, which wall-clock time does not (caches are still shared, so load still costs some).
 */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Median CPU seconds per call of each fn: `samples` samples of at least `sampleMs` each (the calls per
 * sample doubled until one takes that long), the functions interleaved round-robin so every one sees
 * the same stretches of machine load.
 */
export function timeInterleavedCpu(fns: Record<string, () => void>, o: { samples: number; sampleMs: number }): Record<string, number> {
  const names = Object.keys(fns);
  const reps: Record<string, number> = {};
  for (const n of names) {
    let r = 1;
    for (;;) {
      const t0 = cpuMs();
      for (let i = 0; i < r; i++) fns[n]!();
      if (cpuMs() - t0 >= o.sampleMs) break;
      r *= 2;
    }
    reps[n] = r;
  }
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let s = 0; s < o.samples; s++) {
    for (const n of names) {
      const t0 = cpuMs();
      for (let i = 0; i < reps[n]!; i++) fns[n]!();
      samples[n]!.push((cpuMs() - t0) / 1000 / reps[n]!);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n]!)]));
}

/** Runs a benchmark.js suite synchronously to completion; rejects with the first case's error. */
export function runSuite(suite: Benchmark.Suite): Promise<void> {
  return new Promise((resolve, reject) => {
    suite.on('complete', () => resolve());
    suite.on('error', (event: Benchmark.Event) => reject((event.target as unknown as Benchmark).error));
    suite.run({ async: false });
  });
}

export async function measure(cases: readonly Case[], timing: Timing): Promise<Measured[]> {
  for (const c of cases) {
    for (let i = 0; i < timing.warmupCalls; i++) {
      if ('fn' in c) c.fn();
      else await c.fnAsync();
    }
  }
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const options = { minSamples: timing.minSamples, minTime: timing.minTime, maxTime: timing.maxTime, delay: 0, initCount: 1 };
  for (let round = 0; round < timing.rounds; round++) {
    const ordered = round % 2 ? [...cases].reverse() : cases;
    const suite = new Benchmark.Suite();
    // benchmark.js swallows a rejected deferred; keep the first failure and rethrow it.
    let failure: unknown;
    for (const c of ordered) {
      if ('fn' in c) suite.add(c.name, c.fn, options);
      else {
        const call = c.fnAsync;
        const onCall = (deferred: { resolve(): void }) =>
          void call().then(
            () => deferred.resolve(),
            (error: unknown) => {
              failure ??= error;
              deferred.resolve();
            },
          );
        suite.add(c.name, onCall, { ...options, defer: true });
      }
    }
    await runSuite(suite);
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
    suite.forEach((bench: Benchmark) => {
      if (bench.error) throw new Error(`${bench.name}: ${bench.error.message ?? String(bench.error)}`);
      samples.get(bench.name!)!.push(...bench.stats.sample.map((s) => s * 1000));
    });
  }
  return cases.map((c) => ({ name: c.name, medianMs: median(samples.get(c.name)!), samples: samples.get(c.name)!.length }));
}

export function byName(measured: readonly Measured[], name: string): number {
  const m = measured.find((x) => x.name === name);
  if (!m) throw new Error(`internal: no measurement '${name}'`);
  return m.medianMs;
}

/** Round for JSON: medians keep 4 significant digits, so committed files do not churn on noise digits. */
export const sig = (x: number, digits = 4): number => (Number.isFinite(x) ? Number(x.toPrecision(digits)) : x);
