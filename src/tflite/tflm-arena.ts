// The non-persistent tensor arena TensorFlow Lite Micro plans for a model, by the rules of its
// GreedyMemoryPlanner: every non-constant tensor is a buffer of its byte size rounded up to 16,
// alive from the operator that writes it (graph inputs: from the start) to the last operator that
// reads it (graph outputs: to the end); buffers are placed largest first, each at the lowest
// offset where it overlaps no placed buffer that is alive at the same time. Reference kernels need
// no scratch buffers; TFLM's persistent allocations (tensor structs, quantization parameters,
// operator data) come on top and are not counted here.
import type { TfliteFile } from './reader.js';
import { TENSOR_TYPE_BYTES } from './schema.js';

export interface TflmArena {
  /** Peak of the greedy plan: the tensor-arena bytes the activations need. */
  bytes: number;
  buffers: { name: string; bytes: number; offset: number; first: number; last: number }[];
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

export function tflmArena(file: TfliteFile): TflmArena {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const end = file.operators.length - 1;
  for (const i of file.inputs) first.set(i, 0);
  file.operators.forEach((op, k) => {
    for (const i of op.inputs) if (i >= 0 && !file.tensors[i]!.data) last.set(i, Math.max(last.get(i) ?? k, k));
    for (const o of op.outputs) if (!first.has(o)) first.set(o, k);
  });
  for (const o of file.outputs) last.set(o, end);
  const buffers = [...first.keys()].map((t) => {
    const tensor = file.tensors[t]!;
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    return { name: tensor.name, bytes: align16(count * (TENSOR_TYPE_BYTES[tensor.type] ?? 4)), offset: 0, first: first.get(t)!, last: last.get(t) ?? first.get(t)! };
  });
  // Largest first; ties keep tensor order (the planner's stable order of equal sizes).
  const order = buffers.map((b, i) => i).sort((a, b) => buffers[b]!.bytes - buffers[a]!.bytes || a - b);
  const placed: typeof buffers = [];
  let peak = 0;
  for (const i of order) {
    const b = buffers[i]!;
    const live = placed.filter((p) => p.first <= b.last && b.first <= p.last).sort((x, y) => x.offset - y.offset);
    let offset = 0;
    for (const p of live) {
      if (p.offset >= offset + b.bytes) break;
      offset = Math.max(offset, p.offset + p.bytes);
    }
    b.offset = offset;
    placed.push(b);
    peak = Math.max(peak, offset + b.bytes);
  }
  return { bytes: peak, buffers };
}
