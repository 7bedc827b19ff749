// Runs the CLI, the exported Makefile (host cc, QEMU) and the emulator side by side for the metal
// suite and the fast host test: one place that knows how to read each side's output.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type QuantizedModel } from '../../src/model/model.js';
import { loadData, parseClassList } from '../../src/data/source.js';
import { sampleEpisode } from '../../src/data/fewshot.js';
import { Mcu } from '../../src/device/mcu.js';
import { QuantizedSession } from '../../src/runtime/session.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ stdout: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}\n${stdout.slice(-2000)}`));
      else res({ stdout, ms: performance.now() - t0 });
    });
  });
}

/** `lastmile <args>` from the sources (no build needed). */
export function lastmile(args: string[], timeoutMs = 10 * 60_000): Promise<{ stdout: string; ms: number }> {
  const script = "const m = await import('./src/cli/main.ts'); process.exitCode = await m.main(['node', 'lastmile', ...process.argv.slice(1)]);";
  return run(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', '-e', script, ...args], ROOT, timeoutMs);
}

export interface AdaptReference {
  weightsSha256: string;
  losses: number[];
  after: number;
  /** The planner's SRAM for QZO-FF training (adapt's memory.ff.sramPeak). */
  ffSram: number;
  ms: number;
}

/** `lastmile adapt --json --no-baseline` with the run options; the adapted model goes to `out`. */
export async function adaptReference(runArgs: string[], out: string): Promise<AdaptReference> {
  // The exported C runs every forward in full (no frozen-prefix cache), so its arena is adapt's plan
  // without the cache; the trained weights are the same with or without it.
  const { stdout, ms } = await lastmile(['adapt', ...runArgs, '--no-reuse-prefix', '--no-baseline', '--json', '--out', out]);
  const j = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { weightsSha256: string; losses: number[]; after: number; memory: { ff: { sramPeak: number } } };
  return { weightsSha256: j.weightsSha256, losses: j.losses, after: j.after, ffSram: j.memory.ff.sramPeak, ms };
}

export async function exportC(runArgs: string[], modelArgs: string[], out: string): Promise<{ stdout: string; ms: number }> {
  return lastmile(['export', '--format', 'c', ...modelArgs, ...runArgs, '--out', out]);
}

export interface ProgramOutput {
  /** Per step: the directions' (L+, L−) integer batch losses. */
  steps: number[][];
  weightsSha256: string;
  queryLogitsSha256: string;
  accuracy: [number, number];
  ms: number;
}

export function parseProgram(stdout: string, ms: number): ProgramOutput {
  const steps: number[][] = [];
  let weightsSha256 = '';
  let queryLogitsSha256 = '';
  let accuracy: [number, number] = [0, 0];
  for (const line of stdout.split('\n')) {
    const step = /^step (\d+) loss_q16((?: -?\d+)+)$/.exec(line);
    if (step) steps.push(step[2]!.trim().split(' ').map(Number));
    const w = /^weights sha256 ([0-9a-f]{64})$/.exec(line);
    if (w) weightsSha256 = w[1]!;
    const q = /^query logits sha256 ([0-9a-f]{64})$/.exec(line);
    if (q) queryLogitsSha256 = q[1]!;
    const a = /^query accuracy (\d+)\/(\d+)$/.exec(line);
    if (a) accuracy = [Number(a[1]), Number(a[2])];
  }
  return { steps, weightsSha256, queryLogitsSha256, accuracy, ms };
}

/** `make host` or `make qemu CPU=…` in an export folder. */
export async function runProgram(dir: string, target: 'host' | string, timeoutMs = 15 * 60_000, makeVars: readonly string[] = []): Promise<ProgramOutput> {
  const args = [...(target === 'host' ? ['-s', 'host'] : ['-s', 'qemu', `CPU=${target}`]), ...makeVars];
  const { stdout, ms } = await run('make', args, dir, timeoutMs);
  return parseProgram(stdout, ms);
}

/**
 * adapt's per-step loss (mean over directions and samples of (L⁺ + L⁻)/2, in nats) as the integer
 * Σ (L⁺ + L⁻) the C program prints: exact, since every term is an integer far below 2^53.
 */
export function lossSumQ16(loss: number, directions: number, batch: number): number {
  return lossSumOverPasses(loss, 2 * directions, batch);
}

/**
 * The same for a step of `passes` forwards over the batch: 2m for QZO-FF and for the hybrid with a
 * trained body; 1 for the hybrid training only its head (one unperturbed forward, adapt's loss).
 */
export function lossSumOverPasses(loss: number, passes: number, batch: number): number {
  return Math.round(loss * passes * 65536 * batch);
}

export interface EpisodeSpec {
  data: string;
  classes: string;
  ways: number;
  shots: number;
  queries: number;
  seed: number;
  microBatch: number;
}

/** SHA-256 of the emulator's int32 logits of the query images, on the adapted model adapt wrote. */
export async function emulatorQueryDigest(modelPath: string, e: EpisodeSpec): Promise<{ digest: string; logits: Int32Array }> {
  const model = loadModel(new Uint8Array(await readFile(modelPath)), modelPath) as QuantizedModel;
  const input = model.architecture.nodes[0]!;
  const data = await loadData(e.data, 'test', input.kind === 'input' ? input.shape : undefined);
  const episode = sampleEpisode(data, { classPool: parseClassList(e.classes), ways: e.ways, shots: e.shots, queries: e.queries, seed: e.seed });
  const micro = Math.min(e.microBatch, episode.support.labels.length);
  const mcu = await Mcu.create({ budget: { sramBytes: 8 * 1024 * 1024, flashBytes: 8 * 1024 * 1024 } });
  const session = new QuantizedSession(mcu, model, { batch: micro });
  const q = session.quantizeInput(episode.query.images);
  const size = session.inputSize;
  const count = episode.query.labels.length;
  const zp = model.activations[input.name]!.zeroPoint;
  const out = new Int32Array(count * session.classes);
  const x = new Int8Array(micro * size);
  for (let from = 0; from < count; from += micro) {
    const rows = Math.min(micro, count - from);
    x.fill(zp);
    x.set(q.subarray(from * size, (from + rows) * size));
    session.setInput(x);
    session.forward();
    out.set((session.readLogits() as Int32Array).subarray(0, rows * session.classes), from * session.classes);
  }
  return { digest: createHash('sha256').update(new Uint8Array(out.buffer)).digest('hex'), logits: out };
}

export const modelPath = (file: string): string => join(ROOT, 'models', file);
