// The graph of a model named on the command line: an architecture preset or a model file (.lmdl or
// .tflite, read bounded by the model loader). Kept apart from the CLI so the estimate command and
// the cost benchmarks share one reader.
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { readModelFile } from '../model/model-file.js';
import { architecturePreset, ARCHITECTURE_PRESETS } from '../model/presets.js';
import { resolveGraph, type ResolvedGraph } from '../model/graph.js';

export async function graphForModel(spec: string): Promise<{ graph: ResolvedGraph; weightBits?: 8 | 16 }> {
  if (ARCHITECTURE_PRESETS.includes(spec)) return { graph: resolveGraph(architecturePreset(spec)) };
  if (!existsSync(spec)) throw new ConfigError(`'${spec}' is neither an architecture preset (${ARCHITECTURE_PRESETS.join(', ')}) nor a readable model file`);
  // .lmdl or .tflite (an int8 .tflite imports as a quantized model with 8-bit weights).
  const { model } = await readModelFile(spec);
  const weightBits = model.kind === 'quantized' ? Object.values(model.params)[0]?.weightBits : undefined;
  return { graph: resolveGraph(model.architecture), weightBits: weightBits === 8 || weightBits === 16 ? weightBits : undefined };
}
