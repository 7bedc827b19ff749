import type { Command } from 'commander';
import { ConfigError } from '../../errors.js';
import { saveModel } from '../../model/model.js';
import { readBounded } from '../../io/bounded-read.js';
import { readModelFile, MAX_MODEL_BYTES } from '../../model/model-file.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { checkOutputFile } from '../../io/output-path.js';
import { exportTfliteFile, importTfliteFile } from '../tflite.js';
import type { GlobalOptions } from '../main.js';
import { addCExportOptions, runCExport, type CExportCliOptions } from './export-c.js';

function writeOutput(path: string, bytes: Uint8Array, what: string): void {
  checkOutputFile(path, '--out', bytes.length);
  writeFileAtomic(path, bytes, what);
}

export function registerOnnx(program: Command): void {
  addCExportOptions(program
    .command('export')
    .description('export a model to ONNX (float, or QDQ for a quantized model; int16 weights use opset 21), to TensorFlow Lite (--format tflite: int8, 16-bit weights re-quantized; --float for f32), or with --format c a float backbone and its QZO-FF adaptation as C99 for Cortex-M (see docs/DEPLOY.md)')
    .requiredOption('--model <file>', 'model (.lmdl or .tflite)')
    .requiredOption('--out <file>', 'file to write (a new folder for --format c)')
    .option('--format <f>', 'onnx, tflite or c', 'onnx')
    .option('--float', 'with --format tflite: write float32 weights and activations'))
    .addHelpText('after', '\nExamples:\n  lastmile export --model out/adapt/model.lmdl --out adapted.onnx\n  lastmile export --format c --model models/mnist-cnn-digits04.lmdl --train head --steps 20 \\\n    --out out/c-head')
    .action(async (opts: { model: string; out: string; format: string; float?: boolean }, cmd: Command) => {
      const quiet = (cmd.optsWithGlobals() as GlobalOptions).quiet;
      if (opts.format === 'c') return runCExport(opts as unknown as CExportCliOptions, (line = '') => (quiet ? undefined : console.log(line)));
      const { model } = await readModelFile(opts.model);
      if (opts.format === 'tflite') {
        const s = exportTfliteFile(model, opts.out, { float: opts.float });
        if (!quiet) {
          console.log(`wrote ${opts.out} (${s.bytes} B, ${s.kind} .tflite of ${model.architecture.name})`);
          for (const r of s.requantized) console.log(`  ${r.layer}: 16-bit weights re-quantized to int8 (largest weight change ${r.maxAbsChange.toExponential(2)})`);
        }
        return;
      }
      if (opts.format !== 'onnx') throw new ConfigError(`--format must be onnx, tflite or c, got '${opts.format}'`);
      // Loaded here, not at start-up: the ONNX modules need the optional package onnx-proto.
      const { exportOnnx } = await import('../../onnx/export.js');
      const bytes = exportOnnx(model);
      writeOutput(opts.out, bytes, 'ONNX file');
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
      const { importOnnx } = await import('../../onnx/import.js');
      const model = importOnnx(await readBounded(opts.onnx!, { maxBytes: MAX_MODEL_BYTES, what: 'ONNX file' }), opts.name ? { name: opts.name } : {});
      writeOutput(opts.out, saveModel(model), 'model');
      if (!(cmd.optsWithGlobals() as GlobalOptions).quiet) console.log(`wrote ${opts.out}: ${model.architecture.name}, ${model.architecture.nodes.length} nodes` +
        (model.meta.dequantized ? '; QDQ graph read as the float model (dequantized weights; quantize it again)' : '') +
        (model.meta.droppedSoftmax ? '; trailing Softmax dropped (the model outputs logits)' : ''));
    });
}
