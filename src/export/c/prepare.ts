// The host half of a C export: everything `lastmile adapt` derives before its first step (prototype
// head, calibration, quantization, selection, memory plan — adapt's own pipeline, prepare-run.ts —
// then ε and update factors on each grid and the data order), so the C program starts from the same
// integers and only the steps themselves run on the target.
import { ConfigError, ShapeError, UnsupportedError } from '../../errors.js';
import type { Dataset } from '../../data/dataset.js';
import type { FloatModel, QuantizedModel, WeightBits } from '../../model/model.js';
import { resolveGraph, type ResolvedGraph } from '../../model/graph.js';
import { quantizeMultiplier } from '../../kernels/multiplier.js';
import { QuantizedSession, type SessionPlan } from '../../runtime/session.js';
import { lowerGraph, type LoweredGraph } from '../../runtime/lowering.js';
import type { BuildFlavor } from '../../device/features.js';
import type { ZDistribution } from '../../kernels/perturb-spec.js';
import { makePerturbSpec } from '../../kernels/perturb.js';
import { makeUpdateMultiplier, requireDirections } from '../../kernels/update.js';
import { prepareCrossEntropy } from '../../kernels/loss.js';
import { DELTA_Z, ONE_Q } from '../../kernels/rng.js';
import { makeDitherFactor } from '../../kernels/materialised-zo.js';
import { QzoFfTrainer, type QzoFfConfig } from '../../train/qzo-ff.js';
import { HYBRID_DEFAULTS, HybridTrainer } from '../../train/hybrid.js';
import { exportHead, type ExportedHead } from './head.js';
import { exportTail, type ExportedTail } from './tail.js';
import { checkRunFits, planRun, resolveBpLayers, startSession } from '../../train/prepare-run.js';
import { ADAPT_DEFAULTS, defaultDirections } from '../../train/defaults.js';
import { BatchOrder, quantizeSet, type QuantizedSet } from '../../train/batches.js';
import { selectionLabel, trainableLayers, type TrainSelection } from '../../train/selection.js';
import type { ScheduleSpec } from '../../train/schedule.js';
import { C_KINDS, cEmitter } from './ops.js';

export interface CExportOptions {
  backbone: FloatModel;
  support: Dataset;
  query: Dataset;
  device: { name: string; sramBytes: number; flashBytes: number };
  precision?: '16w8a' | '8w8a';
  selection?: TrainSelection;
  epsilon?: number;
  directions?: number;
  dist?: ZDistribution;
  lr?: number;
  schedule?: ScheduleSpec;
  steps?: number;
  microBatch?: number;
  seed?: number;
  batchSize?: number;
  build?: BuildFlavor | 'auto';
  enhancements?: Pick<QzoFfConfig, 'normalize' | 'momentum' | 'sharpness' | 'dither' | 'residual' | 'control'>;
  /** The exported step: plain QZO-FF or the hybrid (integer backprop for the dense head); default adapt's. */
  method?: ExportMethod;
  /** Hybrid: the head's SGD η (default the hybrid trainer's). */
  headLr?: number;
  /**
   * Hybrid: layers learned by integer backprop, 1 (the head) or 2 (the head and the layer below it);
   * default adapt's (HYBRID_DEFAULTS.bpLayers where the model and selection allow it, else 1).
   */
  bpLayers?: 1 | 2;
  /** Hybrid with a tail: its SGD η in real units (default HYBRID_DEFAULTS.tailLr). */
  tailLr?: number;
}

export type ExportMethod = 'qzo-ff' | 'hybrid';
/** The methods whose step runs in the exported C. */
export const EXPORT_METHODS: readonly ExportMethod[] = ['qzo-ff', 'hybrid'];

/** One trained weight tensor with its integer factors. */
export interface TrainedTensor {
  layer: string;
  tensorId: number;
  bits: WeightBits;
  count: number;
  epsQ: number;
  updateMultiplier: number;
  updateShift: number;
  /** Dither mode: ε·Δz/Δw as mult/2^shift (null: the deterministic εq path). */
  dither: { mult: number; shift: number } | null;
}

