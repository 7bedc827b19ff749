import type { Command } from 'commander';
import { ConfigError, FormatError } from '../../errors.js';
import { saveModel } from '../../model/model.js';
import { readModelFile } from '../../model/model-file.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { checkOutputFile } from '../../io/output-path.js';
import { seedOption } from '../limits.js';
import { selectClasses, subset } from '../../data/dataset.js';
import { calibrate } from '../../quant/calibrate.js';
import { quantizeModel } from '../../quant/quantize.js';
import { Mcu } from '../../device/mcu.js';
import { QuantizedSession } from '../../runtime/session.js';
import { evaluate } from '../../train/evaluate.js';
import { evaluateFloat } from '../../train/backprop.js';
import { mulberry32, shuffle } from '../../util/random.js';
import { DATA_HELP, loadData, parseClassList } from '../../data/source.js';
import { pct } from '../format.js';
import type { GlobalOptions } from '../main.js';
import { intOption } from '../options.js';

export function registerQuantize(program: Command): void {
  program
    .command('quantize')
    .description('post-training quantization: calibrate activation ranges, quantize weights, report the accuracy change on held-out data')
    .requiredOption('--model <file>', 'float model (.lmdl)')
    .option('--data <source>', DATA_HELP, 'mnist')
    .option('--classes <list>', "the model's classes in the data, in head order", '0-4')
    .option('--precision <p>', '16w8a or 8w8a', '16w8a')
    .option('--per-channel', 'per-output-channel weight scales (default: per tensor, as QZO-FF trains)')
    .option('--calibration <c>', "minmax, or a percentile like p99.99", 'minmax')
    .option('--calibration-samples <n>', 'samples used to calibrate (the rest are held out)', '512')
    .option('--seed <n>', 'seed for the calibration/held-out split', '1')
    .option('--out <file>', 'write the quantized model here')
    .addHelpText('after', '\nExample:\n  lastmile quantize --model models/mnist-cnn-digits04.lmdl --classes 0-4 --precision 8w8a \\\n    --calibration p99.99')
    .action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const { model, bytes: inputBytes } = await readModelFile(String(opts.model));
      if (opts.out) checkOutputFile(String(opts.out), '--out', inputBytes.length);
      if (model.kind !== 'float') throw new FormatError(`${opts.model}: already quantized; quantize takes a float model`);
      const precision = String(opts.precision);
      if (precision !== '16w8a' && precision !== '8w8a') throw new ConfigError(`--precision must be 16w8a or 8w8a, got '${precision}'`);
      const cal = String(opts.calibration);
      const pm = /^p(\d+(?:\.\d+)?)$/.exec(cal);
      if (cal !== 'minmax' && !pm) throw new ConfigError(`--calibration must be minmax or pNN.NN, got '${cal}'`);
      const data = selectClasses(await loadData(String(opts.data), 'test'), parseClassList(String(opts.classes)));
      const order = shuffle(Array.from({ length: data.labels.length }, (_, i) => i), mulberry32(seedOption(String(opts.seed))));
      const nCal = Math.min(intOption(String(opts.calibrationSamples), 'calibration-samples', 1), Math.floor(data.labels.length / 2));
      const calSet = subset(data, order.slice(0, nCal));
      const heldOut = subset(data, order.slice(nCal));
      const ranges = await calibrate(model, calSet, { samples: nCal, method: pm ? { percentile: Number(pm[1]) } : 'minmax' });
      const q = quantizeModel(model, ranges, { weightBits: precision === '16w8a' ? 16 : 8, perChannel: Boolean(opts.perChannel) });
      const floatAcc = (await evaluateFloat(model, heldOut)).accuracy;
      const plan = QuantizedSession.plan(q, { batch: 8 });
      const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(plan.sramBytes / 16) * 16, flashBytes: Math.ceil(plan.flashBytes / 16) * 16 } });
      const quantAcc = evaluate(new QuantizedSession(mcu, q, { batch: 8 }), heldOut).accuracy;
      if (opts.out) {
        writeFileAtomic(String(opts.out), saveModel(q), 'model');
      }
      const result = { precision, calibration: cal, perChannel: Boolean(opts.perChannel), heldOut: heldOut.labels.length, floatAccuracy: floatAcc, quantizedAccuracy: quantAcc, change: quantAcc - floatAcc, out: opts.out ?? null };
      if (global.json) console.log(JSON.stringify(result, null, 2));
      else if (!global.quiet) {
        console.log(`held-out images ${heldOut.labels.length} (calibrated on ${nCal}, ${cal})`);
        console.log(`float f32        ${pct(floatAcc)}`);
        console.log(`quantized ${precision}  ${pct(quantAcc)}  (${quantAcc - floatAcc >= 0 ? '+' : ''}${(quantAcc - floatAcc).toFixed(2)} points)`);
        if (opts.out) console.log(`wrote ${opts.out}`);
      }
    });
}
