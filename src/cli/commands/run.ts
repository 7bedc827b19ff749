import type { Command } from 'commander';
import { runInt8File } from '../../tflite/cli.js';
import type { GlobalOptions } from '../main.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('one inference on a raw int8 input tensor, printing the raw int8 outputs (the MLPerf Tiny / EEMBC harness contract)')
    .requiredOption('--model <file>', 'int8 model (.lmdl or .tflite)')
    .requiredOption('--input <file>', 'raw int8 input: .bin (bytes) or .npy (int8); several samples back to back run one after another')
    .addHelpText('after', '\nExample:\n  lastmile run --model kws_ref_model.tflite --input mfcc.bin --json')
    .action(async (opts: { model: string; input: string }, cmd: Command) => {
      const r = await runInt8File(opts.model, opts.input);
      if ((cmd.optsWithGlobals() as GlobalOptions).json) {
        console.log(JSON.stringify(r.labels ? { ...r, predicted: r.argmax.map((i) => r.labels![i]) } : r));
        return;
      }
      r.outputs.forEach((o, i) => console.log(`${o.join(',')}${r.labels ? `  # ${r.labels[r.argmax[i]!]}` : ''}`));
    });
}
