// The backprop reference on the same emulated MCU: an f32 model trained with ordinary
// backpropagation, executed in the SRAM arena so its peak memory is measured like QZO-FF's.
//
// Memory is planned exactly as a training framework would hold it: every activation that some
// backward kernel will read stays live until that kernel has run; gradients of activations live
// from the backward op that writes them to the one that reads them; parameter gradients and
// optimizer state persist across the step (PyTorch's .grad and optimizer buffers). Only the part of
// the graph that gradient must flow through runs backward: a linear probe keeps just the head's input.
//
// Op indices: 0 stages the batch, forward op i runs at i + 1, the loss at L + 1, the backward of
// op i at L + 2 + (L − 1 − i), the optimizer at 2L + 2.
import { BudgetError, ConfigError, DataError, ShapeError, UnsupportedError } from '../errors.js';
import { alignUp, type Arena, type DeviceBuffer } from '../device/arena.js';
import type { Mcu } from '../device/mcu.js';
import { planMemory, verifyPlan, type BufferRequest } from './planner.js';
import { lowerGraph, type LoweredGraph, type LoweredOp } from './lowering.js';
import type { Profiler } from '../device/profiler.js';
import { elementCount, resolveGraph, type ResolvedGraph } from '../model/graph.js';
import type { FloatModel } from '../model/model.js';
import type { SessionPlan } from './session.js';
import { QuantizedSession } from './session.js';
import { adamStepF32, reluBackwardF32, reluF32, sgdStepF32, softmaxCrossEntropyF32 } from '../kernels/f32.js';
import { opDef } from '../ops/registry.js';
import { addF32 } from '../kernels/f32-eltwise.js';
import { checkSessionArguments } from './session-arguments.js';

export type OptimizerSpec =
  | { kind: 'sgd'; lr: number; momentum?: number; weightDecay?: number }
  | { kind: 'adam'; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };

export interface BackpropOptions {
  batch: number;
  /** Layers whose parameters train (their weights live in SRAM); the rest are frozen in flash. */
  trainable: ReadonlySet<string>;
  optimizer: OptimizerSpec;
  /**
   * Element width of every float buffer. 'f16' is for planning only (the paper's same-precision
   * comparison); sessions execute in f32.
   */
  precision?: 'f32' | 'f16';
  /**
   * Plan forward passes only, with trainable weights resident in SRAM and no gradients: the memory of
   * float zeroth-order training (the paper's "FF fp" column).
   */
  forwardOnly?: boolean;
  /** Buffers a trainer keeps in SRAM for the whole run (e.g. float ZO's f32 copy and z), planned with the rest. */
  extraSram?: readonly { name: string; bytes: number }[];
}

type Cat = 'activations' | 'io' | 'scratch' | 'trainable-params' | 'gradients' | 'optimizer-state' | 'activation-gradients' | 'extra';

interface OpInfo {
  op: LoweredOp;
  index: number;
  /** Gradient flows through this op (it or an ancestor trains). */
  flows: boolean;
  trainable: boolean;
  /** Backward computes the gradient of its (first) input. */
  needsInputGrad: boolean[];
}

function analyse(lowered: LoweredGraph, trainable: ReadonlySet<string>) {
  const producer = new Map<string, number>();
  lowered.ops.forEach((op, i) => producer.set(op.output, i));
  const flows: boolean[] = [];
  const infos: OpInfo[] = lowered.ops.map((op, i) => {
    const isTrainable = trainable.has(op.node.node.name);
    const upstream = op.inputs.some((t) => producer.has(t) && flows[producer.get(t)!]);
    flows[i] = isTrainable || upstream;
    return { op, index: i, flows: flows[i]!, trainable: isTrainable, needsInputGrad: op.inputs.map((t) => producer.has(t) && flows[producer.get(t)!]!) };
  });
  return { infos, producer };
}

