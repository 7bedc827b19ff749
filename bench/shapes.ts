// Layer shapes of the four MLPerf Tiny reference models (v1.x, github.com/mlcommons/tiny), the
// standard MCU-scale workloads, plus one large square GEMM as a throughput anchor. Each distinct
// shape is listed once with the layers it stands for; repeated identical layers (MobileNet's five
// 128-channel blocks, DS-CNN's four blocks) are timed once. All convs use TFLite 'same' padding,
// as the reference Keras models do.

export interface GemmShape {
  /** Batch rows (M), input features (K), output features (N). */
  m: number;
  k: number;
  n: number;
  layers: string;
}

export interface ConvShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outChannels: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: 'same' | 'valid';
  layers: string;
}

export interface DepthwiseShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  depthMultiplier: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padding: 'same' | 'valid';
  layers: string;
}

/** Training batches a few samples at a time; 16 is a batch an MCU arena can still hold. */
export const FC_BATCHES = [1, 16] as const;

const fcLayers: [k: number, n: number, layers: string][] = [
  [64, 12, 'DS-CNN fc'],
  [64, 10, 'ResNet-8 fc'],
  [256, 2, 'MobileNetV1-0.25 fc'],
  [640, 128, 'AE fc1'],
  [128, 128, 'AE fc2-4, fc7-9'],
  [128, 8, 'AE fc5 (bottleneck)'],
  [8, 128, 'AE fc6'],
  [128, 640, 'AE fc10'],
];

export const GEMM_SHAPES: GemmShape[] = [
  { m: 256, k: 256, n: 256, layers: 'square anchor' },
  ...FC_BATCHES.flatMap((m) => fcLayers.map(([k, n, layers]) => ({ m, k, n, layers: `${layers}, batch ${m}` }))),
];

const conv = (h: number, w: number, c: number, o: number, kh: number, kw: number, s: number, layers: string): ConvShape => ({
  batch: 1, inHeight: h, inWidth: w, inChannels: c, outChannels: o, kernelHeight: kh, kernelWidth: kw,
  strideHeight: s, strideWidth: s, padding: 'same', layers,
});

const dw = (h: number, w: number, c: number, s: number, layers: string): DepthwiseShape => ({
  batch: 1, inHeight: h, inWidth: w, channels: c, depthMultiplier: 1, kernelHeight: 3, kernelWidth: 3,
  strideHeight: s, strideWidth: s, padding: 'same', layers,
});

export const CONV_SHAPES: ConvShape[] = [
  // DS-CNN (keyword spotting, 49×10 MFCC): a 10×4 stride-2 stem, then 1×1 pointwise convs.
  conv(49, 10, 1, 64, 10, 4, 2, 'DS-CNN conv1'),
  conv(25, 5, 64, 64, 1, 1, 1, 'DS-CNN pw1-4'),
  // ResNet-8 (CIFAR-10): 3×3 convs in three stacks, 1×1 stride-2 projection shortcuts.
  conv(32, 32, 3, 16, 3, 3, 1, 'ResNet-8 conv1'),
  conv(32, 32, 16, 16, 3, 3, 1, 'ResNet-8 stack1 conv a/b'),
  conv(32, 32, 16, 32, 3, 3, 2, 'ResNet-8 stack2 conv a'),
  conv(16, 16, 32, 32, 3, 3, 1, 'ResNet-8 stack2 conv b'),
  conv(32, 32, 16, 32, 1, 1, 2, 'ResNet-8 stack2 shortcut'),
  conv(16, 16, 32, 64, 3, 3, 2, 'ResNet-8 stack3 conv a'),
  conv(8, 8, 64, 64, 3, 3, 1, 'ResNet-8 stack3 conv b'),
  conv(16, 16, 32, 64, 1, 1, 2, 'ResNet-8 stack3 shortcut'),
  // MobileNetV1-0.25 (visual wake words, 96×96×3): a 3×3 stride-2 stem, then pointwise convs.
  conv(96, 96, 3, 8, 3, 3, 2, 'MobileNetV1 conv1'),
  conv(48, 48, 8, 16, 1, 1, 1, 'MobileNetV1 pw1'),
  conv(24, 24, 16, 32, 1, 1, 1, 'MobileNetV1 pw2'),
  conv(24, 24, 32, 32, 1, 1, 1, 'MobileNetV1 pw3'),
  conv(12, 12, 32, 64, 1, 1, 1, 'MobileNetV1 pw4'),
  conv(12, 12, 64, 64, 1, 1, 1, 'MobileNetV1 pw5'),
  conv(6, 6, 64, 128, 1, 1, 1, 'MobileNetV1 pw6'),
  conv(6, 6, 128, 128, 1, 1, 1, 'MobileNetV1 pw7-11'),
  conv(3, 3, 128, 256, 1, 1, 1, 'MobileNetV1 pw12'),
  conv(3, 3, 256, 256, 1, 1, 1, 'MobileNetV1 pw13'),
];

