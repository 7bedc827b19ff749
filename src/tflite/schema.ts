// The parts of TensorFlow Lite's FlatBuffer schema (tensorflow/lite/schema/schema.fbs, schema
// version 3, file identifier "TFL3"; field slots as of the 3c revision) that lastmile reads and
// writes. Only the numbers are here; the reading and writing code is ours (reader.ts, writer.ts).

export const TFLITE_SCHEMA_VERSION = 3;
export const TFLITE_FILE_IDENTIFIER = 'TFL3';

/** BuiltinOperator codes lastmile knows by name (the rest are reported by number). */
export const BuiltinOp = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  PAD: 34,
  MEAN: 40,
  SQUEEZE: 43,
  QUANTIZE: 114,
} as const;
export type BuiltinOpName = keyof typeof BuiltinOp;

export function builtinOpName(code: number): string {
  for (const [name, c] of Object.entries(BuiltinOp)) if (c === code) return name;
  return `builtin #${code}`;
}

/** TensorType values. */
export const TensorType = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4, INT16: 7, INT8: 9 } as const;
export const TENSOR_TYPE_BYTES: Record<number, number> = { 0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 7: 2, 9: 1 };
export function tensorTypeName(t: number): string {
  for (const [name, c] of Object.entries(TensorType)) if (c === t) return name;
  return `type #${t}`;
}

/** BuiltinOptions union tags. */
export const OptionsType = {
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  AddOptions: 11,
  ReshapeOptions: 17,
} as const;

/** Padding enum. */
export const PaddingCode = { SAME: 0, VALID: 1 } as const;
/** ActivationFunctionType enum. */
export const ActivationCode = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4, SIGN_BIT: 5 } as const;

/** Field slots (declaration order, a union counting two: its type tag then its value). */
export const Slot = {
  Model: { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4, metadataBuffer: 5, metadata: 6, signatureDefs: 7 },
  OperatorCode: { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 },
  SubGraph: { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 },
  Operator: { opcodeIndex: 0, inputs: 1, outputs: 2, builtinOptionsType: 3, builtinOptions: 4, customOptions: 5, customOptionsFormat: 6, mutatingVariableInputs: 7, intermediates: 8 },
  Tensor: { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, isVariable: 5, sparsity: 6, shapeSignature: 7, hasRank: 8 },
  Quantization: { min: 0, max: 1, scale: 2, zeroPoint: 3, detailsType: 4, details: 5, quantizedDimension: 6 },
  Buffer: { data: 0, offset: 1, size: 2 },
  Conv2DOptions: { padding: 0, strideW: 1, strideH: 2, activation: 3, dilationW: 4, dilationH: 5 },
  DepthwiseConv2DOptions: { padding: 0, strideW: 1, strideH: 2, depthMultiplier: 3, activation: 4, dilationW: 5, dilationH: 6 },
  Pool2DOptions: { padding: 0, strideW: 1, strideH: 2, filterW: 3, filterH: 4, activation: 5 },
  FullyConnectedOptions: { activation: 0, weightsFormat: 1, keepNumDims: 2 },
  SoftmaxOptions: { beta: 0 },
  AddOptions: { activation: 0 },
  ReshapeOptions: { newShape: 0 },
} as const;
