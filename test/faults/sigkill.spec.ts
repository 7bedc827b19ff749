// Power cuts: `lastmile adapt` is killed with SIGKILL at random moments (uniform over a run's wall
// time, so some kills land in start-up, some mid-step and some mid-checkpoint-write), resumed with
// --resume (and possibly killed again), until it finishes. Every finished run must end with weights
// bit-identical to an uninterrupted reference, and after every kill every checkpoint file on disk
// must decode. FAULT_RUNS (default 50) sets the number of runs; FAULT_SEED the kill schedule;
// FAULT_REPORT a path for the JSON summary; FAULT_MAX_SECONDS stops starting new runs after that
// much wall time (the runs finished by then are reported and checked, and the count says so).
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeCheckpoint, checkpointStep } from '../../src/train/checkpoint.js';
import { Mulberry32 } from '../../src/util/random.js';

const RUNS = Number(process.env.FAULT_RUNS ?? 50);
const SEED = Number(process.env.FAULT_SEED ?? 1);
const PARALLEL = Number(process.env.FAULT_PARALLEL ?? 2);
const MAX_SECONDS = Number(process.env.FAULT_MAX_SECONDS ?? Number.POSITIVE_INFINITY);
/** A run is killed at most this many times; after that its last attempt runs to the end. */
const MAX_KILLS_PER_RUN = 3;
/** Short but real: full fine-tuning with mini-batches (the data cursor matters) and momentum (optimizer state). */
const ADAPT = [
  'bin/lastmile.js', 'adapt', '--train', 'full', '--steps', '60', '--shots', '2', '--queries', '5', '--batch-size', '4',
  '--m', '2', '--momentum', '0.5,0.5', '--no-baseline', '--json',
];

