import type { Command } from 'commander';
import type { GlobalOptions } from '../main.js';
import { PRESETS, DEFAULT_DEVICE } from '../../device/presets.js';
import { kib, wrapText } from '../format.js';
import { wrapTable } from '../wrap-table.js';
import { columnsFor, WIDE_HELP } from '../width.js';

export function registerDevices(program: Command): void {
  program
    .command('devices')
    .description('list the MCU presets (SRAM and flash budgets, with where each figure comes from)')
    .option('--wide', WIDE_HELP)
    .addHelpText('after', '\nExamples:\n  lastmile devices\n  lastmile devices --json')
    .action((opts: { wide?: boolean }, cmd: Command) => {
      const width = columnsFor(opts.wide);
      const json = (cmd.optsWithGlobals() as GlobalOptions).json;
      const presets = [...PRESETS.values()];
      if (json) {
        console.log(JSON.stringify(presets, null, 2));
        return;
      }
      const rows = [['name', 'part', 'board', 'SRAM', 'flash', 'core', 'MHz']];
      for (const p of presets) rows.push([p.name + (p.name === DEFAULT_DEVICE ? ' (default)' : ''), p.part, p.board, kib(p.sramBytes), kib(p.flashBytes), p.core, String(p.clockMhz)]);
      console.log(wrapTable(rows, ['l', 'l', 'l', 'r', 'r', 'l', 'r'], width));
      console.log('\nSources:');
      for (const p of presets) console.log(wrapText(`  ${p.name}: SRAM — ${p.sources.sram}; flash — ${p.sources.flash}`, width, '    '));
      console.log("\nCustom budgets: --device 256k/1m, --device sram=262144,flash=1048576");
    });
}
