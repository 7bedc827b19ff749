// What the CLI commands do with .tflite files; src/cli/commands only parse options and print.
import { ConfigError } from '../errors.js';
import { saveModel, type Model } from '../model/model.js';
import { QuantizedSession } from '../runtime/session.js';
import { planMemory } from '../runtime/planner.js';
import { dequantizeModel } from '../train/adapt-int8.js';
import { parseInt8Tensor, parseLabels } from '../tflite/files.js';
import { readBounded } from '../io/bounded-read.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { checkOutputFile } from '../io/output-path.js';
import { readModelFile } from '../model/model-file.js';

import { importTflite } from '../tflite/import.js';
import { isTflite, readTflite, TFLITE_MAX_FILE_BYTES } from '../tflite/reader.js';
import { createInt8Runner } from '../runtime/int8-run.js';
import { tflmArena } from '../tflite/tflm-arena.js';
import { writeTflite } from '../tflite/writer.js';
import { requantizeModelTo8 } from '../tflite/requantize.js';
import { modelClassNames } from '../train/adapt-int8.js';

export async function importTfliteFile(o: { tflite: string; out: string; labels?: string; name?: string }): Promise<Model> {
  const bytes = await readBounded(o.tflite, { maxBytes: TFLITE_MAX_FILE_BYTES, what: '.tflite file' });
  const labels = o.labels === undefined ? undefined : await parseLabels(o.labels);
  const model = importTflite(bytes, o.tflite, { ...(labels ? { labels } : {}), ...(o.name ? { name: o.name } : {}) });
  const out = saveModel(model);
  checkOutputFile(o.out, '--out', out.length);
  writeFileAtomic(o.out, out, 'model');
  return model;
}

export interface TfliteExportSummary {
  bytes: number;
  kind: 'int8' | 'float';
  /** Layers whose 16-bit weights were re-quantized to int8, with the largest weight change in real units. */
  requantized: { layer: string; maxAbsChange: number }[];
}

/** Writes a model as .tflite: int8 for quantized models (16-bit weights re-quantized), float on request or for float models. */
export function exportTfliteFile(model: Model, out: string, o: { float?: boolean; dropSoftmax?: boolean } = {}): TfliteExportSummary {
  const asFloat = o.float || model.kind === 'float';
  const source = asFloat && model.kind === 'quantized' ? dequantizeModel(model) : model;
  const bytes = writeTflite(source, { dropSoftmax: o.dropSoftmax });
  const requantized: TfliteExportSummary['requantized'] = [];
  if (!asFloat && model.kind === 'quantized') {
    const q8 = requantizeModelTo8(model);
    for (const [name, p] of Object.entries(model.params)) {
      if (p.weightBits !== 16) continue;
      const p8 = q8.params[name]!;
      const channels = p.bias.length;
      const per = p.weights.length / channels;
      const sc = (s: Float32Array, i: number) => s[s.length === 1 ? 0 : Math.floor(i / per) % s.length]!;
      let max = 0;
      for (let i = 0; i < p.weights.length; i++) max = Math.max(max, Math.abs(p.weights[i]! * sc(p.weightScales, i) - p8.weights[i]! * sc(p8.weightScales, i)));
      requantized.push({ layer: name, maxAbsChange: max });
    }
  }
  checkOutputFile(out, '--out', bytes.length);
  writeFileAtomic(out, bytes, '.tflite file');
  return { bytes: bytes.length, kind: asFloat ? 'float' : 'int8', requantized };
}

export interface RunResult {
  outputs: number[][];
  argmax: number[];
  labels?: string[];
}

/** The MLPerf Tiny harness contract: raw int8 input tensor(s) in, raw int8 outputs out. */
export async function runInt8File(modelPath: string, inputPath: string): Promise<RunResult> {
  const { model } = await readModelFile(modelPath);
  if (model.kind !== 'quantized') throw new ConfigError(`${modelPath}: 'run' takes an int8 model; quantize this float model first (lastmile quantize)`);
  const input = parseInt8Tensor(await readBounded(inputPath, { maxBytes: 64 << 20, what: 'input tensor' }), inputPath);
  const runner = await createInt8Runner(model, { batch: 1 });
  if (input.length === 0 || input.length % runner.inputSize !== 0) throw new ConfigError(`${inputPath}: ${input.length} int8 values; the model takes ${runner.inputSize} per inference`);
  const flat = runner.run(input);
  const outputs: number[][] = [];
  for (let i = 0; i < flat.length; i += runner.outputSize) outputs.push(Array.from(flat.subarray(i, i + runner.outputSize)));
  const argmax = outputs.map((o) => o.reduce((b, v, i) => (v > o[b]! ? i : b), 0));
  const labels = modelClassNames(model);
  return { outputs, argmax, ...(labels && labels.length === runner.outputSize ? { labels } : {}) };
}

/** TFLM's greedy-planned tensor arena for a model file, next to lastmile's inference plan (batch 1). */
export async function tflmComparison(modelPath: string): Promise<{ tflmArena: number; lastmileInfer: number; lastmileActivations: number } | undefined> {
  if (!/\.(tflite|lmdl)$/i.test(modelPath)) return undefined;
  const file = await readModelFile(modelPath).catch(() => undefined);
  if (!file || file.model.kind !== 'quantized') return undefined;
  const model = file.model;
  const bytes = isTflite(file.bytes) ? file.bytes : writeTflite(model);
  const arena = tflmArena(readTflite(bytes, modelPath));
  const plan = QuantizedSession.plan(model, { batch: 1 });
  // The same lifetimes planned without kernel scratch: the part comparable to TFLM's tensor arena.
  const tensors = plan.sram.buffers.filter((b) => plan.sramCategory[b.name] === 'activations' || plan.sramCategory[b.name] === 'io');
  const activations = planMemory(tensors.map((b) => ({ name: b.name, bytes: b.bytes, firstUse: b.firstUse, lastUse: b.lastUse })), { alignment: 16 }).peakBytes;
  return { tflmArena: arena.bytes, lastmileInfer: plan.sramBytes, lastmileActivations: activations };
}
