// A quantized model prepared on the emulated MCU (TFLM's "prepare once, evaluate many times").
//
// Prepare (host only, nothing allocated): lower the graph, derive every requantization constant,
// ask each kernel how much scratch it needs, plan SRAM from buffer lifetimes and check the plan
// against both budgets. Only a plan that fits is laid into the arenas: frozen parameters in flash,
// trainable parameters and everything that changes in SRAM.
// Evaluate: forward() runs the ops in order; a per-layer PerturbSpec is fused into weight packing,
// so QZO-FF's w ± εz never touches the stored weights.
import { BudgetError, ConfigError, DataError, ShapeError } from '../errors.js';
import { alignUp, type Arena, type DeviceBuffer } from '../device/arena.js';
import type { Mcu } from '../device/mcu.js';
import { planMemory, verifyPlan, type BufferRequest, type MemoryPlan } from './planner.js';
import { lowerGraph, type LoweredGraph } from './lowering.js';
import type { Profiler } from '../device/profiler.js';
import { elementCount, resolveGraph, type ResolvedGraph } from '../model/graph.js';
import type { QuantizedModel } from '../model/model.js';
import { quantizeMultiplier } from '../kernels/multiplier.js';
import { requantAt, type OutputQuant } from '../kernels/requant.js';
import type { PerturbSpec } from '../kernels/perturb-spec.js';
import { opDef } from '../ops/registry.js';
import { activationClamp } from '../ops/shape.js';
import type { ParamSource, QuantizedBuildContext } from '../ops/types.js';
import { frontEndRequests, type FrontEndBuffers, type FrontEndSpec } from './front-end.js';
import { checkSessionArguments } from './session-arguments.js';
import { chooseScratchBudgets, packingLevels, type PackingLevel, type ScratchChoice } from './scratch-budget.js';
import { SESSION_PACKED_WEIGHT_BUDGET } from '../ops/budget.js';

export { SESSION_PACKED_WEIGHT_BUDGET } from '../ops/budget.js';
export type { ParamSource } from '../ops/types.js';

export interface SessionOptions {
  /** Samples per forward call. */
  batch: number;
  /** Layers whose parameters live in SRAM because training changes them; the rest live in flash. */
  trainable?: ReadonlySet<string>;
  /** Further SRAM buffers the caller needs for the whole session (loss output, masks, …). */
  extraSram?: readonly { name: string; bytes: number }[];
  /**
   * SRAM the caller uses only around one layer's op: written just before the op runs, last read
   * before the next op runs (a sparse layer's backup while it is perturbed in place). Planned with
   * that op's lifetime, so it shares bytes with buffers of other ops; found in `extra` by name.
   */
  layerSram?: readonly LayerSram[];
  /** A front end run on the device before the forward pass (its buffers are live at op 0); see front-end.ts. */
  frontEnd?: FrontEndSpec;
  /**
   * Activation tensors kept intact until the last op, so a caller can read them after forward() (the
   * hybrid's tail gradient reads the last hidden layer's input and output). Planned with that lifetime.
   */
  keepTensors?: readonly string[];
  /** Trainable layers of which only the bias trains: their weights never change, so they stay in flash. */
  frozenWeights?: ReadonlySet<string>;
  /** Constant data the caller fixes before running and never writes (a sparse-update mask): placed in flash. */
  flashData?: readonly { name: string; data: Uint8Array }[];
  /**
   * Pack each frozen GEMM/conv layer's weights once, into flash, instead of on every call
   * (default true; the session falls back to packing per call when the panels do not fit the
   * device's flash). Results are identical either way; the panels' bytes are in plan.flash.
   */
  prepackFrozen?: boolean;
  /**
   * A layer in frozenWeights (only its bias trains) whose op packs without the bias
   * (`separateBias`) runs on its weights packed once into flash like a frozen layer, each call
   * adding the SRAM bias, so it needs no per-call packing scratch (default true, with
   * prepackFrozen; false: it packs per call). Results are identical either way.
   */
  prepackBiasTrained?: boolean;
  /**
   * A layer that packs its weights on every call (a trained layer, or a frozen one when prepacking is
   * off) packs one 8-column panel at a time wherever a larger chunk would raise the SRAM peak
   * (default true; src/runtime/scratch-budget.ts). 'narrow': also panels of 4 and 2 columns, down to
   * the least SRAM the session can run in, at a lower speed on those layers (a session whose device
   * SRAM is too small for the default plan takes this one by itself). false: every such layer packs
   * chunks of up to SESSION_PACKED_WEIGHT_BUDGET bytes (fewer re-reads of its input, more scratch).
   * Results are identical at every setting.
   */
  leanPacking?: boolean | 'narrow';
}

