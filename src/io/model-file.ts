// Reading a model file a user names (Node only): bounded, regular files only, then decoded and
// checked (including finite weights) by loadModel.
import { loadModel, type Model } from '../model/model.js';
import { readBounded } from './bounded-read.js';

/** The largest model file accepted; the biggest preset (resnet8, f32) is well under 1 MiB. */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;

export async function readModelFile(path: string, what = 'model'): Promise<{ model: Model; bytes: Uint8Array }> {
  const bytes = await readBounded(path, { maxBytes: MAX_MODEL_BYTES, what });
  return { model: loadModel(bytes, path), bytes };
}
