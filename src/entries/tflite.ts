// `lastmile-qzo/tflite`: TensorFlow Lite flatbuffers in and out — read and validate a .tflite,
// convert it to a lastmile model (int8 kept exactly, float quantized by our PTQ), lift int8 weights
// onto the 16-bit grid for QZO-FF, re-quantize to int8 and write a .tflite back. Browser-safe.
export { readTflite, isTflite, TFLITE_MAX_FILE_BYTES, type TfliteFile, type TfliteTensor, type TfliteOperator } from '../tflite/reader.js';
export { importTflite, convertTflite, type ImportOptions as TfliteImportOptions, type TfliteMeta } from '../tflite/import.js';
export { writeTflite, type WriteOptions as TfliteWriteOptions } from '../tflite/writer.js';
export { liftModelTo16, requantizeModelTo8 } from '../tflite/requantize.js';
