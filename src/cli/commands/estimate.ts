import type { Command } from 'commander';
import { ConfigError } from '../../errors.js';
import { DEFAULT_DEVICE } from '../../device/presets.js';
import { resolveDevice } from '../../device/presets.js';
import { estimateInference } from '../../cost/graph-estimate.js';
import { targetForPreset, COST_MODEL_VERSION } from '../../cost/model.js';
import { graphForModel } from '../../cost/model-graph.js';
import { table } from '../format.js';
import type { GlobalOptions } from '../main.js';

export function registerEstimate(program: Command): void {
  program
    .command('estimate')
    .description('estimated inference latency and energy on a device\'s MCU, per layer (--json: {mcu: {core, clockHz, cyclesPerInference, msPerInference, mJPerInference}, layers})')
    .option('--model <preset|file>', 'architecture preset or a .lmdl model file', 'mnist-cnn')
    .option('--device <preset>', 'MCU preset (see lastmile devices)', DEFAULT_DEVICE)
    .option('--precision <p>', 'weight width of the kernels: 16w8a or 8w8a (a quantized model file sets its own)', '16w8a')
    .addHelpText('after', '\nExamples:\n  lastmile estimate --model resnet8 --device stm32f411\n  lastmile estimate --model ds-cnn --precision 8w8a --json')
    .action(async (opts: { model: string; device: string; precision: string }, cmd: Command) => {
      const json = (cmd.optsWithGlobals() as GlobalOptions).json;
      if (opts.precision !== '16w8a' && opts.precision !== '8w8a') throw new ConfigError(`--precision must be 16w8a or 8w8a, got '${opts.precision}'`);
      const device = resolveDevice(opts.device);
      if (!device.preset) throw new ConfigError(`--device '${opts.device}': estimates need a preset with a core and clock (see lastmile devices), not a bare budget`);
      const target = targetForPreset(device.name);
      const { graph, weightBits } = await graphForModel(opts.model);
      const bits = weightBits ?? (opts.precision === '8w8a' ? 8 : 16);
      const est = estimateInference(graph, target, bits);
      if (json) {
        const { device: _d, model: version, ...mcu } = est.mcu;
        console.log(JSON.stringify({ model: est.model, device: device.name, costModel: version, weightBits: bits, macs: est.macs, cyclesPerMac: est.cyclesPerMac, mcu, layers: est.layers }, null, 2));
        return;
      }
      console.log(`model  ${est.model} · ${bits}-bit weights · ${(est.macs / 1e6).toFixed(2)} M MACs`);
      console.log(`device ${device.name}: ${target.core} @ ${target.clockHz / 1e6} MHz, ${target.flashWaitStates} flash wait states, ${target.powerW === null ? 'no power figure' : `${(target.powerW * 1000).toFixed(1)} mW active`}`);
      const rows = [['layer', 'kernel', 'MACs', 'cycles', 'ms', 'mJ']];
      for (const l of est.layers) rows.push([l.layer, l.kernel, String(l.macs), String(l.cycles), l.ms.toFixed(3), l.mJ === null ? '—' : l.mJ.toFixed(4)]);
      rows.push(['total', '', String(est.macs), String(est.mcu.cyclesPerInference), est.mcu.msPerInference.toFixed(3), est.mcu.mJPerInference === null ? '—' : est.mcu.mJPerInference.toFixed(4)]);
      console.log(table(rows, ['l', 'l', 'r', 'r', 'r', 'r']));
      console.log(`${est.cyclesPerMac.toFixed(2)} cycles/MAC · cost model ${COST_MODEL_VERSION} (docs/COST-MODEL.md)`);
    });
}
