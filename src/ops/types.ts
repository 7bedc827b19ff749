// What an operator is to lastmile: everything the host knows about one layer kind, in one place.
// Each operator lives in its own folder (src/ops/<kind>/index.ts) and exports one OpDef; the
// registry (registry.ts) maps every NodeKind to its OpDef, and the graph, lowering, planner,
// sessions and converters look behaviour up there instead of switching on node.kind.
//
// Optional members are capabilities: an operator without `quantized` has no integer kernel, one
// without `float` no f32 training kernel. Later capabilities (a `.tflite` mapping, C emission) are
// added as further optional members, implemented in sibling files of the operator's folder.
import type { Arena, DeviceBuffer } from '../device/arena.js';
import type { PerturbSpec } from '../kernels/perturb-spec.js';
import type { PreparedRequant } from '../kernels/requant.js';
import type { PanelColumns } from '../kernels/gemm.js';
import type { Activation, ModelNode, NodeKind } from '../model/layers.js';
import type { ActivationQuant } from '../model/model.js';
import type { COpEmitter } from './c-emit.js';
import type { TfliteExporter, TfliteImporter } from '../tflite/mapping.js';

export interface TfliteOp {
  importers?: Readonly<Record<number, TfliteImporter>>;
  exporters?: Readonly<Partial<Record<NodeKind, TfliteExporter>>>;
}

/** Everything shape inference derives for one node (per sample). */
export interface ShapeInfo {
  outShape: number[];
  /** Stored weight shape if the operator has parameters (its `paramLayout` says the axis order). */
  weightShape?: number[];
  /** Bias length (= output channels) if the operator has parameters. */
  biasLength?: number;
  /** Multiply-accumulates per sample. */
  macs: number;
}

/** A node with its inferred shapes: what every per-operator hook receives. */
export interface OpNode<N extends ModelNode = ModelNode> extends ShapeInfo {
  node: N;
  /** Per-sample shape of each input, in order. */
  inShapes: number[][];
}

/**
 * Where a forward pass reads a layer's parameters instead of the stored ones: a scratch panel the
 * trainer filled (a materialised perturbation, a bias perturbation, a sharpness-aware neighbour).
 */
export interface ParamSource {
  weights?: DeviceBuffer;
  bias?: DeviceBuffer;
  /**
   * Run the layer in blocks of output units (ops with `unitBlocks` only): `enter(u0, u1)` is called
   * before units [u0, u1) run and returns what to call once they ran. The trainer perturbs a block's
   * weights in place there and restores them from a block-sized backup.
   */
  blocks?: UnitBlocks;
}

export interface UnitBlocks {
  /** Output units per block (the last block may hold fewer). */
  units: number;
  enter(start: number, end: number): () => void;
}

/** One prepared integer op: runs on the device with an optional fused perturbation. */
export type QuantizedRun = (perturb: PerturbSpec | undefined, source: ParamSource | undefined) => void;

export interface QuantizedScratchContext<N extends ModelNode = ModelNode> {
  op: OpNode<N>;
  batch: number;
  weightBits: 8 | 16;
  /** The layer is frozen and runs on panels packed when the session was prepared (packedBytes > 0). */
  prepacked?: boolean;
  /** Bytes of weight panels a per-call packing op may pack at once (default SESSION_PACKED_WEIGHT_BUDGET; 0: one panel, or one 16-channel depthwise group). */
  packedWeightBudget?: number;
  /** Columns per packed panel of a GEMM/conv op (default 8; 4 or 2 hold less scratch and run slower). */
  panelColumns?: PanelColumns;
}