export interface PreparedRun {
  quantized: QuantizedModel;
  graph: ResolvedGraph;
  lowered: LoweredGraph;
  plan: SessionPlan;
  /** Parameter layers in execution order (index = z stream id). */
  paramLayers: string[];
  trainable: string[];
  trained: TrainedTensor[];
  microBatch: number;
  steps: number;
  /** Samples per step. */
  stepBatch: number;
  /** Sample indices of every step, steps × stepBatch. */
  order: Uint16Array;
  train: QuantizedSet;
  query: { samples: Int8Array; labels: Int32Array; count: number };
  inputZeroPoint: number;
  loss: { multiplier: number; shift: number };
  inverseOneQ: { multiplier: number; shift: number };
  /** The hybrid method's head (null: plain QZO-FF). */
  head: ExportedHead | null;
  /** The hybrid's tail, the layer below the head learned by integer backprop (null: the head alone, or QZO-FF). */
  tail: ExportedTail | null;
  /** The QZO-FF update's step controls (the hybrid's body: warm-up and √(B/N) batch scale; plain QZO-FF: none). */
  control: { warmup: number; batchScale: boolean };
  config: { precision: '16w8a' | '8w8a'; selection: string; epsilon: number; directions: number; dist: ZDistribution; lr: number; seed: number; normalize: boolean; dither: boolean; method: ExportMethod; headLr: number | null; bpLayers: 1 | 2 | null; tailLr: number | null };
}

/** Refuses, with a typed error naming it, what the C export cannot reproduce bit for bit. */
/** UnsupportedError for a method whose step the C cannot run; ConfigError for a hybrid option without the hybrid. */
export function checkExportMethod(method: string, headLr: boolean, hybridOptions: { bpLayers?: boolean; tailLr?: boolean } = {}): void {
  if (!(EXPORT_METHODS as readonly string[]).includes(method)) {
    throw new UnsupportedError(`the C export runs the methods ${EXPORT_METHODS.join(' and ')}, not '${method}': export with --method ${EXPORT_METHODS.join(' or --method ')}`);
  }
  if (headLr && method !== 'hybrid') throw new ConfigError(`--head-lr is the hybrid head's step size: use it with --method hybrid, not '${method}'`);
  if (hybridOptions.bpLayers && method !== 'hybrid') throw new ConfigError(`--bp-layers sets the layers the hybrid learns by backprop: use it with --method hybrid, not '${method}'`);
  if (hybridOptions.tailLr && method !== 'hybrid') throw new ConfigError(`--tail-lr is the hybrid tail's step size: use it with --method hybrid, not '${method}'`);
}

/** Hybrid: the backprop layers the run will have (adapt's rule), checked before any work; null for QZO-FF. */
function exportBpLayers(o: CExportOptions, method: string): 1 | 2 | null {
  if (method !== 'hybrid') return null;
  const selection = o.selection ?? { kind: 'full' };
  const bp = resolveBpLayers(o.backbone.architecture, trainableLayers(resolveGraph(o.backbone.architecture), selection), o.bpLayers);
  if (bp === 1 && o.tailLr !== undefined) throw new ConfigError('--tail-lr sets the η of the layer below the head, which this run does not train by backprop (--bp-layers 1)');
  if (o.tailLr !== undefined && !(Number.isFinite(o.tailLr) && o.tailLr > 0)) throw new ConfigError(`hybrid tail learning rate must be a finite number > 0, got ${o.tailLr}`);
  return bp;
}

