import type { Command } from 'commander';
import { saveModel } from '../../model/model.js';
import { ARCHITECTURE_PRESETS, architecturePreset } from '../../model/presets.js';
import { resolveGraph, totalMacs } from '../../model/graph.js';
import { selectClasses } from '../../data/dataset.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { checkOutputFile } from '../../io/output-path.js';
import { writeOrRescue } from '../../io/rescue.js';
import { checkRunSize, seedOption } from '../limits.js';
import { pretrain } from '../../train/pretrain.js';
import { DATA_HELP, loadData, parseClassList } from '../../data/source.js';
import type { GlobalOptions } from '../main.js';
import { intOption, positiveNumber } from '../options.js';
import { startProgress, type Progress } from '../progress.js';
import { wrapText } from '../format.js';
import { TERMINAL_COLUMNS } from '../width.js';
import { listClasses } from '../../data/class-names.js';

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
    .option('--yes', 'run even if the estimated training time is over an hour')
    .addHelpText('after', '\nProgress (with an ETA) goes to stderr: a bar on a terminal, otherwise a line at every tenth\nof the steps.\n\nExample (the shipped MNIST backbone):\n  lastmile pretrain --model mnist-cnn --data mnist --classes 0-4 --epochs 4 --seed 1 \\\n    --out models/mnist-cnn-digits04.lmdl')
    .action(async (opts: Record<string, string> & { yes?: boolean }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const int = (k: string) => intOption(opts[k]!, k, 1);
      const seed = seedOption(opts.seed!);
      // Checked before training: a run that cannot save its model must fail now (a float model is
      // 4 B per parameter; 64 MiB covers every preset with a wide margin).
      checkOutputFile(opts.out!, '--out', 4 * 1024 * 1024);
      const data = await loadData(opts.data!, 'train');
      const classes = parseClassList(opts.classes!);
      // A step of backprop costs about 3 forward passes; one epoch is one step per training image.
      const samples = selectClasses(data, classes).labels.length;
      checkRunSize({ flag: '--epochs', value: opts.epochs!, steps: int('epochs') * samples, macsPerStep: 3 * totalMacs(resolveGraph(architecturePreset(opts.model!))), yes: !!opts.yes });
      const t0 = performance.now();
      // Started at the first step: the step count depends on the validation split pretrain() makes.
      let bar: Progress = startProgress({ label: 'pretrain', total: 0, enabled: false });
      const r = await pretrain({
        architecture: opts.model!, data, classes, epochs: int('epochs'), batch: int('batch'), lr: positiveNumber(opts.lr!, 'lr'), seed,
        onStep: (step, total, loss) => {
          if (step === 1) bar = startProgress({ label: 'pretrain', unit: 'steps', total, enabled: !global.quiet && !global.json });
          bar.update(step, `loss ${loss.toFixed(3)}`);
        },
        onEpoch: (e, loss) => {
          if (!global.quiet && !global.json && !process.stderr.isTTY) console.error(`epoch ${e}: mean loss ${loss.toFixed(4)}`);
        },
      });
      bar.stop();
      r.model.meta.recipe = `lastmile pretrain --model ${opts.model} --data ${opts.data} --classes ${opts.classes} --epochs ${opts.epochs} --batch ${opts.batch} --lr ${opts.lr} --seed ${opts.seed}`;
      const bytes = saveModel(r.model);
      await writeOrRescue(() => writeFileAtomic(opts.out!, bytes, 'model'), { name: 'pretrained.lmdl', bytes });
      const summary = { out: opts.out, bytes: bytes.length, validationAccuracy: r.validationAccuracy, trainSamples: r.trainSamples, seconds: (performance.now() - t0) / 1000 };
      if (global.json) console.log(JSON.stringify(summary, null, 2));
      else if (!global.quiet) console.log(wrapText(`wrote ${opts.out} (${bytes.length} B): validation accuracy ${r.validationAccuracy.toFixed(2)}% on held-out ${opts.data} classes ${listClasses(data, classes)}, ${summary.seconds.toFixed(1)} s`, TERMINAL_COLUMNS));
    });
}
