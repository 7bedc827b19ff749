// Every `lastmile` command, in each of its output modes, on the bundled defaults and on an imported
// MLPerf Tiny model (the DS-CNN preset exported to ONNX and imported back): each line it prints
// fits a 100-column terminal, and --wide keeps the tables in one piece where the help offers it.
// Also every documented exit status. Runs bin/lastmile.js, which loads dist/ (npm run build:ts).
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { lastmile, expectUserError, expectJsonError, type Run } from './helpers/cli.js';
import { architecturePreset, initFloatModel, saveModel } from '../src/index.js';
import { buildProgram } from '../src/cli/main.js';

const COLUMNS = 100;
const dir = mkdtempSync(join(tmpdir(), 'lastmile-width-'));
const D = (name: string) => join(dir, name);

/** Lines longer than the terminal, with their lengths (characters, as a terminal counts them). */
function tooWide(text: string, width = COLUMNS): string[] {
  return text.split(/\r?\n|\r/).filter((l) => [...l].length > width).map((l) => `${[...l].length}: ${l}`);
}

async function cli(args: string[]): Promise<Run> {
  return lastmile(args, { timeoutMs: 600_000 });
}

/** Five named classes of 28×28 grey PNG shapes, 4 images each: a folder data set with class names. */
function shapesFolder(): string {
  const root = D('shapes');
  const shapes: Record<string, (x: number, y: number, k: number) => boolean> = {
    box: (x, y, k) => x > 5 + k && x < 22 - k && y > 5 + k && y < 22 - k,
    hline: (x, y, k) => Math.abs(y - 14 - k) < 3,
    vline: (x, y, k) => Math.abs(x - 14 - k) < 3,
    cross: (x, y, k) => Math.abs(x - 14 - k) < 2 || Math.abs(y - 14 + k) < 2,
    dot: (x, y, k) => (x - 14 - k) ** 2 + (y - 14) ** 2 < 20,
  };
  for (const [name, inside] of Object.entries(shapes)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let k = 0; k < 4; k++) {
      const png = new PNG({ width: 28, height: 28, colorType: 0 });
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const v = inside(x, y, k) ? 255 : 0;
          png.data.set([v, v, v, 255], 4 * (y * 28 + x));
        }
      }
      writeFileSync(join(root, name, `${k}.png`), PNG.sync.write(png, { colorType: 0 }));
    }
  }
  return root;
}

interface Row {
  /** What the row runs, for the test name. */
  name: string;
  args: () => string[];
  code?: number;
  /** With --wide: at least one line is longer than 100 columns (a table left in one piece). */
  wide?: boolean;
  check?: (r: Run) => void;
}

const BACKBONE = 'models/mnist-cnn-digits04.lmdl';

