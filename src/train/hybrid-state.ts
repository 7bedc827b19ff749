// The hybrid's run state between steps, in the checkpoint's TrainerState shape (train/checkpoint.ts),
// so checkpoints of both integer methods share one file format.
//
// What carries from one step to the next: the body's QZO-FF state (weights, momentum history,
// step-control spread, data order) and the head's weights and bias. The head's SGD keeps nothing
// else: its gradient sums are cleared by the update kernel itself (head_sgd_update writes g ← 0)
// and its row count restarts every step. Head only, the data order is the hybrid's own.
// The head's tensors follow the body's in `tensors`, weights then bias.
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

function headValues(t: HybridTrainer): { w: Int8Array | Int16Array; b: Int32Array } {
  const s = t.session;
  const mem = s.mcu.device.memory.buffer;
  const h = t.head;
  const n = h.classes * h.features;
  const w = s.weights.get(h.name)!;
  const b = s.biases.get(h.name)!;
  return {
    w: h.weightBits === 16 ? new Int16Array(mem, w.offset, n).slice() : new Int8Array(mem, w.offset, n).slice(),
    b: new Int32Array(mem, b.offset, h.classes).slice(),
  };
}

/** A copy of the hybrid run's state between steps. */
export function exportHybridState(t: HybridTrainer): HybridState {
  const own = hookOf(t)?.saveMethodState() ?? null;
  const method = own ? { method: own } : {};
  const head = headValues(t);
  const headTensors: TrainedTensorState[] = [
    { layer: t.head.name, part: 'w', values: head.w, history: null },
    { layer: t.head.name, part: 'b', values: head.b, history: null },
  ];
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
  const h = t.head;
  const n = state.tensors.length;
  const [w, b] = [state.tensors[n - 2], state.tensors[n - 1]];
  if (!w || !b || w.layer !== h.name || w.part !== 'w' || b.layer !== h.name || b.part !== 'b') {
    throw new ConfigError(`trainer state does not end with the hybrid head '${h.name}' (weights, bias): it was not written by a hybrid run of this model and selection`);
  }
  const want = h.weightBits === 16 ? Int16Array : Int8Array;
  if (!(w.values instanceof want) || w.values.length !== h.classes * h.features || !(b.values instanceof Int32Array) || b.values.length !== h.classes) {
    throw new ConfigError(`trainer state: the head '${h.name}' holds ${w.values.length} ${w.values.constructor.name} weights and ${b.values.length} biases, this run's head has ${h.classes * h.features} ${want.name} and ${h.classes}: the model or precision differs`);
  }
  const limit = h.weightBits === 16 ? 32767 : 127;
  if (w.values.some((v) => v < -limit)) throw new FormatError(`trainer state: head weights below −${limit}, off the symmetric ${h.weightBits}-bit grid: the checkpoint is not one this trainer wrote`);
  if (w.history || b.history) throw new FormatError(`trainer state: the hybrid head '${h.name}' keeps no momentum history`);
  const hook = hookOf(t);
  if (state.method && !hook) throw new ConfigError("trainer state holds the hybrid head's own state (first-step statistics), which this hybrid trainer does not keep: resume with the lastmile that wrote it");
  const { method: own, ...rest } = state;
  const body = { ...rest, tensors: state.tensors.slice(0, n - 2) };
  if (hook) hook.loadMethodState(own ?? null);
  if (t.body) t.body.restoreState(body, setCount);
  else {
    if (body.tensors.length) throw new ConfigError(`trainer state holds ${body.tensors.length} body tensors, this hybrid run trains the head only: resume with the selection it was saved with`);
    t.order.restore(state.batchOrder, setCount);
  }
  const s = t.session;
  const bytes = s.mcu.device.bytes;
  for (const [v, buf] of [[w.values, s.weights.get(h.name)!], [b.values, s.biases.get(h.name)!]] as const) {
    bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), buf.offset);
  }
  t.step = state.step;
}
