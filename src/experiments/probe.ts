// Linear probing without re-running the frozen backbone. When only the head trains, every layer
// below it computes the same int8 (or f32) features at every step, so the features are computed once
// and the head trains on its own: a one-layer model whose input is the backbone's feature tensor, with
// the full model's quantization. The integer arithmetic of the head is unchanged (same weights, same
// input quantization, same kernels), so zero-shot accuracy is identical to adapt() with the 'head'
// selection (the smoke test checks it); the trained head sees different z than under adapt(), because
// z streams are keyed by the tensor's index in its model (0 here, the last index there), so individual
// runs differ while the method is the same. This makes a linear probe ~the cost of one evaluation of the
// backbone instead of 2m forward passes of it per step, which is what makes ResNet-8 affordable here.
import type { Dataset } from '../data/dataset.js';
import { resolveGraph, type Architecture } from '../model/graph.js';
import type { FloatModel, QuantizedModel, WeightBits } from '../model/model.js';
import { calibrate } from '../quant/calibrate.js';
import { quantizeModel } from '../quant/quantize.js';
import { BackpropSession } from '../runtime/backprop-session.js';
import { lowerGraph } from '../runtime/lowering.js';
import { Mcu } from '../device/mcu.js';
import { QuantizedSession } from '../runtime/session.js';
import { evaluateFloat } from '../train/backprop.js';
import { trainBackpropRecipe } from '../train/bp-recipe.js';
import { evaluate } from '../train/evaluate.js';
import { FloatZoTrainer, floatZoSramBuffers, type FloatZoConfig } from '../train/float-zo.js';
import { embed, withPrototypeHead } from '../train/prototype.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../train/qzo-ff.js';
import type { QuantizedSet } from '../train/batches.js';
import { isClassifierHead } from '../ops/registry.js';

export interface ProbeTask {
  backbone: FloatModel;
  support: Dataset;
  query: Dataset;
  device: { name: string; sramBytes: number; flashBytes: number };
  /**
   * 'prototype' (default): replace the head by the support set's class means, as adapt() does for new
   * classes. 'keep': start from the backbone's own trained head (same classes, new domain).
   */
  head?: 'prototype' | 'keep';
}

interface HeadSplit {
  head: string;
  feature: string;
  dim: number;
}

function splitHead(arch: Architecture): HeadSplit {
  const lowered = lowerGraph(resolveGraph(arch));
  const op = lowered.ops[lowered.ops.length - 1]!;
  if (!isClassifierHead(op.node.node)) throw new Error(`internal: '${arch.name}' does not end in a dense head`);
  return { head: op.node.node.name, feature: op.inputs[0]!, dim: op.node.weightShape![1]! };
}

/** The head alone, fed by the feature tensor (same name, so the activation quantization carries over). */
function headArchitecture(arch: Architecture, s: HeadSplit): Architecture {
  const node = arch.nodes.find((n) => n.name === s.head)!;
  const { inputs: _inputs, ...dense } = node as typeof node & { inputs?: string[] };
  return { name: `${arch.name}-head`, nodes: [{ kind: 'input', name: s.feature, shape: [s.dim] }, dense as typeof node] };
}

/** Everything but the head: its output is the int8 feature tensor. */
function backboneArchitecture(arch: Architecture, s: HeadSplit): Architecture {
  return { name: `${arch.name}-features`, nodes: arch.nodes.filter((n) => n.name !== s.head) };
}

async function int8Features(model: QuantizedModel, s: HeadSplit, data: Dataset, device: ProbeTask['device']): Promise<QuantizedSet> {
  const arch = backboneArchitecture(model.architecture, s);
  const params = Object.fromEntries(Object.entries(model.params).filter(([k]) => k !== s.head));
  const trunk: QuantizedModel = { ...model, architecture: arch, params };
  const batch = Math.min(32, data.labels.length);
  const plan = QuantizedSession.plan(trunk, { batch });
  const mcu = await Mcu.create({ budget: { sramBytes: Math.max(device.sramBytes, plan.sramBytes), flashBytes: Math.max(device.flashBytes, plan.flashBytes) } });
  const session = new QuantizedSession(mcu, trunk, { batch });
  const size = session.inputSize;
  const all = session.quantizeInput(data.images);
  const out = new Int8Array(data.labels.length * s.dim);
  const x = new Int8Array(batch * size);
  for (let from = 0; from < data.labels.length; from += batch) {
    const rows = Math.min(batch, data.labels.length - from);
    x.fill(model.activations[arch.nodes[0]!.name]!.zeroPoint);
    x.set(all.subarray(from * size, (from + rows) * size));
    session.setInput(x);
    session.forward();
    out.set(new Int8Array(mcu.device.memory.buffer, session.logits.offset, rows * s.dim), from * s.dim);
  }
  return { samples: out, labels: data.labels, count: data.labels.length, sampleSize: s.dim };
}

