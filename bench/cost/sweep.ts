// The calibration sweep: shapes per kernel, a fit set and a held-back set. Fit shapes span channel
// counts, kernel sizes, strides, padding and remainders of the four-tap dot product; held-back
// shapes are layer shapes of the MLPerf Tiny models and other off-grid shapes, never used for
// fitting, only to check it. Perturbed (QZO-FF) variants use smaller shapes: staging every weight
// through the z generator dominates them.
import type { CostKernel, KernelShape } from '../../src/cost/shape.js';

export interface SweepShape extends KernelShape {
  heldOut: boolean;
}

type Spatial = [inH: number, inW: number, inC: number, outC: number, kH: number, kW: number, stride: number, padding: 'same' | 'valid'];

const spatial = (kernel: CostKernel, heldOut: boolean, s: Spatial, strideW = s[6]): SweepShape => ({
  kernel, inH: s[0], inW: s[1], inC: s[2], outC: s[3], kH: s[4], kW: s[5], strideH: s[6], strideW, padding: s[7], batch: 1, heldOut,
});
const flat = (kernel: CostKernel, heldOut: boolean, batch: number, inputs: number, outC: number): SweepShape => ({
  kernel, inH: 1, inW: 1, inC: inputs, outC, kH: 1, kW: 1, strideH: 1, strideW: 1, padding: 'valid', batch, heldOut,
});

