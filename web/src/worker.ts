// The training worker: owns the emulated MCU so the page stays responsive while QZO-FF runs.
// One run at a time; stop and predict messages are handled between slices of training steps.
import { LastmileError } from '../../src/errors.js';
import { loadModel, type FloatModel, type QuantizedModel } from '../../src/model/model.js';
import { describeImportedModel, importModelFile } from './model-import.js';
import { Device } from '../../src/device/device.js';
import { detectFeatures } from '../../src/device/features.js';
import { setDefaultWasmBaseUrl } from '../../src/device/wasm-source.js';
import { mcuEstimateText } from './mcu-estimates.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { sha256Hex } from './sha256.js';
import { PersonalisationRun, runTraining } from './trainer-core.js';
import { createMfccFrontEnd, KWS_FEATURES, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT } from '../../src/kernels/mfcc.js';
import { elementCount, resolveGraph } from '../../src/model/graph.js';

type FrontEnd = Awaited<ReturnType<typeof createMfccFrontEnd>>;
const frontEnds = new Map<string, Promise<FrontEnd>>();

/** The device front end with the loaded model's input quantization (a 49 × 10 int8 model), else MLPerf Tiny KWS's. */
function frontEndFor(model: FloatModel | QuantizedModel | null): Promise<FrontEnd> {
  let quant = { scale: KWS_INPUT_SCALE, zeroPoint: KWS_INPUT_ZERO_POINT };
  if (model?.kind === 'quantized' && elementCount(resolveGraph(model.architecture).inputShape) === KWS_FEATURES) {
    const q = model.activations[model.architecture.nodes[0]!.name];
    if (q) quant = { scale: q.scale, zeroPoint: q.zeroPoint };
  }
  const key = `${quant.scale}/${quant.zeroPoint}`;
  if (!frontEnds.has(key)) frontEnds.set(key, createMfccFrontEnd(quant));
  return frontEnds.get(key)!;
}

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (message: FromWorker, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

let backbone: FloatModel | QuantizedModel | null = null;
let wasmBaseUrl = '';
let run: PersonalisationRun | null = null;
let stopRequested = false;
/** Init and runs execute one after another: a Train sent right after Reset waits for the old run to wind down. */
let queue: Promise<void> = Promise.resolve();
/** Bumped by reset so a run that is still preparing does not install itself afterwards. */
let generation = 0;

function fail(during: Extract<FromWorker, { type: 'error' }>['during'], e: unknown): void {
  const family = e instanceof LastmileError ? e.family : 'internal';
  const message = e instanceof Error ? e.message : String(e);
  post({ type: 'error', message, family, during });
}

async function init(message: Extract<ToWorker, { type: 'init' }>): Promise<void> {
  // Library code that makes its own devices (prototype head, calibration) fetches from here too.
  wasmBaseUrl = message.wasmBaseUrl;
  setDefaultWasmBaseUrl(wasmBaseUrl);
  const device = await Device.create({ arenaBytes: 65536, wasmBaseUrl });
  const response = await fetch(message.modelUrl);
  if (!response.ok) throw new Error(`fetching the backbone ${message.modelUrl} failed: HTTP ${response.status}`);
  const model = loadModel(new Uint8Array(await response.arrayBuffer()), message.modelUrl);
  if (model.kind !== 'float') throw new Error(`${message.modelUrl} is a ${model.kind} model; the page adapts a float backbone`);
  backbone = model;
  const parameters = Object.values(model.params).reduce((s, p) => s + p.weights.length + p.bias.length, 0);
  const classes = Array.isArray(model.meta.classes) ? ` classes ${model.meta.classes.join(', ')}` : '';
  post({
    type: 'ready', build: device.build, features: detectFeatures(),
    model: { architecture: model.architecture.name, parameters, pretrainedOn: `${String(model.meta.pretrainedOn ?? 'unknown data')}${classes}` },
  });
}

async function train(message: Extract<ToWorker, { type: 'train' }>): Promise<void> {
  if (!backbone) throw new Error('the backbone is not loaded yet');
  stopRequested = false;
  const mine = ++generation;
  run = null;
  const prepared = await PersonalisationRun.prepare(backbone, message.train, message.heldOut, message.settings, { wasmBaseUrl });
  if (mine !== generation) return;
  run = prepared;
  post({
    type: 'prepared', memory: prepared.memory, zeroShot: prepared.zeroShot, classNames: prepared.classNames, build: prepared.build,
    trainCount: message.train.labels.length, heldOutCount: message.heldOut?.labels.length ?? 0,
  });
  let pending: { step: number; loss: number }[] = [];
  let lastPost = 0;
  const t0 = performance.now();
  const flush = (accuracy?: Extract<FromWorker, { type: 'progress' }>['accuracy']) => {
    const elapsed = (performance.now() - t0) / 1000;
    const last = pending[pending.length - 1]?.step ?? prepared.step;
    post({ type: 'progress', losses: pending, ...(accuracy ? { accuracy } : {}), sramHighWater: prepared.sramHighWater, stepsPerSec: elapsed > 0 ? last / elapsed : 0 });
    pending = [];
    lastPost = performance.now();
  };
  const result = await runTraining(prepared, {
    evalEvery: message.evalEvery,
    shouldStop: () => stopRequested || mine !== generation,
    // A macrotask boundary, so queued messages (stop, predict) are delivered mid-run.
    yieldNow: () => new Promise((resolve) => setTimeout(resolve, 0)),
    onStep: (r) => {
      pending.push({ step: r.step, loss: r.loss });
      if (r.accuracy) flush({ step: r.step, ...r.accuracy });
      else if (performance.now() - lastPost > 100) flush();
    },
  });
  if (mine !== generation) return;
  if (pending.length) flush();
  const trainMs = performance.now() - t0;
  post({ type: 'done', steps: result.steps, stopped: result.stopped, final: result.final, hash: sha256Hex(prepared.exportModel()), trainMs, sramHighWater: prepared.sramHighWater });
}

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case 'init':
      queue = queue.then(() => init(message).catch((e) => fail('init', e)));
      break;
    case 'train':
      queue = queue.then(() => train(message).catch((e) => fail('train', e)));
      break;
    case 'stop':
      stopRequested = true;
      break;
    case 'reset':
      generation++;
      stopRequested = true;
      run = null;
      break;
    case 'load-model':
      queue = queue.then(() => {
        const model = importModelFile(message.bytes, message.name);
        generation++;
        stopRequested = true;
        run = null;
        backbone = model;
        post({ type: 'model-loaded', name: message.name, summary: describeImportedModel(model) });
      }).catch((e) => fail('load-model', e));
      break;
    case 'estimate': {
      const answer = () => {
        if (!backbone) throw new Error('the backbone is not loaded yet');
        post({ type: 'estimate', id: message.id, estimate: mcuEstimateText(backbone.architecture, message.settings, message) });
      };
      // Pure arithmetic: answered at once during a run; before init, after the backbone loads.
      if (backbone) {
        try {
          answer();
        } catch (e) {
          fail('estimate', e);
        }
      } else queue = queue.then(answer).catch((e) => fail('estimate', e));
      break;
    }
    case 'predict':
      try {
        if (!run) throw new Error('train first: predictions come from the adapted model');
        const probabilities = run.predict(message.image);
        post({ type: 'prediction', id: message.id, probabilities }, [probabilities.buffer]);
      } catch (e) {
        fail('predict', e);
      }
      break;
    case 'mfcc':
      // Queued behind a model load, so a clip recorded after choosing the .tflite uses its quantization.
      queue = queue.then(async () => {
        const fe = await frontEndFor(backbone);
        const features = fe.features(message.clip);
        const values = Float32Array.from(features, (q) => (q - fe.quant.zeroPoint) * fe.quant.scale);
        const probabilities = message.predict && run ? run.predict(values) : null;
        post({ type: 'mfcc', id: message.id, features, values, probabilities, quant: fe.quant });
      }).catch((e) => fail('mfcc', e));
      break;
    case 'export':
      try {
        if (!run) throw new Error('there is no adapted model yet: train first');
        const bytes = run.exportModel();
        post({ type: 'model', bytes }, [bytes.buffer]);
      } catch (e) {
        fail('export', e);
      }
      break;
  }
};
