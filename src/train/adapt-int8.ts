// QZO-FF adaptation of an int8 model someone already deploys (an imported .tflite). There is no
// float backbone to re-quantize, so the int8 weights are lifted exactly onto the int16 grid
// (w16 = 256·w8 at Δ/256, bias16 = 256·bias8: the same real values), the head is kept when the
// data's classes are the model's (labels matched by name) or replaced by a prototype head over
// int8 features for new classes, and the model trains on the emulated device as adapt() does.
// The result is reported at 16-bit and after re-quantization to int8 (what a .tflite export holds).
// Method: the hybrid (the default) when the head is fully connected and per-tensor quantized (a
// prototype head always is; a kept head is as the file has it); otherwise the default falls back to
// qzo-ff with a note and an explicit 'hybrid' is a ConfigError (method-choice.ts).
import { requireTail, tailKeptTensors, tailSramBuffers } from './hybrid-tail.js';
import { modeMemory, resolveBpLayers } from './prepare-run.js';
import { ConfigError, DataError } from '../errors.js';
import { sampleSize, validateDataset, type Dataset } from '../data/dataset.js';
import { elementCount, paramNodes, resolveGraph } from '../model/graph.js';
import type { DenseNode } from '../model/layers.js';
import type { FloatModel, QuantizedModel, QuantizedParams } from '../model/model.js';
import { activationQuantFromRange, quantizeWeights } from '../quant/quantize.js';
import { BackpropSession } from '../runtime/backprop-session.js';
import { lowerGraph } from '../runtime/lowering.js';
import { Mcu } from '../device/mcu.js';
import { QuantizedSession } from '../runtime/session.js';
import { Profiler } from '../device/profiler.js';
import { evaluate } from './evaluate.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from './qzo-ff.js';
import { selectionTrainerOptions, trainableLayers } from './selection.js';
import { defaultDirections } from './defaults.js';
import type { AdaptOptions, AdaptResult } from './adapt.js';
import { liftModelTo16, requantizeModelTo8 } from '../tflite/requantize.js';
import { outputChannelIsLastAxis } from '../ops/registry.js';
import { frontEndRequests } from '../runtime/front-end.js';
import { HybridTrainer, hybridSramBuffers } from './hybrid.js';
import { chooseMethod, hybridUnsupported, type MethodChoice } from './method-choice.js';

const TARGET_LOGIT_SCALE = 8;

export interface QuantizedAdaptOptions extends Omit<AdaptOptions, 'backbone' | 'method'> {
  model: QuantizedModel;
  /** The integer method; default as adapt() (hybrid, or qzo-ff with a note where the head does not allow it). */
  method?: 'qzo-ff' | 'hybrid';
  /** keep: train the model's own head (data classes must be among its classes); replace: a new prototype head; auto (default): keep when possible. */
  head?: 'keep' | 'replace' | 'auto';
}

export interface QuantizedAdaptResult extends AdaptResult {
  /** Accuracy of the adapted model after its weights are re-quantized to int8 (what a .tflite export runs). */
  afterInt8: number;
  head: 'kept' | 'replaced';
  /** The lifted model before training (its zero-shot accuracy equals the int8 model's). */
  lifted: QuantizedModel;
}

/** Class names of the model's outputs, if it has them. */
export function modelClassNames(model: { meta: Record<string, unknown> }): string[] | undefined {
  const n = model.meta.classNames;
  return Array.isArray(n) && n.every((x) => typeof x === 'string') ? (n as string[]) : undefined;
}

/** Data relabelled to the model's output indices by class name; undefined if some class is not an output. */
export function relabelToModel(data: Dataset, modelNames: string[] | undefined, outputs: number): Dataset | undefined {
  if (!data.classNames || !modelNames) return data.classes === outputs && !modelNames ? data : undefined;
  const lower = modelNames.map((s) => s.toLowerCase());
  const map = data.classNames.map((n) => lower.indexOf(n.toLowerCase()));
  if (map.some((i) => i < 0)) return undefined;
  return { ...data, labels: Int32Array.from(data.labels, (l) => map[l]!), classes: outputs, classNames: modelNames };
}

