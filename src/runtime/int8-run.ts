// The MLPerf Tiny / EEMBC inference contract: raw int8 input tensor in, raw int8 output tensor
// out. The layers run on the emulated device (QuantizedSession); lastmile heads return int32
// logits, so the output stage applies what TFLM does after them: the head's requantization
// (MultiplyByQuantizedMultiplier, zero point, fused-activation clamp) and a final int8 softmax.
import { ShapeError } from '../errors.js';
import { elementCount, resolveGraph } from '../model/graph.js';
import type { QuantizedModel } from '../model/model.js';
import { quantizeMultiplier } from '../kernels/multiplier.js';
import { lowerGraph } from './lowering.js';
import { Mcu } from '../device/mcu.js';
import { QuantizedSession } from './session.js';
import type { BuildFlavor } from '../device/features.js';
import { prepareSoftmaxInt8, rdbpot, softmaxInt8, srdhm, type PreparedSoftmax } from '../ops/softmax/int8.js';
import type { TfliteMeta } from '../tflite/import.js';
import { isClassifierHead } from '../ops/registry.js';

export interface OutputStage {
  /** Requantization of an int32 dense head to int8 (absent when the session already ends in int8). */
  requant?: { multiplier: Int32Array; shift: Int32Array; zeroPoint: number; actMin: number; actMax: number };
  softmax?: PreparedSoftmax;
  classes: number;
}

export function tfliteMeta(model: QuantizedModel): TfliteMeta | undefined {
  const m = model.meta.tflite;
  return m && typeof m === 'object' ? (m as TfliteMeta) : undefined;
}

export function outputStage(model: QuantizedModel): OutputStage {
  const graph = resolveGraph(model.architecture);
  const lowered = lowerGraph(graph);
  const head = lowered.ops[lowered.ops.length - 1]!;
  const classes = elementCount(graph.outputShape);
  const stage: OutputStage = { classes };
  const outQ = model.activations[head.output]!;
  if (isClassifierHead(head.node.node)) {
    const p = model.params[head.node.node.name]!;
    const inQ = model.activations[head.inputs[0]!]!;
    const count = p.weightScales.length;
    const multiplier = new Int32Array(count);
    const shift = new Int32Array(count);
    for (let c = 0; c < count; c++) {
      const q = quantizeMultiplier((inQ.scale * p.weightScales[c]!) / outQ.scale);
      multiplier[c] = q.multiplier;
      shift[c] = q.shift;
    }
    const act = head.activation;
    const actMin = act === 'none' ? -128 : outQ.zeroPoint;
    const actMax = act === 'relu6' ? Math.min(127, outQ.zeroPoint + Math.round(6 / outQ.scale)) : 127;
    stage.requant = { multiplier, shift, zeroPoint: outQ.zeroPoint, actMin, actMax };
  }
  const sm = tfliteMeta(model)?.softmax;
  if (sm) stage.softmax = prepareSoftmaxInt8(sm.beta, outQ.scale, sm.scale, sm.zeroPoint);
  return stage;
}

/** TFLM MultiplyByQuantizedMultiplier on one accumulator. */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  return rdbpot(srdhm((x * 2 ** left) | 0, multiplier), right);
}

/** Applies the output stage to one batch of head outputs. */
export function applyOutputStage(stage: OutputStage, logits: Int32Array | Int8Array, rows: number): Int8Array {
  const k = stage.classes;
  const out = new Int8Array(rows * k);
  for (let r = 0; r < rows; r++) {
    let row: Int8Array = new Int8Array(k);
    for (let c = 0; c < k; c++) {
      const v = logits[r * k + c]!;
      if (stage.requant && logits instanceof Int32Array) {
        const q = stage.requant;
        const i = q.multiplier.length > 1 ? c : 0;
        row[c] = Math.max(q.actMin, Math.min(q.actMax, multiplyByQuantizedMultiplier(v, q.multiplier[i]!, q.shift[i]!) + q.zeroPoint));
      } else row[c] = v;
    }
    if (stage.softmax) row = softmaxInt8(row, stage.softmax);
    out.set(row, r * k);
  }
  return out;
}

export interface Int8Runner {
  readonly inputSize: number;
  readonly outputSize: number;
  readonly session: QuantizedSession;
  /** Runs `count` samples (count × inputSize int8 values) and returns count × outputSize int8 outputs. */
  run(inputs: Int8Array): Int8Array;
}

/** Prepares an imported (or any quantized) model for raw int8 inference on the emulated device. */
export async function createInt8Runner(model: QuantizedModel, options: { batch?: number; build?: BuildFlavor | 'auto' } = {}): Promise<Int8Runner> {
  const batch = options.batch ?? 1;
  const plan = QuantizedSession.plan(model, { batch });
  const round = (b: number) => Math.max(16, Math.ceil(b / 16) * 16);
  const mcu = await Mcu.create({ budget: { sramBytes: round(plan.sramBytes), flashBytes: round(plan.flashBytes) }, build: options.build });
  const session = new QuantizedSession(mcu, model, { batch });
  const stage = outputStage(model);
  const inputSize = session.inputSize;
  return {
    inputSize,
    outputSize: stage.classes,
    session,
    run(inputs) {
      if (inputs.length % inputSize !== 0 || inputs.length === 0) throw new ShapeError(`input holds ${inputs.length} int8 values; the model takes ${inputSize} per sample`);
      const count = inputs.length / inputSize;
      const out = new Int8Array(count * stage.classes);
      for (let from = 0; from < count; from += batch) {
        const rows = Math.min(batch, count - from);
        const x = new Int8Array(batch * inputSize);
        x.set(inputs.subarray(from * inputSize, (from + rows) * inputSize));
        session.setInput(x);
        session.forward();
        out.set(applyOutputStage(stage, session.readLogits(), rows), from * stage.classes);
      }
      return out;
    },
  };
}
