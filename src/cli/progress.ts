// Progress of a long command, with an ETA: a cli-progress bar on a terminal (stderr is a TTY), and
// otherwise a plain line at every tenth of the work (logs, CI, pipes), so a run that is redirected
// still says how far it is and how long is left. Always on stderr: stdout stays the result.
import cliProgress from 'cli-progress';
import { TERMINAL_COLUMNS } from './width.js';

export interface Progress {
  /** `done` of `total` units finished; `detail` is a short status such as "loss 0.512". */
  update(done: number, detail?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** What is counted, e.g. "pretrain" or "fewshot"; starts each line. */
  label: string;
  /** Unit shown after the counts, e.g. "steps". */
  unit?: string;
  total: number;
  /** False for --quiet and --json: nothing is printed. */
  enabled: boolean;
  /** Where to write; tests pass a stream that is not a TTY. */
  stream?: NodeJS.WriteStream;
  /** Clock in ms, for tests; performance.now by default. */
  now?: () => number;
}

/** "1 h 02 min", "3 min 05 s", "42 s": short enough for one status line. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** The remaining time at the average rate so far; null before any unit is done. */
export function eta(done: number, total: number, elapsedSeconds: number): number | null {
  return done <= 0 ? null : ((total - done) * elapsedSeconds) / done;
}

export function startProgress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const now = o.now ?? (() => performance.now());
  const t0 = now();
  const unit = o.unit ? ` ${o.unit}` : '';
  if (!o.enabled || o.total <= 0) return { update: () => {}, stop: () => {} };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${o.label} [{bar}] {value}/{total}${unit} · {detail} · ETA {eta_formatted}`, barsize: 20, hideCursor: true, clearOnComplete: false, stream, formatValue: (v) => String(v) },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    // Everything but the detail: label, bar, counts, separators and "ETA hh:mm:ss". The detail is
    // cut so the line fits 100 columns (cli-progress would cut the line at the terminal's edge).
    const fixed = o.label.length + 23 + 2 * String(o.total).length + 1 + unit.length + 3 + 3 + 12;
    const room = Math.max(8, Math.min(stream.columns ?? TERMINAL_COLUMNS, TERMINAL_COLUMNS) - fixed);
    return {
      update(done, detail = '') {
        if (!started) bar.start(o.total, 0, { detail: '—' });
        started = true;
        bar.update(done, { detail: detail.slice(0, room) || '—' });
      },
      stop: () => (started ? bar.stop() : undefined),
    };
  }
  let nextTenth = 1;
  let finished = false;
  return {
    update(done, detail) {
      // One line per tenth crossed and one at the end, however often the caller reports.
      if (finished) return;
      if (done >= o.total) finished = true;
      else if (done * 10 < nextTenth * o.total) return;
      while (nextTenth * o.total <= done * 10) nextTenth++;
      const elapsed = (now() - t0) / 1000;
      const left = eta(done, o.total, elapsed);
      stream.write(`${o.label} ${done}/${o.total}${unit} (${Math.floor((100 * done) / o.total)}%)${detail ? ` · ${detail}` : ''} · ${formatDuration(elapsed)} · ETA ${left === null ? '—' : formatDuration(left)}\n`);
    },
    stop: () => {},
  };
}