/** Static description of a BP session: what lives where, and when. */
function blueprint(model: FloatModel, options: BackpropOptions) {
  if (!Number.isInteger(options.batch) || options.batch < 1 || options.batch > 65536) throw new ShapeError(`batch must be an integer in [1, 65536], got ${options.batch}`);
  const graph = resolveGraph(model.architecture);
  const lowered = lowerGraph(graph);
  for (const t of options.trainable) if (!model.params[t]) throw new ShapeError(`trainable layer '${t}' has no parameters`);
  const { infos: analysed, producer } = analyse(lowered, options.trainable);
  const infos = options.forwardOnly ? analysed.map((i) => ({ ...i, flows: false, needsInputGrad: i.needsInputGrad.map(() => false) })) : analysed;
  const eb = options.precision === 'f16' ? 2 : 4;
  const L = lowered.ops.length;
  const batch = options.batch;
  const fwd = (i: number) => i + 1;
  const bwd = (i: number) => L + 2 + (L - 1 - i);
  const lossOp = L + 1;
  const lastOp = 2 * L + 2;
  const shapeOf = new Map(graph.nodes.map((n) => [n.node.name, n.outShape]));
  const bytesOf = (t: string) => batch * elementCount(shapeOf.get(t)!) * eb;
  const requests: (BufferRequest & { category: Cat })[] = [];
  const flash: { name: string; bytes: number }[] = [];
  const lastUse = new Map<string, number>();
  const use = (t: string, at: number) => lastUse.set(t, Math.max(lastUse.get(t) ?? 0, at));
  for (const info of infos) {
    const { op, index: i } = info;
    op.inputs.forEach((t) => use(t, fwd(i)));
    if (!info.flows) continue;
    // What each backward kernel reads besides dY: dW needs the input; pooling-max needs the input;
    // a fused ReLU needs this op's own output to mask dY.
    if (info.trainable || opDef(op.node.node.kind).float?.backwardReadsInput?.(op.node.node)) use(op.inputs[0]!, bwd(i));
    if (op.activation !== 'none') use(op.output, bwd(i));
  }
  const outName = lowered.outputName;
  requests.push({ name: 'io:input', bytes: batch * elementCount(graph.inputShape) * eb, firstUse: 0, lastUse: lastUse.get(lowered.inputName) ?? 1, category: 'io' });
  requests.push({ name: 'io:labels', bytes: batch * 4, firstUse: 0, lastUse: lossOp, category: 'io' });
  for (const info of infos) {
    const t = info.op.output;
    requests.push({ name: `act:${t}`, bytes: bytesOf(t), firstUse: fwd(info.index), lastUse: Math.max(lastUse.get(t) ?? fwd(info.index), t === outName ? lossOp : 0), category: t === outName ? 'io' : 'activations' });
  }
  // Gradient of each flowing op's output: written by its consumers' backward (or the loss), read by its own.
  const consumersOf = new Map<string, number[]>();
  infos.forEach((info) => info.op.inputs.forEach((t) => consumersOf.set(t, [...(consumersOf.get(t) ?? []), info.index])));
  for (const info of infos) {
    if (!info.flows) continue;
    const t = info.op.output;
    const writers = t === outName ? [lossOp] : (consumersOf.get(t) ?? []).filter((c) => infos[c]!.flows).map(bwd);
    const first = Math.min(...writers);
    requests.push({ name: `grad:${t}`, bytes: bytesOf(t), firstUse: first, lastUse: bwd(info.index), category: 'activation-gradients' });
    if (writers.length > 1) requests.push({ name: `grad-tmp:${t}`, bytes: bytesOf(t), firstUse: first, lastUse: Math.max(...writers), category: 'activation-gradients' });
  }
  const opt = options.optimizer;
  const stateCopies = opt.kind === 'adam' ? 2 : (opt.momentum ?? 0) > 0 ? 1 : 0;
  for (const info of infos) {
    const n = info.op.node;
    const name = n.node.name;
    const p = model.params[name];
    if (!p) continue;
    const wBytes = p.weights.length * eb;
    const bBytes = p.bias.length * eb;
    if (info.trainable && options.forwardOnly) {
      requests.push({ name: `w:${name}`, bytes: wBytes, firstUse: 0, lastUse: lastOp, category: 'trainable-params' });
      requests.push({ name: `b:${name}`, bytes: bBytes, firstUse: 0, lastUse: lastOp, category: 'trainable-params' });
    } else if (info.trainable) {
      const persistent = (key: string, bytes: number, category: Cat) => requests.push({ name: key, bytes, firstUse: 0, lastUse: lastOp, category });
      persistent(`w:${name}`, wBytes, 'trainable-params');
      persistent(`b:${name}`, bBytes, 'trainable-params');
      persistent(`dw:${name}`, wBytes, 'gradients');
      persistent(`db:${name}`, bBytes, 'gradients');
      for (let s = 0; s < stateCopies; s++) {
        persistent(`state${s}:w:${name}`, wBytes, 'optimizer-state');
        persistent(`state${s}:b:${name}`, bBytes, 'optimizer-state');
      }
    } else {
      flash.push({ name: `w:${name}`, bytes: wBytes }, { name: `b:${name}`, bytes: bBytes });
    }
    const scratchBytes = opDef(n.node.kind).float?.scratchBytes;
    if (scratchBytes) {
      const f = (scratchBytes({ op: n, batch }, 'forward', { inputGrad: false, weightGrad: false }) / 4) * eb;
      if (f > 0) requests.push({ name: `scratch-fwd:${name}`, bytes: f, firstUse: fwd(info.index), lastUse: fwd(info.index), category: 'scratch' });
      if (info.flows) {
        const b = (scratchBytes({ op: n, batch }, 'backward', { inputGrad: info.needsInputGrad[0]!, weightGrad: info.trainable }) / 4) * eb;
        if (b > 0) requests.push({ name: `scratch-bwd:${name}`, bytes: b, firstUse: bwd(info.index), lastUse: bwd(info.index), category: 'scratch' });
      }
    }
  }
  for (const e of options.extraSram ?? []) requests.push({ name: `extra:${e.name}`, bytes: e.bytes, firstUse: 0, lastUse: lastOp, category: 'extra' });
  const sram = planMemory(requests, { alignment: 16 });
  verifyPlan(sram);
  const plan: SessionPlan = {
    sram,
    sramCategory: Object.fromEntries(requests.map((r) => [r.name, r.category])),
    flash,
    flashBytes: flash.reduce((s, f) => s + alignUp(f.bytes), 0),
    sramBytes: sram.peakBytes,
    // f32 kernels pack no integer panels.
    narrowPanels: [],
  };
  return { graph, lowered, infos, producer, plan, fwd, bwd, lossOp };
}