/** What a session hands an operator to prepare its integer kernel (all buffers already placed). */
export interface QuantizedBuildContext<N extends ModelNode = ModelNode> {
  op: OpNode<N>;
  batch: number;
  arena: Arena;
  /** Input tensors in order, and the output tensor. */
  inputs: DeviceBuffer[];
  output: DeviceBuffer;
  /** The activation after lowering (a following relu/relu6 fused in). */
  activation: Activation;
  /** Quantization of each input and of the output. */
  inputQuant: ActivationQuant[];
  outputQuant: ActivationQuant;
  /** For operators with parameters: the stored buffers, the kernel scratch and output requantization (null for an int32 head). */
  params?: {
    weights: DeviceBuffer; bias: DeviceBuffer; weightBits: 8 | 16; scratch: DeviceBuffer | null; requant: PreparedRequant | null;
    /** For a frozen layer whose op has packedBytes: where (flash) build packs its weights once. */
    packedPanels?: DeviceBuffer;
    /**
     * Only the bias trains (ops with `separateBias`): pack packedPanels without the bias and add the
     * call's bias (the SRAM one, perturbed in place by the trainer) on every call.
     */
    separateBias?: boolean;
    /** The packing budget and panel width the session planned this layer's scratch with (as scratchBytes got them). */
    packedWeightBudget?: number;
    panelColumns?: PanelColumns;
  };
}

export interface QuantizedOp<N extends ModelNode = ModelNode> {
  /** Scratch bytes the device kernel needs per call (asked from the kernel's host companion). */
  scratchBytes?(ctx: QuantizedScratchContext<N>): number;
  /** Prepare once (static quantization constants), return the per-call closure. */
  build(ctx: QuantizedBuildContext<N>): QuantizedRun;
  /** As the last op the kernel can return raw int32 accumulators (logits) instead of requantized int8. */
  int32Head?: boolean;
  /**
   * Bytes of the packed weight panels a frozen layer keeps across calls (packed once when the
   * session is prepared, placed in flash); 0 or absent: the op packs per call.
   */
  packedBytes?(ctx: QuantizedScratchContext<N>): number;
  /**
   * The op's packed weights can leave the bias out, each call adding it (params.separateBias): a
   * layer whose bias alone trains then runs on weights packed once into flash, like a frozen one.
   */
  separateBias?: boolean;
  /**
   * The op can run on a range of its output units (ParamSource.blocks): how many there are and how
   * many stored weights each owns, unit u's being [u·weightsPerUnit, (u + 1)·weightsPerUnit).
   */
  unitBlocks?(op: OpNode<N>): { units: number; weightsPerUnit: number };
}

export interface FloatScratchContext<N extends ModelNode = ModelNode> {
  op: OpNode<N>;
  batch: number;
}

/** Gradient destination of one input during backward (accumulate: add into it after writing a temporary). */
export interface GradTarget {
  buffer: DeviceBuffer;
  accumulate: boolean;
}

export interface FloatBuildContext<N extends ModelNode = ModelNode> {
  op: OpNode<N>;
  batch: number;
  arena: Arena;
  inputs: DeviceBuffer[];
  output: DeviceBuffer;
  weights: DeviceBuffer | null;
  bias: DeviceBuffer | null;
  /** Parameter gradients (null when the layer does not train). */
  dWeights: DeviceBuffer | null;
  dBias: DeviceBuffer | null;
  /** Gradient of the output (null when no gradient flows through this op). */
  dOutput: DeviceBuffer | null;
  scratchForward: DeviceBuffer | null;
  scratchBackward: DeviceBuffer | null;
  /** Which inputs need a gradient. */
  needsInputGrad: boolean[];
  /** Where input k's gradient goes, and how to finish it (accumulate a temporary into it). */
  gradTarget(k: number): GradTarget;
  accumulate(k: number, count: number): void;
  /** Copy bytes inside device memory (a pass-through gradient). */
  copy(dst: DeviceBuffer, src: DeviceBuffer, bytes: number): void;
}

export interface FloatKernels {
  /** f32 forward (the fused activation is applied by the session after it). */
  forward(): void;
  /**
   * f32 backward of a single-input op given its input-gradient buffer (null when not needed); the
   * session masks dY by the fused activation first and accumulates the result after.
   */
  backward?: (dx: DeviceBuffer | null) => void;
  /** Backward that routes gradients to several inputs itself (after the activation mask). */
  backwardToInputs?: () => void;
}

export interface FloatOp<N extends ModelNode = ModelNode> {
  /** Scratch bytes (in f32 elements × 4) for the forward or the backward pass. */
  scratchBytes?(ctx: FloatScratchContext<N>, pass: 'forward' | 'backward', grads: { inputGrad: boolean; weightGrad: boolean }): number;
  /** Backward reads this node's input even when the layer has no parameters (max-pool's argmax). */
  backwardReadsInput?(node: N): boolean;
  /** Backward only exists when an input needs its gradient (operators without parameters). */
  backwardNeedsInputGrad?: boolean;
  build(ctx: FloatBuildContext<N>): FloatKernels;
}