export interface PreparedProbe {
  task: ProbeTask;
  split: HeadSplit;
  /** Prototype-head float model (full) and its calibration. */
  proto: FloatModel;
  ranges: Awaited<ReturnType<typeof calibrate>>;
  /** f32 features and the float head model. */
  float: { head: FloatModel; support: Dataset; query: Dataset };
  quantized: Partial<Record<WeightBits, { head: QuantizedModel; support: QuantizedSet; query: QuantizedSet }>>;
}

/** adapt()'s pipeline up to training (prototype head, calibration on the support set), features cached. */
export async function prepareProbe(task: ProbeTask): Promise<PreparedProbe> {
  const proto = task.head === 'keep' ? task.backbone : await withPrototypeHead(task.backbone, task.support);
  const ranges = await calibrate(proto, task.support);
  const split = splitHead(proto.architecture);
  const headArch = headArchitecture(proto.architecture, split);
  const feats = async (d: Dataset): Promise<Dataset> => {
    const { features, dim } = await embed(proto, d);
    return { name: `${d.name}-features`, shape: [1, 1, dim], images: features, labels: d.labels, classes: d.classes };
  };
  const head: FloatModel = { kind: 'float', architecture: headArch, params: { [split.head]: proto.params[split.head]! }, meta: {} };
  return { task, split, proto, ranges, float: { head, support: await feats(task.support), query: await feats(task.query) }, quantized: {} };
}

async function quantizedProbe(p: PreparedProbe, bits: WeightBits) {
  let q = p.quantized[bits];
  if (!q) {
    const full = quantizeModel(p.proto, p.ranges, { weightBits: bits, perChannel: false });
    const head: QuantizedModel = { ...full, architecture: headArchitecture(full.architecture, p.split), params: { [p.split.head]: full.params[p.split.head]! } };
    q = p.quantized[bits] = { head, support: await int8Features(full, p.split, p.task.support, p.task.device), query: await int8Features(full, p.split, p.task.query, p.task.device) };
  }
  return q;
}

export interface ProbeRun {
  zeroShot: number;
  after: number;
  losses: number[];
  /** Planned SRAM of the head-only session (the features' producer is not counted). */
  sram: number;
}

/** QZO-FF on the head. Throws the trainer's ConfigError when εq rounds to 0 (plain 8w8a on a coarse head). */
export async function probeQzo(p: PreparedProbe, bits: WeightBits, config: QzoFfConfig, steps: number, onStep?: (step: number, loss: number) => void): Promise<ProbeRun> {
  const q = await quantizedProbe(p, bits);
  const micro = Math.min(5, q.support.count);
  const trainable = [p.split.head];
  const mcu = await Mcu.create({ budget: p.task.device });
  const session = new QuantizedSession(mcu, q.head, { batch: micro, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(micro, { model: q.head, trainable, config }) });
  const zeroShot = evaluate(session, q.query).accuracy;
  const trainer = new QzoFfTrainer(session, trainable, config);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const r = trainer.trainStep(q.support);
    losses.push(r.loss);
    onStep?.(s + 1, r.loss);
  }
  return { zeroShot, after: evaluate(session, q.query).accuracy, losses, sram: session.plan.sramBytes };
}

/** f32 backprop (Adam) on the head, full-batch, as adapt()'s baseline. */
export async function probeBackprop(p: PreparedProbe, seed: number): Promise<ProbeRun> {
  const { head, support, query } = p.float;
  return backpropRun(head, [p.split.head], support, query, seed);
}

/** sign-m-SPSA in f32 on the head (the paper's "FF fp"). */
export async function probeFloatZo(p: PreparedProbe, config: FloatZoConfig, steps: number): Promise<ProbeRun> {
  const { head, support, query } = p.float;
  return floatZoRun(head, [p.split.head], support, query, p.task.device, config, steps);
}

/** sign-m-SPSA in f32 on any trainable layers of a float model, on the device budget (adapt()'s ff-float path). */
export async function floatZoRun(model: FloatModel, trainable: string[], support: Dataset, query: Dataset, device: ProbeTask['device'], config: FloatZoConfig, steps: number): Promise<ProbeRun> {
  const micro = Math.min(5, support.labels.length);
  const zeroShot = (await evaluateFloat(model, query)).accuracy;
  const mcu = await Mcu.create({ budget: device });
  const session = new BackpropSession(mcu, model, { batch: micro, trainable: new Set(trainable), optimizer: { kind: 'adam', lr: 1e-3 }, forwardOnly: true, extraSram: floatZoSramBuffers(model, trainable) });
  const trainer = new FloatZoTrainer(session, trainable, config);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(trainer.trainStep(support).loss);
  return { zeroShot, after: (await evaluateFloat(session.exportModel(), query)).accuracy, losses, sram: mcu.sram.highWater };
}

/** f32 backprop on any trainable layers with the baseline recipe (BP_RECIPE): adapt()'s baseline. */
export async function backpropRun(model: FloatModel, trainable: string[], support: Dataset, query: Dataset, seed: number): Promise<ProbeRun> {
  const zeroShot = (await evaluateFloat(model, query)).accuracy;
  const r = await trainBackpropRecipe(model, support, { trainable, seed });
  return { zeroShot, after: (await evaluateFloat(r.model, query)).accuracy, losses: r.losses, sram: r.sramPeak };
}