// In order: later rows read the files earlier rows write (the quantized model, the ONNX export, ...).
const ROWS: Row[] = [
  { name: 'devices', args: () => ['devices'] },
  { name: 'devices --wide', args: () => ['devices', '--wide'], wide: true },
  { name: 'memory (bundled default)', args: () => ['memory'] },
  { name: 'memory resnet8 --plan', args: () => ['memory', '--model', 'resnet8', '--device', 'nrf52840', '--plan'] },
  { name: 'memory resnet8 --wide', args: () => ['memory', '--model', 'resnet8', '--device', 'nrf52840', '--wide'], wide: true },
  { name: 'estimate resnet8', args: () => ['estimate', '--model', 'resnet8'] },
  { name: 'quantize', args: () => ['quantize', '--model', BACKBONE, '--classes', '0-4', '--out', D('q.lmdl')] },
  { name: 'eval float', args: () => ['eval', '--model', BACKBONE, '--classes', '0-4', '--limit', '40'] },
  { name: 'eval quantized', args: () => ['eval', '--model', D('q.lmdl'), '--classes', '0-4', '--limit', '40'] },
  { name: 'eval --wide', args: () => ['eval', '--model', BACKBONE, '--classes', '0-4', '--limit', '40', '--wide'], wide: true },
  { name: 'export onnx (float)', args: () => ['export', '--model', BACKBONE, '--out', D('m.onnx')] },
  { name: 'export onnx (QDQ)', args: () => ['export', '--model', D('q.lmdl'), '--out', D('q.onnx')] },
  { name: 'export onnx (DS-CNN)', args: () => ['export', '--model', D('ds-cnn.lmdl'), '--out', D('ds-cnn.onnx')] },
  { name: 'import onnx (DS-CNN)', args: () => ['import', '--onnx', D('ds-cnn.onnx'), '--out', D('ds-cnn-imported.lmdl')] },
  { name: 'export tflite', args: () => ['export', '--model', D('q.lmdl'), '--format', 'tflite', '--out', D('q.tflite')] },
  { name: 'import tflite', args: () => ['import', '--tflite', D('q.tflite'), '--out', D('q-imported.lmdl')] },
  { name: 'run', args: () => ['run', '--model', D('q.tflite'), '--input', D('input.bin')] },
  { name: 'memory (imported DS-CNN)', args: () => ['memory', '--model', D('ds-cnn-imported.lmdl')] },
  { name: 'estimate (imported DS-CNN)', args: () => ['estimate', '--model', D('ds-cnn-imported.lmdl')] },
  { name: 'profile (bundled default)', args: () => ['profile', '--steps', '2'] },
  { name: 'profile --wide', args: () => ['profile', '--steps', '2', '--wide'], wide: true },
  { name: 'profile (imported DS-CNN)', args: () => ['profile', '--model', D('ds-cnn-imported.lmdl'), '--steps', '1'] },
  {
    name: 'adapt --profile (progress lines with an ETA on stderr)',
    args: () => ['adapt', '--steps', '10', '--no-baseline', '--queries', '20', '--profile', '--out', D('adapt')],
    check: (r) => {
      const progress = r.stderr.split('\n').filter((l) => l.startsWith('training '));
      expect(progress).toHaveLength(10);
      expect(progress.at(-1)).toMatch(/^training 10\/10 steps \(100%\) · loss \d+\.\d{3} · \d+ s · ETA 0 s$/);
    },
  },
  {
    name: 'adapt on a folder of named classes',
    args: () => ['adapt', '--data', `folder:${D('shapes')}`, '--classes', 'box,cross,dot,hline,vline', '--shots', '2', '--queries', '2', '--steps', '5', '--no-baseline', '--out', D('adapt-shapes')],
    check: (r) => {
      // The task line and the report name the folders, not their ids.
      // (Continuation lines of a wrapped header line are indented under its text: join them back.)
      expect(r.stdout.replace(/\n {9}/g, ' ')).toMatch(/^task {5}5-way 2-shot on folder:\S+ classes box, cross, dot, hline, vline · /m);
      const report = JSON.parse(readFileSync(D('adapt-shapes/report.json'), 'utf8'));
      expect(report.classes).toEqual([0, 1, 2, 3, 4]);
      expect(report.classNames).toEqual(['box', 'cross', 'dot', 'hline', 'vline']);
      expect(readFileSync(D('adapt-shapes/report.html'), 'utf8')).toContain('classes box, cross, dot, hline, vline');
    },
  },
  {
    name: 'pretrain (progress lines with an ETA on stderr)',
    args: () => ['pretrain', '--classes', '0-1', '--epochs', '1', '--out', D('pretrained.lmdl')],
    check: (r) => {
      const progress = r.stderr.split('\n').filter((l) => l.startsWith('pretrain '));
      // Not a terminal: one line per tenth of the steps, each with the time left.
      expect(progress.length).toBeGreaterThanOrEqual(10);
      expect(progress.length).toBeLessThanOrEqual(11);
      for (const l of progress) expect(l).toMatch(/^pretrain \d+\/\d+ steps \(\d+%\) · loss \d+\.\d{3} · \d+ (s|min \d+ s) · ETA (\d+ s|\d+ min \d+ s)$/);
      expect(progress.at(-1)).toMatch(/\(100%\).* ETA 0 s$/);
    },
  },
  { name: 'export c', args: () => ['export', '--format', 'c', '--model', BACKBONE, '--steps', '5', '--queries', '5', '--out', D('c')] },
  {
    name: 'experiment memory',
    args: () => ['experiment', 'memory', '--out', D('experiments'), '--no-report'],
    check: () => {
      // Written atomically: the result parses and no temporary file is left beside it.
      expect(JSON.parse(readFileSync(D('experiments/memory.json'), 'utf8')).experiment).toBe('memory');
      expect(readdirSync(D('experiments')).filter((f) => f.startsWith('.lastmile-tmp-'))).toEqual([]);
    },
  },
];

