import { describe, it, expect } from 'vitest';
import { lastmile as run } from './helpers/cli.js';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Drives the installed command exactly as a user would (bin/lastmile.js → dist/, built by npm install).
// Spawned, not spawnSync: a test worker blocked for a minute misses vitest's RPC deadlines.
async function lastmile(...args: string[]) {
  const r = await run(args, { timeoutMs: 300_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

describe('the lastmile command', () => {
  it('lists its subcommands in --help', async () => {
    const r = await lastmile('--help');
    expect(r.code).toBe(0);
    for (const sub of ['adapt', 'pretrain', 'quantize', 'memory', 'devices', 'export', 'import']) expect(r.stdout).toContain(sub);
  });

  it('adapt --json runs QZO-FF on the bundled default and reports accuracies, steps and the measured SRAM peak', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lastmile-cli-'));
    const r = await lastmile('adapt', '--steps', '40', '--no-baseline', '--queries', '40', '--json', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.steps).toBe(40);
    expect(json.zeroShot).toBeGreaterThan(20);
    expect(json.after).toBeGreaterThan(20);
    expect(json.losses).toHaveLength(40);
    expect(json.bp).toBeNull();
    expect(json.sramPeak).toBe(json.memory.ff.sramPeak);
    expect(json.sramPeak).toBeLessThanOrEqual(256 * 1024);
    expect(existsSync(join(out, 'model.lmdl'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).after).toBe(json.after);
  });

  it('a budget too small exits with status 2 and the budget error, before training', async () => {
    const r = await lastmile('adapt', '--device', '32k/1m', '--steps', '5', '--no-baseline', '--quiet', '--out', mkdtempSync(join(tmpdir(), 'lastmile-cli-')));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not fit the device: SRAM needs \d+ B .* but 32768 B/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('a corrupt model file exits with status 2 and a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lastmile-cli-'));
    const bytes = readFileSync('models/mnist-cnn-digits04.lmdl');
    bytes[200] ^= 0xff;
    writeFileSync(join(dir, 'bad.lmdl'), bytes);
    const r = await lastmile('adapt', '--model', join(dir, 'bad.lmdl'), '--steps', '5', '--out', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/checksum mismatch.*corrupt/);
  });

  it('memory --json reports every mode with {sramPeak, flash, fits}', async () => {
    const r = await lastmile('memory', '--model', 'ds-cnn', '--device', 'nrf52840', '--json');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.model).toBe('ds-cnn');
    expect(json.device.sramBytes).toBe(262144);
    for (const mode of ['infer', 'ff', 'bp']) {
      expect(json.modes[mode]).toMatchObject({ sramPeak: expect.any(Number), flash: expect.any(Number), fits: expect.any(Boolean) });
    }
  });

  it('adapt --z-buffer step trains the same weights (m = 3, the update reading the buffers) with the buffers in its SRAM peak; a bad value is a user error', async () => {
    const runs = [];
    for (const extra of [[], ['--z-buffer', 'step']]) {
      const out = mkdtempSync(join(tmpdir(), 'lastmile-cli-'));
      const r = await lastmile('adapt', '--method', 'qzo-ff', '--m', '3', '--steps', '4', '--no-baseline', '--queries', '20', '--json', '--out', out, ...extra);
      expect(r.code, r.stderr).toBe(0);
      runs.push({ json: JSON.parse(r.stdout), out });
    }
    const [plain, buffered] = runs as { json: { after: number; losses: number[]; sramPeak: number } }[] as [{ json: { after: number; losses: number[]; sramPeak: number } }, { json: { after: number; losses: number[]; sramPeak: number } }];
    expect(buffered.json.losses).toEqual(plain.json.losses);
    expect(buffered.json.after).toBe(plain.json.after);
    expect(buffered.json.sramPeak).toBeGreaterThan(plain.json.sramPeak);
    const bad = await lastmile('adapt', '--z-buffer', 'all', '--steps', '2', '--no-baseline', '--out', mkdtempSync(join(tmpdir(), 'lastmile-cli-')));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--z-buffer takes 'direction' or 'step', got 'all'/);
  });

  it('unknown presets and bad options are user errors, not crashes', async () => {
    expect((await lastmile('memory', '--device', 'nrf99999')).code).toBe(2);
    expect((await lastmile('adapt', '--precision', '4w4a', '--out', mkdtempSync(join(tmpdir(), 'lastmile-cli-')))).code).toBe(2);
  });
});

describe('adapt --method baselines run inside the same device budget', () => {
  it('ff-float trains in f32 with sign-m-SPSA and reports its measured SRAM', async () => {
    const r = await lastmile('adapt', '--method', 'ff-float', '--steps', '10', '--queries', '20', '--json', '--out', mkdtempSync(join(tmpdir(), 'lastmile-cli-')));
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.method).toBe('ff-float');
    expect(json.steps).toBe(10);
    expect(json.sramPeak).toBeGreaterThan(json.memory.infer.sramPeak);
    expect(json.sramPeak).toBeLessThanOrEqual(256 * 1024);
  });

  it('bp full fine-tuning does not fit the 256 KB device and says so (exit 2)', async () => {
    const r = await lastmile('adapt', '--method', 'bp', '--steps', '5', '--quiet', '--out', mkdtempSync(join(tmpdir(), 'lastmile-cli-')));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/backprop training of 'mnist-cnn' \(batch 5\) does not fit the device: SRAM needs \d+ B/);
  });
});

describe('adapt on a full train split', () => {
  it('--split full --epochs sets the steps from the training images and the batch size', async () => {
    const r = await lastmile('adapt', '--split', 'full', '--classes', '5-6', '--train', 'head', '--epochs', '1', '--batch-size', '100', '--no-baseline', '--json', '--out', mkdtempSync(join(tmpdir(), 'lastmile-cli-')));
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.classes).toEqual([5, 6]);
    // 80% of the bundled 5s and 6s (863 + 1014) train: ceil(1501 / 100) steps.
    expect(json.steps).toBe(16);
  });
});

describe('eval --query-from evaluates an adapted model on exactly the query images of its adapt run', () => {
  // The saved model must be the trained one, whatever the selection trains: a read-back that
  // skipped a tensor (biases, once) makes eval's accuracy differ from adapt's `after`.
  for (const train of ['full', 'head', 'last:2', 'bias', 'sparse:0.1']) {
    it(`--train ${train}: eval prints adapt's 'after' accuracy`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'lastmile-cli-'));
      const a = await lastmile('adapt', '--train', train, '--steps', '20', '--queries', '30', '--no-baseline', '--json', '--out', out);
      expect(a.code, a.stderr).toBe(0);
      const adapted = JSON.parse(a.stdout);
      const e = await lastmile('eval', '--model', join(out, 'model.lmdl'), '--query-from', join(out, 'report.json'), '--json');
      expect(e.code, e.stderr).toBe(0);
      const evaluated = JSON.parse(e.stdout);
      expect(evaluated.count).toBe(150);
      expect(evaluated.classes).toEqual(adapted.classes);
      expect(evaluated.accuracy).toBe(adapted.after);
      if (train === 'bias') expect(adapted.after).not.toBe(adapted.zeroShot); // the biases did train
    });
  }

  it('a report that is not an adapt report is a clear error (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lastmile-cli-'));
    writeFileSync(join(dir, 'report.json'), JSON.stringify({ after: 50 }));
    const r = await lastmile('eval', '--model', 'models/mnist-cnn-digits04.lmdl', '--query-from', join(dir, 'report.json'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/episode.* missing or invalid/);
  });
});
