// Loaded weights must be finite: a NaN in a file with a valid checksum would otherwise give
// "accuracy 20%" with undefined predictions, a NaN ONNX export, or a calibration error that blames
// the data. Pure (no Node imports), so the model loader can call it in the browser too.
import { FormatError } from '../errors.js';

type Floats = Float32Array | Float64Array;

/** The first non-finite value's index, or -1. */
function firstNonFinite(a: Floats): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/** Throw a FormatError naming the tensor and the element if any float value is NaN or ±Infinity. */
export function requireFinite(tensors: Iterable<[string, unknown]>, what: string): void {
  for (const [name, t] of tensors) {
    if (!(t instanceof Float32Array || t instanceof Float64Array)) continue;
    const i = firstNonFinite(t);
    if (i >= 0) throw new FormatError(`${what}: tensor '${name}' holds ${t[i]} at element ${i}; the weights are damaged — retrain or restore the file`);
  }
}
