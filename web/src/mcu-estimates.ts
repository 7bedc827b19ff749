// On-device time and energy for the page: the cost model's estimates (src/cost/) for the chosen
// device preset, the current settings and the current number of classes. Runs in the worker, which
// already holds the backbone; the cost model reaches kernel geometry, which the UI bundle must not.
import { LastmileError } from '../../src/errors.js';
import { describeAdaptation, mcuAdaptation, mcuInference } from '../../src/cost/report.js';
import { resolveDevice } from '../../src/device/presets.js';
import { resolveGraph, type Architecture } from '../../src/model/graph.js';
import type { ModelNode } from '../../src/model/layers.js';
import { parseSelection, trainableLayers } from '../../src/train/selection.js';
import type { McuEstimateText, TrainSettings } from './settings.js';

/** The architecture with its last dense layer resized to `classes` outputs (the replaced head). */
export function withHeadFor(arch: Architecture, classes: number): Architecture {
  let last = -1;
  arch.nodes.forEach((n, i) => {
    if (n.kind === 'dense') last = i;
  });
  if (last < 0 || classes < 1) return arch;
  const nodes = arch.nodes.map((n, i): ModelNode => (i === last ? { ...n, units: classes } as ModelNode : n));
  return { ...arch, nodes };
}

/**
 * The adaptation (per QZO-FF step, whole run, energy) and inference estimates as the lines the CLI
 * prints. A preset without a calibrated core, or a bare budget, gets the cost model's reason.
 */
export function mcuEstimateText(arch: Architecture, settings: TrainSettings, o: { classes: number; trainImages: number }): McuEstimateText {
  const a = withHeadFor(arch, o.classes);
  const bits = settings.precision === '8w8a' ? 8 : 16;
  const batch = settings.batchSize > 0 ? Math.min(settings.batchSize, Math.max(1, o.trainImages)) : Math.max(1, o.trainImages);
  try {
    const device = resolveDevice(settings.device.name);
    // 'bias' trains inside the same layers as 'full': the same kernels run each step.
    const selection = parseSelection(settings.selection === 'bias' ? 'full' : settings.selection);
    const trainable = trainableLayers(resolveGraph(a), selection);
    const adaptation = mcuAdaptation(a, device, { bits, batch, microBatch: settings.microBatch, directions: settings.directions, steps: settings.steps, trainable });
    const inference = mcuInference(a, device, bits);
    const inferenceLine = 'reason' in inference
      ? `inference: ${inference.reason}`
      : `inference: ${inference.msPerInference.toFixed(2)} ms${inference.mJPerInference === null ? '' : `, ${inference.mJPerInference.toFixed(3)} mJ`} per image`;
    return {
      available: !('reason' in adaptation),
      adaptation: describeAdaptation(adaptation, device.name).replace(/ \(cost model .*$/, ''),
      inference: inferenceLine,
      basis: `${o.classes} classes, ${batch} images per step, m = ${settings.directions}, ${settings.steps} steps, ${settings.precision}, cost model ${adaptation.model}`,
    };
  } catch (e) {
    if (!(e instanceof LastmileError)) throw e;
    return { available: false, adaptation: `on-device estimate: no estimate: ${e.message}`, inference: '', basis: '' };
  }
}
