// The MLPerf Tiny / EEMBC inference contract: raw int8 input tensor in, raw int8 output tensor
// out, the whole inference on the emulated device. The layers run in a QuantizedSession; lastmile
// heads return int32 logits, so the output stage then runs what TFLM does after them, also as
// device kernels: the head's requantization (requantize_i32_i8: MultiplyByQuantizedMultiplier,
// zero point, fused-activation clamp) and a final int8 softmax (softmax_s8, TFLite's arithmetic).
import { ShapeError } from '../errors.js';
import { elementCount, resolveGraph } from '../model/graph.js';
import type { QuantizedModel } from '../model/model.js';
import { quantizeMultiplier } from '../kernels/multiplier.js';
import { prepareRequant, requantStagingBytes, requantizeI32ToI8, type OutputQuant } from '../kernels/requant.js';
import { prepareSoftmaxI8, softmaxI8, type PreparedSoftmax } from '../kernels/softmax.js';
import { lowerGraph } from './lowering.js';
import { Mcu } from '../device/mcu.js';
import { QuantizedSession } from './session.js';
import type { BuildFlavor } from '../device/features.js';
import type { TfliteMeta } from '../tflite/import.js';
import { isClassifierHead } from '../ops/registry.js';

export interface OutputStage {
  /** Requantization of an int32 dense head to int8 (absent when the session already ends in int8). */
  requant?: OutputQuant;
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
    stage.requant = { multiplier, shift, outZeroPoint: outQ.zeroPoint, actMin, actMax };
  }
  const sm = tfliteMeta(model)?.softmax;
  if (sm) stage.softmax = prepareSoftmaxI8(sm.beta, outQ.scale, sm.scale, sm.zeroPoint);
  return stage;
}

/** Device SRAM the output stage adds to the session's plan at `batch` (requant constants, int8 output). */
export function outputStageBytes(stage: OutputStage, batch: number): number {
  const round = (b: number) => Math.ceil(b / 16) * 16;
  return (stage.requant ? requantStagingBytes(stage.requant) : 0) + round(Math.max(1, batch * stage.classes));
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
  const stage = outputStage(model);
  const round = (b: number) => Math.max(16, Math.ceil(b / 16) * 16);
  const mcu = await Mcu.create({ budget: { sramBytes: round(plan.sramBytes) + outputStageBytes(stage, batch), flashBytes: round(plan.flashBytes) }, build: options.build });
  const session = new QuantizedSession(mcu, model, { batch });
  const inputSize = session.inputSize;
  const k = stage.classes;
  // Placed after the session's plan: the head's requantization constants and the int8 output.
  const requant = stage.requant ? prepareRequant(mcu.sram, stage.requant, k, 'output stage') : undefined;
  const output = mcu.sram.alloc(batch * k, 'io:output');
  const int8Logits = stage.requant ? output : session.logits;
  if (!stage.requant && session.logits.bytes !== batch * k) throw new ShapeError(`internal: head output holds ${session.logits.bytes} B, expected int8 [${batch}][${k}]`);
  return {
    inputSize,
    outputSize: k,
    session,
    run(inputs) {
      if (inputs.length % inputSize !== 0 || inputs.length === 0) throw new ShapeError(`input holds ${inputs.length} int8 values; the model takes ${inputSize} per sample`);
      const count = inputs.length / inputSize;
      const out = new Int8Array(count * k);
      const x = new Int8Array(batch * inputSize);
      for (let from = 0; from < count; from += batch) {
        const rows = Math.min(batch, count - from);
        x.fill(0);
        x.set(inputs.subarray(from * inputSize, (from + rows) * inputSize));
        session.setInput(x);
        session.forward();
        if (requant) requantizeI32ToI8(mcu.sram, session.logits, output, batch, k, requant);
        if (stage.softmax) softmaxI8(mcu.sram, int8Logits, output, batch, k, stage.softmax);
        const result = stage.softmax || requant ? output : session.logits;
        out.set(mcu.sram.i8(result).subarray(0, rows * k), from * k);
      }
      return out;
    },
  };
}
