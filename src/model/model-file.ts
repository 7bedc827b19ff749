// Reading a model file a user names (Node only): bounded, regular files only, then decoded and
// checked (including finite weights). One function for every command that takes --model: a
// TensorFlow Lite flatbuffer (by extension or file identifier) is imported on the fly, anything
// else is read as a lastmile model.
import { loadModel, type Model } from './model.js';
import { importTflite, type ImportOptions } from '../tflite/import.js';
import { isTflite } from '../tflite/reader.js';
import { readBounded } from '../io/bounded-read.js';

/** The largest model file accepted; the biggest preset (resnet8, f32) is well under 1 MiB. */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;

export async function readModelFile(path: string, what = 'model', tflite: ImportOptions = {}): Promise<{ model: Model; bytes: Uint8Array }> {
  const bytes = await readBounded(path, { maxBytes: MAX_MODEL_BYTES, what });
  const model = path.toLowerCase().endsWith('.tflite') || isTflite(bytes) ? importTflite(bytes, path, tflite) : loadModel(bytes, path);
  return { model, bytes };
}
