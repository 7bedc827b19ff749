import type { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.js';
import { saveModel } from '../../model/model.js';
import { loadModelFile } from '../../tflite/files.js';
import { exportTfliteFile, importTfliteFile } from '../../tflite/cli.js';
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
    .description('export a model to ONNX (float, or QDQ for a quantized model; int16 weights use opset 21) or to TensorFlow Lite (--format tflite: int8, 16-bit weights re-quantized; --float for f32)')
    .requiredOption('--model <file>', 'model (.lmdl or .tflite)')
    .requiredOption('--out <file>', 'file to write')
    .option('--format <f>', 'onnx or tflite', 'onnx')
    .option('--float', 'with --format tflite: write float32 weights and activations')
    .addHelpText('after', '\nExample:\n  lastmile export --model out/adapt/model.lmdl --out adapted.onnx')
    .action(async (opts: { model: string; out: string; format: string; float?: boolean }, cmd: Command) => {
      const model = await loadModelFile(opts.model);
      if (opts.format === 'tflite') {
        const s = exportTfliteFile(model, opts.out, { float: opts.float });
        if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) {
          console.log(`wrote ${opts.out} (${s.bytes} B, ${s.kind} .tflite of ${model.architecture.name})`);
          for (const r of s.requantized) console.log(`  ${r.layer}: 16-bit weights re-quantized to int8 (largest weight change ${r.maxAbsChange.toExponential(2)})`);
        }
        return;
      }
      if (opts.format !== 'onnx') throw new ConfigError(`--format must be onnx or tflite, got '${opts.format}'`);
      const bytes = exportOnnx(model);
      await writeOutput(opts.out, bytes);
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) console.log(`wrote ${opts.out} (${bytes.length} B, ${model.kind} ${model.architecture.name})`);
    });
  program
    .command('import')
    .description('import a float ONNX model built from the supported layers (Conv, depthwise Conv, Gemm/MatMul, pools, Add, Relu/Clip, BatchNorm folded), or an int8/float TensorFlow Lite model (see docs/TFLITE.md)')
    .option('--onnx <file>', 'ONNX file')
    .option('--tflite <file>', '.tflite file')
    .option('--labels <list|file>', 'with --tflite: class names in output order (a,b,c or a file with one per line)')
    .requiredOption('--out <file>', 'model (.lmdl) to write')
    .option('--name <name>', 'architecture name for the imported model')
    .addHelpText('after', '\nExample:\n  lastmile import --onnx my-pytorch-net.onnx --out my-net.lmdl')
    .action(async (opts: { onnx?: string; tflite?: string; labels?: string; out: string; name?: string }, cmd: Command) => {
      if (!!opts.onnx === !!opts.tflite) throw new ConfigError('import takes exactly one of --onnx FILE or --tflite FILE');
      if (opts.tflite) {
        const model = await importTfliteFile({ tflite: opts.tflite, out: opts.out, labels: opts.labels, name: opts.name });
        const names = Array.isArray(model.meta.classNames) ? ` · classes ${(model.meta.classNames as string[]).join(', ')}` : '';
        if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) console.log(`wrote ${opts.out}: ${model.kind === 'quantized' ? 'int8' : 'float'} ${model.architecture.name}, ${model.architecture.nodes.length} nodes${names}`);
        return;
      }
      const model = importOnnx(await readInput(opts.onnx!), opts.name ? { name: opts.name } : {});
      await writeOutput(opts.out, saveModel(model));
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) console.log(`wrote ${opts.out}: ${model.architecture.name}, ${model.architecture.nodes.length} nodes`);
    });
}
