// Runs bin/lastmile.js (which imports dist/: `npm run build:ts` first) as a user would, and checks
// the contract every user error has: exit status 2, exactly one line, nothing else printed.
import { spawn } from 'node:child_process';
import { expect } from 'vitest';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Spawned, not spawnSync: a blocked test worker misses vitest's RPC deadlines on a loaded machine. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run the command from the TypeScript sources (test/helpers/lastmile-src.ts) instead of dist/. */
  fromSource?: boolean;
}

export function lastmile(args: string[], o: RunOptions & { timeoutMs?: number } = {}): Promise<Run> {
  const run = lastmileAsync(args, o);
  const timer = setTimeout(() => {
    try {
      process.kill(run.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, o.timeoutMs ?? 60_000);
  return run.done.finally(() => clearTimeout(timer));
}

/** Start a run without waiting for it (for concurrent runs); done resolves when it exits. */
export function lastmileAsync(args: string[], o: RunOptions = {}): { pid: number; done: Promise<Run> } {
  const t0 = performance.now();
  const entry = o.fromSource ? ['--import', 'tsx', `${process.cwd()}/test/helpers/lastmile-src.ts`] : [`${process.cwd()}/bin/lastmile.js`];
  const child = spawn(process.execPath, [...entry, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 })));
  return { pid: child.pid!, done };
}

/** Exit 2, one line on stderr starting 'lastmile: ' and matching `message`, nothing on stdout. */
export function expectUserError(r: Run, message: RegExp): void {
  expect(r.signal, 'killed by the timeout').toBeNull();
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^lastmile: /);
  expect(lines[0]).toMatch(message);
}

/** With --json: exit 2, one JSON line on stdout {error: {type, message, hint}}, nothing on stderr. */
export function expectJsonError(r: Run, type: string, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toBe('');
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  const e = JSON.parse(lines[0]!).error;
  expect(e.type).toBe(type);
  expect(e.message).toMatch(message);
  expect(typeof e.hint).toBe('string');
  expect(e.hint.length).toBeGreaterThan(0);
}
