// Every user error through the CLI: commander's own included, one line and exit 2; with --json, a
// JSON error object on stdout. Option values are checked before any model or data is read.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectJsonError, expectUserError, lastmile } from '../helpers/cli.js';

const out = () => mkdtempSync(join(tmpdir(), 'lastmile-bad-cli-'));

describe('commander usage errors: one line, exit 2', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown option', ['adapt', '--stpes', '5'], /unknown option '--stpes'.*--steps.*lastmile adapt --help/],
    ['missing option value', ['adapt', '--steps'], /option '--steps <n>' argument missing/],
    ['unknown command', ['adaptt'], /unknown command 'adaptt'/],
    ['export without required options', ['export'], /required option '--model <file>' not specified.*lastmile export --help/],
    ['import without required options', ['import'], /required option '--out <file>' not specified/],
    ['pretrain without --out', ['pretrain'], /required option '--out <file>' not specified/],
    ['excess argument', ['devices', 'extra'], /too many arguments|unknown command|excess/],
  ];
  for (const [name, args, message] of cases) it(name, async () => expectUserError(await lastmile(args), message));

  it('--help still prints the help and exits 0; so does no command at all', async () => {
    const r = await lastmile(['adapt', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--steps/);
    const bare = await lastmile([]);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toMatch(/Commands:/);
  });
  it('global options without a command: one line, exit 2', async () => expectUserError(await lastmile(['--quiet']), /no command given.*lastmile --help/));

  it('--json: a JSON error object on stdout for a usage error and for a lastmile error', async () => {
    expectJsonError(await lastmile(['--json', 'adapt', '--bogus']), 'UsageError', /unknown option '--bogus'/);
    expectJsonError(await lastmile(['--json', 'eval', '--model', '/dev/zero']), 'FileError', /character device, not a regular file/);
    expectJsonError(await lastmile(['--json', 'adapt', '--seed', '4294967296', '--out', out()]), 'ConfigError', /--seed must be an integer in \[0, 4294967295\]/);
  });
});

describe('option values: refused before any work', () => {
  const cases: [string, string[], RegExp][] = [
    ['seed 2^32 (would wrap to 0)', ['adapt', '--seed', '4294967296'], /--seed must be an integer in \[0, 4294967295\] \(a 32-bit seed\), got '4294967296'/],
    ['seed above 2^53 (would be altered when recorded)', ['adapt', '--seed', '9007199254740993'], /--seed must be an integer in \[0, 4294967295\]/],
    ['negative seed', ['adapt', '--seed', '-1'], /--seed must be an integer/],
    ['fractional seed', ['adapt', '--seed', '1.5'], /--seed must be an integer/],
    ['NaN seed', ['profile', '--seed', 'NaN'], /--seed must be an integer/],
    ['pretrain seed 2^32', ['pretrain', '--seed', '4294967296', '--out', 'x.lmdl'], /--seed must be an integer/],
    ['--steps 1e12', ['adapt', '--steps', '1e12'], /--steps 1e12 asks for 1\.00e\+12 steps, more than the 10,000,000 any run may take; lower --steps/],
    ['--epochs 1e12', ['adapt', '--epochs', '1000000000000'], /--epochs 1000000000000 asks for 1\.00e\+12 steps.*lower --epochs/],
    ['profile --steps 1e9', ['profile', '--steps', '1000000000'], /--steps 1000000000 asks for 1\.00e\+9 steps/],
    ['a long run without --yes shows its estimate', ['adapt', '--steps', '200000'], /200,000 steps, estimated ≈ .* of training; lower --steps, or pass --yes/],
    ['pretrain --epochs 1e6 without --yes', ['pretrain', '--epochs', '1000000', '--out', 'x.lmdl'], /--epochs 1000000 (asks for|means)/],
    ['device budget off the 16-byte grid (memory)', ['memory', '--device', '100001/1m'], /SRAM 100001 B is not a multiple of 16 B.*use 100000 or 100016/],
    ['device budget off the 16-byte grid (adapt)', ['adapt', '--device', '100001/1m'], /SRAM 100001 B is not a multiple of 16 B/],
    ['unknown build', ['adapt', '--build', 'gpu'], /--build must be auto, scalar, simd, relaxed; got 'gpu'/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const dir = out();
      const r = await lastmile(args, { cwd: dir });
      expectUserError(r, message);
      expect(r.ms).toBeLessThan(20_000);
    });
  }
});