export function checkExportable(o: CExportOptions): void {
  const method = o.method ?? ADAPT_DEFAULTS.method;
  checkExportMethod(method, o.headLr !== undefined, { bpLayers: o.bpLayers !== undefined, tailLr: o.tailLr !== undefined });
  const selection = o.selection ?? { kind: 'full' };
  if (selection.kind === 'bias' || selection.kind === 'sparse') {
    throw new UnsupportedError(`the C export supports the selections full, head and last:K, not '${selectionLabel(selection)}'`);
  }
  const e = o.enhancements ?? {};
  for (const mode of ['momentum', 'sharpness', 'residual'] as const) {
    if (e[mode]) throw new UnsupportedError(`the C export does not support --${mode} yet: it runs the plain QZO-FF step (fused perturbation); drop --${mode}`);
  }
  const control = e.control;
  if (control && (control.guard || control.spread || control.warmup || control.batch)) {
    throw new UnsupportedError('the C export runs the plain QZO-FF step: step-size control (--guard, --spread, --warmup, --batch-scale) is not in the exported C yet; export without it');
  }
  if (o.schedule && o.schedule.kind !== 'constant') throw new UnsupportedError(`the C export supports the constant learning-rate schedule only, not '${o.schedule.kind}'`);
  const graph = resolveGraph(o.backbone.architecture);
  const lowered = lowerGraph(graph);
  for (const op of lowered.ops) {
    const kind = op.node.node.kind;
    if (!cEmitter(kind)) throw new UnsupportedError(`layer '${op.node.node.name}' is a '${kind}' operator, which has no C kernel; exportable kinds: ${C_KINDS.join(', ')}`);
  }
  const head = lowered.ops[lowered.ops.length - 1]!;
  if (head.node.node.kind !== 'dense') throw new UnsupportedError(`the C export needs a dense head (int32 logits for the loss); '${head.node.node.name}' is a '${head.node.node.kind}'`);
  exportBpLayers(o, method);
}

