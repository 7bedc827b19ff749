// Every suite in sequence, each as its own Node process (a fresh engine per suite, so one suite's
// JIT state and heap never colour the next one's timings). Flags pass through unchanged; --json
// is `--json DIR` (each suite writes DIR/<suite>.json; the committed results live in bench/results/).
//
//   npm run bench [-- --quick] [-- --json DIR] [-- --only kernels,inference,…]
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../src/util/package-root.js';
import { DEFAULT_RESULTS_DIR, runIfEntryPoint, writeJson } from './cli.js';

/** Wall time of the last complete run of every suite, per mode (bench/results/run-times.json). */
export type RunTimes = Partial<Record<'full' | 'quick', { totalSeconds: number; suites: Record<string, number>; date: string }>>;

export const SUITES = [
  { name: 'kernels', file: 'kernels.bench.ts', relaxedSimd: true },
  { name: 'inference', file: 'inference.bench.ts', relaxedSimd: true },
  { name: 'overhead', file: 'overhead.bench.ts', relaxedSimd: false },
  { name: 'training', file: 'training.bench.ts', relaxedSimd: false },
  { name: 'memory', file: 'memory.bench.ts', relaxedSimd: false },
  { name: 'tta', file: 'time-to-accuracy.bench.ts', relaxedSimd: false },
] as const;

function run(file: string, relaxedSimd: boolean, args: string[]): Promise<number> {
  const node = [...(relaxedSimd ? ['--experimental-wasm-relaxed-simd'] : []), '--import', 'tsx', path.join('bench', file), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, node, { cwd: packageRoot(), stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = argv.indexOf('--only');
  const only = o >= 0 ? new Set(argv.splice(o, 2)[1]?.split(',')) : null;
  const started = performance.now();
  const times: string[] = [];
  const seconds: Record<string, number> = {};
  for (const suite of SUITES) {
    if (only && !only.has(suite.name)) continue;
    console.log(`\n=== ${suite.name} ===`);
    const t0 = performance.now();
    const code = await run(suite.file, suite.relaxedSimd, argv);
    seconds[suite.name] = Math.round((performance.now() - t0) / 1000);
    times.push(`${suite.name} ${seconds[suite.name]} s`);
    if (code !== 0) {
      console.error(`suite '${suite.name}' failed (exit ${code})`);
      process.exitCode = code;
      return;
    }
  }
  const totalSeconds = Math.round((performance.now() - started) / 1000);
  console.log(`\nall suites done in ${totalSeconds} s (${times.join(', ')})`);
  // Only a run of every suite on every configuration says how long `npm run bench` takes.
  if (!only && !argv.includes('--filter')) {
    const file = path.join(packageRoot(), DEFAULT_RESULTS_DIR, 'run-times.json');
    const previous = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as RunTimes;
    await writeJson(file, { ...previous, [argv.includes('--quick') ? 'quick' : 'full']: { totalSeconds, suites: seconds, date: new Date().toISOString() } });
  }
}

runIfEntryPoint(import.meta.url, main);