const CONV_FIT: Spatial[] = [
  [8, 8, 8, 8, 3, 3, 1, 'same'], [16, 16, 3, 16, 3, 3, 1, 'same'], [8, 8, 16, 16, 3, 3, 1, 'same'],
  [16, 16, 16, 16, 3, 3, 1, 'same'], [8, 8, 32, 32, 3, 3, 1, 'same'], [16, 16, 16, 32, 3, 3, 2, 'same'],
  [8, 8, 32, 64, 1, 1, 1, 'valid'], [16, 16, 8, 16, 1, 1, 1, 'valid'], [10, 10, 4, 8, 5, 5, 1, 'same'],
  [12, 12, 1, 16, 3, 3, 1, 'valid'], [24, 24, 8, 8, 3, 3, 2, 'same'], [6, 6, 64, 32, 3, 3, 1, 'same'],
  [9, 9, 5, 12, 3, 3, 1, 'same'], [7, 7, 7, 10, 1, 1, 1, 'valid'], [20, 4, 2, 16, 5, 2, 1, 'same'],
];
const CONV_HELD: Spatial[] = [
  [32, 32, 3, 16, 3, 3, 1, 'same'], // ResNet-8 stem
  [16, 16, 32, 32, 3, 3, 1, 'same'], // ResNet-8 stage 2
  [25, 5, 64, 64, 1, 1, 1, 'valid'], // DS-CNN pointwise
  [49, 10, 1, 64, 10, 4, 2, 'same'], // DS-CNN stem (10×4, stride 2)
  [12, 12, 24, 24, 3, 3, 1, 'same'],
];
const CONV_PT_FIT: Spatial[] = [
  [8, 8, 8, 8, 3, 3, 1, 'same'], [6, 6, 16, 16, 3, 3, 1, 'same'], [8, 8, 3, 16, 3, 3, 1, 'same'], [4, 4, 32, 32, 1, 1, 1, 'valid'],
  [10, 10, 4, 8, 5, 5, 1, 'same'], [12, 12, 8, 8, 3, 3, 2, 'same'], [5, 5, 7, 9, 3, 3, 1, 'same'], [14, 14, 1, 8, 3, 3, 1, 'valid'],
  [4, 4, 16, 48, 1, 1, 1, 'valid'], [6, 6, 5, 6, 3, 3, 1, 'same'], [9, 9, 2, 12, 3, 3, 2, 'same'], [3, 3, 24, 8, 3, 3, 1, 'same'],
  [10, 6, 6, 10, 1, 1, 1, 'valid'],
];
const CONV_PT_HELD: Spatial[] = [[8, 8, 16, 16, 3, 3, 1, 'same'], [7, 7, 12, 20, 1, 1, 1, 'valid']];
const DW_FIT: Spatial[] = [
  [8, 8, 16, 16, 3, 3, 1, 'same'], [16, 16, 8, 8, 3, 3, 1, 'same'], [16, 16, 32, 32, 3, 3, 2, 'same'],
  [24, 24, 8, 8, 3, 3, 1, 'same'], [12, 12, 64, 64, 3, 3, 1, 'same'], [6, 6, 128, 128, 3, 3, 1, 'same'],
  [10, 10, 16, 16, 5, 5, 1, 'same'], [20, 20, 4, 4, 3, 3, 1, 'valid'],
  // Small and narrow maps, where a large share of the taps fall in the padding.
  [4, 4, 64, 64, 3, 3, 1, 'same'], [20, 4, 16, 16, 3, 3, 1, 'same'], [6, 6, 32, 32, 5, 5, 1, 'same'], [2, 2, 128, 128, 3, 3, 1, 'same'],
];
const DW_HELD: Spatial[] = [
  [25, 5, 64, 64, 3, 3, 1, 'same'], // DS-CNN
  [12, 12, 32, 32, 3, 3, 2, 'same'],
  [24, 24, 16, 16, 3, 3, 1, 'same'], // MobileNetV1-0.25 at 96×96 input, stage 3
  [3, 3, 256, 256, 3, 3, 1, 'same'], // MobileNetV1-0.25 last stage
];
const DW_PT_FIT: Spatial[] = [
  [8, 8, 16, 16, 3, 3, 1, 'same'], [6, 6, 64, 64, 3, 3, 1, 'same'], [12, 12, 8, 8, 3, 3, 2, 'same'], [4, 4, 128, 128, 3, 3, 1, 'same'],
  [10, 10, 16, 16, 5, 5, 1, 'same'], [16, 4, 32, 32, 3, 3, 1, 'same'], [3, 3, 32, 32, 3, 3, 1, 'valid'], [2, 2, 96, 96, 3, 3, 1, 'same'],
  [12, 12, 24, 24, 3, 3, 1, 'same'], [7, 7, 40, 40, 5, 5, 2, 'same'], [20, 20, 4, 4, 3, 3, 1, 'valid'],
];
const DW_PT_HELD: Spatial[] = [[8, 8, 32, 32, 3, 3, 1, 'same'], [5, 5, 48, 48, 3, 3, 2, 'same']];
const MAXPOOL_FIT: Spatial[] = [
  [8, 8, 16, 16, 2, 2, 2, 'valid'], [16, 16, 8, 8, 2, 2, 2, 'valid'], [28, 28, 8, 8, 2, 2, 2, 'valid'],
  [12, 12, 32, 32, 3, 3, 2, 'valid'], [24, 24, 4, 4, 2, 2, 2, 'valid'], [6, 6, 64, 64, 2, 2, 2, 'valid'],
  [9, 9, 16, 16, 3, 3, 3, 'valid'], [12, 12, 8, 8, 3, 3, 1, 'same'], [16, 16, 4, 4, 4, 4, 4, 'valid'],
];
const MAXPOOL_HELD: Spatial[] = [[14, 14, 16, 16, 2, 2, 2, 'valid'], [10, 10, 8, 8, 3, 3, 1, 'same']];
const AVGPOOL_FIT: Spatial[] = [
  [8, 8, 16, 16, 8, 8, 8, 'valid'], [16, 16, 8, 8, 2, 2, 2, 'valid'], [4, 4, 64, 64, 4, 4, 4, 'valid'],
  [12, 12, 16, 16, 3, 3, 3, 'valid'], [6, 6, 32, 32, 2, 2, 2, 'valid'], [10, 10, 8, 8, 3, 3, 1, 'same'],
  [16, 16, 16, 16, 4, 4, 4, 'valid'], [20, 20, 8, 8, 2, 2, 2, 'valid'], [5, 5, 32, 32, 5, 5, 5, 'valid'],
];
// The DS-CNN pooling window (25×5 over the whole map) and an 8×8 global window, held back.
const AVGPOOL_HELD: Spatial[] = [[8, 8, 64, 64, 8, 8, 8, 'valid']];
const GAP_FIT: Array<[number, number, number]> = [[8, 8, 16], [4, 4, 64], [16, 16, 8], [2, 2, 128], [6, 6, 32], [1, 1, 256], [12, 12, 4]];
const GAP_HELD: Array<[number, number, number]> = [[8, 8, 64], [3, 3, 256]];
const ADD_FIT: Array<[number, number, number]> = [[8, 8, 16], [16, 16, 16], [32, 32, 16], [4, 4, 8], [16, 16, 32], [8, 8, 64]];
const ADD_HELD: Array<[number, number, number]> = [[32, 32, 8], [16, 16, 24]];
const FC_FIT: Array<[number, number, number]> = [
  [1, 64, 10], [1, 128, 64], [1, 256, 128], [1, 640, 128], [1, 784, 128], [1, 128, 128], [4, 64, 32], [1, 32, 256], [1, 16, 16], [2, 256, 10],
  [1, 63, 20], [1, 130, 12], [1, 7, 64], [3, 33, 17],
];
const FC_HELD: Array<[number, number, number]> = [[1, 128, 640], [1, 8, 128], [1, 512, 32], [3, 100, 50], [1, 1000, 10]];
const FC_PT_FIT: Array<[number, number, number]> = [
  [1, 64, 10], [1, 128, 32], [1, 256, 16], [4, 64, 32], [1, 16, 16], [2, 100, 20], [1, 63, 20], [1, 7, 64], [1, 65, 16], [1, 30, 24], [2, 21, 10],
];
const FC_PT_HELD: Array<[number, number, number]> = [[1, 128, 64], [3, 50, 30]];
// update: [weights, directions m]
const UPDATE_FIT: Array<[number, number]> = [[256, 1], [1024, 1], [512, 2], [2048, 4], [128, 8], [4096, 2], [700, 3]];
const UPDATE_HELD: Array<[number, number]> = [[1500, 4], [3000, 1]];