/** The model's output indices of the data's named classes (in the data's class order); undefined if some class is not an output. */
export function namedOutputs(data: Dataset, modelNames: string[] | undefined): number[] | undefined {
  if (!data.classNames || !modelNames) return undefined;
  const lower = modelNames.map((s) => s.toLowerCase());
  const map = data.classNames.map((n) => lower.indexOf(n.toLowerCase()));
  return map.some((i) => i < 0) ? undefined : map;
}

/** int8 features at the head's input, dequantized, for every sample. */
async function headFeatures(model: QuantizedModel, data: Dataset, build: AdaptOptions['build']): Promise<{ features: Float32Array; dim: number }> {
  const graph = resolveGraph(model.architecture);
  const head = graph.nodes[graph.nodes.length - 1]!;
  const featureNode = graph.nodes[head.inputs[0]!]!;
  const nodes = model.architecture.nodes.slice(0, featureNode.index + 1);
  const keep = new Set(nodes.map((n) => n.name));
  const params = Object.fromEntries(Object.entries(model.params).filter(([k]) => keep.has(k)));
  const truncated: QuantizedModel = { ...model, architecture: { ...model.architecture, nodes }, params };
  const dim = elementCount(featureNode.outShape);
  const batch = Math.min(16, data.labels.length);
  const plan = QuantizedSession.plan(truncated, { batch });
  const round = (b: number) => Math.max(16, Math.ceil(b / 16) * 16);
  const mcu = await Mcu.create({ budget: { sramBytes: round(plan.sramBytes), flashBytes: round(plan.flashBytes) }, build });
  const session = new QuantizedSession(mcu, truncated, { batch });
  const q = model.activations[lowerGraph(resolveGraph(truncated.architecture)).outputName]!;
  const size = sampleSize(data);
  const features = new Float32Array(data.labels.length * dim);
  for (let from = 0; from < data.labels.length; from += batch) {
    const rows = Math.min(batch, data.labels.length - from);
    const x = new Float32Array(batch * size);
    x.set(data.images.subarray(from * size, (from + rows) * size));
    session.setInput(session.quantizeInput(x));
    session.forward();
    const out = new Int8Array(mcu.device.memory.buffer, session.logits.offset, rows * dim);
    for (let i = 0; i < rows * dim; i++) features[from * dim + i] = (out[i]! - q.zeroPoint) * q.scale;
  }
  return { features, dim };
}