export type SramCategory = 'activations' | 'io' | 'scratch' | 'trainable-params' | 'extra' | 'frontend';

/** SessionOptions.layerSram: a buffer live around one layer's op. */
export interface LayerSram {
  name: string;
  bytes: number;
  layer: string;
  /**
   * Smaller sizes the caller can also work with (strictly decreasing, below `bytes`), slower ones last:
   * with leanPacking 'narrow' the session picks the largest that keeps the SRAM peak within the
   * device's, as it picks packing levels. The caller reads the size it got from `extra`.
   */
  smaller?: readonly number[];
}

export interface SessionPlan {
  /** The SRAM plan (offsets, lifetimes, peak, lower bound). */
  sram: MemoryPlan;
  /** Category of each SRAM buffer, by name (activations, io, scratch, trainable-params, …). */
  sramCategory: Record<string, string>;
  /** What is programmed into flash. */
  flash: { name: string; bytes: number }[];
  flashBytes: number;
  sramBytes: number;
  /** Layers that pack panels narrower than 8 columns to keep the SRAM peak down (leanPacking 'narrow'), with their width. */
  narrowPanels: { layer: string; panelColumns: 4 | 2 }[];
}

interface StaticData {
  name: string;
  data: Int8Array | Uint8Array | Int16Array | Int32Array;
}

/** Everything static about a session, computed on the host before any allocation. */
interface Blueprint {
  graph: ResolvedGraph;
  lowered: LoweredGraph;
  requests: (BufferRequest & { category: SramCategory })[];
  /** SRAM buffers whose initial contents come from the model (trainable parameters). */
  sramInit: StaticData[];
  flashItems: StaticData[];
  /** Flash the device fills when the session is prepared: frozen layers' packed weight panels. */
  flashPacked: { name: string; bytes: number }[];
  /** Layers whose packed panels hold no bias (bias-trained layers): each call adds the SRAM bias. */
  separateBias: ReadonlySet<string>;
  /** Packing budget of each layer that packs per call (scratch-budget.ts). */
  packBudgets: Map<string, PackingLevel>;
  outputQuant: Map<string, OutputQuant>;
  plan: SessionPlan;
}

interface PreparedOp {
  name: string;
  kind: string;
  macs: number;
  run: (perturb: PerturbSpec | undefined, source: ParamSource | undefined) => void;
}


const fmt = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

export class QuantizedSession {
  readonly mcu: Mcu;
  readonly model: QuantizedModel;
  readonly graph: ResolvedGraph;
  /** The lowered graph the session runs, built once when it is prepared. */
  readonly lowered: LoweredGraph;
  readonly batch: number;
  readonly plan: SessionPlan;
  readonly classes: number;
  /** Real value of one unit of the int32 logits (input scale × head weight scale). */
  readonly logitsScale: number;
  readonly input: DeviceBuffer;
  readonly logits: DeviceBuffer;
  /** The head's input (int8 features), still intact after forward(): the hybrid head gradient reads it. */
  readonly headInput: DeviceBuffer;
  /** Stored weights and biases by layer name (flash for frozen layers, SRAM for trainable ones). */
  readonly weights = new Map<string, DeviceBuffer>();
  readonly biases = new Map<string, DeviceBuffer>();
  readonly extra = new Map<string, DeviceBuffer>();
  /** The front end's planned buffers, if the session was planned with one. */
  readonly frontEnd: FrontEndBuffers | null = null;
  /** The caller's flashData, by name. */
  readonly flashData = new Map<string, DeviceBuffer>();
  profiler: Profiler | undefined;
  /** Layers whose weights and biases live in SRAM (what training may change). */
  readonly trainable: readonly string[];
  private readonly ops: PreparedOp[] = [];
  private readonly inputName: string;
  /** Every planned buffer by name (io:…, act:…, w:…), for tensorBuffer(). */
  private readonly placed: Map<string, DeviceBuffer>;

