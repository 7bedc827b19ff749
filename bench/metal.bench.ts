// Instructions on Cortex-M, per QZO-FF step, per inference and per kernel call: the exported C
// runs on QEMU's MPS2/MPS3 boards under `-icount shift=0`, where every guest instruction advances
// virtual time by one step, and SysTick (24-bit, wraps counted by its interrupt) is read around
// each call. A block of 100,000 NOPs calibrates instructions per SysTick tick. Each kernel call
// carries its shape (MACs, outputs, weights touched, bytes moved) so a cost model can be fitted.
//
//   npm run bench:metal [-- --cores cortex-m4,cortex-m7] [-- --runs head,full]
// Writes bench/results/metal.json. Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm.
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORES } from '../src/export/c/boards.js';
import { BOARDS } from '../src/export/c/boards.js';
import { exportC, modelPath, ROOT } from '../test/metal/harness.js';
import type { OpInfo } from '../src/export/c/emit.js';

interface BenchRun {
  name: string;
  model: string;
  args: string[];
}

const RUNS: BenchRun[] = [
  { name: 'mnist-cnn head 16w8a', model: 'mnist-cnn-digits04.lmdl', args: ['--train', 'head'] },
  { name: 'mnist-cnn full 16w8a', model: 'mnist-cnn-digits04.lmdl', args: ['--train', 'full'] },
];
// Two plain QZO-FF steps (pinned: the default method may change) of the whole 25-image support set
// (m = 3: 6 forward passes of 5 micro-batches each).
const STEP_ARGS = ['--method', 'qzo-ff', '--steps', '2', '--queries', '1'];

function sh(cmd: string, args: string[], cwd: string): Promise<{ stdout: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    execFile(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 }, (err, stdout, stderr) => (err ? rej(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : res({ stdout, ms: performance.now() - t0 })));
  });
}

const u64 = (hi: string, lo: string) => Number(hi) * 2 ** 32 + Number(lo);

interface KernelCall {
  op: number;
  name: string;
  kind: string;
  phase: 'train' | 'infer';
  calls: number;
  instructionsPerCall: number;
  macs: number;
  outputs: number;
  weights: number;
  bytesMoved: number;
  perturbed: boolean;
}

async function benchCore(dir: string, cpu: string, ops: OpInfo[], trained: Set<string>) {
  const { stdout, ms } = await sh('make', ['-s', 'bench', `CPU=${cpu}`], dir);
  const lines = stdout.split('\n');
  const cal = /^calibration-100000-nops (\d+) (\d+)$/.exec(lines.find((l) => l.startsWith('calibration'))!)!;
  const perTick = 100_000 / u64(cal[1]!, cal[2]!);
  const instr = (ticks: number) => Math.round(ticks * perTick);
  const steps = lines.filter((l) => l.startsWith('step ')).map((l) => instr(u64(...(l.split(' ').slice(1, 3) as [string, string]))));
  const inf = /^infer-micro-batch (\d+) (\d+)$/.exec(lines.find((l) => l.startsWith('infer-micro-batch'))!)!;
  const kernels: KernelCall[] = [];
  for (const l of lines) {
    const m = /^op (-?\d+) (train|infer) (\S+) (\d+) (\d+) (\d+)$/.exec(l);
    if (!m) continue;
    const op = Number(m[1]);
    const calls = Number(m[4]);
    const info = op >= 0 ? ops[op]! : null;
    kernels.push({
      op, name: m[3]!, kind: info?.kind ?? m[3]!, phase: m[2] as 'train' | 'infer', calls,
      instructionsPerCall: Math.round(instr(u64(m[5]!, m[6]!)) / calls),
      macs: info?.macs ?? 0, outputs: info?.outputs ?? 0, weights: info?.weights ?? 0, bytesMoved: info?.bytesMoved ?? 0,
      perturbed: m[2] === 'train' && !!info && trained.has(info.name),
    });
  }
  const board = BOARDS.find((b) => b.cpu === cpu)!;
  return {
    board: board.machine, instructionsPerTick: perTick, qemuWallSeconds: Math.round(ms / 100) / 10,
    stepInstructions: steps, inferenceMicroBatchInstructions: instr(u64(inf[1]!, inf[2]!)), kernels,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const pick = (flag: string, all: string[]) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1]!.split(',') : all;
  };
  const cores = pick('--cores', CORES);
  const runs = RUNS.filter((r) => pick('--runs', RUNS.map((x) => x.name.split(' ')[1]!)).includes(r.name.split(' ')[1]!));
  const results = [];
  for (const r of runs) {
    const dir = await mkdtemp(join(tmpdir(), 'lm-bench-metal-'));
    await exportC([...r.args, ...STEP_ARGS], ['--model', modelPath(r.model)], join(dir, 'c'));
    const meta = JSON.parse(await readFile(join(dir, 'c', 'export.json'), 'utf8')) as { ops: OpInfo[]; trainable: string[]; microBatch: number; stepBatch: number; config: Record<string, unknown>; arenaBytes: number };
    const perCore: Record<string, unknown> = {};
    for (const cpu of cores) {
      console.log(`${r.name} on ${cpu} …`);
      perCore[cpu] = await benchCore(join(dir, 'c'), cpu, meta.ops, new Set(meta.trainable));
    }
    results.push({ name: r.name, model: r.model, config: meta.config, microBatch: meta.microBatch, stepBatch: meta.stepBatch, arenaBytes: meta.arenaBytes, trainable: meta.trainable, cores: perCore });
  }
  const out = {
    what: 'instructions per QZO-FF step, per inference micro-batch and per kernel call on QEMU Cortex-M boards (SysTick under -icount shift=0)',
    command: 'npm run bench:metal', compiler: 'arm-none-eabi-gcc -O2 -mthumb -mfloat-abi=soft (DSP fast path on)',
    notes: 'instructionsPerCall includes two SysTick reads (a few tens of instructions); train-phase calls of trained layers stage perturbed weights (perturbed: true); loss and update are the fixed-point cross-entropy and the integer update',
    runs: results,
  };
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  await writeFile(join(ROOT, 'bench', 'results', 'metal.json'), JSON.stringify(out, null, 2) + '\n');
  for (const r of results) {
    for (const [cpu, c] of Object.entries(r.cores) as [string, { stepInstructions: number[]; inferenceMicroBatchInstructions: number }][]) {
      console.log(`${r.name.padEnd(22)} ${cpu.padEnd(11)} step ${c.stepInstructions.map((x) => x.toLocaleString('en')).join(' / ')} instr · inference (${r.microBatch} images) ${c.inferenceMicroBatchInstructions.toLocaleString('en')} instr`);
    }
  }
  console.log('wrote bench/results/metal.json');
}

await main();
