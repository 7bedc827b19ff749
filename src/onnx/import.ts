// ONNX import of float models built from lastmile's layer set — what PyTorch's and Keras's
// (tf2onnx) exporters produce for such networks, and what exportOnnx() writes.
//
// ONNX graphs are NCHW with OIHW weights; ours are NHWC with OHWI weights, so the importer tracks
// how each ONNX tensor is laid out relative to the lastmile node that holds its data:
//   nchw / nhwc   a 4-D view of a spatial node (Transpose switches between them)
//   flat          a 2-D view whose element order is ours (a flat node, or an NHWC flatten)
//   flat-chw      a 2-D CHW-order flatten of a spatial node (PyTorch's Flatten after a conv):
//                 a dense layer reading it gets its weight columns permuted to NHWC order
//   nc11          GlobalAveragePool's [N, C, 1, 1] view of our flat [C] result
// Relu/Clip fold into the layer that produced their input — also through MaxPool, Flatten,
// Transpose and Identity, which commute with a monotone activation — and constant Adds and
// BatchNormalization fold into the preceding layer's bias/weights, as TFLite converters do.
// Anything lastmile's device cannot compute exactly is a FormatError that names the node.
import { FormatError, LastmileError } from '../errors.js';
import { convOutputSize, elementCount, padBefore, resolveGraph, type Architecture } from '../model/graph.js';
import type { Activation, ModelNode, Padding } from '../model/layers.js';
import type { FloatModel, FloatParams } from '../model/model.js';
import { denseColumnsFromChw, depthwiseFromOnnx, oihwToOhwi, PADDING_METADATA } from './export.js';
import { decodeModelProto } from '../model/onnx-codec.js';
import {
  Attributes, dataTypeName, DataType, int64, readFloatTensor, readIntTensor,
  type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from '../model/onnx-proto.js';
import { fusesActivation, hasParamLayout, isGraphInput, outputChannelIsLastAxis } from '../ops/registry.js';
import { rewriteForImport } from './import-rewrite.js';

export interface OnnxImportOptions {
  /** Architecture name (default: the ONNX graph's name). */
  name?: string;
}

/** ONNX operators the importer understands (default domain). */
export const ONNX_IMPORT_OPS = [
  'Conv', 'Relu', 'Clip', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Reshape', 'Gemm', 'MatMul', 'Add',
  'BatchNormalization', 'Transpose', 'Identity', 'Dropout', 'Constant',
  // Folded before import (src/onnx/import-rewrite.ts): QDQ pairs, and a Softmax ending the graph.
  'QuantizeLinear', 'DequantizeLinear', 'Softmax',
] as const;

const MAX_NODES = 10_000;
const MAX_DIM = 1 << 20;

type View = 'nchw' | 'nhwc' | 'flat' | 'flat-chw' | 'nc11';

/** An activation tensor of the ONNX graph, described by the lastmile node holding its data. */
interface Value {
  /** lastmile node whose output holds the data. */
  source: string;
  view: View;
  /** True when this tensor is the direct output of `source` (bias/BatchNorm/activation can fold). */
  direct: boolean;
  /** The tensor this one is a MaxPool/Flatten/Transpose/Identity of: a Relu after it may fold through. */
  through?: string;
}

class Importer {
  private readonly nodes: ModelNode[] = [];
  private readonly shapes = new Map<string, number[]>();
  private readonly params: Record<string, FloatParams> = {};
  private readonly values = new Map<string, Value>();
  private readonly constants = new Map<string, TensorProto>();
  private readonly uses = new Map<string, number>();
  private readonly flattenOf = new Map<string, string>();
  private readonly nodeNames = new Set<string>();

  constructor(
    private readonly what: string,
    private readonly opset: number,
    private readonly paddingHints: ReadonlyMap<string, Padding>,
  ) {}

  // ---- bookkeeping ----

  private unique(base: string): string {
    const clean = base.length > 0 ? base : 'node';
    let name = clean;
    for (let k = 2; this.nodeNames.has(name); k++) name = `${clean}_${k}`;
    this.nodeNames.add(name);
    return name;
  }

  private addNode(node: ModelNode, shape: number[], params?: FloatParams): string {
    this.nodes.push(node);
    this.shapes.set(node.name, shape);
    if (params) this.params[node.name] = params;
    return node.name;
  }

  private nodeByName(name: string): ModelNode {
    return this.nodes.find((n) => n.name === name)!;
  }

  private setValue(tensor: string, value: Value, where: string): void {
    if (tensor.length === 0) throw new FormatError(`${this.what}: ${where} has an output with no name`);
    if (this.values.has(tensor) || this.constants.has(tensor)) throw new FormatError(`${this.what}: tensor '${tensor}' is produced twice (${where}); ONNX graphs assign each tensor once`);
    this.values.set(tensor, value);
  }

  private value(tensor: string | undefined, where: string): Value {
    if (tensor === undefined || tensor === '') throw new FormatError(`${this.what}: ${where} is missing a required input`);
    const v = this.values.get(tensor);
    if (v) return v;
    if (this.constants.has(tensor)) throw new FormatError(`${this.what}: ${where} reads constant '${tensor}' where lastmile needs an activation; constant folding of data inputs is not supported`);
    throw new FormatError(`${this.what}: ${where} reads '${tensor}', which no earlier node produces (the graph is not topologically sorted or is incomplete)`);
  }

  private constant(tensor: string | undefined, where: string, role: string): TensorProto {
    if (tensor === undefined || tensor === '') throw new FormatError(`${this.what}: ${where} has no ${role}`);
    const c = this.constants.get(tensor);
    if (c) return c;
    if (this.values.has(tensor)) throw new FormatError(`${this.what}: ${where}: the ${role} '${tensor}' is computed at run time; lastmile needs it as an initializer`);
    throw new FormatError(`${this.what}: ${where} reads '${tensor}', which is neither an initializer nor produced by an earlier node`);
  }

  private floats(tensor: string | undefined, where: string, role: string): { dims: number[]; data: Float32Array } {
    return readFloatTensor(this.constant(tensor, where, role), `${this.what}: ${where} ${role} '${tensor}'`);
  }

  private spatialShape(v: Value, where: string, op: string): [number, number, number] {
    if (v.view !== 'nchw') {
      const found = v.view === 'nhwc' ? 'an NHWC tensor (add a Transpose to NCHW)' : v.view === 'nc11' ? 'a GlobalAveragePool result' : 'a flattened tensor';
      throw new FormatError(`${this.what}: ${where}: ${op} needs an NCHW feature map, found ${found}`);
    }
    return this.shapes.get(v.source)! as [number, number, number];
  }

  /** Features of a 2-D view, or FormatError for 4-D views (Gemm/MatMul need [N, K]). */
  private flatFeatures(v: Value, where: string, op: string): number {
    if (v.view !== 'flat' && v.view !== 'flat-chw') throw new FormatError(`${this.what}: ${where}: ${op} needs a 2-D [batch, features] input; add a Flatten before it`);
    return elementCount(this.shapes.get(v.source)!);
  }

  /** A lastmile node whose output has exactly this tensor's values in this tensor's order. */
  private materialize(v: Value, where: string): string {
    const shape = this.shapes.get(v.source)!;
    if (v.view === 'nchw' || v.view === 'nhwc' || v.view === 'nc11' || shape.length === 1) return v.source;
    if (v.view === 'flat-chw' && shape[0]! * shape[1]! > 1) {
      throw new FormatError(`${this.what}: ${where}: a CHW-order Flatten of a ${shape[0]}×${shape[1]}×${shape[2]} feature map may only feed Gemm/MatMul (lastmile flattens in NHWC order); transpose to NHWC before flattening`);
    }
    let flat = this.flattenOf.get(v.source);
    if (!flat) {
      flat = this.addNode({ kind: 'flatten', name: this.unique(`${v.source}/flatten`), inputs: [v.source] }, [elementCount(shape)]);
      this.flattenOf.set(v.source, flat);
    }
    return flat;
  }

  private uniqueUse(tensor: string): boolean {
    return (this.uses.get(tensor) ?? 0) === 1;
  }

  // ---- graph ----

  run(graph: GraphProto, name: string): FloatModel {
    const what = this.what;
    for (const t of graph.initializer ?? []) {
      if (typeof t.name !== 'string' || t.name.length === 0) throw new FormatError(`${what}: an initializer has no name`);
      if (this.constants.has(t.name)) throw new FormatError(`${what}: initializer '${t.name}' is defined twice`);
      this.constants.set(t.name, t);
    }
    if ((graph.sparseInitializer?.length ?? 0) > 0) throw new FormatError(`${what}: sparse initializers are not supported; save dense initializers`);
    const inputs = (graph.input ?? []).filter((i) => !this.constants.has(String(i.name)));
    if (inputs.length !== 1) throw new FormatError(`${what}: the graph has ${inputs.length} runtime inputs (${inputs.map((i) => `'${i.name}'`).join(', ')}); lastmile models take exactly one`);
    const outputs = graph.output ?? [];
    if (outputs.length !== 1) throw new FormatError(`${what}: the graph has ${outputs.length} outputs; lastmile models produce exactly one`);
    const nodes = graph.node ?? [];
    if (nodes.length === 0) throw new FormatError(`${what}: the graph has no nodes`);
    if (nodes.length > MAX_NODES) throw new FormatError(`${what}: ${nodes.length} nodes is far beyond an MCU-scale model (limit ${MAX_NODES})`);
    for (const n of nodes) for (const i of n.input ?? []) if (i) this.uses.set(i, (this.uses.get(i) ?? 0) + 1);
    const outputName = String(outputs[0]!.name ?? '');
    this.uses.set(outputName, (this.uses.get(outputName) ?? 0) + 1);

    this.readInput(inputs[0]!, nodes);
    nodes.forEach((n, index) => this.node(n, index));

    const out = this.values.get(outputName);
    if (!out) throw new FormatError(`${what}: graph output '${outputName}' is ${this.constants.has(outputName) ? 'a constant' : 'never produced'}`);
    const last = this.materialize(out, `graph output '${outputName}'`);
    return this.finish(name, last);
  }

  private readInput(input: ValueInfoProto, nodes: NodeProto[]): void {
    const name = String(input.name ?? '');
    const where = `graph input '${name}'`;
    const tt = input.type?.tensorType;
    if (!tt) throw new FormatError(`${this.what}: ${where} is not a tensor`);
    if (tt.elemType !== DataType.FLOAT) throw new FormatError(`${this.what}: ${where} is ${dataTypeName(tt.elemType)}; lastmile imports float models (quantize after import with quantizeModel)`);
    const dims = tt.shape?.dim ?? [];
    if (dims.length !== 2 && dims.length !== 4) throw new FormatError(`${this.what}: ${where} has rank ${dims.length}; expected [N, C, H, W], [N, H, W, C] or [N, features]`);
    const sizes = dims.slice(1).map((d, i) => {
      const v = d.dimValue === undefined || d.dimValue === null ? 0 : int64(d.dimValue, `${where} dim ${i + 1}`);
      if (!(v >= 1 && v <= MAX_DIM)) throw new FormatError(`${this.what}: ${where} dimension ${i + 1} is ${d.dimParam ? `symbolic ('${d.dimParam}')` : String(v)}; lastmile needs fixed positive sizes for everything but the batch`);
      return v;
    });
    this.nodeNames.add(name);
    let view: View = 'flat';
    let shape = sizes;
    if (sizes.length === 3) {
      // Our exporter (and tf2onnx) keep an NHWC input and transpose it once to NCHW.
      const consumers = nodes.filter((n) => (n.input ?? []).includes(name));
      const nhwc = consumers.length > 0 && consumers.every((n) => n.opType === 'Transpose' && new Attributes(n, `${this.what}: Transpose '${n.name}'`).ints('perm')?.join(',') === '0,3,1,2');
      view = nhwc ? 'nhwc' : 'nchw';
      shape = nhwc ? sizes : [sizes[1]!, sizes[2]!, sizes[0]!];
    }
    this.addNode({ kind: 'input', name, shape }, shape);
    this.values.set(name, { source: name, view, direct: false });
  }

  private node(n: NodeProto, index: number): void {
    const op = String(n.opType ?? '');
    const label = n.name || n.output?.[0] || `#${index}`;
    const where = `node '${label}' (${op || 'no op type'})`;
    if (n.domain && n.domain !== 'ai.onnx') throw new FormatError(`${this.what}: ${where} is in domain '${n.domain}'; only standard ONNX operators are supported (${ONNX_IMPORT_OPS.join(', ')})`);
    const inputs = (n.input ?? []).map(String);
    const outputs = (n.output ?? []).map(String);
    if (outputs.length === 0) throw new FormatError(`${this.what}: ${where} has no output`);
    const attrs = new Attributes(n, `${this.what}: ${where}`);
    const out = outputs[0]!;
    const layerName = () => this.unique(n.name || out);
    // Secondary outputs (Dropout's mask, MaxPool's indices, BatchNorm's running stats) must be unused.
    for (const extra of outputs.slice(1)) {
      if (extra && (this.uses.get(extra) ?? 0) > 0) throw new FormatError(`${this.what}: ${where}: its output '${extra}' is used; only the first output of ${op} is supported`);
    }
    switch (op) {
      case 'Constant':
        return this.constantNode(attrs, out, where);
      case 'Identity':
      case 'Dropout': {
        if (this.constants.has(inputs[0] ?? '')) {
          this.constants.set(out, this.constants.get(inputs[0]!)!);
          return;
        }
        const v = this.value(inputs[0], where);
        return this.setValue(out, { ...v, direct: false, through: inputs[0] }, where);
      }
      case 'Transpose': {
        const v = this.value(inputs[0], where);
        const perm = attrs.ints('perm')?.join(',');
        if (v.view === 'nhwc' && perm === '0,3,1,2') return this.setValue(out, { source: v.source, view: 'nchw', direct: false, through: inputs[0] }, where);
        if (v.view === 'nchw' && perm === '0,2,3,1') return this.setValue(out, { source: v.source, view: 'nhwc', direct: false, through: inputs[0] }, where);
        throw new FormatError(`${this.what}: ${where}: Transpose perm [${perm ?? 'reverse'}] of a ${v.view} tensor is not supported; only NHWC↔NCHW ([0,3,1,2] / [0,2,3,1])`);
      }
      case 'Flatten': {
        const axis = attrs.int('axis', 1);
        if (axis !== 1) throw new FormatError(`${this.what}: ${where}: Flatten axis ${axis} is not supported; only axis 1 (keep the batch)`);
        return this.flatten(inputs[0], out, where);
      }
      case 'Reshape':
        return this.reshape(inputs, attrs, out, where);
      case 'Conv':
        return this.conv(inputs, attrs, out, where, layerName);
      case 'MaxPool':
      case 'AveragePool':
        return this.pool(op, inputs, attrs, out, where, layerName);
      case 'GlobalAveragePool': {
        const v = this.value(inputs[0], where);
        const [, , c] = this.spatialShape(v, where, op);
        const name = this.addNode({ kind: 'globalavgpool', name: layerName(), inputs: [v.source] }, [c]);
        return this.setValue(out, { source: name, view: 'nc11', direct: true }, where);
      }
      case 'Gemm':
        return this.gemm(inputs, attrs, out, where, layerName);
      case 'MatMul':
        return this.matmul(inputs, out, where, layerName);
      case 'Add':
        return this.add(inputs, out, where, layerName);
      case 'Relu':
        return this.activation(inputs[0], 'relu', out, where);
      case 'Clip':
        return this.clip(inputs, attrs, out, where);
      case 'BatchNormalization':
        return this.batchNorm(inputs, attrs, out, where);
      default:
        throw new FormatError(`${this.what}: ${where}: lastmile cannot import operator '${op}'; supported: ${ONNX_IMPORT_OPS.join(', ')}`);
    }
  }

  private constantNode(attrs: Attributes, out: string, where: string): void {
    let t = attrs.tensor('value');
    if (!t) {
      const f = attrs.float('value_float');
      const fs = attrs.floats('value_floats');
      const i = attrs.has('value_int') ? attrs.int('value_int', 0) : undefined;
      const is = attrs.ints('value_ints');
      if (f !== undefined) t = { dataType: DataType.FLOAT, dims: [], floatData: [f] };
      else if (fs) t = { dataType: DataType.FLOAT, dims: [fs.length], floatData: fs };
      else if (i !== undefined) t = { dataType: DataType.INT64, dims: [], int64Data: [i] };
      else if (is) t = { dataType: DataType.INT64, dims: [is.length], int64Data: is };
      else throw new FormatError(`${this.what}: ${where}: Constant needs a value, value_float(s) or value_int(s) attribute`);
    }
    if (this.values.has(out) || this.constants.has(out)) throw new FormatError(`${this.what}: tensor '${out}' is produced twice (${where})`);
    this.constants.set(out, t);
  }

  private flatten(input: string | undefined, out: string, where: string): void {
    const v = this.value(input, where);
    let view: View;
    if (v.view === 'nchw') {
      const [h, w] = this.shapes.get(v.source)!;
      view = h! * w! === 1 ? 'flat' : 'flat-chw';
    } else if (v.view === 'nhwc' || v.view === 'nc11') view = 'flat';
    else view = v.view;
    this.setValue(out, { source: v.source, view, direct: false, through: input }, where);
  }

  private reshape(inputs: string[], attrs: Attributes, out: string, where: string): void {
    const v = this.value(inputs[0], where);
    const target = this.opset >= 5
      ? readIntTensor(this.constant(inputs[1], where, 'shape'), `${this.what}: ${where} shape`).data
      : attrs.ints('shape') ?? [];
    const features = elementCount(this.shapes.get(v.source)!);
    const allowZero = attrs.int('allowzero', 0) === 1;
    const batchOk = (d: number) => d === -1 || (d === 0 && !allowZero);
    const featOk = (d: number) => d === features || (d === -1 && target[0] !== -1);
    if (target.length !== 2 || !batchOk(target[0]!) || !featOk(target[1]!)) {
      throw new FormatError(`${this.what}: ${where}: Reshape to [${target.join(', ')}] is not supported; lastmile only flattens to [batch, features] ([0, -1] or [-1, ${features}]); use Flatten`);
    }
    this.flatten(inputs[0], out, where);
  }

  /** 'same' or 'valid' whose geometry equals ONNX's pads/auto_pad, else the explicit pads (PyTorch's padding=1, stride=2 on an even size), or FormatError. */
  private padding(where: string, layer: string, inHw: [number, number], kernel: [number, number], stride: [number, number], attrs: Attributes, pool?: { ceilMode: boolean; countIncludePad: boolean }): Padding {
    const autoPad = attrs.string('auto_pad') ?? 'NOTSET';
    let pads: number[];
    if (autoPad === 'NOTSET') {
      pads = attrs.ints('pads') ?? [0, 0, 0, 0];
      if (pads.length !== 4 || pads.some((p) => p < 0 || p > MAX_DIM)) throw new FormatError(`${this.what}: ${where}: pads [${pads.join(', ')}] must be 4 non-negative values [top, left, bottom, right]`);
    } else if (autoPad === 'VALID') {
      pads = [0, 0, 0, 0];
    } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      // SAME_UPPER is TFLite's 'same' (odd pixel after); SAME_LOWER matches it only for even totals.
      pads = [];
      const totals = [0, 1].map((d) => Math.max((Math.ceil(inHw[d]! / stride[d]!) - 1) * stride[d]! + kernel[d]! - inHw[d]!, 0));
      const before = totals.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
      pads = [before[0]!, before[1]!, totals[0]! - before[0]!, totals[1]! - before[1]!];
    } else {
      throw new FormatError(`${this.what}: ${where}: auto_pad '${autoPad}' is unknown`);
    }
    const onnxOut = (d: number) => {
      const span = inHw[d]! + pads[d]! + pads[d + 2]! - kernel[d]!;
      if (span < 0) return 0;
      if (!pool?.ceilMode) return Math.floor(span / stride[d]!) + 1;
      let o = Math.ceil(span / stride[d]!) + 1;
      if ((o - 1) * stride[d]! >= inHw[d]! + pads[d]!) o--; // the last window must start inside the input or its leading pad
      return o;
    };
    const matches = (p: Padding) => [0, 1].every((d) => onnxOut(d) === convOutputSize(inHw[d]!, kernel[d]!, stride[d]!, p, d as 0 | 1) && pads[d]! === padBefore(inHw[d]!, kernel[d]!, stride[d]!, p, d as 0 | 1));
    const candidates = (['valid', 'same'] as const).filter(matches);
    if (candidates.length === 0) {
      // Neither TFLite rule: keep ONNX's own pads when lastmile's explicit padding computes the same windows.
      const explicit = [pads[0]!, pads[1]!, pads[2]!, pads[3]!] as const;
      const fits = pads.every((p, i) => p < kernel[i % 2]!) && [0, 1].every((d) => onnxOut(d) === convOutputSize(inHw[d]!, kernel[d]!, stride[d]!, explicit, d as 0 | 1) && onnxOut(d) >= 1);
      if (!fits) {
        throw new FormatError(
          `${this.what}: ${where}: pads [${pads.join(', ')}] with kernel ${kernel.join('×')}, stride ${stride.join('×')} on a ${inHw.join('×')} input${pool?.ceilMode ? ' with ceil_mode' : ''} cannot be expressed: ` +
            `lastmile takes TFLite 'same', 'valid', or explicit pads each smaller than the kernel (floor rounding)`,
        );
      }
      if (pool?.countIncludePad && pads.some((p) => p > 0)) {
        throw new FormatError(`${this.what}: ${where}: AveragePool with count_include_pad=1 over padding divides by padded taps; lastmile (like TFLite) averages only the valid taps — export with count_include_pad=0`);
      }
      return explicit;
    }
    // Both fit when neither pads anything that matters; the exporter's hint keeps a round trip exact.
    const hint = this.paddingHints.get(layer);
    const padding = candidates.length === 2 && hint ? hint : candidates[0]!;
    // TFLite 'same' windows touch every pixel of its padding, so any padding changes the divisor.
    const samePadded = [0, 1].some((d) => (convOutputSize(inHw[d]!, kernel[d]!, stride[d]!, 'same') - 1) * stride[d]! + kernel[d]! > inHw[d]!);
    if (pool?.countIncludePad && padding === 'same' && samePadded) {
      throw new FormatError(`${this.what}: ${where}: AveragePool with count_include_pad=1 over padding divides by padded taps; lastmile (like TFLite) averages only the valid taps — export with count_include_pad=0`);
    }
    return padding;
  }

  private pair(values: number[] | undefined, fallback: [number, number], where: string, what: string): [number, number] {
    const v = values ?? fallback;
    if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < 1 || x > MAX_DIM)) throw new FormatError(`${this.what}: ${where}: ${what} [${v.join(', ')}] must be two positive integers (2-D layers only)`);
    return [v[0]!, v[1]!];
  }

  private conv(inputs: string[], attrs: Attributes, out: string, where: string, layerName: () => string): void {
    const v = this.value(inputs[0], where);
    const [h, w, c] = this.spatialShape(v, where, 'Conv');
    const weight = this.floats(inputs[1], where, 'weight');
    if (weight.dims.length !== 4) throw new FormatError(`${this.what}: ${where}: weight has rank ${weight.dims.length}; only 2-D convolutions (OIHW weights) are supported`);
    const [o, i, kh, kw] = weight.dims as [number, number, number, number];
    const kernel = this.pair(attrs.ints('kernel_shape'), [kh, kw], where, 'kernel_shape');
    if (kernel[0] !== kh || kernel[1] !== kw) throw new FormatError(`${this.what}: ${where}: kernel_shape [${kernel.join(', ')}] disagrees with weight dims [${weight.dims.join(', ')}]`);
    const dilations = attrs.ints('dilations') ?? [1, 1];
    if (dilations.some((d) => d !== 1)) throw new FormatError(`${this.what}: ${where}: dilations [${dilations.join(', ')}] are not supported; lastmile convolutions have dilation 1`);
    const group = attrs.int('group', 1);
    const stride = this.pair(attrs.ints('strides'), [1, 1], where, 'strides');
    let bias: Float32Array = new Float32Array(o);
    if (inputs[2]) {
      const b = this.floats(inputs[2], where, 'bias');
      if (b.data.length !== o) throw new FormatError(`${this.what}: ${where}: bias has ${b.data.length} values for ${o} output channels`);
      bias = b.data;
    }
    const name = layerName();
    const padding = this.padding(where, name, [h, w], kernel, stride, attrs);
    const outShape = [convOutputSize(h, kh, stride[0], padding, 0), convOutputSize(w, kw, stride[1], padding, 1), o];
    if (group === 1) {
      if (i !== c) throw new FormatError(`${this.what}: ${where}: weight expects ${i} input channels, the input has ${c}`);
      this.addNode({ kind: 'conv2d', name, inputs: [v.source], filters: o, kernel, stride, padding, activation: 'none' }, outShape, { weights: oihwToOhwi(weight.data, o, i, kh, kw), bias });
    } else if (group === c && i === 1 && o % c === 0) {
      this.addNode({ kind: 'depthwise', name, inputs: [v.source], depthMultiplier: o / c, kernel, stride, padding, activation: 'none' }, outShape, { weights: depthwiseFromOnnx(weight.data, o, kh, kw), bias });
    } else {
      throw new FormatError(`${this.what}: ${where}: group ${group} with ${c} input channels and weight [${weight.dims.join(', ')}] is not supported; lastmile has group 1 (Conv) and group = input channels (depthwise, ${c} groups of 1 channel)`);
    }
    this.setValue(out, { source: name, view: 'nchw', direct: true }, where);
  }

  private pool(op: 'MaxPool' | 'AveragePool', inputs: string[], attrs: Attributes, out: string, where: string, layerName: () => string): void {
    const v = this.value(inputs[0], where);
    const [h, w, c] = this.spatialShape(v, where, op);
    const kernel = this.pair(attrs.ints('kernel_shape'), [0, 0], where, 'kernel_shape');
    const stride = this.pair(attrs.ints('strides'), [1, 1], where, 'strides');
    const dilations = attrs.ints('dilations') ?? [1, 1];
    if (dilations.some((d) => d !== 1)) throw new FormatError(`${this.what}: ${where}: dilations [${dilations.join(', ')}] are not supported; lastmile pools have dilation 1`);
    if (attrs.int('storage_order', 0) !== 0) throw new FormatError(`${this.what}: ${where}: storage_order 1 is not supported`);
    const name = layerName();
    const padding = this.padding(where, name, [h, w], kernel, stride, attrs, { ceilMode: attrs.int('ceil_mode', 0) === 1, countIncludePad: op === 'AveragePool' && attrs.int('count_include_pad', 0) === 1 });
    const outShape = [convOutputSize(h, kernel[0], stride[0], padding, 0), convOutputSize(w, kernel[1], stride[1], padding, 1), c];
    this.addNode({ kind: op === 'MaxPool' ? 'maxpool' : 'avgpool', name, inputs: [v.source], pool: kernel, stride, padding }, outShape);
    // max(relu(x)) = relu(max(x)): a Relu after a MaxPool may fold into the layer before it.
    this.setValue(out, { source: name, view: 'nchw', direct: true, ...(op === 'MaxPool' ? { through: inputs[0] } : {}) }, where);
  }

  /** A dense layer from [units][K] weights whose columns follow the input view's order. */
  private dense(v: Value, weights: Float32Array, bias: Float32Array, units: number, out: string, where: string, name: string): void {
    const features = this.flatFeatures(v, where, 'a dense layer');
    if (weights.length !== units * features) throw new FormatError(`${this.what}: ${where}: weight holds ${weights.length} values; ${units} units × ${features} input features needs ${units * features}`);
    const shape = this.shapes.get(v.source)!;
    const ours = v.view === 'flat-chw' ? denseColumnsFromChw(weights, units, shape) : weights;
    this.addNode({ kind: 'dense', name, inputs: [v.source], units, activation: 'none' }, [units], { weights: ours, bias });
    this.setValue(out, { source: name, view: 'flat', direct: true }, where);
  }

  private gemm(inputs: string[], attrs: Attributes, out: string, where: string, layerName: () => string): void {
    const v = this.value(inputs[0], where);
    if (attrs.int('transA', 0) !== 0) throw new FormatError(`${this.what}: ${where}: Gemm with transA=1 is not supported (the activation must be A = [batch, features])`);
    const transB = attrs.int('transB', 0) === 1;
    const alpha = attrs.float('alpha') ?? 1;
    const beta = attrs.float('beta') ?? 1;
    const b = this.floats(inputs[1], where, 'weight B');
    if (b.dims.length !== 2) throw new FormatError(`${this.what}: ${where}: weight B has rank ${b.dims.length}; expected 2`);
    const [rows, cols] = b.dims as [number, number];
    const units = transB ? rows : cols;
    const k = transB ? cols : rows;
    // Ours is [units][K] = Bᵀ when B is [K][units]; alpha folds into the weights.
    const weights = new Float32Array(units * k);
    for (let u = 0; u < units; u++) for (let j = 0; j < k; j++) weights[u * k + j] = alpha * b.data[transB ? u * k + j : j * units + u]!;
    const bias = new Float32Array(units);
    if (inputs[2]) {
      const c = this.floats(inputs[2], where, 'bias C');
      const perUnit = c.data.length === units && (c.dims.length === 1 || (c.dims.length === 2 && c.dims[0] === 1));
      const scalar = c.data.length === 1 && c.dims.length <= 2;
      if (!perUnit && !scalar) throw new FormatError(`${this.what}: ${where}: bias C of shape [${c.dims.join(', ')}] is not supported; expected [${units}], [1, ${units}] or a scalar`);
      for (let u = 0; u < units; u++) bias[u] = beta * c.data[perUnit ? u : 0]!;
    }
    this.dense(v, weights, bias, units, out, where, layerName());
  }

  private matmul(inputs: string[], out: string, where: string, layerName: () => string): void {
    const v = this.value(inputs[0], where);
    const b = this.floats(inputs[1], where, 'weight B');
    if (b.dims.length !== 2) throw new FormatError(`${this.what}: ${where}: MatMul weight has rank ${b.dims.length}; expected [K, N]`);
    const [k, units] = b.dims as [number, number];
    const weights = new Float32Array(units * k);
    for (let u = 0; u < units; u++) for (let j = 0; j < k; j++) weights[u * k + j] = b.data[j * units + u]!;
    this.dense(v, weights, new Float32Array(units), units, out, where, layerName());
  }

  /** The layer a bias Add or BatchNorm can fold into: the direct, sole-consumer output of conv/depthwise/dense. */
  private foldTarget(tensor: string, v: Value, where: string, what: string): ModelNode & { kind: 'conv2d' | 'depthwise' | 'dense' } {
    const node = this.nodeByName(v.source);
    const ok = v.direct && this.uniqueUse(tensor) && hasParamLayout(node.kind) && (node as { activation?: string }).activation === 'none';
    if (!ok) throw new FormatError(`${this.what}: ${where}: ${what} can only fold into a directly preceding Conv/Gemm/MatMul whose output has no other consumer and no activation yet`);
    return node as ModelNode & { kind: 'conv2d' | 'depthwise' | 'dense' };
  }

  /** Per-output-channel values of a constant broadcast against an [N, C, H, W] or [N, C] tensor. */
  private perChannel(t: { dims: number[]; data: Float32Array }, channels: number, view: View, where: string, role: string): Float32Array {
    const dims = t.dims;
    if (t.data.length === 1) return new Float32Array(channels).fill(t.data[0]!);
    const trailingOnes = (from: number) => dims.slice(from).every((d) => d === 1);
    const lead = dims.length > 0 && dims.slice(0, -1).every((d) => d === 1);
    const ok = view === 'nchw' || view === 'nc11'
      ? (dims.length === 3 && dims[0] === channels && trailingOnes(1)) || (dims.length === 4 && dims[0] === 1 && dims[1] === channels && trailingOnes(2))
      : lead && dims[dims.length - 1] === channels;
    if (!ok || t.data.length !== channels) throw new FormatError(`${this.what}: ${where}: ${role} of shape [${dims.join(', ')}] does not broadcast per channel over ${channels} channels (${view})`);
    return t.data;
  }

  private add(inputs: string[], out: string, where: string, layerName: () => string): void {
    if (inputs.length !== 2) throw new FormatError(`${this.what}: ${where}: Add needs two inputs`);
    const constIdx = inputs.findIndex((i) => this.constants.has(i));
    if (constIdx >= 0) {
      // x + constant: a bias (PyTorch/Keras MatMul + Add, or a bias-free Conv + Add).
      const tensor = inputs[1 - constIdx]!;
      const v = this.value(tensor, where);
      const node = this.foldTarget(tensor, v, where, 'an Add of a constant (bias)');
      const p = this.params[node.name]!;
      const add = this.perChannel(this.floats(inputs[constIdx], where, 'addend'), p.bias.length, v.view, where, 'addend');
      for (let c = 0; c < p.bias.length; c++) p.bias[c]! += add[c]!;
      return this.setValue(out, { ...v, direct: true }, where);
    }
    const a = this.value(inputs[0], where);
    const b = this.value(inputs[1], where);
    const shapeA = this.shapes.get(a.source)!;
    const shapeB = this.shapes.get(b.source)!;
    let sources: [string, string];
    let view = a.view;
    if (a.view === b.view && shapeA.join('x') === shapeB.join('x')) {
      sources = [a.source, b.source];
    } else if ((a.view === 'flat' || a.view === 'flat-chw') && (b.view === 'flat' || b.view === 'flat-chw')) {
      sources = [this.materialize(a, where), this.materialize(b, where)];
      view = 'flat';
    } else {
      throw new FormatError(`${this.what}: ${where}: Add of a ${a.view} [${shapeA.join('×')}] and a ${b.view} [${shapeB.join('×')}] tensor is not supported; lastmile adds tensors of the same shape and layout (no broadcasting)`);
    }
    const name = this.addNode({ kind: 'add', name: layerName(), inputs: sources, activation: 'none' }, [...this.shapes.get(sources[0])!]);
    this.setValue(out, { source: name, view, direct: true }, where);
  }

  private activation(input: string | undefined, act: Activation, out: string, where: string): void {
    const v = this.value(input, where);
    // Walk back through ops that commute with a monotone activation, to the layer that computed it.
    let tensor = input!;
    let cur = v;
    while (cur.through !== undefined) {
      if (!this.uniqueUse(tensor)) break;
      tensor = cur.through;
      cur = this.values.get(tensor)!;
    }
    const node = this.nodeByName(cur.source);
    const fusable = cur.direct && cur.through === undefined && this.uniqueUse(tensor) && fusesActivation(node) && (node as { activation?: string }).activation === 'none';
    if (!fusable) {
      throw new FormatError(`${this.what}: ${where}: ${act === 'relu' ? 'Relu' : 'Clip(0, 6)'} must follow a Conv, Gemm/MatMul or Add (directly, or through MaxPool/Flatten/Transpose) whose output has no other consumer and no activation yet; lastmile fuses activations into layers`);
    }
    (node as { activation: Activation }).activation = act;
    this.setValue(out, { source: v.source, view: v.view, direct: false }, where);
  }

  private clip(inputs: string[], attrs: Attributes, out: string, where: string): void {
    let lo: number | undefined;
    let hi: number | undefined;
    if (this.opset >= 11) {
      const scalar = (i: number, role: string) => {
        if (!inputs[i]) return undefined;
        const t = this.floats(inputs[i], where, role);
        if (t.data.length !== 1) throw new FormatError(`${this.what}: ${where}: Clip ${role} must be a scalar`);
        return t.data[0]!;
      };
      lo = scalar(1, 'min');
      hi = scalar(2, 'max');
    } else {
      lo = attrs.float('min');
      hi = attrs.float('max');
    }
    const act: Activation | undefined = lo === 0 && (hi === undefined || hi === Infinity || hi > 3.4e38) ? 'relu' : lo === 0 && hi === 6 ? 'relu6' : undefined;
    if (!act) throw new FormatError(`${this.what}: ${where}: Clip(${lo ?? '-inf'}, ${hi ?? 'inf'}) is not supported; only Clip(0, 6) (ReLU6) and Clip(0, inf) (ReLU)`);
    this.activation(inputs[0], act, out, where);
  }

  private batchNorm(inputs: string[], attrs: Attributes, out: string, where: string): void {
    if (attrs.int('training_mode', 0) !== 0) throw new FormatError(`${this.what}: ${where}: BatchNormalization in training mode cannot be folded; export in eval mode`);
    const tensor = inputs[0]!;
    const v = this.value(tensor, where);
    const node = this.foldTarget(tensor, v, where, 'BatchNormalization');
    const p = this.params[node.name]!;
    const channels = p.bias.length;
    const [scale, shift, mean, variance] = ['scale', 'B', 'mean', 'var'].map((role, k) => {
      const t = this.floats(inputs[k + 1], where, role);
      if (t.data.length !== channels || t.dims.length !== 1) throw new FormatError(`${this.what}: ${where}: ${role} has shape [${t.dims.join(', ')}]; expected [${channels}]`);
      return t.data;
    }) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const eps = attrs.float('epsilon') ?? 1e-5;
    // y = (x − mean)·a + B with a = scale / √(var + ε): scale each output channel's weights by a.
    const a = Float64Array.from(scale, (s, c) => s / Math.sqrt(variance[c]! + eps));
    if (a.some((x) => !Number.isFinite(x))) throw new FormatError(`${this.what}: ${where}: variance + epsilon is not positive`);
    const w = p.weights;
    const perChannel = w.length / channels;
    const lastAxis = outputChannelIsLastAxis(node.kind);
    for (let i = 0; i < w.length; i++) {
      const c = lastAxis ? i % channels : Math.floor(i / perChannel);
      w[i] = w[i]! * a[c]!;
    }
    for (let c = 0; c < channels; c++) p.bias[c] = (p.bias[c]! - mean[c]!) * a[c]! + shift[c]!;
    this.setValue(out, { ...v, direct: true }, where);
  }

  // ---- result ----

  private finish(name: string, output: string): FloatModel {
    // Keep what the output depends on; ONNX nodes come topologically sorted, so the output is last.
    const byName = new Map(this.nodes.map((n) => [n.name, n]));
    const keep = new Set<string>();
    const stack = [output];
    while (stack.length) {
      const n = stack.pop()!;
      if (keep.has(n)) continue;
      keep.add(n);
      for (const i of byName.get(n)!.inputs ?? []) stack.push(i);
    }
    const inputName = this.nodes[0]!.name;
    if (!keep.has(inputName)) throw new FormatError(`${this.what}: the graph output does not depend on the input`);
    const kept = this.nodes.filter((n) => keep.has(n.name));
    // A chain reads like a preset: inputs only where they are not the previous node.
    const nodes = kept.map((n, i) => {
      if (isGraphInput(n)) return n;
      const prev = kept[i - 1]!.name;
      if (n.inputs && n.inputs.length === 1 && n.inputs[0] === prev) {
        const { inputs: _inputs, ...rest } = n;
        return rest as ModelNode;
      }
      return n;
    });
    const architecture: Architecture = { name, nodes };
    try {
      const graph = resolveGraph(architecture);
      for (const r of graph.nodes) {
        if (r.weightShape === undefined) continue;
        const p = this.params[r.node.name]!;
        if (p.weights.length !== elementCount(r.weightShape) || p.bias.length !== r.biasLength) throw new FormatError(`layer '${r.node.name}' parameters do not match its shape`);
      }
    } catch (e) {
      if (e instanceof LastmileError) throw new FormatError(`${this.what}: the imported graph is not a valid lastmile model: ${e.message}`);
      throw e;
    }
    const params: Record<string, FloatParams> = {};
    for (const n of nodes) if (this.params[n.name]) params[n.name] = this.params[n.name]!;
    return { kind: 'float', architecture, params, meta: { source: 'onnx' } };
  }
}

