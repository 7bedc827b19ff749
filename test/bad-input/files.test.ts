// Files a user points at that are not what they seem: devices, FIFOs, symlinks, directories named
// like checkpoints, gzip bombs, NaN weights, unusable output paths. Real files and real processes;
// each ends with a typed error, exit 2, one line, quickly, and nothing half-written.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createGzip } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel, type FloatModel } from '../../src/model/model.js';
import { expectUserError, lastmile } from '../helpers/cli.js';

const MODEL = `${process.cwd()}/models/mnist-cnn-digits04.lmdl`;
const dir = (tag = 'files') => mkdtempSync(join(tmpdir(), `lastmile-bad-${tag}-`));
const fifo = (path: string) => execFileSync('mkfifo', [path]);
/** Files other than the lock a finished run has released. */
const contents = (d: string) => readdirSync(d).sort();

describe('devices and FIFOs are refused before any read (no unbounded memory, no hang)', () => {
  it('eval --model /dev/zero', async () => expectUserError(await lastmile(['eval', '--model', '/dev/zero']), /model '\/dev\/zero' is a character device, not a regular file/));
  it('--data idx:/dev/zero,/dev/zero', async () => {
    const r = await lastmile(['adapt', '--data', 'idx:/dev/zero,/dev/zero', '--out', dir()]);
    expectUserError(r, /IDX file '\/dev\/zero' is a character device/);
  });
  it('import --onnx /dev/zero writes nothing', async () => {
    const d = dir();
    expectUserError(await lastmile(['import', '--onnx', '/dev/zero', '--out', join(d, 'x.lmdl')]), /ONNX file '\/dev\/zero' is a character device/);
    expect(contents(d)).toEqual([]);
  });
  it('a FIFO as the model does not block', async () => {
    const d = dir();
    fifo(join(d, 'model.lmdl'));
    const r = await lastmile(['eval', '--model', join(d, 'model.lmdl')], { timeoutMs: 20_000 });
    expectUserError(r, /is a FIFO \(named pipe\), not a regular file/);
  });
  it('a FIFO named like a checkpoint: --resume refuses it at once instead of hanging', async () => {
    const d = dir();
    const ck = join(d, 'ck');
    mkdirSync(ck);
    fifo(join(ck, 'ckpt-50.lmck'));
    const r = await lastmile(['adapt', '--steps', '5', '--no-baseline', '--checkpoint', ck, '--resume', '--out', join(d, 'out')], { timeoutMs: 30_000 });
    expectUserError(r, /checkpoint '.*ckpt-50\.lmck' is a FIFO/);
  });
  it('a checkpoint that is a symlink to /dev/zero: refused before training', async () => {
    const d = dir();
    const ck = join(d, 'ck');
    mkdirSync(ck);
    symlinkSync('/dev/zero', join(ck, 'ckpt-10.lmck'));
    expectUserError(await lastmile(['adapt', '--steps', '5', '--no-baseline', '--checkpoint', ck, '--resume', '--out', join(d, 'out')]), /ckpt-10\.lmck' is a character device/);
  });
  it('a directory named like a checkpoint: refused before training, not after (no EISDIR when pruning)', async () => {
    const d = dir();
    const ck = join(d, 'ck');
    mkdirSync(join(ck, 'ckpt-50.lmck'), { recursive: true });
    const r = await lastmile(['adapt', '--steps', '5', '--no-baseline', '--checkpoint', ck, '--resume', '--out', join(d, 'out')]);
    expectUserError(r, /ckpt-50\.lmck' is a directory, not a regular file/);
    expect(existsSync(join(d, 'out', 'model.lmdl'))).toBe(false);
  });
});

describe('gzip IDX: inflated as a stream with an output cap', () => {
  it('a 100 MiB-of-zeros IDX in a ~100 KB gzip is refused with bounded memory', async () => {
    const d = dir();
    const bomb = join(d, 'images.gz');
    // Header: ubyte, rank 3, 160000×28×28 — 125 MB of pixels, over the 96 MiB cap.
    const header = Buffer.from([0, 0, 8, 3, 0, 2, 0x71, 0, 0, 0, 0, 28, 0, 0, 0, 28]);
    await new Promise<void>((resolve, reject) => {
      const gz = createGzip({ level: 9 });
      const chunks: Buffer[] = [];
      gz.on('data', (c: Buffer) => chunks.push(c));
      gz.on('end', () => {
        writeFileSync(bomb, Buffer.concat(chunks));
        resolve();
      });
      gz.on('error', reject);
      gz.write(header);
      const zeros = Buffer.alloc(1 << 20);
      for (let i = 0; i < 120; i++) gz.write(zeros);
      gz.end();
    });
    expect(readFileSync(bomb).length).toBeLessThan(1 << 20);
    const rssFile = join(d, 'peak-rss');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['-r', './test/helpers/report-peak-rss.cjs', 'bin/lastmile.js', 'adapt', '--data', `idx:${bomb},${bomb}`, '--out', join(d, 'out')], { env: { ...process.env, PEAK_RSS_FILE: rssFile } });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    const lines = r.stderr.trim().split('\n');
    const peakKiB = Number(readFileSync(rssFile, 'utf8'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/gzip data inflates to more than the 100663296 B limit/);
    expect(r.code).toBe(2);
    expect(peakKiB).toBeGreaterThan(10_000);
    // Node itself with the bundled model and MNIST is about 200 MB; the cap bounds the rest.
    expect(peakKiB).toBeLessThan(700 * 1024);
  });
});

describe('NaN weights in a file with a valid checksum', () => {
  let nanModel: string;
  beforeAll(() => {
    const m = loadModel(readFileSync(MODEL)) as FloatModel;
    const first = Object.keys(m.params)[0]!;
    m.params[first]!.weights[3] = Number.NaN;
    nanModel = join(dir('nan'), 'nan.lmdl');
    writeFileSync(nanModel, saveModel(m));
  });
  it('eval: a FormatError naming the tensor, not "accuracy 20%"', async () => expectUserError(await lastmile(['eval', '--model', nanModel]), /tensor 'conv1\/weights' holds NaN at element 3; the weights are damaged/));
  it('export: no NaN ONNX file is written', async () => {
    const out = join(dir(), 'x.onnx');
    expectUserError(await lastmile(['export', '--model', nanModel, '--out', out]), /holds NaN/);
    expect(existsSync(out)).toBe(false);
  });
  it('quantize: the model is blamed, not the calibration data', async () => expectUserError(await lastmile(['quantize', '--model', nanModel]), /nan\.lmdl: tensor 'conv1\/weights' holds NaN/));
});

describe('a model header claiming a huge input', () => {
  it('names the file and the layer, not a kernel', async () => {
    const m = loadModel(readFileSync(MODEL)) as FloatModel;
    (m.architecture.nodes[0] as { shape: number[] }).shape = [65536, 65536, 1];
    const path = join(dir('huge'), 'huge.lmdl');
    writeFileSync(path, saveModel(m));
    for (const command of ['eval', 'memory']) {
      const r = await lastmile([command, '--model', path]);
      expectUserError(r, /huge\.lmdl: layer 'input' produces 65536×65536×1 = 4294967296 values per image, more than the 16777216 lastmile supports/);
      expect(r.stderr).not.toMatch(/conv2dF32ScratchBytes/);
    }
  });
});

describe('output paths are checked before training', () => {
  it('adapt --out on an existing file', async () => {
    const d = dir();
    writeFileSync(join(d, 'taken'), 'x');
    const r = await lastmile(['adapt', '--out', join(d, 'taken')]);
    expectUserError(r, /--out '.*taken': '.*taken' is a file, not a directory; choose another --out/);
    expect(readFileSync(join(d, 'taken'), 'utf8')).toBe('x');
  });
  it('adapt --out file/sub', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), 'x');
    expectUserError(await lastmile(['adapt', '--out', join(d, 'file', 'sub')]), /is a file, not a directory/);
  });
  it('pretrain --out file/sub.lmdl fails in seconds, before any epoch', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), 'x');
    const r = await lastmile(['pretrain', '--out', join(d, 'file', 'm.lmdl')]);
    expectUserError(r, /a part of the path is a file|is a file, not a directory/);
    expect(r.stderr).not.toMatch(/epoch/);
  });
  it('export --out on a directory', async () => expectUserError(await lastmile(['export', '--model', MODEL, '--out', dir()]), /is a directory; give a file name/));
});
