// The graph of a model named on the command line: an architecture preset or a model file. Kept
// apart from the CLI so the estimate, memory and profile commands share one reader.
import { readFile } from 'node:fs/promises';
import { ConfigError, UnsupportedError } from '../errors.js';
import { loadModel } from '../model/model.js';
import { architecturePreset, ARCHITECTURE_PRESETS } from '../model/presets.js';
import { resolveGraph, type ResolvedGraph } from '../model/graph.js';

/** Model files are read whole; anything this big is not an MCU model. */
const MAX_MODEL_BYTES = 64 * 1024 * 1024;

export async function graphForModel(spec: string): Promise<{ graph: ResolvedGraph; weightBits?: 8 | 16 }> {
  if (ARCHITECTURE_PRESETS.includes(spec)) return { graph: resolveGraph(architecturePreset(spec)) };
  if (spec.toLowerCase().endsWith('.tflite')) {
    throw new UnsupportedError(`'${spec}': .tflite import is not available in this build; estimate its architecture preset (${ARCHITECTURE_PRESETS.join(', ')}) or an .lmdl file`);
  }
  const bytes = await readFile(spec).catch(() => {
    throw new ConfigError(`'${spec}' is neither an architecture preset (${ARCHITECTURE_PRESETS.join(', ')}) nor a readable model file`);
  });
  if (bytes.length > MAX_MODEL_BYTES) throw new ConfigError(`'${spec}' is ${bytes.length} bytes, more than the ${MAX_MODEL_BYTES} a model file may have`);
  const model = loadModel(new Uint8Array(bytes), spec);
  const weightBits = model.kind === 'quantized' ? Object.values(model.params)[0]?.weightBits : undefined;
  return { graph: resolveGraph(model.architecture), weightBits: weightBits === 8 || weightBits === 16 ? weightBits : undefined };
}
