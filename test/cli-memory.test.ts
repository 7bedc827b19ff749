// `lastmile memory`: its exit status says whether the plan fits (3 when it does not), and its
// per-layer tables fit a 100-column terminal unless --wide asks for them in one piece.
// Runs bin/lastmile.js, which loads dist/ (npm run build:ts first).
import { describe, it, expect } from 'vitest';
import { lastmile as run } from './helpers/cli.js';

// Spawned asynchronously (test/helpers/cli.ts): a worker blocked in spawnSync misses vitest's RPC deadlines.
async function lastmile(...args: string[]) {
  const r = await run(args, { timeoutMs: 120_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

const widest = (text: string) => Math.max(...text.split('\n').map((l) => l.length));

describe('lastmile memory exit status', () => {
  it('exits 3 when the chosen --mode does not fit, after printing the full report (text and --json)', async () => {
    const r = await lastmile('memory', '--model', 'resnet8', '--device', '64k/1m', '--mode', 'ff');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/QZO-FF 16w8a\s+\S+ KiB\s+\S+ KiB\s+NO/);
    const j = await lastmile('memory', '--model', 'resnet8', '--device', '64k/1m', '--mode', 'ff', '--json');
    expect(j.code).toBe(3);
    expect(JSON.parse(j.stdout).modes.ff.fits).toBe(false);
  });

  it('exits 0 when the chosen mode fits, and without --mode when at least one mode fits', async () => {
    expect((await lastmile('memory', '--model', 'resnet8', '--device', '64k/1m', '--mode', 'infer')).code).toBe(0);
    expect((await lastmile('memory', '--model', 'resnet8', '--device', '64k/1m')).code).toBe(0);
  });

  it('exits 3 without --mode when none of the three fits; 2 stays bad input', async () => {
    expect((await lastmile('memory', '--model', 'resnet8', '--device', '16k/64k')).code).toBe(3);
    expect((await lastmile('memory', '--model', 'resnet8', '--device', '16k')).code).toBe(2);
  });

  it('--help documents the exit status and --wide', async () => {
    const r = await lastmile('memory', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Exit status: 0 when the plan fits; 3 when the chosen --mode does not fit/);
    expect(r.stdout).toContain('--wide');
  });
});

describe('lastmile memory output width', () => {
  it.each(['resnet8', 'mobilenetv1-0.25'])('%s: every line fits 100 columns; --wide prints the backprop table in one piece, wider', async (model) => {
    const r = await lastmile('memory', '--model', model, '--device', 'nrf52840');
    expect(widest(r.stdout)).toBeLessThanOrEqual(100);
    const wide = await lastmile('memory', '--model', model, '--device', 'nrf52840', '--wide');
    expect(widest(wide.stdout)).toBeGreaterThan(100);
    // Wrapping splits columns, it does not drop them: every column header appears in both.
    const headers = (text: string) => new Set(text.match(/SRAM [\w-]+/g));
    expect(headers(r.stdout)).toEqual(headers(wide.stdout));
  });
});
