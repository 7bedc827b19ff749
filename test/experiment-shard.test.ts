// `lastmile experiment <name> --shard i/n` + `lastmile experiment merge`: three shards merged give the
// JSON an unsharded run writes, bit for bit apart from the timing fields; partials that are not every
// shard of one run exactly once are refused with a typed error before anything is written.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { TIMING_FIELDS, ShardMergeError, ShardRecorder, ShardReplay, combinePartials, parsePartial, parseShard, withoutTiming, type ShardPartial } from '../src/experiments/shard.js';
import { ConfigError } from '../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'lastmile-shard-'));
const whole = join(root, 'whole');
const sharded = join(root, 'sharded');
const merged = join(root, 'merged');
// 2 episodes × 4 variants = 8 units of real adapt() runs, split 3/3/2.
const ARGS = ['cross-domain', '--quick', '--episodes', '2', '--steps', '4', '--no-report'];
const part = (i: number, n = 3, dir = sharded) => join(dir, `cross-domain.shard-${i}-of-${n}.json`);

async function cli(args: string[]): Promise<{ code: number; errors: string }> {
  const errors: string[] = [];
  const error = console.error;
  console.error = (m: string) => errors.push(String(m));
  try {
    return { code: await main(['node', 'lastmile', ...args]), errors: errors.join('\n') };
  } finally {
    console.error = error;
  }
}

beforeAll(async () => {
  expect((await cli(['--quiet', 'experiment', ...ARGS, '--out', whole])).code).toBe(0);
  for (let i = 0; i < 3; i++) expect((await cli(['--quiet', 'experiment', ...ARGS, '--out', sharded, '--shard', `${i}/3`])).code).toBe(0);
}, 600_000);

describe('sharded experiments', () => {
  it('merge of 3 shards equals the unsharded JSON apart from timing fields', async () => {
    // The shards wrote partials only, never the experiment's JSON.
    expect(existsSync(join(sharded, 'cross-domain.json'))).toBe(false);
    const partials = [0, 1, 2].map((i) => JSON.parse(readFileSync(part(i), 'utf8')) as ShardPartial);
    expect(partials.map((p) => p.items.length)).toEqual([3, 3, 2]);
    expect(partials.every((p) => p.units === 8)).toBe(true);
    // Given in any order.
    const r = await cli(['--quiet', 'experiment', 'merge', part(2), part(0), part(1), '--out', merged, '--no-report']);
    expect(r.errors).toBe('');
    expect(r.code).toBe(0);
    const a = JSON.parse(readFileSync(join(whole, 'cross-domain.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(merged, 'cross-domain.json'), 'utf8'));
    expect(JSON.stringify(withoutTiming(b))).toBe(JSON.stringify(withoutTiming(a)));
    // Results are really there (not two empty records), and timing fields are the only ones dropped.
    expect(a.rows.find((x: { key: string }) => x.key === 'qzo16').values).toHaveLength(2);
    expect(Object.keys(withoutTiming(a) as object).sort()).toEqual(Object.keys(a).filter((k) => k !== 'seconds').sort());
    expect(TIMING_FIELDS).toContain('run.date');
    // The merged clock is the shards' compute time, not the merge's (which computes nothing).
    expect(b.seconds).toBeGreaterThan(0);
  });

  it('refuses missing, duplicate, mismatched and foreign partials with typed errors', async () => {
    const out = join(root, 'bad');
    const missing = await cli(['experiment', 'merge', part(0), part(2), '--out', out]);
    expect(missing.code).toBe(2);
    expect(missing.errors).toMatch(/shard 1 of 3 missing/);
    const duplicate = await cli(['experiment', 'merge', part(0), part(1), part(1), part(2), '--out', out]);
    expect(duplicate.code).toBe(2);
    expect(duplicate.errors).toMatch(/shard 1\/3 given twice/);
    // Another build of the code.
    const foreign = JSON.parse(readFileSync(part(1), 'utf8')) as ShardPartial;
    const other = join(root, 'other-code.json');
    writeFileSync(other, JSON.stringify({ ...foreign, code: '0.0.0+0000000000000000' }));
    const code = await cli(['experiment', 'merge', part(0), other, part(2), '--out', out]);
    expect(code.code).toBe(2);
    expect(code.errors).toMatch(/written by different code/);
    // Other parameters.
    const steps = join(root, 'other-steps.json');
    writeFileSync(steps, JSON.stringify({ ...foreign, parameters: { ...foreign.parameters, steps: 5 } }));
    expect((await cli(['experiment', 'merge', part(0), steps, part(2), '--out', out])).errors).toMatch(/different parameters/);
    // Not a partial at all.
    const junk = join(root, 'junk.json');
    writeFileSync(junk, '{"experiment":"cross-domain"}');
    expect((await cli(['experiment', 'merge', junk, '--out', out])).errors).toMatch(/not a shard partial/);
    expect(existsSync(join(out, 'cross-domain.json'))).toBe(false);
    // A bad --shard is refused before any work.
    expect((await cli(['experiment', 'cross-domain', '--shard', '3/3', '--out', out])).errors).toMatch(/--shard must be i\/n with 0 ≤ i < n/);
    expect((await cli(['experiment', 'all', '--shard', '0/2', '--out', out])).errors).toMatch(/--shard splits one experiment/);
  });

  it('types the errors and keeps non-finite unit values exact', async () => {
    expect(() => parseShard('1/0')).toThrow(ConfigError);
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    const rec = new ShardRecorder({ index: 0, count: 1 });
    const values = [Number.NaN, Number.POSITIVE_INFINITY, -0.5, [1, Number.NEGATIVE_INFINITY]];
    for (const v of values) await rec.unit('u', async () => v);
    const partial: ShardPartial = JSON.parse(JSON.stringify({ format: 'lastmile-experiment-shard/1', experiment: 'x', shard: rec.shard, parameters: {}, code: 'c', units: rec.units, items: rec.items, run: {} }));
    const { items } = combinePartials([{ path: 'p', partial: parsePartial(JSON.stringify(partial), 'p') }]);
    const replay = new ShardReplay(items);
    const back = [];
    for (let i = 0; i < values.length; i++) back.push(await replay.unit('u'));
    expect(back).toEqual(values);
    replay.finish();
    await expect(replay.unit('u')).rejects.toBeInstanceOf(ShardMergeError);
    expect(() => combinePartials([])).toThrow(ShardMergeError);
  });
});
