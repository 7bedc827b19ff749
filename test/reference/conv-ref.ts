// Naive TypeScript references for FullyConnected and Conv2D, written from TFLite Micro's
// reference kernels (reference_integer_ops::FullyConnected / ConvPerChannel) rather than from
// the device code: plain loops over the unpacked TFLite layouts, int32 wrap-around accumulation,
// out-of-image taps skipped, then requantizeRef per output channel.
import { multiplyByQuantizedMultiplierRef, requantizeRef } from './tflm.js';

export type Weights = Int8Array | Int16Array;

/** acc[m][n] = bias[n] + Σ_k (x[m][k] + inputOffset)·w[n][k], inputOffset = −zin, wrapping. */
export function fullyConnectedAccRef(
  input: Int8Array, weights: Weights, bias: Int32Array | null, batch: number, inFeatures: number, outFeatures: number, zin: number,
): Int32Array {
  const acc = new Int32Array(batch * outFeatures);
  const inputOffset = -zin;
  for (let m = 0; m < batch; m++) {
    for (let n = 0; n < outFeatures; n++) {
      let sum = 0;
      for (let k = 0; k < inFeatures; k++) {
        sum = (sum + Math.imul(input[m * inFeatures + k]! + inputOffset, weights[n * inFeatures + k]!)) | 0;
      }
      if (bias) sum = (sum + bias[n]!) | 0;
      acc[m * outFeatures + n] = sum;
    }
  }
  return acc;
}

export interface ConvRefParams {
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
}

/** TFLite ComputeOutSize (dilation 1). */
export function outSizeRef(padding: 'same' | 'valid', image: number, filter: number, stride: number): number {
  return padding === 'same' ? Math.floor((image + stride - 1) / stride) : Math.floor((image + stride - filter) / stride);
}

/** TFLite ComputePaddingWithOffset: the padding before; the odd extra goes after. */
export function padBeforeRef(stride: number, inSize: number, filter: number, outSize: number): number {
  const total = Math.max((outSize - 1) * stride + filter - inSize, 0);
  return Math.floor(total / 2);
}

/** ConvPerChannel accumulators [b][oy][ox][oc] (NHWC input, OHWI weights), before requantization. */
export function conv2dAccRef(input: Int8Array, weights: Weights, bias: Int32Array | null, p: ConvRefParams, zin: number): Int32Array {
  const outH = outSizeRef(p.padding, p.inHeight, p.kernelHeight, p.strideHeight);
  const outW = outSizeRef(p.padding, p.inWidth, p.kernelWidth, p.strideWidth);
  const padH = p.padding === 'same' ? padBeforeRef(p.strideHeight, p.inHeight, p.kernelHeight, outH) : 0;
  const padW = p.padding === 'same' ? padBeforeRef(p.strideWidth, p.inWidth, p.kernelWidth, outW) : 0;
  const acc = new Int32Array(p.batch * outH * outW * p.outChannels);
  const inputOffset = -zin;
  let at = 0;
  for (let b = 0; b < p.batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const inY0 = oy * p.strideHeight - padH;
        const inX0 = ox * p.strideWidth - padW;
        for (let oc = 0; oc < p.outChannels; oc++) {
          let sum = 0;
          for (let ky = 0; ky < p.kernelHeight; ky++) {
            const iy = inY0 + ky;
            if (iy < 0 || iy >= p.inHeight) continue;
            for (let kx = 0; kx < p.kernelWidth; kx++) {
              const ix = inX0 + kx;
              if (ix < 0 || ix >= p.inWidth) continue;
              for (let ic = 0; ic < p.inChannels; ic++) {
                const x = input[((b * p.inHeight + iy) * p.inWidth + ix) * p.inChannels + ic]!;
                const w = weights[((oc * p.kernelHeight + ky) * p.kernelWidth + kx) * p.inChannels + ic]!;
                sum = (sum + Math.imul(x + inputOffset, w)) | 0;
              }
            }
          }
          if (bias) sum = (sum + bias[oc]!) | 0;
          acc[at++] = sum;
        }
      }
    }
  }
  return acc;
}

/** Requantizes [rows][channels] accumulators with per-tensor (length 1) or per-channel parameters. */
export function requantizeRowsRef(
  acc: Int32Array, channels: number, multiplier: Int32Array, shift: Int32Array, outZeroPoint: number, actMin: number, actMax: number,
): Int8Array {
  const out = new Int8Array(acc.length);
  for (let i = 0; i < acc.length; i++) {
    const c = multiplier.length === 1 ? 0 : i % channels;
    out[i] = requantizeRef(acc[i]!, multiplier[c]!, shift[c]!, outZeroPoint, actMin, actMax);
  }
  return out;
}

/**
 * The paper's perturbed weight wq± = requant(wq·1q ± εq·zq) brought back to the weight grid and
 * clamped to it (±32767 for 16-bit, ±127 for 8-bit); z[i] is the perturbation of element i.
 */
export function perturbWeightsRef(
  weights: Weights, z: Int8Array, signedEps: number, oneQ: number, multiplier: number, shift: number, weightBits: 8 | 16,
): Weights {
  const hi = weightBits === 16 ? 32767 : 127;
  const out = weightBits === 16 ? new Int16Array(weights.length) : new Int8Array(weights.length);
  for (let i = 0; i < weights.length; i++) {
    const sum = weights[i]! * oneQ + signedEps * z[i]!;
    out[i] = Math.min(hi, Math.max(-hi, multiplyByQuantizedMultiplierRef(sum, multiplier, shift)));
  }
  return out;
}
