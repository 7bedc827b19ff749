import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { saveModel } from '../../model/model.js';
import { ARCHITECTURE_PRESETS } from '../../model/presets.js';
import { pretrain } from '../../train/pretrain.js';
import { DATA_HELP, loadData, parseClassList } from '../../data/source.js';
import type { GlobalOptions } from '../main.js';
import { intOption, positiveNumber } from '../options.js';

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('pre-train a float backbone with f32 backprop (Adam) on the device, on a subset of classes')
    .option('--model <preset>', `architecture preset (${ARCHITECTURE_PRESETS.join(', ')})`, 'mnist-cnn')
    .option('--data <source>', DATA_HELP, 'mnist')
    .option('--classes <list>', "classes to learn, e.g. '0-4' or '0,2,4'", '0-4')
    .option('--epochs <n>', 'passes over the training data', '4')
    .option('--batch <n>', 'mini-batch size', '32')
    .option('--lr <x>', 'Adam learning rate', '0.003')
    .option('--seed <n>', 'seed for initialisation and data order', '1')
    .requiredOption('--out <file>', 'where to write the float model (.lmdl)')
    .addHelpText('after', '\nExample (the shipped MNIST backbone):\n  lastmile pretrain --model mnist-cnn --data mnist --classes 0-4 --epochs 4 --seed 1 --out models/mnist-cnn-digits04.lmdl')
    .action(async (opts: Record<string, string>, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const int = (k: string) => intOption(opts[k]!, k, 1);
      const data = await loadData(opts.data!, 'train');
      const t0 = performance.now();
      const r = await pretrain({
        architecture: opts.model!, data, classes: parseClassList(opts.classes!), epochs: int('epochs'), batch: int('batch'), lr: positiveNumber(opts.lr!, 'lr'), seed: intOption(opts.seed!, 'seed', 0),
        onEpoch: (e, loss) => {
          if (!global.quiet && !global.json) console.error(`epoch ${e}: mean loss ${loss.toFixed(4)}`);
        },
      });
      r.model.meta.recipe = `lastmile pretrain --model ${opts.model} --data ${opts.data} --classes ${opts.classes} --epochs ${opts.epochs} --batch ${opts.batch} --lr ${opts.lr} --seed ${opts.seed}`;
      await mkdir(dirname(opts.out!), { recursive: true });
      const bytes = saveModel(r.model);
      await writeFile(opts.out!, bytes);
      const summary = { out: opts.out, bytes: bytes.length, validationAccuracy: r.validationAccuracy, trainSamples: r.trainSamples, seconds: (performance.now() - t0) / 1000 };
      if (global.json) console.log(JSON.stringify(summary, null, 2));
      else if (!global.quiet) console.log(`wrote ${opts.out} (${bytes.length} B): validation accuracy ${r.validationAccuracy.toFixed(2)}% on held-out ${opts.data} classes ${opts.classes}, ${summary.seconds.toFixed(1)} s`);
    });
}