export async function prepareExport(o: CExportOptions): Promise<PreparedRun> {
  checkExportable(o);
  const method = o.method ?? ADAPT_DEFAULTS.method;
  const precision = o.precision ?? '16w8a';
  if (precision !== '16w8a' && precision !== '8w8a') throw new ConfigError(`precision must be 16w8a or 8w8a, got '${precision}'`);
  const selection = o.selection ?? { kind: 'full' };
  const steps = o.steps ?? ADAPT_DEFAULTS.steps;
  if (!Number.isInteger(steps) || steps < 1) throw new ConfigError(`steps must be an integer ≥ 1, got ${steps}`);
  const micro = Math.min(o.microBatch ?? ADAPT_DEFAULTS.microBatch, o.support.labels.length);
  const seed = o.seed ?? ADAPT_DEFAULTS.seed;
  requireDirections(o.directions ?? ADAPT_DEFAULTS.directions);
  if (o.support.labels.length > 65535) throw new ConfigError(`the C export indexes training samples with 16 bits; ${o.support.labels.length} samples are too many`);

  // adapt's own pipeline (src/train/prepare-run.ts) up to its first step, with adapt's defaults.
  const runPlan = await planRun({
    backbone: o.backbone, support: o.support, precision, selection, microBatch: micro, build: o.build, enhancements: o.enhancements,
    ...(method === 'hybrid' ? { method, ...(o.bpLayers !== undefined ? { bpLayers: o.bpLayers } : {}) } : {}),
    trainer: {
      epsilon: o.epsilon ?? ADAPT_DEFAULTS.epsilon, directions: o.directions ?? defaultDirections(method), dist: o.dist ?? ADAPT_DEFAULTS.dist, lr: o.lr ?? ADAPT_DEFAULTS.lr, schedule: o.schedule, seed,
      ...(o.batchSize ? { batchSize: o.batchSize } : {}),
    },
  });
  checkRunFits(runPlan, o.device);
  const session = await startSession(runPlan, o.device, { build: o.build });
  const mcu = session.mcu;
  const { quantized, trainable, trainerConfig: config } = runPlan;
  // Building the trainer validates ε, η and m on every grid exactly as adapt does (and, for the
  // hybrid, the head's kind and step factors). The hybrid's QZO-FF half trains the body only.
  const hybrid = method === 'hybrid'
    ? new HybridTrainer(session, trainable, { ...config, ...(o.headLr !== undefined ? { headLr: o.headLr } : {}), ...(o.tailLr !== undefined ? { tailLr: o.tailLr } : {}) })
    : null;
  const trainer = hybrid ? hybrid.body : new QzoFfTrainer(session, trainable, config);
  const zoLayers = trainer?.layers ?? [];
  // The C runtime writes a dithered perturbation into one panel per perturbed tensor (the host trainer
  // perturbs in place instead), so its arena plan declares those panels.
  const panels = config.dither ? zoLayers.map((l) => l.name).map((name) => ({ name: `zo-panel:w:${name}`, bytes: quantized.params[name]!.weights.byteLength })) : [];
  // The plan the session runs on this device (narrow panels where the default plan overflows its SRAM).
  const plan = panels.length ? QuantizedSession.planFor(quantized, { ...runPlan.sessionOptions, extraSram: [...(runPlan.sessionOptions.extraSram ?? []), ...panels] }, o.device) : session.plan;
  const graph = resolveGraph(quantized.architecture);
  const set = quantizeSet(session, o.support);
  const m = config.directions;
  const trained: TrainedTensor[] = zoLayers.map((l) => {
    if (config.dither) {
      // The trainer's dither factors (QzoFfTrainer.perturbFactor / updateFactor): εq is 1 (only its sign counts).
      const eps = makeDitherFactor((config.epsilon * l.scale * DELTA_Z) / l.weightScale, `perturbation factor ε·Δz/Δw of '${l.name}'`);
      const c = makeDitherFactor((config.lr * l.scale * DELTA_Z) / l.weightScale / m, `update factor η·Δz/Δw/m of '${l.name}'`);
      return { layer: l.name, tensorId: l.tensorId, bits: l.bits, count: l.count, epsQ: 1, updateMultiplier: c.mult, updateShift: c.shift, dither: eps };
    }
    const spec = makePerturbSpec({ seed: 0, tensorId: l.tensorId, epsilon: config.epsilon * l.scale, weightScale: l.weightScale, dist: config.dist, sign: 1, weightBits: l.bits }, mcu.device);
    const u = makeUpdateMultiplier(config.lr * l.scale, l.weightScale, m);
    return { layer: l.name, tensorId: l.tensorId, bits: l.bits, count: l.count, epsQ: spec.signedEps, updateMultiplier: u.multiplier, updateShift: u.shift, dither: null };
  });
  // The trainer's data order (QzoFfTrainer.nextBatch), replayed on the host.
  const stepBatch = Math.min(config.batchSize ?? set.count, set.count);
  const batchOrder = new BatchOrder(config.seed ^ 0x51ed270b);
  const order = new Uint16Array(steps * stepBatch);
  for (let s = 0; s < steps; s++) order.set(batchOrder.next(set.count, stepBatch), s * stepBatch);
  const passes = hybrid?.body ? 2 * m : 1;
  const head = hybrid ? exportHead(hybrid, stepBatch, passes, o.headLr) : null;
  const tailLr = o.tailLr ?? HYBRID_DEFAULTS.tailLr;
  const lowered = lowerGraph(graph);
  const tail = hybrid?.tail ? exportTail(hybrid.tail, hybrid.head, { lr: tailLr, warmup: head!.warmup, rowsPerStep: passes * stepBatch, plan, lowered }) : null;
  const loss = prepareCrossEntropy({ scale: session.logitsScale, zeroPoint: 0 }, 'int32');
  const inputName = graph.nodes[0]!.node.name;
  const querySamples = session.quantizeInput(o.query.images);
  if (querySamples.length !== o.query.labels.length * session.inputSize) throw new ShapeError(`query images do not match the model input (${session.inputSize} values each)`);
  return {
    quantized, graph, lowered, plan, paramLayers: session.paramLayers, trainable, trained, microBatch: micro, steps, stepBatch, order,
    train: set, query: { samples: querySamples, labels: Int32Array.from(o.query.labels), count: o.query.labels.length },
    inputZeroPoint: quantized.activations[inputName]!.zeroPoint,
    loss: { multiplier: loss.multiplier, shift: loss.shift }, inverseOneQ: quantizeMultiplier(1 / ONE_Q), head, tail,
    // The hybrid's body runs QZO-FF with control { warmup, batch } merged in (HybridTrainer); the export
    // refuses explicit controls, so these are the hybrid's defaults.
    control: hybrid?.body ? { warmup: HYBRID_DEFAULTS.warmup, batchScale: HYBRID_DEFAULTS.bodyBatchScale } : { warmup: 0, batchScale: false },
    config: { precision, selection: selectionLabel(selection), epsilon: config.epsilon, directions: m, dist: config.dist, lr: config.lr, seed, normalize: !!config.normalize, dither: !!config.dither, method, headLr: head?.lr ?? null, bpLayers: runPlan.bpLayers, tailLr: tail ? tailLr : null },
  };
}