/**
 * Import a float ONNX model as a lastmile FloatModel. NCHW inputs become NHWC ([H, W, C]); feed the
 * imported model NHWC data. Throws FormatError naming the node for anything lastmile cannot run.
 */
export function importOnnx(bytes: Uint8Array, options: OnnxImportOptions = {}): FloatModel {
  const what = 'ONNX model';
  const proto = decodeModelProto(bytes, what);
  const graph = proto.graph;
  if (!graph) throw new FormatError(`${what}: no graph; this is not an ONNX model file`);
  const imports = proto.opsetImport ?? [];
  const std = imports.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!std) throw new FormatError(`${what}: it declares no standard-domain opset (opset_import); re-export it with a current exporter`);
  const opset = int64(std.version ?? 0, `${what} opset version`);
  if (opset < 7) throw new FormatError(`${what}: opset ${opset} is too old; re-export with opset 7 or newer (13 recommended)`);
  const hints = new Map<string, Padding>();
  for (const m of proto.metadataProps ?? []) {
    if (m.key !== PADDING_METADATA || typeof m.value !== 'string') continue;
    try {
      const parsed: unknown = JSON.parse(m.value);
      if (parsed && typeof parsed === 'object') {
        for (const [layer, p] of Object.entries(parsed)) if (p === 'same' || p === 'valid') hints.set(layer, p);
      }
    } catch {
      // A damaged hint only loses the tie-break between equivalent paddings; the graph decides.
    }
  }
  const importer = new Importer(what, opset, hints);
  const name = options.name ?? (typeof graph.name === 'string' && graph.name.length > 0 ? graph.name : 'onnx-model');
  const rewritten = rewriteForImport(graph, what);
  const model = importer.run(rewritten.graph, name);
  if (rewritten.droppedSoftmax) {
    const out = resolveGraph(model.architecture).outputShape;
    if (out.length !== 1) throw new FormatError(`${what}: the trailing Softmax is over a [${out.join(', ')}] tensor; lastmile drops a Softmax only over the classes of an [N, classes] output`);
    model.meta.droppedSoftmax = true;
  }
  if (rewritten.foldedQdq) model.meta.dequantized = true;
  return model;
}
