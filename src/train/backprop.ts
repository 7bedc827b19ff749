// The backprop reference trainer: f32 SGD/Adam on the emulated MCU (its SRAM peak is measured in
// the same arena as QZO-FF's), used for pre-training backbones and as the BP baseline.
import { sampleSize, subset, validateDataset, type Dataset } from '../data/dataset.js';
import type { FloatModel } from '../model/model.js';
import { BackpropSession, type OptimizerSpec } from '../runtime/backprop-session.js';
import { Mcu, type Budget } from '../device/mcu.js';
import type { BuildFlavor } from '../device/features.js';
import { mulberry32, shuffle } from '../util/random.js';
import type { Evaluation } from './evaluate.js';
import { checkDatasetShape, checkFloatModel, checkOptionsObject } from '../util/guards.js';

export interface BackpropConfig {
  trainable: readonly string[];
  optimizer: OptimizerSpec;
  batch: number;
  /** Optimizer steps (each on one mini-batch). */
  steps: number;
  seed: number;
  /** Device budget; default: exactly what the plan needs. */
  budget?: Budget;
  build?: BuildFlavor | 'auto';
  onStep?: (step: number, loss: number) => void;
  /** Asked after each step (with that step's loss): true ends training early (the baseline's plateau rule). */
  stop?: (step: number, loss: number) => boolean;
}

export interface BackpropResult {
  model: FloatModel;
  losses: number[];
  /** Measured SRAM high-water mark of the training session. */
  sramPeak: number;
  session: BackpropSession;
}

export async function trainBackprop(model: FloatModel, data: Dataset, config: BackpropConfig): Promise<BackpropResult> {
  checkFloatModel(model, 'trainBackprop: model');
  checkDatasetShape(data, 'trainBackprop: data');
  checkOptionsObject(config, 'trainBackprop');
  validateDataset(data);
  const batch = Math.min(config.batch, data.labels.length);
  const options = { batch, trainable: new Set(config.trainable), optimizer: config.optimizer };
  const plan = BackpropSession.plan(model, options);
  const budget = config.budget ?? { sramBytes: Math.ceil(plan.sramBytes / 16) * 16 || 16, flashBytes: Math.max(16, Math.ceil(plan.flashBytes / 16) * 16) };
  const mcu = await Mcu.create({ budget, build: config.build });
  const session = new BackpropSession(mcu, model, options);
  const random = mulberry32(config.seed);
  let order: number[] = [];
  let cursor = 0;
  const losses: number[] = [];
  for (let step = 0; step < config.steps; step++) {
    const idx: number[] = [];
    while (idx.length < batch) {
      if (cursor >= order.length) {
        order = shuffle(Array.from({ length: data.labels.length }, (_, i) => i), random);
        cursor = 0;
      }
      idx.push(order[cursor++]!);
    }
    const b = subset(data, idx);
    session.setBatch(b.images, b.labels);
    const loss = session.trainStep();
    losses.push(loss);
    config.onStep?.(step, loss);
    if (config.stop?.(step, loss)) break;
  }
  return { model: session.exportModel(), losses, sramPeak: mcu.sram.highWater, session };
}

/** Top-1 accuracy and mean loss of a float model, run on the device's f32 kernels. */
export async function evaluateFloat(model: FloatModel, data: Dataset, build?: BuildFlavor | 'auto'): Promise<Evaluation> {
  checkFloatModel(model, 'model');
  checkDatasetShape(data, 'data');
  validateDataset(data);
  const batch = Math.min(32, data.labels.length);
  const options = { batch, trainable: new Set<string>(), optimizer: { kind: 'sgd' as const, lr: 1 } };
  const plan = BackpropSession.plan(model, options);
  const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(plan.sramBytes / 16) * 16, flashBytes: Math.max(16, Math.ceil(plan.flashBytes / 16) * 16) }, build });
  const session = new BackpropSession(mcu, model, options);
  const size = sampleSize(data);
  let correct = 0;
  let lossSum = 0;
  const k = session.classes;
  for (let from = 0; from < data.labels.length; from += batch) {
    const rows = Math.min(batch, data.labels.length - from);
    const x = new Float32Array(batch * size);
    x.set(data.images.subarray(from * size, (from + rows) * size));
    session.setBatch(x, new Int32Array(batch));
    session.forward();
    const logits = session.readLogits();
    for (let r = 0; r < rows; r++) {
      const row = logits.subarray(r * k, (r + 1) * k);
      let best = 0;
      for (let c = 1; c < k; c++) if (row[c]! > row[best]!) best = c;
      const label = data.labels[from + r]!;
      if (best === label) correct++;
      const max = Math.max(...row);
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(row[c]! - max);
      lossSum += Math.log(sum) + max - row[label]!;
    }
  }
  return { accuracy: (100 * correct) / data.labels.length, loss: lossSum / data.labels.length, count: data.labels.length };
}
