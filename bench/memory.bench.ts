// Peak SRAM of inference, QZO-FF and backprop for each architecture preset and trainable selection
// (full, last:2, head, bias, sparse), planned by the sessions' own planner and measured as the arena
// high-water mark of a session instantiated on an MCU exactly as large as its plan. Targets: the FF
// peak within 1 KiB of its limit (inference peak + the SRAM bytes of the parameters being trained),
// and backprop needing ≥ 3× QZO-FF's SRAM for full fine-tuning.
//
// The FF figure is the plan a device with exactly the target's SRAM (limit + 1 KiB) gets: the default
// (fast) plan when it fits there, else the session's narrow-panel plan (leanPacking 'narrow', which it
// takes by itself on such a device), or the least of its fallbacks when nothing fits. The default
// plan's peak is reported beside it (ffDefault), with the layers that pack narrow panels.
//
//   npm run bench:memory [-- --quick] [-- --json DIR] [-- --filter TEXT] [-- --batch N]
import { alignUp } from '../src/device/arena.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { BackpropSession } from '../src/runtime/backprop-session.js';
import { resolveDevice } from '../src/device/presets.js';
import { memoryReport } from '../src/report/memory.js';
import { QzoFfTrainer, qzoFfSessionOptions } from '../src/train/qzo-ff.js';
import { selectionLabel, selectionTrainerOptions, trainableLayers, type TrainSelection } from '../src/train/selection.js';
import { parseBenchArgs, runIfEntryPoint, writeJson } from './cli.js';
import { BENCH_PRESETS, benchModels, mcuFor, type BenchModels } from './models.js';
import type { SessionPlan } from '../src/runtime/session.js';
import type { PlannedBuffer } from '../src/runtime/planner.js';
import { packedPanelBytes } from '../src/kernels/gemm.js';
import { depthwiseConv2dScratchBytes, type DepthwiseConv2DParams } from '../src/kernels/depthwise.js';
import type { DepthwiseConv2DNode } from '../src/model/layers.js';
import { trainerConfig } from './overhead.bench.js';
import { kib, ratio, suiteReport, textTable, type SuiteReport } from './suite.js';

export interface MemoryResult {
  model: string;
  selection: string;
  batch: number;
  /** Planned SRAM peaks (bytes). ff: the plan a device with the FF target's SRAM gets (see the header). */
  infer: number;
  ff: number;
  bp: number;
  /** The FF session's default plan (8-column panels, the fastest), and the layers the ff plan runs on narrower panels. */
  ffDefault: number;
  narrowPanels: { layer: string; panelColumns: number }[];
  /** Arena high-water marks of instantiated sessions (bytes); equal to the plans when the planner is honest. */
  measured: { infer: number; ff: number; bp: number };
  /** SRAM bytes of the parameters the selection trains (16-byte aligned, as the arena holds them). */
  trainableBytes: number;
  /** infer + trainableBytes: what QZO-FF cannot go below without changing what lives in SRAM. */
  ffLimit: number;
  bpOverFf: number;
  /** bpOverFf with all three in fp16 (the paper's same-precision comparison). */
  fp16BpOverFf: number;
  /**
   * SRAM buffers of the FF plan beyond inference's, by kind (aligned bytes): requantization constants
   * of trainable layers, the trainer's buffers (labels, loss, keys, signs, masks, panels), and weights
   * held in SRAM although the selection does not train them (bias-only).
   */
  ffExtras: { requant: number; trainer: number; untrainedWeights: number };
  /**
   * The FF excess over the limit, taken apart at the op where the FF plan peaks (bytes, aligned):
   * excess = scratch + trainer + backup − inferenceSlack + other.
   */
  ffPeak: FfPeakParts;
  /** Whether each mode fits the reference device (nrf52840: 256 KiB SRAM / 1 MiB flash). */
  fits: { infer: boolean; ff: boolean; bp: boolean };
}

export interface FfPeakParts {
  /** Op index of the FF plan's peak (0 stages the input; op i + 1 runs lowered op i). */
  op: number;
  /** The layer whose kernel scratch is live at that op, its kind, and its scratch in the FF plan minus the inference plan's. */
  layer: string | null;
  layerKind: string | null;
  scratch: number;
  /** One packed 8-column panel of that layer's weights (GEMM/conv): the least scratch a per-call packing layer runs with. */
  panelBytes: number | null;
  /**
   * Beyond inference's scratch, the least a trained call of that layer could need with the kernels'
   * present layouts: one panel (GEMM/conv), or for depthwise one channel group's prepared layout
   * (16 channels; the whole layer for depth multipliers above 1) less inference's tap table.
   */
  leastBytes: number | null;
  /** The trainer's whole-run buffers (labels, loss, keys, signs, …) other than the sparse backup, and the backup. */
  trainer: number;
  backup: number;
  /** Inference's peak minus what inference has live at that op: headroom the FF extras use first. */
  inferenceSlack: number;
  /** Whatever the parts above do not explain (0 when the FF plan meets its lower bound). */
  other: number;
}

