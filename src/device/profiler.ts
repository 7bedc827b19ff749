// Kernel profiler: wall time, MACs and call counts per layer and per kernel kind. The session
// only calls it when one is attached, so profiling off costs one property check per op.

export interface ProfileRow {
  name: string;
  kind: string;
  calls: number;
  ms: number;
  macs: number;
}

export class Profiler {
  private readonly rows = new Map<string, ProfileRow>();
  readonly now: () => number = () => performance.now();

  record(name: string, kind: string, macs: number, ms: number): void {
    let row = this.rows.get(name);
    if (!row) {
      row = { name, kind, calls: 0, ms: 0, macs: 0 };
      this.rows.set(name, row);
    }
    row.calls += 1;
    row.ms += ms;
    row.macs += macs;
  }

  /** Time a host-driven device step that is not a layer (RNG, perturbation, update, loss). */
  time<T>(name: string, kind: string, fn: () => T): T {
    const t0 = this.now();
    try {
      return fn();
    } finally {
      this.record(name, kind, 0, this.now() - t0);
    }
  }

  byLayer(): ProfileRow[] {
    return [...this.rows.values()];
  }

  byKind(): ProfileRow[] {
    const out = new Map<string, ProfileRow>();
    for (const r of this.rows.values()) {
      const k = out.get(r.kind) ?? { name: r.kind, kind: r.kind, calls: 0, ms: 0, macs: 0 };
      k.calls += r.calls;
      k.ms += r.ms;
      k.macs += r.macs;
      out.set(r.kind, k);
    }
    return [...out.values()].sort((a, b) => b.ms - a.ms);
  }

  get totalMs(): number {
    let t = 0;
    for (const r of this.rows.values()) t += r.ms;
    return t;
  }

  reset(): void {
    this.rows.clear();
  }
}
