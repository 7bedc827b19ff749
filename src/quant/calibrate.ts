// Calibration for post-training quantization: run the float model on sample data (on the device's
// f32 kernels) and record each activation's range — min/max, or a percentile that ignores outliers.
import { ConfigError } from '../errors.js';
import { sampleSize, validateDataset, type Dataset } from '../data/dataset.js';
import { resolveGraph } from '../model/graph.js';
import type { FloatModel } from '../model/model.js';
import { BackpropSession } from '../runtime/backprop-session.js';
import { Mcu } from '../device/mcu.js';
import type { BuildFlavor } from '../device/features.js';
import { mulberry32 } from '../util/random.js';
import type { Range } from './quantize.js';

export interface CalibrationOptions {
  /** Samples to run (default: all, at most 512). */
  samples?: number;
  batch?: number;
  /** 'minmax' (default) or a percentile such as 99.99 of |values| per side. */
  method?: 'minmax' | { percentile: number };
  build?: BuildFlavor | 'auto';
}

const RESERVOIR = 65536;

class RangeObserver {
  min = Infinity;
  max = -Infinity;
  private readonly reservoir: number[] = [];
  private seen = 0;
  private readonly random = mulberry32(7);
  constructor(private readonly keepSamples: boolean) {}
  observe(v: Float32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const x = v[i]!;
      if (x < this.min) this.min = x;
      if (x > this.max) this.max = x;
      if (!this.keepSamples) continue;
      this.seen++;
      if (this.reservoir.length < RESERVOIR) this.reservoir.push(x);
      else {
        const j = Math.floor(this.random() * this.seen);
        if (j < RESERVOIR) this.reservoir[j] = x;
      }
    }
  }
  range(percentile?: number): Range {
    if (percentile === undefined || this.reservoir.length === 0) return { min: this.min, max: this.max };
    const sorted = Float64Array.from(this.reservoir).sort();
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
    return { min: at(1 - percentile / 100), max: at(percentile / 100) };
  }
}

export async function calibrate(model: FloatModel, data: Dataset, options: CalibrationOptions = {}): Promise<Record<string, Range>> {
  validateDataset(data);
  const method = options.method ?? 'minmax';
  const percentile = method === 'minmax' ? undefined : method.percentile;
  if (percentile !== undefined && !(percentile > 50 && percentile <= 100)) throw new ConfigError(`calibration percentile must be in (50, 100], got ${percentile}`);
  const graph = resolveGraph(model.architecture);
  const count = Math.min(options.samples ?? 512, data.labels.length);
  const batch = Math.min(options.batch ?? 32, count);
  const size = sampleSize(data);
  const plan = BackpropSession.plan(model, { batch, trainable: new Set(), optimizer: { kind: 'sgd', lr: 1 } });
  const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(plan.sramBytes / 16) * 16 + 16, flashBytes: Math.ceil(plan.flashBytes / 16) * 16 + 16 }, build: options.build });
  const session = new BackpropSession(mcu, model, { batch, trainable: new Set(), optimizer: { kind: 'sgd', lr: 1 } });
  const observers = new Map<string, RangeObserver>();
  const inputName = graph.nodes[0]!.node.name;
  const input = new RangeObserver(percentile !== undefined);
  for (let from = 0; from < count; from += batch) {
    const rows = Math.min(batch, count - from);
    const x = new Float32Array(batch * size);
    x.set(data.images.subarray(from * size, (from + rows) * size));
    input.observe(x, rows * size);
    session.setBatch(x, new Int32Array(batch));
    const perSample = (t: string) => graph.nodes.find((n) => n.node.name === t)!.outShape.reduce((a, b) => a * b, 1);
    session.forwardObserved((t, values) => {
      let o = observers.get(t);
      if (!o) observers.set(t, (o = new RangeObserver(percentile !== undefined)));
      o.observe(values, rows * perSample(t));
    });
  }
  const ranges: Record<string, Range> = { [inputName]: input.range(percentile) };
  for (const [t, o] of observers) ranges[t] = o.range(percentile);
  // Nodes folded away by lowering (a conv before its standalone ReLU) take the range of the tensor
  // that carries their data; pooling/flatten share their input's quantization anyway.
  for (const n of graph.nodes) {
    if (ranges[n.node.name]) continue;
    const consumer = graph.nodes.find((c) => c.inputs.includes(n.index) && ranges[c.node.name]);
    const source = ranges[graph.nodes[n.inputs[0] ?? 0]!.node.name];
    ranges[n.node.name] = consumer ? ranges[consumer.node.name]! : source ?? { min: 0, max: 1 };
  }
  return ranges;
}
