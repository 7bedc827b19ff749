// The `lastmile` command: subcommands register themselves; user errors (LastmileError) print a clean
// message and exit with status 2, anything else is a bug and keeps its stack trace (status 1).
import { Command } from 'commander';
import { LastmileError } from '../errors.js';
import { registerAdapt } from './commands/adapt.js';
import { registerDevices } from './commands/devices.js';
import { registerMemory } from './commands/memory.js';
import { registerPretrain } from './commands/pretrain.js';
import { registerQuantize } from './commands/quantize.js';
import { registerOnnx } from './commands/onnx.js';
import { registerEval } from './commands/eval.js';
import { registerProfile } from './commands/profile.js';
import { registerExperiment } from './commands/experiment.js';
import { takeRequestedExit } from './exit-status.js';

export interface GlobalOptions {
  quiet?: boolean;
  json?: boolean;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('lastmile')
    .description('On-device training with fixed-point forward gradients (QZO-FF) on an emulated microcontroller.')
    .option('-q, --quiet', 'print only errors')
    .option('--json', 'print machine-readable JSON')
    .showHelpAfterError()
    .addHelpText('after', '\nStart with:\n  lastmile adapt          # the main job on the bundled default\n  lastmile memory --model resnet8 --device nrf52840');
  registerAdapt(program);
  registerPretrain(program);
  registerQuantize(program);
  registerMemory(program);
  registerDevices(program);
  registerOnnx(program);
  registerEval(program);
  registerProfile(program);
  registerExperiment(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    takeRequestedExit();
    await buildProgram().parseAsync(argv);
    return takeRequestedExit();
  } catch (e) {
    if (e instanceof LastmileError) {
      console.error(`lastmile: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
