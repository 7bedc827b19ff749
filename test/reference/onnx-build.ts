// ONNX models of single quantized layers, built in memory with onnx-proto, so an outside runtime
// (onnxruntime-node in tests, onnxruntime-web in the kernel benchmark) can run exactly the layer
// our kernels compute. Callers pass lastmile's layouts (activations NHWC or [M][K], weights
// [N][K] / OHWI / [kH][kW][C·m]); the builders transpose weights into ONNX's layouts, and the
// layout helpers below convert activations, which ONNX wants in NCHW.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type INodeProto = onnxProto.onnx.INodeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** QLinear ops exist since opset 10; 13 is the oldest opset every ORT build still optimises fully. */
export const OPSET = 13;
const IR_VERSION = 8;

export type QuantElem = 'int8' | 'uint8';

/** A quantized tensor's element type and affine parameters: real = scale · (q − zeroPoint). */
export interface QuantParams {
  type: QuantElem;
  scale: number;
  zeroPoint: number;
}

const ELEM_TYPE: Record<QuantElem, number> = {
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
};

function rawBytes(a: Int8Array | Uint8Array | Int32Array): Uint8Array {
  // ONNX raw_data is little-endian, as are typed arrays on every platform Node supports.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function quantTensor(name: string, type: QuantElem, dims: number[], values: ArrayLike<number>): ITensorProto {
  const data = type === 'int8' ? Int8Array.from(values) : Uint8Array.from(values);
  return { name, dataType: ELEM_TYPE[type], dims, rawData: rawBytes(data) };
}

function floatTensor(name: string, dims: number[], values: ArrayLike<number>): ITensorProto {
  return { name, dataType: onnx.TensorProto.DataType.FLOAT, dims, floatData: Array.from(values) };
}

function int32Tensor(name: string, values: Int32Array): ITensorProto {
  return { name, dataType: onnx.TensorProto.DataType.INT32, dims: [values.length], rawData: rawBytes(values) };
}

function valueInfo(name: string, type: QuantElem, dims: number[]): IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: ELEM_TYPE[type], shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

