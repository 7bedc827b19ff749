// The models the end-to-end suites run: each architecture preset with deterministic He-normal float
// weights (src/model/model.ts initFloatModel), quantized with fixed activation ranges. Speed and
// memory do not depend on the values, so nothing here is trained or calibrated; accuracy is measured
// only by the time-to-accuracy suite, on the shipped backbone.
import { architecturePreset, MLPERF_TINY_PRESETS } from '../src/model/presets.js';
import { initFloatModel, type FloatModel, type QuantizedModel, type WeightBits } from '../src/model/model.js';
import { elementCount, resolveGraph, type ResolvedGraph } from '../src/model/graph.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { Mcu } from '../src/device/mcu.js';
import { alignUp } from '../src/device/arena.js';
import type { SessionPlan } from '../src/runtime/session.js';
import type { BuildFlavor } from '../src/device/features.js';
import type { QuantizedSet } from '../src/train/batches.js';
import { mulberry32 } from '../src/util/random.js';

/** The four MLPerf Tiny models and the MNIST CNN the shipped backbones use. */
export const BENCH_PRESETS = [...MLPERF_TINY_PRESETS, 'mnist-cnn'] as const;

/** Our build in every end-to-end suite: plain Wasm SIMD128 (what every current browser runs). */
export const OUR_BUILD: BuildFlavor = 'simd';

export interface BenchModels {
  name: string;
  graph: ResolvedGraph;
  float: FloatModel;
  quantized: QuantizedModel;
  inputSize: number;
  classes: number;
  macsPerSample: number;
}

export function benchModels(name: string, weightBits: WeightBits): BenchModels {
  const architecture = architecturePreset(name);
  const graph = resolveGraph(architecture);
  const float = initFloatModel(architecture, 1);
  // A symmetric range for every tensor: plausible scales, zero points near 0.
  const ranges = Object.fromEntries(graph.nodes.map((n) => [n.node.name, { min: -4, max: 4 }]));
  const quantized = quantizeModel(float, ranges, { weightBits });
  return {
    name, graph, float, quantized,
    inputSize: elementCount(graph.inputShape),
    classes: elementCount(graph.outputShape),
    macsPerSample: graph.nodes.reduce((s, n) => s + n.macs, 0),
  };
}

/** An MCU exactly as large as a plan needs: the arena high-water mark is then the plan's peak. */
export function mcuFor(plan: SessionPlan, build: BuildFlavor = OUR_BUILD): Promise<Mcu> {
  return Mcu.create({ budget: { sramBytes: Math.max(16, alignUp(plan.sramBytes)), flashBytes: Math.max(16, alignUp(plan.flashBytes)) }, build });
}

/** Real-valued inputs in [-1, 1) and labels, seeded. */
export function randomBatch(m: BenchModels, count: number, seed = 7): { x: Float32Array; labels: Int32Array } {
  const r = mulberry32(seed);
  const x = new Float32Array(count * m.inputSize);
  for (let i = 0; i < x.length; i++) x[i] = r() * 2 - 1;
  const labels = Int32Array.from({ length: count }, () => Math.floor(r() * m.classes));
  return { x, labels };
}

/** The same batch as a QuantizedSet for the QZO-FF trainer (int8 with the model's input quantization). */
export function quantizedBatch(m: BenchModels, count: number, seed = 7): QuantizedSet {
  const { x, labels } = randomBatch(m, count, seed);
  const q = m.quantized.activations[m.graph.nodes[0]!.node.name]!;
  const samples = Int8Array.from(x, (v) => Math.max(-128, Math.min(127, Math.round(v / q.scale) + q.zeroPoint)));
  return { samples, labels, count, sampleSize: m.inputSize };
}