  /** Plan a session without touching any device: what it needs in SRAM and flash. */
  static plan(model: QuantizedModel, options: SessionOptions): SessionPlan {
    return blueprint(model, options).plan;
  }

  /**
   * The plan a device with this budget gets: frozen layers pre-packed unless their panels overflow
   * flash, and narrow panels (leanPacking 'narrow') only if the default plan overflows SRAM.
   */
  static planFor(model: QuantizedModel, options: SessionOptions, budget: { sramBytes: number; flashBytes: number }): SessionPlan {
    return blueprintFor(model, options, budget).plan;
  }

  /**
   * The plan a session built from `plan`'s model and options runs on a device with this budget:
   * `plan` itself if it fits, else the first fallback that does (see blueprintFor: bias-trained
   * layers per call, then every layer per call, when pre-packed panels overflow flash; narrow panels
   * when SRAM overflows), else the last fallback whose flash fits.
   */
  static fitting<P>(plan: P, budget: { flashBytes: number; sramBytes?: number }): P {
    const p = plan as SessionPlan;
    if (p.flashBytes <= budget.flashBytes && (budget.sramBytes === undefined || p.sramBytes <= budget.sramBytes)) return plan;
    const replan = replans.get(plan as object);
    return replan ? (replan(budget) as P) : plan;
  }

  /** BudgetError naming each region that does not fit, what it needs and its largest consumers. */
  static checkFits(planned: SessionPlan, budget: { sramBytes: number; flashBytes: number }, what: string): void {
    const plan = QuantizedSession.fitting(planned, budget);
    const over: string[] = [];
    if (plan.sramBytes > budget.sramBytes) {
      const live = [...plan.sram.buffers].sort((a, b) => b.alignedBytes - a.alignedBytes).slice(0, 3);
      over.push(`SRAM needs ${plan.sramBytes} B (${fmt(plan.sramBytes)}) but ${budget.sramBytes} B (${fmt(budget.sramBytes)}) are available; largest: ${live.map((b) => `${b.name} ${fmt(b.alignedBytes)}`).join(', ')}`);
    }
    if (plan.flashBytes > budget.flashBytes) {
      const top = [...plan.flash].sort((a, b) => b.bytes - a.bytes).slice(0, 3);
      over.push(`flash needs ${plan.flashBytes} B (${fmt(plan.flashBytes)}) but ${budget.flashBytes} B (${fmt(budget.flashBytes)}) are available; largest: ${top.map((b) => `${b.name} ${fmt(b.bytes)}`).join(', ')}`);
    }
    if (over.length) throw new BudgetError(`${what} does not fit the device: ${over.join('; ')}. Use a larger device, a smaller batch, or fewer trainable layers.`);
  }