interface Step {
  name: string;
  kind: string;
  macs: number;
  run: () => void;
}

export class BackpropSession {
  readonly mcu: Mcu;
  readonly model: FloatModel;
  readonly graph: ResolvedGraph;
  readonly batch: number;
  readonly plan: SessionPlan;
  readonly classes: number;
  readonly options: BackpropOptions;
  profiler: Profiler | undefined;
  /** The trainer's buffers requested through `extraSram`, by name. */
  readonly extra = new Map<string, DeviceBuffer>();
  private readonly buffers = new Map<string, DeviceBuffer>();
  private readonly forwardSteps: Step[] = [];
  private readonly backwardSteps: Step[] = [];
  private readonly trainableNames: string[];
  private readonly ops: LoweredOp[];
  /** The tensor holding the logits (lowered once, not per step). */
  private readonly outputName: string;
  private adamStep = 0;

  static plan(model: FloatModel, options: BackpropOptions): SessionPlan {
    return blueprint(model, options).plan;
  }

  constructor(mcu: Mcu, model: FloatModel, options: BackpropOptions) {
    checkSessionArguments(mcu, model, options, 'BackpropSession');
    const bp = blueprint(model, options);
    QuantizedSession.checkFits(bp.plan, mcu.budget, `backprop training of '${model.architecture.name}' (batch ${options.batch})`);
    if (mcu.sram.used !== 0 || mcu.flash.used !== 0) throw new BudgetError('this MCU already holds a session: create a new Mcu for another one');
    if ((options.precision ?? 'f32') !== 'f32') {
      throw new UnsupportedError('f16 sessions are planned, not executed: use precision f32 to run');
    }
    const opt = options.optimizer;
    if (!Number.isFinite(opt.lr) || opt.lr <= 0) throw new ConfigError(`learning rate must be a finite number > 0, got ${opt.lr}`);
    this.mcu = mcu;
    this.model = model;
    this.graph = bp.graph;
    this.batch = options.batch;
    this.plan = bp.plan;
    this.options = options;
    this.classes = elementCount(bp.graph.outputShape);
    const { flash, sram } = mcu;
    for (const info of bp.infos) {
      const name = info.op.node.node.name;
      const p = model.params[name];
      if (p && !info.trainable) {
        this.buffers.set(`w:${name}`, flash.put(p.weights, `w:${name}`));
        this.buffers.set(`b:${name}`, flash.put(p.bias, `b:${name}`));
      }
    }
    const block = sram.alloc(bp.plan.sram.peakBytes, 'sram-plan');
    for (const b of bp.plan.sram.buffers) this.buffers.set(b.name, sram.sub(block, b.offset, b.bytes, b.name));
    for (const e of options.extraSram ?? []) this.extra.set(e.name, this.buffers.get(`extra:${e.name}`)!);
    const mem = new Uint8Array(mcu.device.memory.buffer);
    this.trainableNames = bp.infos.filter((i) => i.trainable).map((i) => i.op.node.node.name);
    this.ops = bp.lowered.ops;
    this.outputName = bp.lowered.outputName;
    for (const name of this.trainableNames) {
      const p = model.params[name]!;
      mem.set(new Uint8Array(p.weights.buffer, p.weights.byteOffset, p.weights.byteLength), this.buf(`w:${name}`).offset);
      mem.set(new Uint8Array(p.bias.buffer, p.bias.byteOffset, p.bias.byteLength), this.buf(`b:${name}`).offset);
      for (const key of [`dw:${name}`, `db:${name}`, `state0:w:${name}`, `state0:b:${name}`, `state1:w:${name}`, `state1:b:${name}`]) {
        const b = this.buffers.get(key);
        if (b) mem.fill(0, b.offset, b.offset + b.bytes);
      }
    }
    this.build(bp);
  }

