// The hybrid's run state between steps, in the checkpoint's TrainerState shape (train/checkpoint.ts),
// so checkpoints of both integer methods share one file format.
//
// What carries from one step to the next: the body's QZO-FF state (weights, momentum history,
// step-control spread, data order) and the backprop layers' weights and bias (the tail's, if it
// learns by backprop, then the head's). Their SGD keeps nothing else: the gradient sums are cleared
// by the update kernels themselves (head_sgd_update and tail_sgd_update write g ← 0) and the row
// count restarts every step. Head only, the data order is the hybrid's own.
// The backprop layers' tensors follow the body's in `tensors`, weights then bias per layer.
//
// A hybrid trainer that keeps more state of its own (e.g. statistics measured on the first step and
// fixed from then on) implements HybridStateHook; that state then travels as the checkpoint's
// `method` record (checkpoint.ts MethodState), and a checkpoint with such a record is refused by a
// trainer without the hook (and the other way round) instead of resuming to different numbers.
import { ConfigError, FormatError } from '../errors.js';
import type { HybridTrainer } from './hybrid.js';
import type { TrainedTensorState, TrainerState } from './qzo-ff.js';
import type { MethodState } from './checkpoint.js';

/** Optional methods of a hybrid trainer whose state is more than its weights and step. */
export interface HybridStateHook {
  /** The trainer's own state now (null: nothing yet, e.g. before the first step). */
  saveMethodState(): MethodState | null;
  /** Restore it; must check everything before it assigns anything. */
  loadMethodState(state: MethodState | null): void;
}

const hookOf = (t: HybridTrainer): HybridStateHook | null => {
  const h = t as unknown as Partial<HybridStateHook>;
  return typeof h.saveMethodState === 'function' && typeof h.loadMethodState === 'function' ? (h as HybridStateHook) : null;
};

export type HybridState = TrainerState & { method?: MethodState };

/** The layers the hybrid learns by backprop, in the order their tensors close the state: the tail (if any), then the head. */
function backpropLayers(t: HybridTrainer): { name: string; weights: number; bits: 8 | 16; biases: number }[] {
  const h = t.head;
  const layers = [{ name: h.name, weights: h.classes * h.features, bits: h.weightBits, biases: h.classes }];
  if (t.tail) {
    const g = t.tail.geometry;
    layers.unshift({ name: t.tail.name, weights: g.outChannels * g.kernelHeight * g.kernelWidth * g.inChannels, bits: t.tail.weightBits, biases: g.outChannels });
  }
  return layers;
}

function backpropTensors(t: HybridTrainer): TrainedTensorState[] {
  const s = t.session;
  const mem = s.mcu.device.memory.buffer;
  return backpropLayers(t).flatMap((l) => {
    const w = s.weights.get(l.name)!;
    const b = s.biases.get(l.name)!;
    return [
      { layer: l.name, part: 'w' as const, values: l.bits === 16 ? new Int16Array(mem, w.offset, l.weights).slice() : new Int8Array(mem, w.offset, l.weights).slice(), history: null },
      { layer: l.name, part: 'b' as const, values: new Int32Array(mem, b.offset, l.biases).slice(), history: null },
    ];
  });
}

/** A copy of the hybrid run's state between steps. */
export function exportHybridState(t: HybridTrainer): HybridState {
  const own = hookOf(t)?.saveMethodState() ?? null;
  const method = own ? { method: own } : {};
  const headTensors = backpropTensors(t);
  if (t.body) {
    const body = t.body.exportState();
    return { ...body, step: t.step, tensors: [...body.tensors, ...headTensors], ...method };
  }
  return { step: t.step, batchOrder: t.order.save(), tensors: headTensors, ...method };
}

/**
 * Continue from an exported state. The trainer must be built like the one that exported it; the head's
 * tensors are checked before anything is written, and the body's trainer checks its own before it
 * writes, so a state that does not fit leaves the run untouched.
 */
export function restoreHybridState(t: HybridTrainer, state: HybridState, setCount: number): void {
  if (!Number.isInteger(state.step) || state.step < 0) throw new FormatError(`trainer state: step ${state.step} is not a non-negative integer`);
  const layers = backpropLayers(t);
  const n = state.tensors.length;
  const k = 2 * layers.length;
  const names = layers.map((l) => `'${l.name}'`).join(' and ');
  const saved = state.tensors.slice(n - k);
  if (n < k || layers.some((l, i) => saved[2 * i]?.layer !== l.name || saved[2 * i]?.part !== 'w' || saved[2 * i + 1]?.layer !== l.name || saved[2 * i + 1]?.part !== 'b')) {
    throw new ConfigError(`trainer state does not end with the hybrid's backprop layers ${names} (weights, bias): it was not written by a hybrid run of this model, selection and --bp-layers`);
  }
  layers.forEach((l, i) => {
    const [w, b] = [saved[2 * i]!, saved[2 * i + 1]!];
    const want = l.bits === 16 ? Int16Array : Int8Array;
    if (!(w.values instanceof want) || w.values.length !== l.weights || !(b.values instanceof Int32Array) || b.values.length !== l.biases) {
      throw new ConfigError(`trainer state: '${l.name}' holds ${w.values.length} ${w.values.constructor.name} weights and ${b.values.length} biases, this run's has ${l.weights} ${want.name} and ${l.biases}: the model or precision differs`);
    }
    const limit = l.bits === 16 ? 32767 : 127;
    if (w.values.some((v) => v < -limit)) throw new FormatError(`trainer state: '${l.name}' weights below −${limit}, off the symmetric ${l.bits}-bit grid: the checkpoint is not one this trainer wrote`);
    if (w.history || b.history) throw new FormatError(`trainer state: the hybrid's backprop layer '${l.name}' keeps no momentum history`);
  });
  const hook = hookOf(t);
  if (state.method && !hook) throw new ConfigError("trainer state holds the hybrid head's own state (first-step statistics), which this hybrid trainer does not keep: resume with the lastmile that wrote it");
  const { method: own, ...rest } = state;
  const body = { ...rest, tensors: state.tensors.slice(0, n - k) };
  if (hook) hook.loadMethodState(own ?? null);
  if (t.body) t.body.restoreState(body, setCount);
  else {
    if (body.tensors.length) throw new ConfigError(`trainer state holds ${body.tensors.length} body tensors, this hybrid run trains the head only: resume with the selection it was saved with`);
    t.order.restore(state.batchOrder, setCount);
  }
  const s = t.session;
  const bytes = s.mcu.device.bytes;
  layers.forEach((l, i) => {
    for (const [v, buf] of [[saved[2 * i]!.values, s.weights.get(l.name)!], [saved[2 * i + 1]!.values, s.biases.get(l.name)!]] as const) {
      bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), buf.offset);
    }
  });
  t.step = state.step;
}