function intsAttr(name: string, ints: number[]) {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

function intAttr(name: string, i: number) {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

function encodeModel(node: INodeProto, initializer: ITensorProto[], input: IValueInfoProto, output: IValueInfoProto): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'lastmile-test',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: { name: String(node.opType), node: [node], initializer, input: [input], output: [output] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The zero point that describes the same real values after an int8 ↔ uint8 shift by 128. */
export function shiftedZeroPoint(zeroPoint: number, to: QuantElem): number {
  return to === 'uint8' ? zeroPoint + 128 : zeroPoint;
}

/** Values of an int8 tensor re-expressed as uint8 (x + 128), for runtimes whose fast path is u8. */
export function int8ToUint8(x: Int8Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! + 128;
  return out;
}

export interface QLinearMatMulSpec {
  m: number;
  k: number;
  n: number;
  input: QuantParams;
  /** int8 weights in lastmile's [N][K] layout, zero point 0 (symmetric). */
  weights: Int8Array;
  weightScale: number;
  output: QuantParams;
}

/** Y[M][N] = requant(A[M][K] · Bᵀ), input 'x', output 'y'. ONNX's B is [K][N], so B = weightsᵀ. */
export function buildQLinearMatMul(s: QLinearMatMulSpec): Uint8Array {
  if (s.weights.length !== s.n * s.k) throw new Error(`weights hold ${s.weights.length} values, [N][K] needs ${s.n * s.k}`);
  const b = new Int8Array(s.k * s.n);
  for (let n = 0; n < s.n; n++) for (let k = 0; k < s.k; k++) b[k * s.n + n] = s.weights[n * s.k + k]!;
  const initializer = [
    floatTensor('x_scale', [], [s.input.scale]),
    quantTensor('x_zero_point', s.input.type, [], [s.input.zeroPoint]),
    { name: 'w', dataType: ELEM_TYPE.int8, dims: [s.k, s.n], rawData: rawBytes(b) },
    floatTensor('w_scale', [], [s.weightScale]),
    quantTensor('w_zero_point', 'int8', [], [0]),
    floatTensor('y_scale', [], [s.output.scale]),
    quantTensor('y_zero_point', s.output.type, [], [s.output.zeroPoint]),
  ];
  const node: INodeProto = {
    opType: 'QLinearMatMul',
    input: ['x', 'x_scale', 'x_zero_point', 'w', 'w_scale', 'w_zero_point', 'y_scale', 'y_zero_point'],
    output: ['y'],
  };
  return encodeModel(node, initializer, valueInfo('x', s.input.type, [s.m, s.k]), valueInfo('y', s.output.type, [s.m, s.n]));
}

export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  /** For depthwise: inChannels · depthMultiplier. */
  outChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: 'same' | 'valid';
  /** Depthwise = ONNX grouped conv with group = inChannels. */
  depthwise: boolean;
}

export interface Padding1D {
  out: number;
  before: number;
  after: number;
}

/** TFLite's padding rule: 'same' gives ceil(in/stride) outputs, the odd pad pixel goes after. */
export function tflitePadding(size: number, kernel: number, stride: number, padding: 'same' | 'valid'): Padding1D {
  if (padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

export function convOutputShape(g: ConvGeometry): { height: number; width: number } {
  return {
    height: tflitePadding(g.inHeight, g.kernelHeight, g.strideHeight, g.padding).out,
    width: tflitePadding(g.inWidth, g.kernelWidth, g.strideWidth, g.padding).out,
  };
}

/** Multiply-accumulates one call of the layer performs. */
export function convMacs(g: ConvGeometry): number {
  const { height, width } = convOutputShape(g);
  const perOutput = g.kernelHeight * g.kernelWidth * (g.depthwise ? 1 : g.inChannels);
  return g.batch * height * width * g.outChannels * perOutput;
}

/** lastmile conv weights OHWI (or depthwise [kH][kW][C·m]) → ONNX OIHW (depthwise: I = 1). */
export function convWeightsToOihw(g: ConvGeometry, weights: Int8Array): Int8Array {
  const { outChannels: O, kernelHeight: H, kernelWidth: W } = g;
  const I = g.depthwise ? 1 : g.inChannels;
  if (weights.length !== O * H * W * I) throw new Error(`weights hold ${weights.length} values, the layer needs ${O * H * W * I}`);
  const out = new Int8Array(weights.length);
  for (let o = 0; o < O; o++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let i = 0; i < I; i++) {
          const src = g.depthwise ? (h * W + w) * O + o : ((o * H + h) * W + w) * I + i;
          out[((o * I + i) * H + h) * W + w] = weights[src]!;
        }
      }
    }
  }
  return out;
}

export interface QLinearConvSpec {
  geometry: ConvGeometry;
  input: QuantParams;
  /** int8, lastmile layout (OHWI, or [kH][kW][C·m] when depthwise), zero point 0. */
  weights: Int8Array;
  /** One scale (per tensor) or one per output channel. */
  weightScales: ArrayLike<number>;
  /** int32 at scale inputScale · weightScale[o], or null. */
  bias: Int32Array | null;
  output: QuantParams;
}

/** One QLinearConv node, input 'x' NCHW, output 'y' NCHW, explicit TFLite-style pads. */
export function buildQLinearConv(s: QLinearConvSpec): Uint8Array {
  const g = s.geometry;
  const perChannel = s.weightScales.length > 1;
  if (perChannel && s.weightScales.length !== g.outChannels) {
    throw new Error(`${s.weightScales.length} weight scales for ${g.outChannels} output channels`);
  }
  if (g.depthwise && g.outChannels % g.inChannels !== 0) {
    throw new Error(`depthwise output channels ${g.outChannels} are not a multiple of ${g.inChannels} input channels`);
  }
  const ph = tflitePadding(g.inHeight, g.kernelHeight, g.strideHeight, g.padding);
  const pw = tflitePadding(g.inWidth, g.kernelWidth, g.strideWidth, g.padding);
  const scaleDims = perChannel ? [g.outChannels] : [];
  const initializer = [
    floatTensor('x_scale', [], [s.input.scale]),
    quantTensor('x_zero_point', s.input.type, [], [s.input.zeroPoint]),
    {
      name: 'w',
      dataType: ELEM_TYPE.int8,
      dims: [g.outChannels, g.depthwise ? 1 : g.inChannels, g.kernelHeight, g.kernelWidth],
      rawData: rawBytes(convWeightsToOihw(g, s.weights)),
    },
    floatTensor('w_scale', scaleDims, s.weightScales),
    quantTensor('w_zero_point', 'int8', scaleDims, new Array<number>(s.weightScales.length).fill(0)),
    floatTensor('y_scale', [], [s.output.scale]),
    quantTensor('y_zero_point', s.output.type, [], [s.output.zeroPoint]),
  ];
  const inputs = ['x', 'x_scale', 'x_zero_point', 'w', 'w_scale', 'w_zero_point', 'y_scale', 'y_zero_point'];
  if (s.bias) {
    if (s.bias.length !== g.outChannels) throw new Error(`${s.bias.length} bias values for ${g.outChannels} output channels`);
    initializer.push(int32Tensor('b', s.bias));
    inputs.push('b');
  }
  const node: INodeProto = {
    opType: 'QLinearConv',
    input: inputs,
    output: ['y'],
    attribute: [
      intsAttr('kernel_shape', [g.kernelHeight, g.kernelWidth]),
      intsAttr('strides', [g.strideHeight, g.strideWidth]),
      intsAttr('pads', [ph.before, pw.before, ph.after, pw.after]),
      intsAttr('dilations', [1, 1]),
      intAttr('group', g.depthwise ? g.inChannels : 1),
    ],
  };
  return encodeModel(
    node,
    initializer,
    valueInfo('x', s.input.type, [g.batch, g.inChannels, g.inHeight, g.inWidth]),
    valueInfo('y', s.output.type, [g.batch, g.outChannels, ph.out, pw.out]),
  );
}

/** NHWC → NCHW (works for any 1-byte element array). */
export function nhwcToNchw<T extends Int8Array | Uint8Array>(x: T, n: number, h: number, w: number, c: number): T {
  const out = new (x.constructor as { new (len: number): T })(x.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
      out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch]!;
    }
  }
  return out;
}

/** NCHW → NHWC. */
export function nchwToNhwc<T extends Int8Array | Uint8Array>(x: T, n: number, c: number, h: number, w: number): T {
  const out = new (x.constructor as { new (len: number): T })(x.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) {
      out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx]!;
    }
  }
  return out;
}