export const DEPTHWISE_SHAPES: DepthwiseShape[] = [
  dw(25, 5, 64, 1, 'DS-CNN dw1-4'),
  dw(48, 48, 8, 1, 'MobileNetV1 dw1'),
  dw(48, 48, 16, 2, 'MobileNetV1 dw2'),
  dw(24, 24, 32, 1, 'MobileNetV1 dw3'),
  dw(24, 24, 32, 2, 'MobileNetV1 dw4'),
  dw(12, 12, 64, 1, 'MobileNetV1 dw5'),
  dw(12, 12, 64, 2, 'MobileNetV1 dw6'),
  dw(6, 6, 128, 1, 'MobileNetV1 dw7-11'),
  dw(6, 6, 128, 2, 'MobileNetV1 dw12'),
  dw(3, 3, 256, 1, 'MobileNetV1 dw13'),
];

export function gemmLabel(s: Pick<GemmShape, 'm' | 'k' | 'n'>): string {
  return `${s.m}x${s.k}x${s.n}`;
}

function convLabelParts(batch: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, padding: string, out: number): string {
  const stride = sh === sw ? `s${sh}` : `s${sh}x${sw}`;
  const pad = padding === 'same' ? '' : `-${padding}`;
  return `${batch}x${h}x${w}x${c}-${kh}x${kw}-${stride}${pad}-${out}`;
}

/** NxHxWxC-kHxkW-sS-outC ('-valid' is added for valid padding; 'same' is the default). */
export function convLabel(s: Omit<ConvShape, 'layers'>): string {
  return convLabelParts(s.batch, s.inHeight, s.inWidth, s.inChannels, s.kernelHeight, s.kernelWidth, s.strideHeight, s.strideWidth, s.padding, s.outChannels);
}

export function depthwiseLabel(s: Omit<DepthwiseShape, 'layers'>): string {
  return convLabelParts(
    s.batch, s.inHeight, s.inWidth, s.channels, s.kernelHeight, s.kernelWidth, s.strideHeight, s.strideWidth, s.padding,
    s.channels * s.depthMultiplier,
  );
}

/** Output size along one axis under TFLite's padding rule. */
export function outputSize(size: number, kernel: number, stride: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - kernel) / stride) + 1;
}

export function gemmMacs(s: Pick<GemmShape, 'm' | 'k' | 'n'>): number {
  return s.m * s.k * s.n;
}

export function convMacs(s: Omit<ConvShape, 'layers'>): number {
  const oh = outputSize(s.inHeight, s.kernelHeight, s.strideHeight, s.padding);
  const ow = outputSize(s.inWidth, s.kernelWidth, s.strideWidth, s.padding);
  return s.batch * oh * ow * s.outChannels * s.kernelHeight * s.kernelWidth * s.inChannels;
}

export function depthwiseMacs(s: Omit<DepthwiseShape, 'layers'>): number {
  const oh = outputSize(s.inHeight, s.kernelHeight, s.strideHeight, s.padding);
  const ow = outputSize(s.inWidth, s.kernelWidth, s.strideWidth, s.padding);
  return s.batch * oh * ow * s.channels * s.depthMultiplier * s.kernelHeight * s.kernelWidth;
}