export function sweepShapes(): SweepShape[] {
  const out: SweepShape[] = [];
  for (const w of ['w8', 'w16'] as const) {
    for (const s of CONV_FIT) out.push(spatial(`conv_${w}`, false, s));
    for (const s of CONV_HELD) out.push(spatial(`conv_${w}`, true, s));
    for (const s of CONV_PT_FIT) out.push(spatial(`conv_${w}_pt`, false, s));
    for (const s of CONV_PT_HELD) out.push(spatial(`conv_${w}_pt`, true, s));
    for (const s of DW_FIT) out.push(spatial(`dw_${w}`, false, s));
    for (const s of DW_HELD) out.push(spatial(`dw_${w}`, true, s));
    for (const s of DW_PT_FIT) out.push(spatial(`dw_${w}_pt`, false, s));
    for (const s of DW_PT_HELD) out.push(spatial(`dw_${w}_pt`, true, s));
    for (const s of FC_FIT) out.push(flat(`fc_${w}`, false, ...s));
    for (const s of FC_HELD) out.push(flat(`fc_${w}`, true, ...s));
    for (const s of FC_PT_FIT) out.push(flat(`fc_${w}_pt`, false, ...s));
    for (const s of FC_PT_HELD) out.push(flat(`fc_${w}_pt`, true, ...s));
    for (const [n, m] of UPDATE_FIT) out.push(flat(`update_${w}`, false, 1, n, m));
    for (const [n, m] of UPDATE_HELD) out.push(flat(`update_${w}`, true, 1, n, m));
  }
  out.push(spatial('avgpool', true, [25, 5, 64, 64, 25, 5, 25, 'valid'], 5));
  for (const s of MAXPOOL_FIT) out.push(spatial('maxpool', false, s));
  for (const s of MAXPOOL_HELD) out.push(spatial('maxpool', true, s));
  for (const s of AVGPOOL_FIT) out.push(spatial('avgpool', false, s));
  for (const s of AVGPOOL_HELD) out.push(spatial('avgpool', true, s));
  for (const [h, w, c] of GAP_FIT) out.push(spatial('gap', false, [h, w, c, c, h, w, 1, 'valid']));
  for (const [h, w, c] of GAP_HELD) out.push(spatial('gap', true, [h, w, c, c, h, w, 1, 'valid']));
  for (const [h, w, c] of ADD_FIT) out.push(spatial('add', false, [h, w, c, c, 1, 1, 1, 'valid']));
  for (const [h, w, c] of ADD_HELD) out.push(spatial('add', true, [h, w, c, c, 1, 1, 1, 'valid']));
  return out;
}