/** The model with a prototype (nearest class mean) head over `support`'s classes, quantized on `bits`. */
export async function withQuantizedPrototypeHead(model: QuantizedModel, support: Dataset, bits: 8 | 16, build: AdaptOptions['build']): Promise<QuantizedModel> {
  const graph = resolveGraph(model.architecture);
  const head = graph.nodes[graph.nodes.length - 1]!;
  if (head.node.kind !== 'dense') throw new ConfigError(`model '${model.architecture.name}' does not end in a dense head, so it cannot get a new classifier`);
  const { features, dim } = await headFeatures(model, support, build);
  const k = support.classes;
  const means = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  support.labels.forEach((c, i) => {
    counts[c]! += 1;
    for (let d = 0; d < dim; d++) means[c * dim + d]! += features[i * dim + d]!;
  });
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) throw new DataError(`class ${c} of '${support.name}' has no support samples`);
    for (let d = 0; d < dim; d++) means[c * dim + d]! /= counts[c]!;
  }
  let meanSq = 0;
  for (let i = 0; i < means.length; i++) meanSq += means[i]! ** 2 / k;
  const tau = TARGET_LOGIT_SCALE / Math.max(meanSq, 1e-12);
  const weights = new Float32Array(k * dim);
  const bias = new Float32Array(k);
  for (let c = 0; c < k; c++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) {
      weights[c * dim + d] = tau * means[c * dim + d]!;
      sq += means[c * dim + d]! ** 2;
    }
    bias[c] = (-tau * sq) / 2;
  }
  const nodes = model.architecture.nodes.map((n) => ({ ...n }));
  const headNode = nodes[nodes.length - 1] as DenseNode;
  headNode.units = k;
  const architecture = { ...model.architecture, nodes };
  const resolvedHead = resolveGraph(architecture).nodes[nodes.length - 1]!;
  const { q, scales } = quantizeWeights(weights, resolvedHead, bits, false);
  const inScale = model.activations[graph.nodes[head.inputs[0]!]!.node.name]!.scale;
  const qbias = Int32Array.from(bias, (b) => Math.round(b / (inScale * scales[0]!)));
  // The head's int8 output grid (used by the output stage and the .tflite export) covers the support logits.
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < support.labels.length; i++) {
    for (let c = 0; c < k; c++) {
      let v = bias[c]!;
      for (let d = 0; d < dim; d++) v += weights[c * dim + d]! * features[i * dim + d]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const params: Record<string, QuantizedParams> = { ...model.params, [headNode.name]: { weightBits: bits, weights: q, weightScales: scales, bias: qbias } };
  const activations = { ...model.activations, [headNode.name]: activationQuantFromRange({ min: lo, max: hi }) };
  // The new head was never lifted from int8, so it has no lift grid to return to.
  const liftShifts = { ...((model.meta.liftShifts as Record<string, number[]> | undefined) ?? {}) };
  delete liftShifts[headNode.name];
  return { ...model, architecture, params, activations, meta: { ...model.meta, liftShifts, classNames: support.classNames ?? Array.from({ length: k }, (_, i) => String(i)), head: 'prototype' } };
}

/** A float model with the quantized model's real-valued weights (for backprop memory plans and float export). */
export function dequantizeModel(model: QuantizedModel): FloatModel {
  const graph = resolveGraph(model.architecture);
  const params: FloatModel['params'] = {};
  for (const n of paramNodes(graph)) {
    const p = model.params[n.node.name]!;
    const channels = n.biasLength!;
    const per = p.weights.length / channels;
    const last = outputChannelIsLastAxis(n.node.kind);
    const scaleOf = (c: number) => p.weightScales[p.weightScales.length === 1 ? 0 : c]!;
    const inScale = model.activations[graph.nodes[n.inputs[0]!]!.node.name]!.scale;
    params[n.node.name] = {
      weights: Float32Array.from(p.weights, (w, i) => w * scaleOf(last ? i % channels : Math.floor(i / per))),
      bias: Float32Array.from(p.bias, (b, c) => b * inScale * scaleOf(c)),
    };
  }
  return { kind: 'float', architecture: model.architecture, params, meta: { ...model.meta } };
}

function readBack(session: QuantizedSession, model: QuantizedModel, trainable: string[]): QuantizedModel {
  const params = { ...model.params };
  const mem = session.mcu.device.memory.buffer;
  for (const name of trainable) {
    const p = model.params[name]!;
    const w = session.weights.get(name)!;
    const b = session.biases.get(name)!;
    const weights = p.weightBits === 16 ? new Int16Array(mem, w.offset, p.weights.length).slice() : new Int8Array(mem, w.offset, p.weights.length).slice();
    params[name] = { ...p, weights, bias: new Int32Array(mem, b.offset, p.bias.length).slice() };
  }
  return { ...model, params };
}

/**
 * The method adaptQuantized() trains `o.model` with (see method-choice.ts): a new prototype head is
 * always dense and per-tensor, a kept head is checked as the file quantized it. Host-only and cheap,
 * so a caller can say before training what will run.
 */
export function quantizedMethodChoice(o: Pick<QuantizedAdaptOptions, 'model' | 'support' | 'query' | 'head' | 'selection' | 'method'>): MethodChoice<'qzo-ff' | 'hybrid'> {
  const outputs = elementCount(resolveGraph(o.model.architecture).outputShape);
  const names = modelClassNames(o.model);
  const keep = o.head !== 'replace' && !!relabelToModel(o.support, names, outputs) && !!relabelToModel(o.query, names, outputs);
  const selection = o.selection ?? { kind: 'full' };
  return chooseMethod(o.method, () => hybridUnsupported(o.model.architecture, selection, keep ? o.model : undefined));
}

export async function adaptQuantized(o: QuantizedAdaptOptions): Promise<QuantizedAdaptResult> {
  const t0 = performance.now();
  const precision = o.precision ?? '16w8a';
  if (precision !== '16w8a' && precision !== '8w8a') throw new ConfigError(`precision must be 16w8a or 8w8a, got '${precision}'`);
  validateDataset(o.support);
  validateDataset(o.query);
  const steps = o.steps ?? 300;
  if (!Number.isInteger(steps) || steps < 0) throw new ConfigError(`steps must be a non-negative integer, got ${steps}`);
  const graph = resolveGraph(o.model.architecture);
  if (graph.nodes[graph.nodes.length - 1]!.node.kind !== 'dense') throw new ConfigError(`model '${o.model.architecture.name}' does not end in a dense classifier head; QZO-FF adaptation trains classifiers`);
  const inputSize = elementCount(graph.inputShape);
  if (sampleSize(o.support) !== inputSize) throw new ConfigError(`the data's samples hold ${sampleSize(o.support)} values; model '${o.model.architecture.name}' takes [${graph.inputShape.join(', ')}] = ${inputSize}`);
  // Only the layers QZO-FF trains move to the 16-bit grid; frozen layers stay int8 in flash.
  const trainableNames = new Set(trainableLayers(graph, o.selection ?? { kind: 'full' }));
  const base = precision === '16w8a' ? liftModelTo16(o.model, trainableNames) : o.model;
  const outputs = elementCount(graph.outputShape);
  const names = modelClassNames(o.model);
  const keptSupport = o.head === 'replace' ? undefined : relabelToModel(o.support, names, outputs);
  const keptQuery = keptSupport ? relabelToModel(o.query, names, outputs) : undefined;
  if (o.head === 'keep' && !(keptSupport && keptQuery)) throw new ConfigError(`the data's classes (${o.support.classNames?.join(', ') ?? `${o.support.classes} unnamed`}) are not all outputs of the model (${names?.join(', ') ?? `${outputs} unnamed`}); use a new head`);
  const keep = !!(keptSupport && keptQuery);
  const support = keep ? keptSupport! : o.support;
  const query = keep ? keptQuery! : o.query;
  const lifted = keep ? base : await withQuantizedPrototypeHead(base, support, precision === '16w8a' ? 16 : 8, o.build);
  // A kept head is asked about the named classes only: zero-shot, after and after-int8 all take the
  // argmax over those outputs (the model as it is, restricted to the question), not the full head.
  const decided = keep ? namedOutputs(o.support, names) : undefined;

  const micro = Math.min(o.microBatch ?? 5, support.labels.length);
  const selection = o.selection ?? { kind: 'full' };
  const trainable = trainableLayers(resolveGraph(lifted.architecture), selection);
  if (o.method !== undefined && o.method !== 'qzo-ff' && o.method !== 'hybrid') throw new ConfigError(`an int8 model adapts with qzo-ff or hybrid, not '${String(o.method)}'`);
  const { method, note: methodNote } = chooseMethod(o.method, () => hybridUnsupported(lifted.architecture, selection, lifted));
  const hybrid = method === 'hybrid';
  const seed = o.seed ?? 1;
  const trainerConfig: QzoFfConfig = {
    epsilon: o.epsilon ?? 1e-3, directions: o.directions ?? defaultDirections(method), dist: o.dist ?? 'gaussian', lr: o.lr ?? 3e-3, schedule: o.schedule, seed,
    ...(o.batchSize ? { batchSize: o.batchSize } : {}), ...selectionTrainerOptions(selection), ...o.enhancements,
  };
  const fe = o.frontEnd ? { frontEnd: o.frontEnd } : {};
  // Hybrid: QZO-FF's buffers for the body only, plus the head's δ rows and gradient sums (and the
  // tail's, when the layer below the head learns by backprop too).
  const tail = hybrid && resolveBpLayers(lifted, trainable, o.bpLayers) === 2 ? requireTail(lifted) : null;
  const zoLayers = hybrid ? trainable.slice(0, -1).filter((n) => n !== tail?.name) : trainable;
  const extraSram = [...qzoFfSramBuffers(micro, { model: lifted, trainable: zoLayers, config: trainerConfig }), ...(hybrid ? hybridSramBuffers(lifted, micro) : []), ...(tail ? tailSramBuffers(tail) : [])];
  const sessionOptions = { batch: micro, trainable: new Set(trainable), extraSram, ...fe, ...(tail ? { keepTensors: tailKeptTensors(tail) } : {}) };
  const ffPlan = QuantizedSession.plan(lifted, sessionOptions);
  const inferPlan = QuantizedSession.plan(lifted, { batch: micro, ...fe });
  // The f32 session has no front-end stage: its buffers are held for the whole session (an upper bound).
  const bpPlan = BackpropSession.plan(dequantizeModel(lifted), { batch: micro, trainable: new Set(trainable), optimizer: { kind: 'adam', lr: 1e-3 }, ...(o.frontEnd ? { extraSram: frontEndRequests(o.frontEnd, lifted) } : {}) });
  const memory = { ff: modeMemory(ffPlan, o.device), bp: modeMemory(bpPlan, o.device), infer: modeMemory(inferPlan, o.device) };
  o.onPlan?.(memory);
  QuantizedSession.checkFits(ffPlan, o.device, `${hybrid ? 'hybrid' : 'QZO-FF'} ${precision} training of '${lifted.architecture.name}' (micro-batch ${micro}, ${trainable.length} trainable layers)`);

  const mcu = await Mcu.create({ budget: o.device, build: o.build });
  const session = new QuantizedSession(mcu, lifted, sessionOptions);
  const zeroShot = evaluate(session, query, decided).accuracy;
  const trainer = hybrid
    ? new HybridTrainer(session, trainable, { ...trainerConfig, ...(o.headLr !== undefined ? { headLr: o.headLr } : {}), ...(o.tailLr !== undefined ? { tailLr: o.tailLr } : {}) })
    : new QzoFfTrainer(session, trainable, trainerConfig);
  const set = trainer.prepareData(support);
  const profiler = o.profile ? new Profiler() : undefined;
  session.profiler = profiler;
  const losses: number[] = [];
  const tFf = performance.now();
  while (trainer.step < steps) {
    const r = trainer.trainStep(set);
    losses.push(r.loss);
    o.onStep?.(r, steps);
  }
  const ffMs = performance.now() - tFf;
  session.profiler = undefined;
  const after = evaluate(session, query, decided).accuracy;
  const adapted = readBack(session, lifted, trainable);

  const int8 = requantizeModelTo8(adapted);
  const plan8 = QuantizedSession.plan(int8, { batch: micro });
  const round = (b: number) => Math.max(16, Math.ceil(b / 16) * 16);
  const mcu8 = await Mcu.create({ budget: { sramBytes: round(plan8.sramBytes), flashBytes: round(plan8.flashBytes) }, build: o.build });
  const afterInt8 = evaluate(new QuantizedSession(mcu8, int8, { batch: micro }), query, decided).accuracy;
  return {
    zeroShot, after, afterInt8, bp: null, steps, sramPeak: mcu.sram.highWater, flash: mcu.flash.highWater, memory,
    device: { ...o.device, build: mcu.build }, losses, bpLosses: [], bpRecipe: null, wallMs: { ff: ffMs, bp: 0, total: performance.now() - t0 },
    adapted, method, methodNote, ...(hybrid ? { backpropLayers: [...(tail ? [tail.name] : []), trainable.at(-1)!] } : {}), ...(profiler ? { profiler } : {}), head: keep ? 'kept' : 'replaced', lifted,
    // method is recorded when it is not the paper's (so qzo-ff runs keep their recorded config).
    config: { ...(hybrid ? { method } : {}), precision, selection, steps, microBatch: micro, epsilon: trainerConfig.epsilon, directions: trainerConfig.directions, dist: trainerConfig.dist, lr: trainerConfig.lr, seed, trainable, enhancements: o.enhancements ?? {}, head: keep ? 'kept' : 'replaced' },
  };
}
