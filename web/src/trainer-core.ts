// The page's training routine, shared by its Web Worker and by Node (the browser test runs it in both
// and compares hashes). It is the same pipeline as the library's adapt(): prototype head over the
// training images, calibration, post-training quantization, a budget check before any device memory
// is touched, then QZO-FF on the emulated MCU — but stepwise, so the worker can report progress and
// stop between steps. Only browser-safe library modules are imported here.
import { ConfigError } from '../../src/errors.js';
import { sampleSize, type Dataset } from '../../src/data/dataset.js';
import { elementCount, resolveGraph } from '../../src/model/graph.js';
import { saveModel, type FloatModel, type QuantizedModel } from '../../src/model/model.js';
import type { BuildFlavor } from '../../src/device/features.js';
import { QuantizedSession } from '../../src/runtime/session.js';
import { loadMicroBatch, quantizeSet, type QuantizedSet } from '../../src/train/batches.js';
import { evaluate } from '../../src/train/evaluate.js';
import { checkRunFits, planRun, startSession } from '../../src/train/prepare-run.js';
import { QzoFfTrainer, type StepResult } from '../../src/train/qzo-ff.js';
import { parseSelection } from '../../src/train/selection.js';
import { planImportedRun } from './imported-plan.js';
import type { Accuracy, MemoryFigures, ModeFootprint, TrainSettings } from './settings.js';

export { DEFAULT_SETTINGS, type Accuracy, type MemoryFigures, type Precision, type TrainSettings } from './settings.js';

export interface RuntimeOptions {
  build?: BuildFlavor | 'auto';
  /** Browser: folder URL holding scalar.wasm, simd.wasm and relaxed.wasm. */
  wasmBaseUrl?: string;
}

function footprint(plan: { sramBytes: number; flashBytes: number }, device: TrainSettings['device']): ModeFootprint {
  return { sram: plan.sramBytes, flash: plan.flashBytes, fits: plan.sramBytes <= device.sramBytes && plan.flashBytes <= device.flashBytes };
}

