// The `lastmile` command: subcommands register themselves; every user error goes through one path
// (./errors.ts): one line (or a JSON object with --json) and status 2; anything else is a bug and
// keeps its stack trace (status 1).
import { Command, CommanderError } from 'commander';
import { reportError } from './errors.js';
import { watchParent } from './parent-watch.js';
import { PACKAGE_NAME } from '../util/package-name.js';
import { registerAdapt } from './commands/adapt.js';
import { registerDevices } from './commands/devices.js';
import { registerMemory } from './commands/memory.js';
import { registerPretrain } from './commands/pretrain.js';
import { registerQuantize } from './commands/quantize.js';
import { registerOnnx } from './commands/onnx.js';
import { registerEval } from './commands/eval.js';
import { registerProfile } from './commands/profile.js';
import { registerExperiment } from './commands/experiment.js';
import { registerEstimate } from './commands/estimate.js';
import { registerRun } from './commands/run.js';
import { takeRequestedExit } from './exit-status.js';

import { TERMINAL_COLUMNS } from './width.js';

export interface GlobalOptions {
  quiet?: boolean;
  json?: boolean;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('lastmile')
    .description(`On-device training with fixed-point forward gradients (QZO-FF) on an emulated microcontroller (npm package ${PACKAGE_NAME}).`)
    .option('-q, --quiet', 'print only errors')
    .option('--json', 'print machine-readable JSON')
    // Set before the subcommands exist so they inherit it: commander throws instead of exiting, and
    // its own error text is not printed (reportError prints one line instead).
    .exitOverride()
    .configureOutput({ outputError: () => {}, writeErr: () => {} })
    // Help wraps at the terminal width every command's output keeps (commander's default 80 leaves too
    // little room beside the long 'experiment … [parts...]' term, and it then stops wrapping at all).
    .configureHelp({ helpWidth: TERMINAL_COLUMNS })
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
  registerEstimate(program);
  registerRun(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const args = argv.slice(2);
  const json = args.includes('--json');
  const program = buildProgram();
  const command = args.find((a) => program.commands.some((c) => c.name() === a));
  // No command at all is a request for orientation, not an error: the help, status 0.
  if (args.length === 0) {
    program.outputHelp();
    return 0;
  }
  const stopWatching = watchParent();
  try {
    takeRequestedExit();
    await program.parseAsync(argv);
    return takeRequestedExit();
  } catch (e) {
    // --help and --version end parsing with a CommanderError too; they are not failures.
    if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) return 0;
    return reportError(e, { json, command });
  } finally {
    stopWatching();
  }
}