  constructor(mcu: Mcu, model: QuantizedModel, options: SessionOptions) {
    checkSessionArguments(mcu, model, options, 'QuantizedSession');
    const bp = blueprintFor(model, options, mcu.budget);
    QuantizedSession.checkFits(bp.plan, mcu.budget, `model '${model.architecture.name}' (batch ${options.batch})`);
    if (mcu.sram.used !== 0 || mcu.flash.used !== 0) throw new BudgetError('this MCU already holds a session: create a new Mcu for another one');
    this.mcu = mcu;
    this.model = model;
    this.graph = bp.graph;
    this.lowered = bp.lowered;
    this.batch = options.batch;
    this.plan = bp.plan;
    this.classes = elementCount(bp.graph.outputShape);
    this.inputName = bp.lowered.inputName;
    this.trainable = [...(options.trainable ?? [])];

    // Flash is programmed once, before running; nothing writes it afterwards.
    const placed = new Map<string, DeviceBuffer>();
    this.placed = placed;
    for (const item of bp.flashItems) placed.set(item.name, mcu.flash.put(item.data, item.name));
    for (const item of bp.flashPacked) placed.set(item.name, mcu.flash.alloc(item.bytes, item.name));
    // SRAM is one block laid out by the plan.
    const block = mcu.sram.alloc(bp.plan.sram.peakBytes, 'sram-plan');
    for (const b of bp.plan.sram.buffers) placed.set(b.name, mcu.sram.sub(block, b.offset, b.bytes, b.name));
    const mem = mcu.device.bytes;
    for (const item of bp.sramInit) mem.set(new Uint8Array(item.data.buffer, item.data.byteOffset, item.data.byteLength), placed.get(item.name)!.offset);
    const buf = (name: string): DeviceBuffer => {
      const b = placed.get(name);
      if (!b) throw new Error(`internal: buffer '${name}' was not planned`);
      return b;
    };
    this.input = buf('io:input');
    this.logits = buf('io:logits');
    for (const e of [...(options.extraSram ?? []), ...(options.layerSram ?? [])]) this.extra.set(e.name, buf(`extra:${e.name}`));
    if (options.frontEnd) this.frontEnd = { spec: options.frontEnd, clip: buf('frontend:clip'), scratch: buf('frontend:scratch') };
    for (const e of options.flashData ?? []) this.flashData.set(e.name, buf(`flash:${e.name}`));

    let logitsScale = 1;
    const arena: Arena = mcu.sram;
    const tensor = (t: string) => (t === bp.lowered.inputName ? this.input : t === bp.lowered.outputName ? this.logits : buf(`act:${t}`));
    for (const op of bp.lowered.ops) {
      const n = op.node;
      const name = n.node.name;
      const def = opDef(n.node.kind);
      if (!def.quantized) throw new ShapeError(`layer '${name}' of kind '${n.node.kind}' has no integer kernel`);
      const inputQuant = op.inputs.map((t) => model.activations[t]!);
      let params: QuantizedBuildContext['params'];
      if (def.paramLayout) {
        const p = model.params[name]!;
        const w = buf(`w:${name}`);
        const b = buf(`b:${name}`);
        this.weights.set(name, w);
        this.biases.set(name, b);
        const oq = bp.outputQuant.get(name);
        let requant = null;
        if (oq) {
          const rq = buf(`rq:${name}`);
          const count = oq.multiplier.length;
          const region = rq.offset >= mcu.sram.base ? mcu.sram : mcu.flash;
          requant = requantAt(oq, n.biasLength!, region.sub(rq, 0, count * 4, `${name}.multiplier`), region.sub(rq, count * 4, count * 4, `${name}.shift`), name);
        } else {
          logitsScale = inputQuant[0]!.scale * p.weightScales[0]!;
        }
        const packedPanels = placed.get(`pk:${name}`);
        const packing = bp.packBudgets.get(name);
        params = {
          weights: w, bias: b, weightBits: p.weightBits, scratch: placed.get(`scratch:${name}`) ?? null, requant,
          ...(packedPanels ? { packedPanels } : {}), ...(bp.separateBias.has(name) ? { separateBias: true } : {}), ...(packing ?? {}),
        };
      }
      const run = def.quantized.build({
        op: n, batch: options.batch, arena, inputs: op.inputs.map(tensor), output: tensor(op.output), activation: op.activation,
        inputQuant, outputQuant: model.activations[op.output]!, ...(params ? { params } : {}),
      });
      this.ops.push({ name, kind: n.node.kind, macs: def.paramLayout ? n.macs * options.batch : 0, run });
    }
    this.logitsScale = logitsScale;
    this.headInput = tensor(bp.lowered.ops[bp.lowered.ops.length - 1]!.inputs[0]!);
  }

  get inputSize(): number {
    return elementCount(this.graph.inputShape);
  }

  /** Layers with parameters, in execution order. */
  get paramLayers(): string[] {
    return this.ops.filter((o) => this.weights.has(o.name)).map((o) => o.name);
  }