export const FF_SLACK_BYTES = 1024;

/** SRAM bytes of the parameters a selection trains, 16-byte aligned as the arena holds them (biases only for bias-only). */
export function trainedSramBytes(bm: BenchModels, trainable: readonly string[], selection: TrainSelection): number {
  const biasOnly = selection.kind === 'bias';
  return trainable.reduce((sum, name) => {
    const p = bm.quantized.params[name]!;
    return sum + alignUp(p.bias.byteLength) + (biasOnly ? 0 : alignUp(p.weights.byteLength));
  }, 0);
}
export const BP_OVER_FF_TARGET = 3;
export const MEMORY_SELECTIONS: TrainSelection[] = [
  { kind: 'full' }, { kind: 'last', layers: 2 }, { kind: 'head' }, { kind: 'bias' }, { kind: 'sparse', fraction: 0.1, by: 'magnitude', seed: 0 },
];

export async function measureMemory(model: string, selection: TrainSelection, batch: number, device = resolveDevice('nrf52840')): Promise<MemoryResult> {
  const bm = benchModels(model, 16);
  const trainable = trainableLayers(bm.graph, selection);
  const config = { ...trainerConfig(3), ...selectionTrainerOptions(selection) };
  const ffOptions = qzoFfSessionOptions(batch, { model: bm.quantized, trainable, config });
  const bpOptions = { batch, trainable: new Set(trainable), optimizer: { kind: 'adam' as const, lr: 1e-3 } };
  const infer = QuantizedSession.plan(bm.quantized, { batch });
  const biasOnly = selection.kind === 'bias';
  const trainableBytes = trainedSramBytes(bm, trainable, selection);
  const ffLimit = infer.sramBytes + trainableBytes;
  const ffDefault = QuantizedSession.plan(bm.quantized, ffOptions);
  const plans = {
    infer,
    ff: QuantizedSession.planFor(bm.quantized, ffOptions, { sramBytes: ffLimit + FF_SLACK_BYTES, flashBytes: Number.MAX_SAFE_INTEGER }),
    bp: BackpropSession.plan(bm.float, bpOptions),
  };
  // Instantiate each: the arena's high-water mark is the measured figure (a trainer is built on the
  // FF session so its buffers, masks included, are really written).
  const inferSession = new QuantizedSession(await mcuFor(plans.infer), bm.quantized, { batch });
  const ffSession = new QuantizedSession(await mcuFor(plans.ff), bm.quantized, ffOptions);
  new QzoFfTrainer(ffSession, trainable, config);
  const bpSession = new BackpropSession(await mcuFor(plans.bp), bm.float, bpOptions);
  const sum = (pred: (name: string) => boolean) => plans.ff.sram.buffers.filter((x) => pred(x.name)).reduce((t, x) => t + x.alignedBytes, 0);
  const ffExtras = {
    requant: sum((n) => n.startsWith('rq:')),
    trainer: sum((n) => n.startsWith('extra:')),
    untrainedWeights: biasOnly ? sum((n) => n.startsWith('w:')) : 0,
  };
  const ffPeak = peakParts(bm, plans.infer, plans.ff, trainableBytes);
  const fp16 = memoryReport({ float: bm.float, quantized: bm.quantized }, { device, batch, selection, compare: 'fp16', modes: ['ff', 'bp'] });
  return {
    model, selection: selectionLabel(selection), batch,
    infer: plans.infer.sramBytes, ff: plans.ff.sramBytes, bp: plans.bp.sramBytes,
    ffDefault: ffDefault.sramBytes, narrowPanels: plans.ff.narrowPanels,
    measured: { infer: inferSession.mcu.sram.highWater, ff: ffSession.mcu.sram.highWater, bp: bpSession.mcu.sram.highWater },
    trainableBytes, ffLimit,
    bpOverFf: Number((plans.bp.sramBytes / plans.ff.sramBytes).toFixed(3)),
    fp16BpOverFf: Number(fp16.bpOverFf!.toFixed(3)),
    ffExtras, ffPeak,
    fits: Object.fromEntries((['infer', 'ff', 'bp'] as const).map((k) => [k, plans[k].sramBytes <= device.sramBytes && plans[k].flashBytes <= device.flashBytes])) as MemoryResult['fits'],
  };
}

