import type { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.js';
import { loadModel, saveModel } from '../../model/model.js';
import { exportOnnx } from '../../onnx/export.js';
import { importOnnx } from '../../onnx/import.js';
import type { GlobalOptions } from '../main.js';

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
  program
    .command('export')
    .description('export a model to ONNX: float, or QDQ for a quantized model (int16 weights use opset 21)')
    .requiredOption('--model <file>', 'model (.lmdl)')
    .requiredOption('--out <file>', 'ONNX file to write')
    .addHelpText('after', '\nExample:\n  lastmile export --model out/adapt/model.lmdl --out adapted.onnx')
    .action(async (opts: { model: string; out: string }, cmd: Command) => {
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
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) console.log(`wrote ${opts.out}: ${model.architecture.name}, ${model.architecture.nodes.length} nodes` +
        (model.meta.dequantized ? '; QDQ graph read as the float model (dequantized weights; quantize it again)' : '') +
        (model.meta.droppedSoftmax ? '; trailing Softmax dropped (the model outputs logits)' : ''));
    });
}