  /** Quantize real-valued samples ([batch][inputSize]) with the model's input quantization. */
  quantizeInput(x: Float32Array): Int8Array {
    const q = this.model.activations[this.inputName]!;
    const out = new Int8Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (!Number.isFinite(v)) throw new DataError(`input value ${i} is ${v}: clean NaN/Inf from the data first`);
      out[i] = Math.max(-128, Math.min(127, Math.round(v / q.scale) + q.zeroPoint));
    }
    return out;
  }

  /** Copy a quantized batch into the input buffer. */
  setInput(q: Int8Array): void {
    const need = this.batch * this.inputSize;
    if (q.length !== need) throw new ShapeError(`input holds ${q.length} values; the session expects batch ${this.batch} × ${this.inputSize} = ${need}`);
    this.mcu.device.bytes.set(new Uint8Array(q.buffer, q.byteOffset, q.byteLength), this.input.offset);
  }

  /**
   * The buffer holding activation tensor `name` ([batch][elements], one sample after another) while
   * it is live: the input, the logits or an intermediate (live from its producer to its last reader).
   */
  tensorBuffer(name: string): DeviceBuffer {
    const b = name === this.inputName ? this.input : name === this.lowered.outputName ? this.logits : this.placed.get(`act:${name}`);
    if (!b) throw new ShapeError(`tensor '${name}' has no buffer in this session`);
    return b;
  }

  /**
   * Run every op on the current input; perturb(layer) gives a trainable layer's fused perturbation,
   * source(layer) the buffers to read its parameters from instead of the stored ones. `from`/`to`
   * run only ops [from, to) of the lowered graph: a caller that restores the tensors live across
   * `from` (a frozen prefix's output) runs the rest alone.
   */
  forward(perturb?: (layer: string) => PerturbSpec | undefined, source?: (layer: string) => ParamSource | undefined, from = 0, to = this.ops.length): void {
    const prof = this.profiler;
    for (let i = from; i < to; i++) {
      const op = this.ops[i]!;
      const spec = perturb?.(op.name);
      const src = source?.(op.name);
      if (!prof) {
        op.run(spec, src);
        continue;
      }
      const t0 = prof.now();
      op.run(spec, src);
      prof.record(op.name, op.kind, op.macs, prof.now() - t0);
    }
  }

  /**
   * The model as it is now on the device: every parameter held in SRAM (weights and biases of each
   * trainable layer, whichever of them a trainer changed) read back; flash-resident layers are the
   * model's own. The one read-back every caller uses, so no selection can lose a trained tensor.
   */
  exportModel(): QuantizedModel {
    const mem = this.mcu.device.memory.buffer;
    const params = { ...this.model.params };
    for (const name of this.trainable) {
      const p = this.model.params[name]!;
      const w = this.weights.get(name)!;
      const b = this.biases.get(name)!;
      const weights = p.weightBits === 16 ? new Int16Array(mem, w.offset, p.weights.length).slice() : new Int8Array(mem, w.offset, p.weights.length).slice();
      params[name] = { ...p, weights, bias: new Int32Array(mem, b.offset, p.bias.length).slice() };
    }
    return { ...this.model, params };
  }

  /** The head's logits after forward(), [batch][classes]: int32 for a dense head, else int8. */
  readLogits(): Int32Array | Int8Array {
    const n = this.batch * this.classes;
    return this.logits.bytes >= n * 4
      ? new Int32Array(this.mcu.device.memory.buffer, this.logits.offset, n).slice()
      : new Int8Array(this.mcu.device.memory.buffer, this.logits.offset, n).slice();
  }
}

/**
 * What a default (pre-packed) session falls back to, in order, when its panels overflow flash:
 * bias-trained layers packing per call (frozen ones still pre-packed), then every layer per call.
 */
function fallbackOptions(options: SessionOptions, bp: Blueprint): SessionOptions[] {
  if (options.prepackFrozen !== undefined || bp.flashPacked.length === 0) return [];
  const biasPerCall = options.prepackBiasTrained === undefined && bp.separateBias.size > 0 ? [{ ...options, prepackBiasTrained: false }] : [];
  return [...biasPerCall, { ...options, prepackFrozen: false }];
}

function narrowPanelsOf(levels: ReadonlyMap<string, PackingLevel>): SessionPlan['narrowPanels'] {
  return [...levels].flatMap(([layer, l]) => (l.panelColumns === 8 ? [] : [{ layer, panelColumns: l.panelColumns }]));
}

