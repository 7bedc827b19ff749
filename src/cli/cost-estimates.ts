// The one call each command makes to show on-device estimates, so the commands' edits stay small.
import type { Architecture } from '../model/graph.js';
import { resolveGraph } from '../model/graph.js';
import type { ResolvedDevice } from '../device/presets.js';
import { trainableLayers, type TrainSelection } from '../train/selection.js';
import { COST_MODEL_VERSION } from '../cost/model.js';
import { describeAdaptation, mcuAdaptation, mcuInference, mcuProfile, type McuAdaptation, type McuInference, type McuProfile, type McuUnavailable } from '../cost/report.js';
import { estimateMfcc, type FrontEndEstimate } from '../cost/front-end.js';
import { targetForPreset } from '../cost/model.js';
import { frontEndSramBytes, type FrontEndSpec } from '../runtime/front-end.js';
import { ConfigError, LastmileError } from '../errors.js';

/** The front end's estimate (time per clip on the device's core) and its SRAM while it runs. */
export function frontEndEstimate(spec: FrontEndSpec, device: ResolvedDevice): { json: { kind: string; sramBytes: number; mcu: FrontEndEstimate | McuUnavailable }; line: string } {
  const sramBytes = frontEndSramBytes(spec);
  let mcu: FrontEndEstimate | McuUnavailable;
  try {
    if (!device.preset) throw new ConfigError(`no estimate: '${device.name}' is a bare memory budget; pass a device preset for its core and clock`);
    mcu = estimateMfcc(targetForPreset(device.name));
  } catch (e) {
    if (!(e instanceof LastmileError)) throw e;
    mcu = { model: COST_MODEL_VERSION, estimate: null, reason: e.message };
  }
  const time = 'reason' in mcu ? mcu.reason : `${mcu.msPerClip.toFixed(1)} ms per 1 s clip on ${device.name} (${mcu.core} @ ${mcu.clockHz / 1e6} MHz, estimated; ${mcu.msRange[0].toFixed(0)}–${mcu.msRange[1].toFixed(0)} ms over the measured clips)`;
  return { json: { kind: spec.kind, sramBytes, mcu }, line: `front end ${spec.kind} (49 × 10 MFCC on the device): ${time}; ${sramBytes} B of SRAM while it runs (clip, scratch, features), planned with the session` };
}
import { wrapText } from './format.js';
import { wrapTable } from './wrap-table.js';
import { TERMINAL_COLUMNS } from './width.js';

export function adaptationEstimate(
  arch: Architecture,
  device: ResolvedDevice,
  o: { method: string; precision: string; selection: TrainSelection; batch: number; microBatch: number; directions: number; steps: number; tailLayer?: string | null },
): { json: (McuAdaptation & { basis?: string }) | McuUnavailable; line: string } {
  if (o.method !== 'qzo-ff' && o.method !== 'hybrid') {
    const json: McuUnavailable = { model: COST_MODEL_VERSION, estimate: null, reason: `no estimate: ${o.method} runs f32 kernels, and the C export has no f32 kernels to calibrate on` };
    return { json, line: `on-device estimate: ${json.reason}` };
  }
  const trainable = trainableLayers(resolveGraph(arch), o.selection);
  const json = mcuAdaptation(arch, device, { bits: o.precision === '8w8a' ? 8 : 16, batch: o.batch, microBatch: o.microBatch, directions: o.directions, steps: o.steps, trainable });
  if (o.method === 'qzo-ff' || 'reason' in json) return { json, line: describeAdaptation(json, device.name) };
  // The cost model is calibrated on the QZO-FF step. A hybrid step with a body runs the same 2m
  // forwards (its head kernels were 0.15% of a step on the Cortex-M4, docs/DEPLOY.md), so that
  // price holds for it; head-only it runs one forward instead of 2m, so the price is an upper bound.
  // The tail's gradient (bpLayers 2) runs about one pass of the tail layer's MACs per row and forward
  // on top of that; it is not calibrated either, so the basis says how much it adds in MACs.
  const graph = resolveGraph(arch);
  const tail = o.tailLayer ? graph.nodes.find((n) => n.node.name === o.tailLayer) : undefined;
  const forwardMacs = graph.nodes.reduce((sum, n) => sum + n.macs, 0);
  const tailNote = tail && forwardMacs > 0 ? `; the layer below the head learns by backprop too, which adds up to ${Math.round((100 * tail.macs) / forwardMacs)}% of a forward's MACs per pass and is not in this price` : '';
  const basis = `priced as the QZO-FF step with the same selection (the hybrid's backprop kernels are not calibrated; an upper bound when only the head trains${tailNote})`;
  return { json: { ...json, basis }, line: `${describeAdaptation(json, device.name)}; ${basis}` };
}

export function inferenceEstimate(arch: Architecture, device: ResolvedDevice, bits: 8 | 16): { json: McuInference | McuUnavailable; line: string } {
  const json = mcuInference(arch, device, bits);
  if ('reason' in json) return { json, line: `inference on the device: ${json.reason}` };
  const energy = json.mJPerInference === null ? 'no power figure' : `${json.mJPerInference.toFixed(3)} mJ`;
  return { json, line: `inference on ${device.name} (${json.core} @ ${json.clockHz / 1e6} MHz, estimated): ${json.msPerInference.toFixed(2)} ms, ${energy} per sample (cost model ${json.model}; lastmile estimate shows it per layer)` };
}

/** The profile's MCU view: per kernel and per layer, estimated cycles and ms of one QZO-FF step. */
export function profileEstimate(
  arch: Architecture,
  device: ResolvedDevice,
  r: { precision: string; batch: number; directions: number; trainable: readonly string[]; byLayer: ReadonlyArray<{ name: string; ms: number }>; steps: number },
  width = TERMINAL_COLUMNS,
): { json: McuProfile | McuUnavailable; text: string } {
  const json = mcuProfile(resolveGraph(arch), device, { bits: r.precision === '8w8a' ? 8 : 16, batch: r.batch, directions: r.directions, trainable: r.trainable });
  if ('reason' in json) return { json, text: `estimated on the device: ${json.reason}` };
  const wasm = new Map(r.byLayer.map((l) => [l.name, l.ms / r.steps]));
  const rows = (list: McuProfile['byLayer'], withWasm: boolean) =>
    wrapTable(
      [[withWasm ? 'layer' : 'kernel', ...(withWasm ? ['kernel', 'Wasm ms/step'] : []), 'MCU cycles/step', 'MCU ms/step'],
        ...list.map((l) => [l.name, ...(withWasm ? [l.kernel, wasm.has(l.name) ? wasm.get(l.name)!.toFixed(3) : ''] : []), String(l.cyclesPerStep), l.msPerStep.toFixed(2)])],
      withWasm ? ['l', 'l', 'r', 'r', 'r'] : ['l', 'r', 'r'],
      width,
    );
  const head = `estimated on ${device.name} (${json.core} @ ${json.clockHz / 1e6} MHz, cost model ${json.model}): ${json.msPerStep.toFixed(1)} ms and ${json.cyclesPerStep} cycles per QZO-FF step (the loss kernel is not counted)`;
  return { json, text: `${wrapText(head, width)}\n\nper exported kernel\n${rows(json.byKernel, false)}\n\nper layer (Wasm ms/step: this run, profiler attached)\n${rows(json.byLayer, true)}` };
}
