// `lastmile export --format c`: the model and its QZO-FF step as a self-contained C99 library, a
// test program that repeats the adapt run, a Makefile for the host and four QEMU Cortex-M boards.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../util/package-root.js';
import { ConfigError } from '../../errors.js';
import { prepareExport, checkExportable, type CExportOptions, type PreparedRun } from './prepare.js';
import { emitModel, emitRunData, type OpInfo } from './emit.js';
import { BOARDS, STARTUP_C, linkerScript, makefile } from './boards.js';
import { readme } from './readme.js';
import { writeFolderAtomically } from './write.js';
import { MFCC_RUNTIME_FILES, mfccProgram, mfccQuantOf } from './mfcc.js';

export { checkExportable, checkExportMethod, EXPORT_METHODS, type CExportOptions, type ExportMethod } from './prepare.js';
export { CORES } from './boards.js';

/** The runtime's C files, shipped as real sources under src/export/c/runtime. */
export const RUNTIME_FILES = ['lm_kernels.h', 'lm_kernels.c', 'lm_qzo.h', 'lm_qzo.c', 'lm_head_grad.h', 'lm_head_grad.c', 'lm_tail_grad.h', 'lm_tail_grad.c', 'lm_sha256.h', 'lm_sha256.c'];

export function runtimeSource(file: string): string {
  return readFileSync(join(packageRoot(), 'src', 'export', 'c', 'runtime', file), 'utf8');
}

export interface CExportResult {
  out: string;
  run: PreparedRun;
  arenaBytes: number;
  plannedSramBytes: number;
  plannedFlashBytes: number;
  arenaMap: string;
  ops: OpInfo[];
  files: string[];
}

/** The arena map as a table: offset range, bytes, lifetime (op indices) and buffer. */
function arenaMapText(run: PreparedRun): string {
  const rows = [...run.plan.sram.buffers].sort((a, b) => a.offset - b.offset || a.firstUse - b.firstUse);
  const lines = rows.map((b) => `  ${String(b.offset).padStart(7)} ${String(b.offset + b.alignedBytes).padStart(7)} ${String(b.bytes).padStart(7)}  ${`${b.firstUse}..${b.lastUse}`.padEnd(7)} ${b.name}`);
  return [`arena ${run.plan.sram.peakBytes} B (${run.plan.sram.strategy} plan, lower bound ${run.plan.sram.lowerBoundBytes} B)`, '   start     end   bytes  ops     buffer', ...lines].join('\n');
}

/** Everything is derived and checked before the folder is written; then it is written atomically. */
export async function exportC(o: CExportOptions & { out: string; modelLabel: string }): Promise<CExportResult> {
  checkExportable(o);
  if (existsSync(o.out)) throw new ConfigError(`output folder '${o.out}' already exists: choose a new folder (an export never overwrites one)`);
  const run = await prepareExport(o);
  const model = emitModel(run);
  if (model.arenaBytes !== run.plan.sramBytes) throw new Error(`internal: arena ${model.arenaBytes} B != planned SRAM ${run.plan.sramBytes} B`);
  const files = new Map<string, string>([...model.files, ...emitRunData(run)]);
  for (const f of RUNTIME_FILES) files.set(`runtime/${f}`, runtimeSource(f));
  for (const f of MFCC_RUNTIME_FILES) files.set(`runtime/${f}`, runtimeSource(f));
  files.set('mfcc.c', mfccProgram(mfccQuantOf(run)));
  files.set('bench.c', runtimeSource('lm_bench.c'));
  files.set('boards/startup.c', STARTUP_C);
  for (const b of BOARDS) files.set(`boards/${b.machine}.ld`, linkerScript(b));
  files.set('Makefile', makefile());
  const arenaMap = arenaMapText(run);
  files.set('arena-map.txt', arenaMap + '\n');
  files.set('README.md', readme(run, o.modelLabel, model.ops, arenaMap));
  files.set('export.json', JSON.stringify({
    model: o.modelLabel, architecture: run.quantized.architecture.name, config: run.config, steps: run.steps, microBatch: run.microBatch, stepBatch: run.stepBatch,
    trainable: run.trainable, trained: run.trained, arenaBytes: model.arenaBytes, plannedSramBytes: run.plan.sramBytes, plannedFlashBytes: run.plan.flashBytes,
    trainCount: run.train.count, queryCount: run.query.count, ops: model.ops,
  }, null, 2) + '\n');
  await writeFolderAtomically(o.out, files);
  return { out: o.out, run, arenaBytes: model.arenaBytes, plannedSramBytes: run.plan.sramBytes, plannedFlashBytes: run.plan.flashBytes, arenaMap, ops: model.ops, files: [...files.keys()].sort() };
}
