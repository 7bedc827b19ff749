// onnxruntime-web's wasm backend, run in Node as the outside baseline for the kernel benchmark:
// one thread, the wasm binaries loaded from the installed package (never the network), and each
// benchmarked layer as a one-node ONNX model. ORT's fast int8 path on wasm is u8 activations ×
// s8 weights, so activations are uint8 with zero points shifted by 128 (the same real values as
// our int8 activations; test/ort-reference.test.ts checks the two encodings agree exactly).
import * as ort from 'onnxruntime-web';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildQLinearConv, buildQLinearMatMul, shiftedZeroPoint, type ConvGeometry } from '../test/reference/onnx-build.js';
import type { ConvShape, DepthwiseShape, GemmShape } from './shapes.js';

export interface OrtLayer {
  /** One inference of the layer: exactly what the benchmark times. */
  run(): Promise<void>;
  release(): Promise<void>;
}

let configured = false;

/** Configure ORT-web once per process: 1 thread, local wasm files, quiet logs. */
export function configureOrtWeb(): void {
  if (configured) return;
  const require = createRequire(import.meta.url);
  // The package exports its .wasm file but not its folder; the folder is what wasmPaths wants.
  const wasmFile = require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
  ort.env.wasm.wasmPaths = pathToFileURL(path.dirname(wasmFile) + path.sep).href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  configured = true;
}

export function ortWebVersion(): string {
  return ort.env.versions.web ?? 'unknown';
}

/**
 * The quantization of every benchmarked layer, ours and ORT's (int8 terms; ORT gets the zero
 * points shifted to uint8). Plausible values: they only decide how often outputs saturate.
 */
export const BENCH_QUANT = { inputScale: 0.02, inputZeroPoint: -3, outputScale: 0.05, outputZeroPoint: 5 } as const;

/** Per-channel int8 weight scales (a per-tensor layer uses channel 0's). */
export function benchWeightScale(channel: number): number {
  return 0.002 + 0.001 * (channel % 7);
}

function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const asInt8 = (u: Uint8Array): Int8Array => new Int8Array(u.buffer, u.byteOffset, u.length);

async function openLayer(model: Uint8Array, inputDims: number[]): Promise<OrtLayer> {
  configureOrtWeb();
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const count = inputDims.reduce((a, b) => a * b, 1);
  const feeds = { x: new ort.Tensor('uint8', pseudoRandomBytes(count, 7), inputDims) };
  const layer: OrtLayer = {
    run: async () => {
      const out = await session.run(feeds);
      // Output tensors live on the JS heap; disposing keeps a long run from growing memory.
      out.y?.dispose();
    },
    release: () => session.release(),
  };
  await layer.run(); // the first run includes one-time setup (buffer allocation, lazy initialisation): not timed
  return layer;
}

const quant = (zeroPoint: number, scale: number) => ({ type: 'uint8' as const, scale, zeroPoint: shiftedZeroPoint(zeroPoint, 'uint8') });

function weightScales(channels: number): number[] {
  return Array.from({ length: channels }, (_, c) => benchWeightScale(c));
}

const input = () => quant(BENCH_QUANT.inputZeroPoint, BENCH_QUANT.inputScale);
const output = () => quant(BENCH_QUANT.outputZeroPoint, BENCH_QUANT.outputScale);

export function ortWebGemm(s: Pick<GemmShape, 'm' | 'k' | 'n'>): Promise<OrtLayer> {
  const model = buildQLinearMatMul({
    m: s.m,
    k: s.k,
    n: s.n,
    input: input(),
    weights: asInt8(pseudoRandomBytes(s.n * s.k, 11)),
    weightScale: benchWeightScale(0),
    output: output(),
  });
  return openLayer(model, [s.m, s.k]);
}

async function ortWebConvGeometry(g: ConvGeometry): Promise<OrtLayer> {
  const weightCount = g.outChannels * g.kernelHeight * g.kernelWidth * (g.depthwise ? 1 : g.inChannels);
  const model = buildQLinearConv({
    geometry: g,
    input: input(),
    weights: asInt8(pseudoRandomBytes(weightCount, 13)),
    weightScales: weightScales(g.outChannels),
    bias: Int32Array.from({ length: g.outChannels }, (_, i) => (i * 37) % 1000 - 500),
    output: output(),
  });
  return openLayer(model, [g.batch, g.inChannels, g.inHeight, g.inWidth]);
}

export function ortWebConv(s: Omit<ConvShape, 'layers'>): Promise<OrtLayer> {
  return ortWebConvGeometry({ ...s, depthwise: false });
}

/** Depthwise = QLinearConv with group = C (ONNX has no separate depthwise op). */
export function ortWebDepthwise(s: Omit<DepthwiseShape, 'layers'>): Promise<OrtLayer> {
  return ortWebConvGeometry({
    batch: s.batch,
    inHeight: s.inHeight,
    inWidth: s.inWidth,
    inChannels: s.channels,
    outChannels: s.channels * s.depthMultiplier,
    kernelHeight: s.kernelHeight,
    kernelWidth: s.kernelWidth,
    strideHeight: s.strideHeight,
    strideWidth: s.strideWidth,
    padding: s.padding,
    depthwise: true,
  });
}
