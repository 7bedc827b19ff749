// Graph rewrites the importer applies before reading an ONNX graph, so that two common shapes of
// otherwise-float models import as the float model they describe:
//
// QDQ graphs (exportOnnx() of a quantized model, onnxruntime's static quantizer). A
// DequantizeLinear of an integer initializer becomes that initializer's float value, computed as
// ONNX defines it — (q − zero_point) · scale in float32, per tensor or per channel on `axis` — so
// the imported weights are exactly the weights the QDQ graph computes with. A QuantizeLinear →
// DequantizeLinear pair on an activation becomes an identity: the import is the float model, and
// quantizing it again (quantizeModel) is the caller's choice. The activation rounding the pair
// models is what the round trip does not keep (docs/ONNX.md gives the measured difference).
//
// A trailing Softmax (tf2onnx and many Keras/PyTorch classifiers end in one). lastmile models end
// in logits — the training losses apply their own softmax — so a Softmax whose output is the
// graph output (directly or through Identity/QDQ) is dropped: the imported model outputs the
// logits it was fed, with the same top-1. The result's meta records `droppedSoftmax: true`.
import { FormatError } from '../errors.js';
import {
  Attributes, DataType, dataTypeName, readFloatTensor, tensorDims,
  type GraphProto, type NodeProto, type TensorProto,
} from '../model/onnx-proto.js';

export interface RewrittenGraph {
  graph: GraphProto;
  /** A trailing Softmax was removed: the graph output is now its input (logits). */
  droppedSoftmax: boolean;
  /** The graph held QuantizeLinear/DequantizeLinear nodes that were folded away. */
  foldedQdq: boolean;
}

const INT_BYTES: Partial<Record<number, number>> = { [DataType.INT8]: 1, [DataType.UINT8]: 1, [DataType.INT16]: 2, [DataType.INT32]: 4 };

/** An INT8/UINT8/INT16/INT32 tensor's values (raw_data or int32_data), bounded like every other read. */
function readQuantized(t: TensorProto, what: string): { dims: number[]; data: Int32Array } {
  const bytes = INT_BYTES[t.dataType ?? -1];
  if (bytes === undefined) throw new FormatError(`${what}: DequantizeLinear of a ${dataTypeName(t.dataType)} tensor is not supported (int8, uint8, int16, int32)`);
  if ((t.externalData?.length ?? 0) > 0) throw new FormatError(`${what}: the tensor is stored in an external data file; save the model with all tensors inside the .onnx file`);
  const { dims, count } = tensorDims(t, what);
  const data = new Int32Array(count);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  if (raw) {
    if (raw.length !== count * bytes) throw new FormatError(`${what}: raw_data holds ${raw.length} bytes, [${dims.join(', ')}] ${dataTypeName(t.dataType)} needs ${count * bytes}`);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) {
      data[i] = t.dataType === DataType.INT8 ? dv.getInt8(i) : t.dataType === DataType.UINT8 ? dv.getUint8(i) : t.dataType === DataType.INT16 ? dv.getInt16(i * 2, true) : dv.getInt32(i * 4, true);
    }
  } else {
    // Small integer types live in int32_data when raw_data is not used.
    const values = t.int32Data ?? [];
    if (values.length !== count) throw new FormatError(`${what}: int32_data holds ${values.length} values, [${dims.join(', ')}] needs ${count}`);
    data.set(values);
  }
  return { dims, data };
}

