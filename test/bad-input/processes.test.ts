// Several processes on one checkpoint directory, stale locks, and a run whose npx parent is
// SIGKILLed: real processes, real files.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCheckpoint } from '../../src/train/checkpoint.js';
import { expectUserError, lastmile, lastmileAsync } from '../helpers/cli.js';

const dir = () => mkdtempSync(join(tmpdir(), 'lastmile-bad-proc-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RUN = ['adapt', '--no-baseline', '--queries', '20', '--checkpoint-every', '10', '--quiet'];
const checkpoints = (ck: string) => readdirSync(ck).filter((n) => /^ckpt-\d+\.lmck$/.test(n));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const t0 = Date.now(); Date.now() - t0 < ms; await sleep(50)) if (cond()) return true;
  return cond();
}

describe('one checkpoint directory, several runs', () => {
  it('a second run (with or without --resume) is refused while the first trains; the first finishes intact and can be resumed', async () => {
    const d = dir();
    const ck = join(d, 'ck');
    const a = lastmileAsync([...RUN, '--steps', '600', '--checkpoint', ck, '--out', join(d, 'a')]);
    expect(await until(() => existsSync(ck) && checkpoints(ck).length > 0, 60_000)).toBe(true);
    const resume = await lastmile([...RUN, '--steps', '600', '--checkpoint', ck, '--resume', '--out', join(d, 'b')]);
    const fresh = await lastmile([...RUN, '--steps', '600', '--checkpoint', ck, '--out', join(d, 'c')]);
    const ra = await a.done;
    expectUserError(resume, new RegExp(`--checkpoint directory '.*ck' is in use by another lastmile run \\(PID ${a.pid}\\); wait for it to finish or use another directory`));
    expectUserError(fresh, /is in use by another lastmile run/);
    expect(ra.code, ra.stderr).toBe(0);
    expect(existsSync(join(d, 'a', 'model.lmdl'))).toBe(true);
    // The refused runs wrote nothing.
    expect(existsSync(join(d, 'b', 'model.lmdl'))).toBe(false);
    expect(existsSync(join(d, 'c', 'model.lmdl'))).toBe(false);
    // Every checkpoint decodes; the lock went with the run.
    expect(checkpoints(ck)).toEqual(['ckpt-590.lmck', 'ckpt-600.lmck']);
    for (const n of checkpoints(ck)) decodeCheckpoint(readFileSync(join(ck, n)));
    expect(readdirSync(ck).filter((n) => n.startsWith('.'))).toEqual([]);
    const again = await lastmile([...RUN, '--steps', '600', '--checkpoint', ck, '--resume', '--json', '--out', join(d, 'a2')]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).checkpoint.resumedFrom).toBe(600);
  });

  it('a lock left by a killed run (its PID gone) is stale and taken over', async () => {
    const d = dir();
    const ck = join(d, 'ck');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const { mkdirSync } = await import('node:fs');
    mkdirSync(ck);
    writeFileSync(join(ck, '.lastmile.lock'), JSON.stringify({ pid: Number(dead), started: '1' }));
    const r = await lastmile([...RUN, '--steps', '20', '--checkpoint', ck, '--out', join(d, 'o')]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(ck, '.lastmile.lock'))).toBe(false);
  });
});

describe('npx parent killed with SIGKILL', () => {
  it('the node child stops within seconds instead of training on', async () => {
    const d = dir();
    const ck = join(d, 'ck');
    // What `npx lastmile adapt …` starts: an npm process (process.title 'npm exec …', npm_command set
    // in the environment) running `sh -c` which runs node. Killing npm leaves sh alive as node's parent.
    const npm = spawn(process.execPath, ['-e', `
      process.title = 'npm exec lastmile adapt';
      const sh = require('node:child_process').spawn('sh', ['-c', process.argv[1]], { stdio: 'ignore', env: { ...process.env, npm_command: 'exec' } });
      console.log(sh.pid);
      setInterval(() => {}, 1000);
    `, `${process.execPath} bin/lastmile.js ${[...RUN, '--steps', '5000', '--checkpoint', ck, '--out', join(d, 'o')].join(' ')}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const shPid = Number(await new Promise<string>((resolve) => npm.stdout.once('data', (c: Buffer) => resolve(String(c).trim()))));
    const nodePid = () => {
      for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === shPid) return Number(p);
        } catch {
          // exited meanwhile
        }
      }
      return 0;
    };
    expect(await until(() => existsSync(ck) && checkpoints(ck).length > 0, 60_000)).toBe(true);
    const child = nodePid();
    expect(child).toBeGreaterThan(0);
    process.kill(npm.pid!, 'SIGKILL');
    // The watch polls once a second.
    expect(await until(() => !alive(child), 5000)).toBe(true);
    if (alive(shPid)) process.kill(shPid, 'SIGKILL');
    for (const n of checkpoints(ck)) decodeCheckpoint(readFileSync(join(ck, n)));
  });
});
