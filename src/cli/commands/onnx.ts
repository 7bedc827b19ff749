import type { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.js';
import { loadModel, saveModel } from '../../model/model.js';
import { exportOnnx } from '../../onnx/export.js';
import { importOnnx } from '../../onnx/import.js';
import type { GlobalOptions } from '../main.js';
import { addCExportOptions, runCExport, type CExportCliOptions } from './export-c.js';

async function readInput(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path).catch((e: Error) => {
    throw new ConfigError(`cannot read '${path}': ${e.message}`);
  }));
}

async function writeOutput(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

export function registerOnnx(program: Command): void {
  addCExportOptions(program
    .command('export')
    .description('export a model to ONNX (float, or QDQ for a quantized model; int16 weights use opset 21), or with --format c a float backbone and its QZO-FF adaptation as C99 for Cortex-M (see docs/DEPLOY.md)')
    .requiredOption('--model <file>', 'model (.lmdl)')
    .requiredOption('--out <file>', 'ONNX file to write (a new folder for --format c)')
    .option('--format <f>', 'onnx or c', 'onnx'))
    .addHelpText('after', '\nExamples:\n  lastmile export --model out/adapt/model.lmdl --out adapted.onnx\n  lastmile export --format c --model models/mnist-cnn-digits04.lmdl --train head --steps 20 --out out/c-head')
    .action(async (opts: { model: string; out: string; format: string }, cmd: Command) => {
      const quiet = (cmd.optsWithGlobals() as GlobalOptions).quiet;
      if (opts.format === 'c') return runCExport(opts as unknown as CExportCliOptions, (line = '') => (quiet ? undefined : console.log(line)));
      if (opts.format !== 'onnx') throw new ConfigError(`--format must be onnx or c, got '${opts.format}'`);
      const model = loadModel(await readInput(opts.model), opts.model);
      const bytes = exportOnnx(model);
      await writeOutput(opts.out, bytes);
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) console.log(`wrote ${opts.out} (${bytes.length} B, ${model.kind} ${model.architecture.name})`);
    });
  program
    .command('import')
    .description('import a float ONNX model built from the supported layers (Conv, depthwise Conv, Gemm/MatMul, pools, Add, Relu/Clip, BatchNorm folded)')
    .requiredOption('--onnx <file>', 'ONNX file')
    .requiredOption('--out <file>', 'model (.lmdl) to write')
    .option('--name <name>', 'architecture name for the imported model')
    .addHelpText('after', '\nExample:\n  lastmile import --onnx my-pytorch-net.onnx --out my-net.lmdl')
    .action(async (opts: { onnx: string; out: string; name?: string }, cmd: Command) => {
      const model = importOnnx(await readInput(opts.onnx), opts.name ? { name: opts.name } : {});
      await writeOutput(opts.out, saveModel(model));
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) console.log(`wrote ${opts.out}: ${model.architecture.name}, ${model.architecture.nodes.length} nodes`);
    });
}