/** Takes the FF plan's excess over its limit apart at the op where it peaks (see FfPeakParts). */
export function peakParts(bm: BenchModels, infer: SessionPlan, ff: SessionPlan, trainableBytes: number): FfPeakParts {
  const op = ff.sram.lowerBoundOp;
  const liveAt = (plan: SessionPlan) => plan.sram.buffers.filter((b) => b.firstUse <= op && op <= b.lastUse);
  const ffLive = liveAt(ff);
  const inferLive = liveAt(infer);
  const bytes = (list: readonly PlannedBuffer[], pred: (name: string) => boolean) => list.filter((b) => pred(b.name)).reduce((t, b) => t + b.alignedBytes, 0);
  const scratchBuffer = ffLive.find((b) => b.name.startsWith('scratch:'));
  const layer = scratchBuffer ? scratchBuffer.name.slice('scratch:'.length) : null;
  const node = layer ? bm.graph.nodes.find((n) => n.node.name === layer) : undefined;
  const params = layer ? bm.quantized.params[layer] : undefined;
  const gemmLike = node && (node.node.kind === 'conv2d' || node.node.kind === 'dense') && params;
  const scratch = bytes(ffLive, (n) => n.startsWith('scratch:')) - bytes(inferLive, (n) => n.startsWith('scratch:'));
  const isBackup = (n: string) => n === 'extra:zo-backup' || n.startsWith('extra:zo-backup:');
  const trainer = bytes(ffLive, (n) => n.startsWith('extra:') && !isBackup(n));
  const backup = bytes(ffLive, isBackup);
  const inferenceSlack = infer.sramBytes - bytes(inferLive, () => true);
  const leastBytes = gemmLike ? packedPanelBytes(params.weights.length / params.bias.length) : node?.node.kind === 'depthwise' && params ? depthwiseWeightBoundBytes(node.node as DepthwiseConv2DNode, params.bias.length) : null;
  const other = ff.sramBytes - infer.sramBytes - trainableBytes - (scratch + trainer + backup - inferenceSlack);
  return {
    op, layer, layerKind: node?.node.kind ?? null, scratch,
    panelBytes: gemmLike ? packedPanelBytes(params.weights.length / params.bias.length) : null, leastBytes,
    trainer, backup, inferenceSlack, other,
  };
}

/** A trained depthwise call's least scratch (one channel group) beyond a frozen call's (one tap table); independent of the image size. */
function depthwiseWeightBoundBytes(node: DepthwiseConv2DNode, channels: number): number {
  const [kernelHeight, kernelWidth] = node.kernel;
  const p: DepthwiseConv2DParams = {
    batch: 1, inHeight: kernelHeight, inWidth: kernelWidth, inChannels: channels / node.depthMultiplier, depthMultiplier: node.depthMultiplier,
    kernelHeight, kernelWidth, strideHeight: 1, strideWidth: 1, padding: 'valid', weightBits: 16, inputZeroPoint: 0,
  };
  return depthwiseConv2dScratchBytes({ ...p, packedWeightBudget: 0 }) - depthwiseConv2dScratchBytes({ ...p, prepacked: true });
}

export function memoryTable(results: readonly MemoryResult[]): string {
  return textTable([
    ['model', 'train', 'infer KiB', 'FF KiB', 'FF default KiB', 'BP KiB', 'measured = plan', 'FF limit KiB', 'FF − limit', 'FF target', 'BP / FF', 'fp16 BP / FF'],
    ...results.map((r) => {
      const over = r.ff - r.ffLimit;
      const same = r.measured.infer === r.infer && r.measured.ff === r.ff && r.measured.bp === r.bp;
      return [r.model, r.selection, kib(r.infer), kib(r.ff) + (r.fits.ff ? '' : '*'), kib(r.ffDefault), kib(r.bp) + (r.fits.bp ? '' : '*'), same ? 'yes' : 'NO', kib(r.ffLimit), `${over >= 0 ? '+' : ''}${over} B`, over <= FF_SLACK_BYTES ? 'met' : 'not met', ratio(r.bpOverFf), ratio(r.fp16BpOverFf)];
    }),
  ]);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const b = argv.indexOf('--batch');
  const batch = b >= 0 ? Number(argv.splice(b, 2)[1]) : 1;
  if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch needs a positive integer');
  const args = parseBenchArgs(argv, 'memory');
  const device = resolveDevice('nrf52840');
  console.log(`peak SRAM (KiB) per preset and trainable selection, batch ${batch}; QZO-FF and inference 16w8a, backprop f32 Adam; * = does not fit ${device.name} (${kib(device.sramBytes)} KiB SRAM)`);
  const results: MemoryResult[] = [];
  for (const model of BENCH_PRESETS) {
    for (const selection of MEMORY_SELECTIONS) {
      if (args.filter && !`${model} ${selectionLabel(selection)}`.includes(args.filter)) continue;
      results.push(await measureMemory(model, selection, batch, device));
    }
  }
  console.log('\n' + memoryTable(results));
  const report: SuiteReport<MemoryResult> = suiteReport('memory', args.quick, 'bench:memory', {
    batch, device: { name: device.name, sramBytes: device.sramBytes, flashBytes: device.flashBytes }, ffSlackBytes: FF_SLACK_BYTES, bpOverFfTarget: BP_OVER_FF_TARGET,
    ffLimit: 'inference peak + the 16-byte-aligned SRAM bytes of the parameters being trained (weights and biases of the trainable layers; biases only for bias-only)',
    qzoFf: trainerConfig(3),
  }, results);
  if (args.json) await writeJson(args.json, report);
}

runIfEntryPoint(import.meta.url, main);
