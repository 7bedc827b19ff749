// Read-only and full file systems, as real mounts (root only: this suite runs as root in CI).
// Outputs are checked before training; when the disk fills DURING training, the final write fails
// cleanly (no torn file, no temporary left) and the trained model is rescued and its path printed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/model.js';
import { writeFileAtomic } from '../../src/io/atomic-write.js';
import { FileError } from '../../src/errors.js';
import { expectJsonError, expectUserError, lastmile, lastmileAsync } from '../helpers/cli.js';

const mounts: string[] = [];
function tmpfs(size: string, readOnly = false): string {
  const at = mkdtempSync(join(tmpdir(), 'lastmile-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at]);
  } catch (e) {
    throw new Error(`mounting a tmpfs needs root (this suite runs as root in CI): ${(e as Error).message}`);
  }
  mounts.push(at);
  if (readOnly) execFileSync('mount', ['-o', 'remount,ro', at]);
  return at;
}
afterAll(() => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
});

const MODEL = `${process.cwd()}/models/mnist-cnn-digits04.lmdl`;
const RUN = ['--no-baseline', '--queries', '20', '--quiet'];

describe('read-only file system', () => {
  let ro: string;
  beforeAll(() => {
    ro = tmpfs('1m', true);
  });
  it('adapt --out on it: refused before training', async () => {
    const r = await lastmile(['adapt', ...RUN, '--steps', '2000', '--out', join(ro, 'out')]);
    expectUserError(r, /file system is read-only; choose a writable --out/);
    expect(r.ms).toBeLessThan(20_000);
  });
  it('pretrain --out on it: refused before the first epoch', async () => {
    const r = await lastmile(['pretrain', '--out', join(ro, 'm.lmdl')]);
    expectUserError(r, /read-only/);
    expect(r.stderr).not.toMatch(/epoch/);
  });
  it('export --out, quantize --out and profile --html on it', async () => {
    expectUserError(await lastmile(['export', '--model', MODEL, '--out', join(ro, 'm.onnx')]), /read-only/);
    expectUserError(await lastmile(['quantize', '--model', MODEL, '--out', join(ro, 'q.lmdl')]), /read-only/);
    expectJsonError(await lastmile(['--json', 'profile', '--steps', '1', '--html', join(ro, 'p.html')]), 'FileError', /read-only/);
  });
  it('a checkpoint directory on it', async () => expectUserError(await lastmile(['adapt', ...RUN, '--checkpoint', join(ro, 'ck'), '--out', mkdtempSync(join(tmpdir(), 'lastmile-fs-out-'))]), /cannot create the checkpoint directory|read-only/));
});

describe('nearly full disk', () => {
  it('a 64 KiB tmpfs: adapt --out refused before training, nothing left in it', async () => {
    const small = tmpfs('64k');
    const r = await lastmile(['adapt', ...RUN, '--out', join(small, 'out')]);
    expectUserError(r, /no space left on the device|free, the outputs need about/);
    expect(readdirSync(small).flatMap((n) => readdirSync(join(small, n)))).toEqual([]);
  });

  it('writeFileAtomic on a full disk: the old file stays whole, no temporary is left', () => {
    const fs = tmpfs('256k');
    writeFileSync(join(fs, 'model.lmdl'), 'previous');
    expect(() => writeFileAtomic(join(fs, 'model.lmdl'), new Uint8Array(1 << 20))).toThrow(FileError);
    expect(() => writeFileAtomic(join(fs, 'model.lmdl'), new Uint8Array(1 << 20))).toThrow(/no space left on the device/);
    expect(readFileSync(join(fs, 'model.lmdl'), 'utf8')).toBe('previous');
    expect(readdirSync(fs)).toEqual(['model.lmdl']);
  });

  it('the disk fills during training: the final write fails cleanly and the trained model is rescued', async () => {
    const fs = tmpfs('4m');
    const ck = mkdtempSync(join(tmpdir(), 'lastmile-fs-ck-'));
    const run = lastmileAsync(['adapt', ...RUN, '--steps', '600', '--checkpoint', ck, '--checkpoint-every', '10', '--out', join(fs, 'out')]);
    // Training has started (the output check passed): fill the disk to a few KiB.
    for (let i = 0; i < 1200 && !readdirSync(ck).some((n) => n.endsWith('.lmck')); i++) await new Promise((r) => setTimeout(r, 50));
    const s = statfsSync(fs);
    writeFileSync(join(fs, 'filler'), new Uint8Array(s.bavail * s.bsize - 4096));
    const r = await run.done;
    expectUserError(r, /cannot write model '.*model\.lmdl': no space left on the device.*; the trained model was saved to (\S+model\.lmdl)$/);
    const rescued = /saved to (\S+)$/.exec(r.stderr.trim())![1]!;
    expect(loadModel(readFileSync(rescued)).kind).toBe('quantized');
    // Nothing torn in the output folder: no model, no temporary.
    expect(readdirSync(join(fs, 'out'))).toEqual([]);
    expect(existsSync(join(fs, 'out', 'model.lmdl'))).toBe(false);
  });
});

describe('a small output that still fits', () => {
  it('is written whole (sanity: the checks do not refuse a usable path)', async () => {
    const fs = tmpfs('16m');
    mkdirSync(join(fs, 'o'));
    const r = await lastmile(['export', '--model', MODEL, '--out', join(fs, 'o', 'm.onnx')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(fs, 'o'))).toEqual(['m.onnx']);
  });
});