  private buf(name: string): DeviceBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`internal: buffer '${name}' was not planned`);
    return b;
  }

  private build(bp: ReturnType<typeof blueprint>): void {
    const arena: Arena = this.mcu.sram;
    const batch = this.batch;
    const tensor = (t: string) => (t === bp.lowered.inputName ? this.buf('io:input') : this.buf(`act:${t}`));
    const gradWritten = new Set<string>();
    // The gradient a consumer writes for tensor t: the main buffer first, then a temp to accumulate.
    const gradTarget = (t: string): { buffer: DeviceBuffer; accumulate: boolean } => {
      if (!gradWritten.has(t)) {
        gradWritten.add(t);
        return { buffer: this.buf(`grad:${t}`), accumulate: false };
      }
      return { buffer: this.buf(`grad-tmp:${t}`), accumulate: true };
    };
    const accumulate = (t: string, count: number) => {
      const dst = this.buf(`grad:${t}`);
      const src = this.buf(`grad-tmp:${t}`);
      addF32(this.mcu.sram, dst, src, dst, count);
    };
    for (const info of bp.infos) {
      const { op } = info;
      const n = op.node;
      const node = n.node;
      const name = node.name;
      const def = opDef(node.kind);
      if (!def.float) throw new UnsupportedError(`layer '${name}' (${node.kind}) has no f32 kernel`);
      const y = tensor(op.output);
      const inShape = n.inShapes[0]!;
      const outCount = batch * elementCount(n.outShape);
      const inCount = batch * elementCount(inShape);
      const act = op.activation;
      const fwdRelu = act === 'none' ? () => {} : () => reluF32(arena, y, outCount, act);
      const params = this.model.params[name];
      const dy = info.flows ? this.buf(`grad:${op.output}`) : null;
      const inputGrad = info.needsInputGrad[0] ? op.inputs[0]! : null;
      const reluBack = act === 'none' ? () => {} : () => reluBackwardF32(arena, y, dy!, dy!, outCount, act);
      const kernels = def.float.build({
        op: n, batch, arena, inputs: op.inputs.map(tensor), output: y,
        weights: params ? this.buf(`w:${name}`) : null, bias: params ? this.buf(`b:${name}`) : null,
        dWeights: info.trainable && info.flows ? this.buf(`dw:${name}`) : null, dBias: info.trainable && info.flows ? this.buf(`db:${name}`) : null,
        dOutput: dy, scratchForward: this.buffers.get(`scratch-fwd:${name}`) ?? null, scratchBackward: this.buffers.get(`scratch-bwd:${name}`) ?? null,
        needsInputGrad: info.needsInputGrad,
        gradTarget: (k) => gradTarget(op.inputs[k]!),
        accumulate: (k, count) => accumulate(op.inputs[k]!, count),
        copy: (dst, src, bytes) => this.mcu.device.bytes.copyWithin(dst.offset, src.offset, src.offset + bytes),
      });
      const forward = act === 'none' ? kernels.forward : () => {
        kernels.forward();
        fwdRelu();
      };
      let backward: (() => void) | null = null;
      const wantsBackward = info.flows && (!def.float.backwardNeedsInputGrad || inputGrad !== null);
      if (wantsBackward && kernels.backwardToInputs) {
        const route = kernels.backwardToInputs;
        backward = () => {
          reluBack();
          route();
        };
      } else if (wantsBackward && kernels.backward) {
        const back = kernels.backward;
        backward = () => {
          reluBack();
          const target = inputGrad ? gradTarget(inputGrad) : null;
          back(target?.buffer ?? null);
          if (target?.accumulate) accumulate(inputGrad!, inCount);
        };
      }
      this.forwardSteps.push({ name, kind: node.kind, macs: n.macs * batch, run: forward });
      if (backward) {
        const run = backward;
        this.backwardSteps.unshift({ name, kind: `${node.kind}-backward`, macs: 2 * n.macs * batch, run: () => run() });
      }
    }
    // Every backward pass starts with fresh accumulation state for branching tensors.
    const reset = () => gradWritten.clear();
    this.backwardSteps.unshift({ name: 'grad-reset', kind: 'bookkeeping', macs: 0, run: reset });
  }

  get inputSize(): number {
    return elementCount(this.graph.inputShape);
  }

  /** Stage a batch of real-valued samples and labels (validated). */
  setBatch(x: Float32Array, labels: Int32Array): void {
    const need = this.batch * this.inputSize;
    if (x.length !== need) throw new ShapeError(`batch holds ${x.length} values; the session expects ${this.batch} × ${this.inputSize} = ${need}`);
    if (labels.length !== this.batch) throw new ShapeError(`${labels.length} labels for a batch of ${this.batch}`);
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) throw new DataError(`input value ${i} is ${x[i]}: clean NaN/Inf from the data first`);
    new Float32Array(this.mcu.device.memory.buffer, this.buf('io:input').offset, need).set(x);
    new Int32Array(this.mcu.device.memory.buffer, this.buf('io:labels').offset, this.batch).set(labels);
  }

  private runSteps(steps: Step[]): void {
    const prof = this.profiler;
    for (const s of steps) {
      if (!prof) {
        s.run();
        continue;
      }
      const t0 = prof.now();
      s.run();
      prof.record(s.name, s.kind, s.macs, prof.now() - t0);
    }
  }

  forward(): void {
    this.runSteps(this.forwardSteps);
  }

  /**
   * Forward, handing each op's output to `observe` right after the op runs (before the planner may
   * reuse its bytes): how calibration sees every activation without keeping them all.
   */
  forwardObserved(observe: (tensor: string, values: Float32Array) => void): void {
    this.forwardSteps.forEach((s, i) => {
      s.run();
      const op = this.ops[i]!;
      const b = this.buf(`act:${op.output}`);
      observe(op.output, new Float32Array(this.mcu.device.memory.buffer, b.offset, b.bytes / 4));
    });
  }

  /** Logits of the last forward(), [batch][classes]. */
  readLogits(): Float32Array {
    const out = this.buf(`act:${this.graph.nodes[this.graph.nodes.length - 1]!.node.name}`);
    return new Float32Array(this.mcu.device.memory.buffer, out.offset, this.batch * this.classes).slice();
  }

  /** One step on the staged batch: forward, mean cross-entropy, backward, optimizer. Returns the loss. */
  trainStep(lr = this.options.optimizer.lr): number {
    if (this.options.forwardOnly) throw new ConfigError('this session was prepared forward-only (no gradients): it cannot run a backprop step');
    this.forward();
    const logits = this.buf(`act:${this.outputName}`);
    const dLogits = this.buf(`grad:${this.outputName}`);
    const loss = softmaxCrossEntropyF32(this.mcu.sram, logits, this.buf('io:labels'), dLogits, { batch: this.batch, classes: this.classes, reduction: 'mean' });
    if (!Number.isFinite(loss)) throw new DataError(`backprop loss became ${loss}: lower the learning rate`);
    this.runSteps(this.backwardSteps);
    this.applyOptimizer(lr);
    return loss;
  }

  private applyOptimizer(lr: number): void {
    const opt = this.options.optimizer;
    const mem = this.mcu.device.bytes;
    this.adamStep++;
    for (const name of this.trainableNames) {
      for (const part of ['w', 'b'] as const) {
        const w = this.buf(`${part}:${name}`);
        const g = this.buf(`d${part}:${name}`);
        const count = w.bytes / 4;
        if (opt.kind === 'sgd') {
          sgdStepF32(this.mcu.sram, w, g, this.buffers.get(`state0:${part}:${name}`) ?? null, { count, lr, momentum: opt.momentum ?? 0, weightDecay: part === 'w' ? opt.weightDecay ?? 0 : 0 });
        } else {
          adamStepF32(this.mcu.sram, w, g, this.buf(`state0:${part}:${name}`), this.buf(`state1:${part}:${name}`), {
            count, lr, step: this.adamStep, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: part === 'w' ? opt.weightDecay ?? 0 : 0,
          });
        }
        mem.fill(0, g.offset, g.offset + g.bytes); // gradients accumulate: clear for the next step
      }
    }
  }

  /** The float model with the session's current (trained) parameters. */
  exportModel(): FloatModel {
    const params: FloatModel['params'] = {};
    for (const [name, p] of Object.entries(this.model.params)) {
      if (!this.trainableNames.includes(name)) {
        params[name] = p;
        continue;
      }
      const read = (key: string, n: number) => new Float32Array(this.mcu.device.memory.buffer, this.buf(key).offset, n).slice();
      params[name] = { weights: read(`w:${name}`, p.weights.length), bias: read(`b:${name}`, p.bias.length) };
    }
    return { ...this.model, params };
  }
}