interface ChildResult {
  code: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

function runChild(args: string[], killAfterMs: number | null): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, killed: signal === 'SIGKILL', stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

interface Stats {
  requestedRuns: number;
  runs: number;
  kills: number;
  resumes: number;
  killsBeforeFirstCheckpoint: number;
  killsDuringCheckpointWrite: number;
  checkpointFilesChecked: number;
  unreadableCheckpoints: string[];
  bitIdentical: number;
  mismatches: string[];
  failures: string[];
}

let reference: { sha: string; losses: number[]; ms: number };

beforeAll(async () => {
  if (!existsSync('dist/src/train/checkpoint-store.js') || statSync('dist/src/train/checkpoint-store.js').mtimeMs < statSync('src/train/checkpoint-store.ts').mtimeMs) {
    throw new Error('dist/ is missing or older than src/: run `npm run build:ts` first (the child processes run bin/lastmile.js, which imports dist/)');
  }
  const out = mkdtempSync(join(tmpdir(), 'lastmile-fault-ref-'));
  const plain = await runChild([...ADAPT, '--out', join(out, 'plain')], null);
  expect(plain.code, plain.stderr).toBe(0);
  // Timed with PARALLEL copies at once, as the runs below will be, so the kill window covers a real run.
  const timed = await Promise.all(Array.from({ length: Math.max(1, PARALLEL) }, (_, i) =>
    runChild([...ADAPT, '--out', join(out, `ck${i}`), '--checkpoint', join(out, `ckpts${i}`), '--checkpoint-every', '1'], null)));
  const ck = timed[0]!;
  for (const t of timed) expect(t.code, t.stderr).toBe(0);
  const a = JSON.parse(plain.stdout);
  const b = JSON.parse(ck.stdout);
  // Checkpointing itself must not change the numbers.
  expect(b.weightsSha256).toBe(a.weightsSha256);
  reference = { sha: a.weightsSha256, losses: a.losses, ms: timed.reduce((sum, t) => sum + t.ms, 0) / timed.length };
  rmSync(out, { recursive: true, force: true });
});

/** After a kill: every non-temporary checkpoint file must decode; note whether a save was cut short. */
function inspect(ckDir: string, stats: Stats, label: string): void {
  if (!existsSync(ckDir)) {
    stats.killsBeforeFirstCheckpoint++;
    return;
  }
  const names = readdirSync(ckDir);
  if (names.some((n) => n.includes('.tmp-'))) stats.killsDuringCheckpointWrite++;
  const finals = names.filter((n) => checkpointStep(n) !== null);
  if (finals.length === 0) stats.killsBeforeFirstCheckpoint++;
  for (const n of finals) {
    stats.checkpointFilesChecked++;
    try {
      decodeCheckpoint(new Uint8Array(readFileSync(join(ckDir, n))), n);
    } catch (e) {
      stats.unreadableCheckpoints.push(`${label}/${n}: ${(e as Error).message}`);
    }
  }
}

async function oneRun(index: number, stats: Stats): Promise<void> {
  const random = new Mulberry32((SEED * 0x9e3779b1 + index) >>> 0);
  const dir = mkdtempSync(join(tmpdir(), 'lastmile-fault-'));
  const ckDir = join(dir, 'ck');
  const args = [...ADAPT, '--out', join(dir, 'out'), '--checkpoint', ckDir, '--checkpoint-every', '1', '--resume'];
  let kills = 0;
  try {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) stats.resumes++;
      const kill = kills < MAX_KILLS_PER_RUN && (attempt === 0 || random.next() < 0.5);
      const killAt = kill ? random.next() * reference.ms : null;
      const r = await runChild(args, killAt);
      if (r.killed) {
        kills++;
        stats.kills++;
        inspect(ckDir, stats, `run ${index}`);
        continue;
      }
      if (r.code !== 0) {
        stats.failures.push(`run ${index} attempt ${attempt}: exit ${r.code}: ${r.stderr.slice(0, 500)}`);
        return;
      }
      const result = JSON.parse(r.stdout);
      if (result.weightsSha256 === reference.sha && JSON.stringify(result.losses) === JSON.stringify(reference.losses)) stats.bitIdentical++;
      else stats.mismatches.push(`run ${index}: weights ${result.weightsSha256} (reference ${reference.sha}) after ${kills} kills`);
      return;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SIGKILL at random moments', () => {
  it(`${RUNS} runs (or as many as fit FAULT_MAX_SECONDS) killed and resumed all finish bit-identical to the uninterrupted run, and no checkpoint on disk is ever unreadable`, async () => {
    const stats: Stats = {
      requestedRuns: RUNS, runs: 0, kills: 0, resumes: 0, killsBeforeFirstCheckpoint: 0, killsDuringCheckpointWrite: 0, checkpointFilesChecked: 0,
      unreadableCheckpoints: [], bitIdentical: 0, mismatches: [], failures: [],
    };
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < RUNS && (performance.now() - t0) / 1000 < MAX_SECONDS) {
        await oneRun(next++, stats);
        stats.runs++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, PARALLEL) }, worker));
    const summary = { ...stats, seed: SEED, referenceRunMs: Math.round(reference.ms), wallSeconds: Math.round((performance.now() - t0) / 1000) };
    console.log(
      `fault injection: ${stats.runs} runs${stats.runs < RUNS ? ` (of ${RUNS} asked; FAULT_MAX_SECONDS reached)` : ''}, ${stats.kills} SIGKILLs (${stats.killsDuringCheckpointWrite} during a checkpoint write, ${stats.killsBeforeFirstCheckpoint} before the first checkpoint), ` +
        `${stats.resumes} resumes, ${stats.bitIdentical}/${stats.runs} bit-identical, ${stats.checkpointFilesChecked} checkpoint files checked after kills, ` +
        `${stats.unreadableCheckpoints.length} unreadable, ${summary.wallSeconds} s`,
    );
    if (process.env.FAULT_REPORT) {
      mkdirSync(dirname(process.env.FAULT_REPORT), { recursive: true });
      writeFileSync(process.env.FAULT_REPORT, JSON.stringify(summary, null, 2));
    }
    expect(stats.failures).toEqual([]);
    expect(stats.unreadableCheckpoints).toEqual([]);
    expect(stats.mismatches).toEqual([]);
    expect(stats.runs).toBeGreaterThan(0);
    expect(stats.bitIdentical).toBe(stats.runs);
    expect(stats.kills).toBeGreaterThanOrEqual(stats.runs);
  });
});
