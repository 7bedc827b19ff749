// The progress display of long commands when stderr is not a terminal: one line per tenth of the
// work and one at the end, each with the time left; nothing with --quiet or --json.
import { describe, it, expect } from 'vitest';
import { eta, formatDuration, startProgress } from '../src/cli/progress.js';

function capture() {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(...s.split('\n').filter(Boolean)) } as unknown as NodeJS.WriteStream;
  return { lines, stream };
}

describe('progress lines (not a terminal)', () => {
  it('prints once per tenth however often it is told, the last line at 100% with ETA 0 s', () => {
    const { lines, stream } = capture();
    let t = 0;
    const p = startProgress({ label: 'pretrain', unit: 'steps', total: 144, enabled: true, stream, now: () => t });
    for (let step = 1; step <= 144; step++) {
      t = step * 100; // 0.1 s per step
      p.update(step, `loss ${(1 / step).toFixed(3)}`);
    }
    p.update(144);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe('pretrain 15/144 steps (10%) · loss 0.067 · 2 s · ETA 13 s');
    expect(lines.at(-1)).toBe('pretrain 144/144 steps (100%) · loss 0.007 · 14 s · ETA 0 s');
  });

  it('a jump over several tenths prints one line; disabled prints nothing', () => {
    const { lines, stream } = capture();
    const p = startProgress({ label: 'x', total: 10, enabled: true, stream, now: () => 0 });
    p.update(5);
    p.update(6);
    expect(lines).toEqual(['x 5/10 (50%) · 0 s · ETA 0 s', 'x 6/10 (60%) · 0 s · ETA 0 s']);
    const quiet = capture();
    const q = startProgress({ label: 'x', total: 10, enabled: false, stream: quiet.stream });
    q.update(10);
    expect(quiet.lines).toEqual([]);
  });

  it('ETA is the remaining units at the average rate; durations read as s, min, h', () => {
    expect(eta(0, 10, 5)).toBeNull();
    expect(eta(5, 10, 5)).toBe(5);
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(Number.NaN)).toBe('—');
  });
});