function checkSettings(s: TrainSettings, trainCount: number): void {
  const whole = (v: number, what: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${what} must be a whole number from ${min} to ${max}, got ${v}`);
  };
  whole(s.steps, 'steps', 0, 100_000);
  whole(s.seed, 'seed', 0, 2 ** 32 - 1);
  whole(s.microBatch, 'micro-batch', 1, 64);
  whole(s.batchSize, 'samples per step', 0);
  if (!(Number.isFinite(s.lr) && s.lr > 0)) throw new ConfigError(`learning rate must be a number > 0, got ${s.lr}`);
  if (s.precision !== '16w8a' && s.precision !== '8w8a') throw new ConfigError(`precision must be 16w8a or 8w8a, got '${s.precision}'`);
  if (trainCount === 0) throw new ConfigError('there are no training images: load the bundled samples or draw some examples');
}

/** A prepared personalisation run: a quantized model with a fresh prototype head on the emulated MCU. */
export class PersonalisationRun {
  readonly memory: MemoryFigures;
  readonly zeroShot: Accuracy;
  readonly classNames: string[];
  private stepsDone = 0;
  private readonly quantizedTrain: QuantizedSet;
  private readonly quantizedHeldOut: QuantizedSet | null;

  private constructor(
    readonly settings: TrainSettings,
    private readonly session: QuantizedSession,
    private readonly trainer: QzoFfTrainer,
    private readonly model: QuantizedModel,
    private readonly trainable: string[],
    memory: MemoryFigures,
    train: Dataset,
    heldOut: Dataset | null,
  ) {
    this.memory = memory;
    this.classNames = train.classNames ?? Array.from({ length: train.classes }, (_, i) => String(i));
    this.quantizedTrain = quantizeSet(session, train);
    this.quantizedHeldOut = heldOut && heldOut.labels.length > 0 ? quantizeSet(session, heldOut) : null;
    this.zeroShot = this.accuracy();
  }

  /**
   * Build the head, quantize and check the budget (BudgetError before any device memory is taken),
   * then prepare the session and trainer. `heldOut` must use the same classes as `train`.
   */
  static async prepare(backbone: FloatModel | QuantizedModel, train: Dataset, heldOut: Dataset | null, settings: TrainSettings, runtime: RuntimeOptions = {}): Promise<PersonalisationRun> {
    checkSettings(settings, train.labels.length);
    if (heldOut && heldOut.classes !== train.classes) throw new ConfigError(`held-out images have ${heldOut.classes} classes, the training images ${train.classes}`);
    const build = runtime.build ?? 'auto';
    // An imported model may take another input: refuse before any work, naming both shapes.
    const inputShape = resolveGraph(backbone.architecture).inputShape;
    if (sampleSize(train) !== elementCount(inputShape)) throw new ConfigError(`the images hold ${sampleSize(train)} values (28×28×1); model '${backbone.architecture.name}' takes [${inputShape.join('×')}]: on-page training needs data of that shape`);
    const selection = parseSelection(settings.selection, { trainerOptions: true });
    if (selection.kind === 'sparse') throw new ConfigError("the page offers full, head, last:K and bias; use the CLI for 'sparse'");
    // A quantized model (an imported int8 .tflite) gets a new prototype head on its own grids.
    const plan = backbone.kind === 'quantized' ? (o: Omit<Parameters<typeof planRun>[0], 'backbone'>) => planImportedRun(backbone, o) : (o: Omit<Parameters<typeof planRun>[0], 'backbone'>) => planRun({ ...o, backbone });
    const run = await plan({
      support: train, precision: settings.precision, selection, microBatch: settings.microBatch, build,
      trainer: { epsilon: settings.epsilon, directions: settings.directions, dist: 'gaussian', lr: settings.lr, seed: settings.seed, ...(settings.batchSize > 0 ? { batchSize: settings.batchSize } : {}) },
      enhancements: settings.dither ? { dither: true } : {},
    });
    const { quantized, trainable, trainerConfig, plans } = run;
    const memory: MemoryFigures = {
      budget: { sram: settings.device.sramBytes, flash: settings.device.flashBytes },
      inference: footprint(plans.infer, settings.device),
      qzoFf: footprint(plans.ff, settings.device),
      backprop: footprint(plans.bp, settings.device),
    };
    checkRunFits(run, settings.device);
    const session = await startSession(run, settings.device, { build, ...(runtime.wasmBaseUrl !== undefined ? { wasmBaseUrl: runtime.wasmBaseUrl } : {}) });
    const trainer = new QzoFfTrainer(session, trainable, trainerConfig);
    return new PersonalisationRun(settings, session, trainer, quantized, trainable, memory, train, heldOut);
  }

  get build(): BuildFlavor {
    return this.session.mcu.build;
  }

  get step(): number {
    return this.stepsDone;
  }

  get finished(): boolean {
    return this.stepsDone >= this.settings.steps;
  }

  /** Measured SRAM high-water mark of the arena so far (bytes). */
  get sramHighWater(): number {
    return this.session.mcu.sram.highWater;
  }

  trainStep(): StepResult {
    if (this.finished) throw new ConfigError(`all ${this.settings.steps} steps are done`);
    const r = this.trainer.trainStep(this.quantizedTrain);
    this.stepsDone++;
    return r;
  }

  accuracy(): Accuracy {
    return {
      train: evaluate(this.session, this.quantizedTrain).accuracy,
      heldOut: this.quantizedHeldOut ? evaluate(this.session, this.quantizedHeldOut).accuracy : null,
    };
  }

  /** Class probabilities for one image (values in [0, 1]), from the integer logits of the current weights. */
  predict(image: Float32Array): Float32Array {
    const s = this.session;
    if (image.length !== s.inputSize) throw new ConfigError(`an image has ${image.length} values, the model takes ${s.inputSize}`);
    const one: QuantizedSet = { samples: s.quantizeInput(image), labels: new Int32Array(1), count: 1, sampleSize: s.inputSize };
    loadMicroBatch(s, one, [0], 0, 1);
    s.forward();
    const logits = s.readLogits().subarray(0, s.classes);
    const scaled = Array.from(logits, (v) => v * s.logitsScale);
    const max = Math.max(...scaled);
    const exp = scaled.map((v) => Math.exp(v - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    return Float32Array.from(exp, (v) => v / sum);
  }

  /** The adapted model in the project's model format (LMDL), trained weights read back from SRAM. */
  exportModel(): Uint8Array {
    const { params } = this.session.exportModel();
    const { device, ...rest } = this.settings;
    // No build flavour or timing here: the file must be the same bytes on every engine.
    const meta = { ...this.model.meta, adaptedWith: { method: 'qzo-ff', ...rest, device: device.name, steps: this.stepsDone, trainable: this.trainable } };
    return saveModel({ ...this.model, params, meta });
  }
}

export interface ProgressReport {
  step: number;
  loss: number;
  /** Present every `evalEvery` steps and at the last step. */
  accuracy?: Accuracy;
}

export interface RunOptions {
  /** Measure accuracy every this many steps (and after the last one). */
  evalEvery: number;
  onStep?: (report: ProgressReport) => void;
  /** Checked between steps; true ends the run early (the weights stay as trained so far). */
  shouldStop?: () => boolean;
  /** Awaited between slices of work so a worker can receive messages (stop, predict) while training. */
  yieldNow?: () => Promise<void>;
  /** Milliseconds of training between yields. */
  sliceMs?: number;
}

/** Train to the configured number of steps (or until stopped). The trained weights do not depend on evalEvery, slicing or stopping points. */
export async function runTraining(run: PersonalisationRun, o: RunOptions): Promise<{ steps: number; stopped: boolean; final: Accuracy }> {
  if (!Number.isInteger(o.evalEvery) || o.evalEvery < 1) throw new ConfigError(`evalEvery must be a whole number ≥ 1, got ${o.evalEvery}`);
  let sliceStart = performance.now();
  let last: Accuracy | undefined;
  while (!run.finished) {
    if (o.shouldStop?.()) return { steps: run.step, stopped: true, final: run.accuracy() };
    const r = run.trainStep();
    last = run.step % o.evalEvery === 0 || run.finished ? run.accuracy() : undefined;
    o.onStep?.({ step: run.step, loss: r.loss, ...(last ? { accuracy: last } : {}) });
    if (o.yieldNow && performance.now() - sliceStart >= (o.sliceMs ?? 50)) {
      await o.yieldNow();
      sliceStart = performance.now();
    }
  }
  return { steps: run.step, stopped: false, final: last ?? run.accuracy() };
}
