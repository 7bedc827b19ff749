// `lastmile-qzo/onnx`: ONNX export (float, or QDQ for a quantized model) and import. Needs the
// optional package onnx-proto; without it, importing this entry throws MissingPackageError.
export { exportOnnx, onnxOpsetFor, ONNX_INPUT, ONNX_OUTPUT, ONNX_OPSET, ONNX_OPSET_INT16 } from '../onnx/export.js';
export { importOnnx, ONNX_IMPORT_OPS, type OnnxImportOptions } from '../onnx/import.js';