/** How the lowering treats a node: a device op, an alias of its input, or an activation folded into its producer. */
export type Lowering = 'op' | 'alias' | 'fused-activation';

export interface OpDef<N extends ModelNode = ModelNode> {
  /** The node kinds this definition covers (pool covers avgpool and maxpool). */
  kinds: readonly N['kind'][];
  /** Number of inputs (0 for the graph input). */
  arity: number;
  /** Shape inference and validation: output shape, parameter shapes, MACs. */
  infer(node: N, inShapes: number[][]): ShapeInfo;
  /** Parameter layout when the operator has parameters (weights + bias, one bias per output channel). */
  paramLayout?: 'OHWI' | 'HWC' | 'OI';
  lowering?: Lowering;
  /** A standalone relu/relu6 after this op folds into it. */
  fusesActivation?: boolean;
  /** Can be the classifier head: a [classes][features] weight matrix whose rows act as class prototypes. */
  classifierHead?: boolean;
  quantized?: QuantizedOp<N>;
  float?: FloatOp<N>;
  /** The ONNX mapping (export; import maps ONNX op types onto these kinds in model/onnx-import.ts). */
  onnx?: OnnxOp<N>;
  /** C emission for `lastmile export --format c` (src/export/c/). */
  c?: COpEmitter;
  /** The TensorFlow Lite mapping (src/ops/<kind>/tflite.ts): importers by TFLite builtin code, exporters by node kind. */
  tflite?: TfliteOp;
}

/** How one tensor is held in an exported ONNX graph: 4-D NCHW, or 2-D [N, features]. */
export type OnnxLayout = 'nchw' | 'flat';

/** The minimal ONNX graph builder an operator's export writes into. */
export interface OnnxGraphWriter {
  /** A tensor name not used yet, as close to `base` as possible. */
  fresh(base: string): string;
  /** Append a node; returns its output name. */
  node(opType: string, name: string, inputs: string[], output: string, attribute?: unknown[]): string;
}

export interface OnnxExportContext<N extends ModelNode = ModelNode> {
  b: OnnxGraphWriter;
  op: OpNode<N>;
  /** Our tensor names of the inputs, and of the output. */
  inputs: string[];
  output: string;
  /** The activation after lowering, to be appended by the exporter after the op. */
  activation: Activation;
  /** Layout and per-sample shape of the first input in the ONNX graph. */
  inLayout: OnnxLayout;
  inShape: number[];
  /** Float value of one of our tensors (dequantized on first use in a QDQ graph). */
  floatOf(tensor: string): string;
  /** The layer's float weight (converted to ONNX layout and dims) and bias. */
  weights(toOnnx: <T extends Float32Array | Int8Array | Int16Array | Int32Array>(w: T) => T, dims: number[]): string;
  bias(): string;
  /** QDQ export (quantized model) rather than plain float. */
  quantized: boolean;
  /** This op is the quantized head that returns raw int32 accumulators (no activation, no requantization). */
  rawHead: boolean;
  /** Quantization (scale, zero point) initializers of one of our tensors, in a QDQ graph. */
  quantParams(tensor: string): [string, string];
  /** Node attributes (passed in, so operators do not load the protobuf codec in the browser). */
  intAttr(name: string, value: number): unknown;
  intsAttr(name: string, values: number[]): unknown;
}

export type OnnxExportResult =
  /** A float value; the exporter applies `activation` and quantizes it in a QDQ graph. */
  | { value: string; layout: OnnxLayout; activation: Activation }
  /** The op produced its final (already quantized) tensor itself. */
  | { final: string; layout: OnnxLayout };

export interface OnnxOp<N extends ModelNode = ModelNode> {
  export(ctx: OnnxExportContext<N>): OnnxExportResult;
}

/** Any operator, as stored in the registry. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOpDef = OpDef<any>;

export type OpRegistry = Record<NodeKind, AnyOpDef>;