const COMMANDS = buildProgram().commands.map((c) => c.name());

beforeAll(() => {
  writeFileSync(D('ds-cnn.lmdl'), saveModel(initFloatModel(architecturePreset('ds-cnn'), 1)));
  writeFileSync(D('input.bin'), new Uint8Array(28 * 28).map((_, i) => (i * 37) & 0xff));
  shapesFolder();
});

describe('every command fits a 100-column terminal', () => {
  it('the table runs every command', () => {
    const run = new Set(ROWS.map((r) => r.args()[0]));
    expect(COMMANDS.filter((c) => !run.has(c) && c !== 'help')).toEqual([]);
  });

  it.each(['', ...COMMANDS.filter((c) => c !== 'help')])('lastmile %s --help', async (command) => {
    const r = await cli(command ? [command, '--help'] : ['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(tooWide(r.stdout)).toEqual([]);
  });

  it.each(ROWS)('$name', async (row) => {
    const r = await cli(row.args());
    expect(r.signal, 'killed by the timeout').toBeNull();
    expect(r.code, r.stderr).toBe(row.code ?? 0);
    if (row.wide) {
      expect(tooWide(r.stdout).length, 'a table in one piece').toBeGreaterThan(0);
    } else {
      expect(tooWide(r.stdout)).toEqual([]);
      expect(tooWide(r.stderr)).toEqual([]);
    }
    row.check?.(r);
  });

  it('--wide prints the same columns as the wrapped tables, in one piece', async () => {
    const [narrow, wide] = await Promise.all([cli(['devices']), cli(['devices', '--wide'])]);
    const header = wide.stdout.split('\n')[0]!;
    expect(header.split(/ {2,}/)).toEqual(['name', 'part', 'board', 'SRAM', 'flash', 'core', 'MHz']);
    // Wrapped: the key column repeats in every part; every other column appears once.
    const tables = narrow.stdout.slice(0, narrow.stdout.indexOf('\nSources:'));
    const heads = tables.trim().split('\n\n').map((part) => part.split('\n')[0]!.split(/ {2,}/));
    expect(heads.length).toBeGreaterThan(1);
    expect(heads.every((h) => h[0] === 'name')).toBe(true);
    expect(heads.flatMap((h) => h.slice(1))).toEqual(['part', 'board', 'SRAM', 'flash', 'core', 'MHz']);
  });
});

describe('documented exit statuses', () => {
  it('0: no command prints the help', async () => {
    const r = await cli([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: lastmile /);
  });

  it('2: bad input, one line on stderr (or a JSON error object with --json)', async () => {
    expectUserError(await cli(['memory', '--model', 'resnet8', '--device', '16k']), /device/);
    expectUserError(await cli(['nosuch']), /unknown command 'nosuch'/);
    expectUserError(await cli(['pretrain', '--epochs', '0', '--out', D('never.lmdl')]), /--epochs/);
    expectJsonError(await cli(['eval', '--model', D('missing.lmdl'), '--json']), 'FileError', /missing\.lmdl/);
  });

  it('3: memory, when the chosen mode does not fit or none of the three does', async () => {
    const ff = await cli(['memory', '--model', 'resnet8', '--device', '64k/1m', '--mode', 'ff']);
    expect(ff.code).toBe(3);
    expect(ff.stdout).toMatch(/QZO-FF 16w8a\s+\S+ KiB\s+\S+ KiB\s+NO/);
    expect(tooWide(ff.stdout)).toEqual([]);
    expect((await cli(['memory', '--model', 'resnet8', '--device', '16k/64k'])).code).toBe(3);
    expect((await cli(['memory', '--model', 'resnet8', '--device', '64k/1m', '--mode', 'infer'])).code).toBe(0);
  });
});