/** Options with narrow panels allowed, where the caller left leanPacking to the session. */
function narrowed(options: SessionOptions): SessionOptions[] {
  return options.leanPacking === undefined ? [{ ...options, leanPacking: 'narrow' }] : [];
}

/**
 * Fallbacks in the order a device tries them: each flash fallback's plan after the plan before it,
 * and after each, the same with narrow panels (which only lowers SRAM).
 */
function allFallbackOptions(options: SessionOptions, bp: Blueprint): SessionOptions[] {
  return [...narrowed(options), ...fallbackOptions(options, bp).flatMap((o) => [o, ...narrowed(o)])];
}

/**
 * The first candidate that fits flash and (when given) SRAM; else, of those that fit flash, the one
 * needing the least SRAM (the closest to fitting); else the last (the least flash).
 */
function pickFitting<T>(candidates: readonly T[], budget: { flashBytes: number; sramBytes?: number }, planOf: (c: T) => SessionPlan): T {
  const flashFits = candidates.filter((c) => planOf(c).flashBytes <= budget.flashBytes);
  if (flashFits.length === 0) return candidates.at(-1)!;
  const sram = budget.sramBytes;
  if (sram === undefined) return flashFits[0]!;
  return flashFits.find((c) => planOf(c).sramBytes <= sram) ?? flashFits.reduce((a, c) => (planOf(c).sramBytes < planOf(a).sramBytes ? c : a));
}

/**
 * The default blueprint when it fits the budget, else the first fallback that does (flash: bias-trained
 * layers per call, then every layer per call; SRAM: narrow panels, as few and as wide as the budget's
 * SRAM allows), else the one needing the least SRAM of those whose flash fits. Fallbacks are planned
 * only when the default does not fit.
 */
function blueprintFor(model: QuantizedModel, options: SessionOptions, budget: { flashBytes: number; sramBytes?: number }): Blueprint {
  const bp = plainBlueprint(model, options);
  if (bp.plan.flashBytes <= budget.flashBytes && (budget.sramBytes === undefined || bp.plan.sramBytes <= budget.sramBytes)) return bp;
  const fallbacks = allFallbackOptions(options, bp).map((o) => plainBlueprint(model, o, budget.sramBytes));
  return pickFitting([bp, ...fallbacks], budget, (b) => b.plan);
}

/**
 * Each plan from plan() → how to plan its session for a budget it does not fit (blueprintFor), so a
 * budget check on a plan accepts what the session falls back to (fitting()).
 */
const replans = new WeakMap<object, (budget: { flashBytes: number; sramBytes?: number }) => SessionPlan>();

function blueprint(model: QuantizedModel, options: SessionOptions): Blueprint {
  const bp = plainBlueprint(model, options);
  replans.set(bp.plan, (budget) => blueprintFor(model, options, budget).plan);
  return bp;
}

/**
 * sramCeiling (with leanPacking 'narrow'): the SRAM peak the packing levels may use; each layer then
 * gets the fastest level that keeps the peak within it (or within the least peak, if that is higher).
 */
