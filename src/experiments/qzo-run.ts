// adapt()'s QZO-FF path with what the experiments need beyond it: any trainer option on any selection
// (e.g. a sparse mask on the last three layers, which adapt() cannot combine) and the query accuracy
// every few steps (the convergence curves). Same pipeline as adapt(): prototype head, calibration on
// the support set, per-tensor quantization, one session on the device budget, full-support steps.
import type { Dataset } from '../data/dataset.js';
import { resolveGraph } from '../model/graph.js';
import type { FloatModel, WeightBits } from '../model/model.js';
import { calibrate } from '../quant/calibrate.js';
import { quantizeModel } from '../quant/quantize.js';
import { Mcu } from '../device/mcu.js';
import { QuantizedSession } from '../runtime/session.js';
import { quantizeSet } from '../train/batches.js';
import { evaluate } from '../train/evaluate.js';
import { withPrototypeHead } from '../train/prototype.js';
import { QzoFfTrainer, qzoFfSramBuffers, type QzoFfConfig } from '../train/qzo-ff.js';
import { trainableLayers, type TrainSelection } from '../train/selection.js';

export interface QzoRunOptions {
  backbone: FloatModel;
  support: Dataset;
  query: Dataset;
  device: { name: string; sramBytes: number; flashBytes: number };
  weightBits: WeightBits;
  selection: TrainSelection;
  config: QzoFfConfig;
  steps: number;
  /** 'prototype' (default, as adapt()): class-mean head from the support set; 'keep': the backbone's own head. */
  head?: 'prototype' | 'keep';
  /** Measure query accuracy every this many steps (0: only before and after). */
  evalEvery?: number;
  /** Also measure it after these steps (the convergence curves' early steps). */
  evalAt?: readonly number[];
}

export interface QzoRun {
  zeroShot: number;
  after: number;
  losses: number[];
  /** [step, query accuracy %], step 0 first. */
  curve: [number, number][];
  sram: number;
}

export async function qzoRun(o: QzoRunOptions): Promise<QzoRun> {
  const proto = o.head === 'keep' ? o.backbone : await withPrototypeHead(o.backbone, o.support);
  const quantized = quantizeModel(proto, await calibrate(proto, o.support), { weightBits: o.weightBits, perChannel: false });
  const trainable = trainableLayers(resolveGraph(quantized.architecture), o.selection);
  const micro = Math.min(5, o.support.labels.length);
  const mcu = await Mcu.create({ budget: o.device });
  const session = new QuantizedSession(mcu, quantized, { batch: micro, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(micro, { model: quantized, trainable, config: o.config }) });
  const query = quantizeSet(session, o.query);
  const zeroShot = evaluate(session, query).accuracy;
  const curve: [number, number][] = [[0, zeroShot]];
  const trainer = new QzoFfTrainer(session, trainable, o.config);
  const set = trainer.prepareData(o.support);
  const losses: number[] = [];
  const every = o.evalEvery ?? 0;
  const at = new Set(o.evalAt ?? []);
  const logged = (s: number) => (every > 0 && s % every === 0) || at.has(s);
  for (let s = 1; s <= o.steps; s++) {
    losses.push(trainer.trainStep(set).loss);
    if (logged(s)) curve.push([s, evaluate(session, query).accuracy]);
  }
  const after = o.steps > 0 && logged(o.steps) ? curve.at(-1)![1] : evaluate(session, query).accuracy;
  if (curve.at(-1)![0] !== o.steps) curve.push([o.steps, after]);
  return { zeroShot, after, losses, curve, sram: session.plan.sramBytes };
}