/** float32((q − zero_point) · scale), per tensor or per slice of `axis`, as ONNX's DequantizeLinear. */
function dequantize(n: NodeProto, constants: ReadonlyMap<string, TensorProto>, where: string): TensorProto {
  const [x, s, z] = (n.input ?? []).map(String);
  const q = readQuantized(constants.get(x!)!, `${where} input '${x}'`);
  const scaleT = s ? constants.get(s) : undefined;
  if (!scaleT) throw new FormatError(`${where}: the scale '${s ?? ''}' must be an initializer`);
  const scale = readFloatTensor(scaleT, `${where} scale '${s}'`).data;
  const zeroT = z ? constants.get(z) : undefined;
  if (z && !zeroT) throw new FormatError(`${where}: the zero point '${z}' must be an initializer`);
  const zero = zeroT ? readQuantized(zeroT, `${where} zero point '${z}'`).data : new Int32Array(scale.length);
  if (zero.length !== scale.length) throw new FormatError(`${where}: ${scale.length} scales but ${zero.length} zero points`);
  const rank = q.dims.length;
  let axis = new Attributes(n, where).int('axis', 1);
  if (axis < 0) axis += rank;
  let inner = 1;
  let channels = 1;
  if (scale.length !== 1) {
    if (axis < 0 || axis >= rank || q.dims[axis] !== scale.length) throw new FormatError(`${where}: ${scale.length} scales do not match axis ${axis} of [${q.dims.join(', ')}]`);
    channels = scale.length;
    inner = q.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  }
  const out = new Float32Array(q.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = Math.fround(q.data[i]! - zero[c]!) * scale[c]!;
  }
  return { name: n.output?.[0] ?? '', dataType: DataType.FLOAT, dims: q.dims, floatData: Array.from(out) };
}

/** Fold QDQ pairs and a trailing Softmax out of a graph (see the file comment). The input is not modified. */
export function rewriteForImport(graph: GraphProto, what: string): RewrittenGraph {
  const nodes = graph.node ?? [];
  const hasQdq = nodes.some((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear');
  const hasSoftmax = nodes.some((n) => n.opType === 'Softmax');
  if (!hasQdq && !hasSoftmax) return { graph, droppedSoftmax: false, foldedQdq: false };

  const constants = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) if (typeof t.name === 'string') constants.set(t.name, t);
  const initializers: TensorProto[] = [...(graph.initializer ?? [])];
  let rewritten: NodeProto[] = [];
  nodes.forEach((n, index) => {
    const where = `${what}: node '${n.name || n.output?.[0] || `#${index}`}' (${n.opType})`;
    const isStd = !n.domain || n.domain === 'ai.onnx';
    if (isStd && n.opType === 'DequantizeLinear' && constants.has(String(n.input?.[0] ?? ''))) {
      const t = dequantize(n, constants, where);
      constants.set(String(t.name), t);
      initializers.push(t);
      return;
    }
    if (isStd && (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear')) {
      // An activation's quantize/dequantize: the float model carries the value through unchanged.
      rewritten.push({ opType: 'Identity', name: n.name, input: [String(n.input?.[0] ?? '')], output: [String(n.output?.[0] ?? '')] });
      return;
    }
    rewritten.push(n);
  });

  // A trailing Softmax: walk back from the graph output through Identity nodes.
  let droppedSoftmax = false;
  const outputName = String(graph.output?.[0]?.name ?? '');
  const producer = (t: string) => rewritten.find((n) => n.output?.[0] === t);
  let tensor = outputName;
  let p = producer(tensor);
  const chain: NodeProto[] = [];
  while (p && p.opType === 'Identity') {
    chain.push(p);
    tensor = String(p.input?.[0] ?? '');
    p = producer(tensor);
  }
  const readers = (t: string) => rewritten.filter((n) => (n.input ?? []).includes(t)).length;
  if (p && p.opType === 'Softmax' && (!p.domain || p.domain === 'ai.onnx') && chain.every((c) => readers(String(c.input?.[0])) === 1) && readers(tensor) === (chain.length > 0 ? 1 : 0)) {
    const where = `${what}: node '${p.name || tensor}' (Softmax)`;
    const axis = new Attributes(p, where).int('axis', -1);
    // Over [N, classes] both axis 1 and -1 are the class axis; the importer checks the rank.
    if (axis !== 1 && axis !== -1) throw new FormatError(`${where}: Softmax over axis ${axis} is not supported; only over the classes of an [N, classes] output`);
    const logits = String(p.input?.[0] ?? '');
    const drop = new Set<NodeProto>([p, ...chain]);
    rewritten = rewritten.filter((n) => !drop.has(n));
    rewritten.push({ opType: 'Identity', name: `${p.name ?? 'softmax'}/dropped`, input: [logits], output: [outputName] });
    droppedSoftmax = true;
  }
  return { graph: { ...graph, node: rewritten, initializer: initializers }, droppedSoftmax, foldedQdq: hasQdq };
}