function plainBlueprint(model: QuantizedModel, options: SessionOptions, sramCeiling?: number): Blueprint {
  if (!Number.isInteger(options.batch) || options.batch < 1 || options.batch > 65536) throw new ShapeError(`batch must be an integer in [1, 65536], got ${options.batch}`);
  if (![undefined, true, false, 'narrow'].includes(options.leanPacking)) throw new ConfigError(`leanPacking must be true, false or 'narrow', got ${JSON.stringify(options.leanPacking)}`);
  const graph = resolveGraph(model.architecture);
  const lowered = lowerGraph(graph);
  const trainable = options.trainable ?? new Set<string>();
  for (const t of trainable) if (!model.params[t]) throw new ShapeError(`trainable layer '${t}' has no parameters in model '${model.architecture.name}'`);
  const batch = options.batch;
  // Op indices: 0 stages the input, op i of the lowered graph runs at index i + 1.
  const lastOp = lowered.ops.length;
  const lastRead = new Map<string, number>();
  lowered.ops.forEach((op, i) => op.inputs.forEach((t) => lastRead.set(t, Math.max(lastRead.get(t) ?? 0, i + 1))));
  for (const t of options.keepTensors ?? []) {
    const real = lowered.alias.get(t) ?? t;
    if (real !== lowered.inputName && !lowered.ops.some((op) => op.output === real)) throw new ShapeError(`keepTensors: model '${model.architecture.name}' has no tensor '${t}'`);
    lastRead.set(real, lastOp);
  }
  const shapeOf = new Map(graph.nodes.map((n) => [n.node.name, n.outShape]));
  const headOp = lowered.ops[lowered.ops.length - 1]!;
  const int32Logits = opDef(headOp.node.node.kind).quantized?.int32Head === true;

  const requests: Blueprint['requests'] = [];
  const sramInit: StaticData[] = [];
  const flashItems: StaticData[] = [];
  const flashPacked: Blueprint['flashPacked'] = [];
  const separateBias = new Set<string>();
  const scratchChoices: ScratchChoice[] = [];
  const prepackFrozen = options.prepackFrozen ?? true;
  const outputQuant = new Map<string, OutputQuant>();
  requests.push({ name: 'io:input', bytes: batch * elementCount(graph.inputShape), firstUse: 0, lastUse: lastRead.get(lowered.inputName) ?? 0, category: 'io' });
  requests.push({ name: 'io:logits', bytes: batch * elementCount(graph.outputShape) * (int32Logits ? 4 : 1), firstUse: lastOp, lastUse: lastOp, category: 'io' });
  lowered.ops.forEach((op, i) => {
    if (op.output === lowered.outputName) return;
    requests.push({ name: `act:${op.output}`, bytes: batch * elementCount(shapeOf.get(op.output)!), firstUse: i + 1, lastUse: lastRead.get(op.output) ?? i + 1, category: 'activations' });
  });
  lowered.ops.forEach((op, i) => {
    const n = op.node;
    const name = n.node.name;
    const def = opDef(n.node.kind);
    if (!def.paramLayout) return;
    const p = model.params[name];
    if (!p) throw new ShapeError(`model '${model.architecture.name}' has no parameters for layer '${name}'`);
    const inSram = trainable.has(name);
    // Weights that never change can be packed once; a bias-trained layer's too when its op adds the bias per call.
    const biasTrained = inSram && options.frozenWeights?.has(name) === true && def.quantized?.separateBias === true && options.prepackBiasTrained !== false;
    const packedBytes = (!inSram || biasTrained) && prepackFrozen ? (def.quantized?.packedBytes?.({ op: n, batch, weightBits: p.weightBits }) ?? 0) : 0;
    if (packedBytes > 0 && biasTrained) separateBias.add(name);
    if (packedBytes > 0) flashPacked.push({ name: `pk:${name}`, bytes: packedBytes });
    const scratchContext = { op: n, batch, weightBits: p.weightBits, prepacked: packedBytes > 0 };
    const scratch = def.quantized?.scratchBytes?.(scratchContext) ?? 0;
    if (scratch > 0) {
      // A layer packing per call may pack one panel at a time instead, down to a 2-column panel (same
      // results, less scratch); levels that save nothing over the one before are dropped.
      if (packedBytes === 0 && options.leanPacking !== false) {
        const levels: ScratchChoice['levels'][number][] = [];
        for (const level of packingLevels(SESSION_PACKED_WEIGHT_BUDGET, options.leanPacking === 'narrow')) {
          const bytes = levels.length === 0 ? scratch : (def.quantized?.scratchBytes?.({ ...scratchContext, ...level }) ?? scratch);
          if (levels.length === 0 || bytes < levels.at(-1)!.bytes) levels.push({ level, bytes });
        }
        scratchChoices.push({ index: requests.length, layer: name, levels });
      }
      requests.push({ name: `scratch:${name}`, bytes: scratch, firstUse: i + 1, lastUse: i + 1, category: 'scratch' });
    }
    // Only what training writes goes to SRAM: weights unless only the bias trains, the bias, never the
    // requantization constants (weight scales are fixed, so QZO-FF never changes them).
    const place = (key: string, data: StaticData['data'], inSram: boolean) => {
      if (inSram) {
        requests.push({ name: key, bytes: data.byteLength, firstUse: 0, lastUse: lastOp, category: 'trainable-params' });
        sramInit.push({ name: key, data });
      } else {
        flashItems.push({ name: key, data });
      }
    };
    place(`w:${name}`, p.weights, trainable.has(name) && !options.frozenWeights?.has(name));
    place(`b:${name}`, p.bias, trainable.has(name));
    if (op === headOp && int32Logits) return; // the head returns raw int32 accumulators
    const inQ = model.activations[op.inputs[0]!]!;
    const outQ = model.activations[op.output]!;
    const count = p.weightScales.length;
    const multiplier = new Int32Array(count);
    const shift = new Int32Array(count);
    for (let c = 0; c < count; c++) {
      const q = quantizeMultiplier((inQ.scale * p.weightScales[c]!) / outQ.scale);
      multiplier[c] = q.multiplier;
      shift[c] = q.shift;
    }
    outputQuant.set(name, { multiplier, shift, outZeroPoint: outQ.zeroPoint, ...activationClamp(op.activation, outQ.scale, outQ.zeroPoint) });
    const constants = new Int32Array(2 * count);
    constants.set(multiplier, 0);
    constants.set(shift, count);
    place(`rq:${name}`, constants, false);
  });
  for (const e of options.extraSram ?? []) requests.push({ name: `extra:${e.name}`, bytes: e.bytes, firstUse: 0, lastUse: lastOp, category: 'extra' });
  const layerChoices: ScratchChoice<number>[] = [];
  for (const e of options.layerSram ?? []) {
    const at = lowered.ops.findIndex((op) => op.node.node.name === e.layer);
    if (at < 0) throw new ShapeError(`layerSram '${e.name}': model '${model.architecture.name}' has no layer '${e.layer}'`);
    const sizes = [e.bytes, ...(e.smaller ?? [])];
    if (sizes.some((b, i) => !Number.isInteger(b) || b < 0 || (i > 0 && b >= sizes[i - 1]!))) throw new ConfigError(`layerSram '${e.name}': sizes must be integers ≥ 0, each smaller than the one before, got ${sizes.join(', ')}`);
    if (options.leanPacking === 'narrow' && sizes.length > 1) layerChoices.push({ index: requests.length, layer: e.name, levels: sizes.map((bytes) => ({ level: bytes, bytes })) });
    requests.push({ name: `extra:${e.name}`, bytes: e.bytes, firstUse: at + 1, lastUse: at + 1, category: 'extra' });
  }
  // The front end runs while the input is staged (op 0) and writes into io:input.
  for (const f of options.frontEnd ? frontEndRequests(options.frontEnd, model) : []) requests.push({ ...f, firstUse: 0, lastUse: 0, category: 'frontend' });
  for (const e of options.flashData ?? []) flashItems.push({ name: `flash:${e.name}`, data: e.data });

  // One choice over both kinds, so each sees the other's sizes at the peak; the backups' sizes stay in the requests.
  const chosen = chooseScratchBudgets<BufferRequest, PackingLevel | number>(requests, [...scratchChoices, ...layerChoices], 16, options.leanPacking === 'narrow' ? sramCeiling : undefined);
  const packBudgets = new Map(scratchChoices.map((c) => [c.layer, chosen.get(c.layer) as PackingLevel]));

  const sram = planMemory(requests, { alignment: 16 });
  verifyPlan(sram);
  const sramCategory = Object.fromEntries(requests.map((r) => [r.name, r.category]));
  const flash = [...flashItems.map((f) => ({ name: f.name, bytes: f.data.byteLength })), ...flashPacked];
  const flashBytes = flash.reduce((s, f) => s + alignUp(f.bytes), 0);
  return {
    graph, lowered, requests, sramInit, flashItems, flashPacked, separateBias, packBudgets, outputQuant,
    plan: { sram, sramCategory, flash, flashBytes, sramBytes: sram.peakBytes, narrowPanels: narrowPanelsOf(packBudgets) },
  };
}
