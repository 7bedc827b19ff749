// A front end that turns raw sensor data into the model's input on the device, planned with the
// session's other SRAM buffers. The keyword-spotting MFCC (kernels/mfcc.ts) reads a 1 s int16 clip
// and writes the 49 × 10 int8 features straight into the input row of the micro-batch it belongs
// to, with its scratch beside it. Both buffers are live only while the input is staged (op 0), so
// the planner may overlay them on activations of later ops; the features are the io:input row.
import { ConfigError, ShapeError } from '../errors.js';
import type { DeviceBuffer } from '../device/arena.js';
import type { QuantizedModel } from '../model/model.js';
import { elementCount, resolveGraph } from '../model/graph.js';
import { KWS_FEATURES, KWS_SAMPLES, MFCC_SCRATCH_BYTES, mfccKws } from '../kernels/mfcc.js';
import type { QuantizedSession } from './session.js';

export interface FrontEndSpec {
  kind: 'kws-mfcc';
}

export const FRONT_END_KINDS = ['kws-mfcc'] as const;

export interface FrontEndBuffers {
  spec: FrontEndSpec;
  clip: DeviceBuffer;
  scratch: DeviceBuffer;
}

/** The front end's SRAM buffers (besides the features, which are the input row), checked against the model. */
export function frontEndRequests(spec: FrontEndSpec, model: QuantizedModel): { name: string; bytes: number }[] {
  if (spec.kind !== 'kws-mfcc') throw new ConfigError(`unknown front end '${String(spec.kind)}'; known: ${FRONT_END_KINDS.join(', ')}`);
  const shape = resolveGraph(model.architecture).inputShape;
  if (elementCount(shape) !== KWS_FEATURES) throw new ShapeError(`the kws-mfcc front end writes ${KWS_FEATURES} features (49 × 10); model '${model.architecture.name}' takes [${shape.join(', ')}]`);
  return [{ name: 'frontend:clip', bytes: KWS_SAMPLES * 2 }, { name: 'frontend:scratch', bytes: MFCC_SCRATCH_BYTES }];
}

/** Bytes the front end adds while it runs: clip, scratch and one sample's features. */
export function frontEndSramBytes(spec: FrontEndSpec): number {
  if (spec.kind !== 'kws-mfcc') throw new ConfigError(`unknown front end '${String(spec.kind)}'`);
  return KWS_SAMPLES * 2 + MFCC_SCRATCH_BYTES + KWS_FEATURES;
}

/**
 * Runs the front end on the device for one clip: the clip is written into its planned buffer (as a
 * DMA from the microphone would) and the features land in input row `row` of the next forward.
 */
export function runFrontEnd(session: QuantizedSession, row: number, clip: Int16Array): void {
  const fe = session.frontEnd;
  if (!fe) throw new ConfigError('this session was planned without a front end: pass frontEnd: { kind: "kws-mfcc" } in its options');
  if (!Number.isInteger(row) || row < 0 || row >= session.batch) throw new ShapeError(`front end row must be an integer in [0, ${session.batch - 1}], got ${row}`);
  if (clip.length !== KWS_SAMPLES) throw new ShapeError(`the kws-mfcc front end needs exactly ${KWS_SAMPLES} samples (1 s at 16 kHz), got ${clip.length}`);
  const arena = session.mcu.sram;
  session.mcu.device.bytes.set(new Uint8Array(clip.buffer, clip.byteOffset, clip.byteLength), fe.clip.offset);
  const q = session.model.activations[resolveGraph(session.model.architecture).nodes[0]!.node.name]!;
  const out = arena.sub(session.input, row * KWS_FEATURES, KWS_FEATURES, `frontend:features[${row}]`);
  mfccKws(arena, fe.clip, out, fe.scratch, { scale: q.scale, zeroPoint: q.zeroPoint });
}
