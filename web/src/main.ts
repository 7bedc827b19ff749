// The page: wires the settings, the classes and drawing pad, and the training panel to the worker
// that owns the emulated MCU. Nothing here trains; it sends data and settings and draws what comes back.
import { ClassList, type ClassEntry } from './class-list.js';
import { DrawPad } from './draw-pad.js';
import { kib, pct, seconds } from './format.js';
import { LineChart, type Series } from './line-chart.js';
import { renderMemoryGauge } from './memory-gauge.js';
import type { FromWorker, ImportedModelSummary, ToWorker } from './protocol.js';
import { imageValues, parseSampleSet, splitSampleSet, type SampleSet } from './samples.js';
import { SettingsForm } from './settings-form.js';
import { assembleTrainingData } from './training-data.js';
import type { McuEstimateText, MemoryFigures, TrainSettings } from './settings.js';
import type { Dataset } from '../../src/data/dataset.js';
import { AudioPanel } from './audio-panel.js';

const SAMPLES_URL = new URL('./assets/digits-5to9.bin', location.href).href;
const MODEL_URL = new URL('./models/mnist-cnn-digits04.lmdl', location.href).href;
const WASM_URL = new URL('./wasm/', location.href).href;
/** Accuracy points per run on the chart (each one evaluates every held-out image). */
const ACCURACY_POINTS = 25;
/** Steps of the loss moving average drawn over the raw, noisy per-step loss. */
const LOSS_WINDOW = 20;

const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no element #${id}`);
  return node as T;
};

const svg = (id: string): SVGSVGElement => {
  const node = document.getElementById(id);
  if (!(node instanceof SVGSVGElement)) throw new Error(`the page has no <svg id="${id}">`);
  return node;
};

const ui = {
  engine: $('engine'),
  status: $('status'),
  error: $('error'),
  shots: $<HTMLInputElement>('shots'),
  loadSamples: $<HTMLButtonElement>('load-samples'),
  addClassForm: $<HTMLFormElement>('add-class-form'),
  newClass: $<HTMLInputElement>('new-class'),
  drawClass: $<HTMLSelectElement>('draw-class'),
  addExample: $<HTMLButtonElement>('add-example'),
  clearPad: $<HTMLButtonElement>('clear-pad'),
  showHeldOut: $<HTMLButtonElement>('show-held-out'),
  preview: $<HTMLCanvasElement>('preview'),
  prediction: $('prediction'),
  train: $<HTMLButtonElement>('train'),
  stop: $<HTMLButtonElement>('stop'),
  reset: $<HTMLButtonElement>('reset'),
  download: $<HTMLButtonElement>('download'),
  progress: $<HTMLProgressElement>('progress'),
  progressText: $('progress-text'),
  gauge: $('gauge'),
  accBefore: $('acc-before'),
  accAfter: $('acc-after'),
  accTrain: $('acc-train'),
  speed: $('speed'),
  hash: $('hash'),
  runSettings: $('run-settings'),
  mcuEstimate: $('mcu-estimate'),
  modelFile: $<HTMLInputElement>('model-file'),
  modelInfo: $('model-info'),
};

type Phase = 'loading' | 'idle' | 'preparing' | 'training' | 'done';

const state = {
  phase: 'loading' as Phase,
  samples: null as SampleSet | null,
  build: '',
  /** A run exists in the worker (prepared or trained): predictions and download work. */
  hasRun: false,
  settings: null as TrainSettings | null,
  memory: null as MemoryFigures | null,
  predictionId: 0,
  classNames: [] as string[],
};

const settingsForm = new SettingsForm();

function say(text: string): void {
  ui.status.textContent = text;
}

function showError(text: string | null): void {
  ui.error.hidden = text === null;
  ui.error.textContent = text ?? '';
}

/** Training / held-out counts per class under the current shots and seed (what Train will use). */
function classCounts(c: ClassEntry): { train: number; heldOut: number } {
  if (c.bundled === null || !state.samples) return { train: c.drawn.length, heldOut: 0 };
  const total = state.samples.labels.reduce((n, l) => n + (l === c.bundled ? 1 : 0), 0);
  const shots = Math.min(Math.max(1, Math.floor(Number(ui.shots.value)) || 1), total - 1);
  return { train: shots + c.drawn.length, heldOut: total - shots };
}

const classList = new ClassList($<HTMLTableSectionElement>('class-rows'), ui.drawClass, () => {
  updateControls();
  requestEstimate();
}, classCounts);

const pad = new DrawPad(
  $<HTMLCanvasElement>('pad'),
  $<HTMLCanvasElement>('pad-cursor'),
  () => padChanged(),
  (text) => say(text),
);

// Charts --------------------------------------------------------------------------------------------

const losses: { x: number; y: number }[] = [];
const lossAverage: { x: number; y: number }[] = [];
const heldOutPoints: { x: number; y: number }[] = [];
const trainPoints: { x: number; y: number }[] = [];
const zeroShotLine: { x: number; y: number }[] = [];
let lossMax = 2;

const lossChart = new LineChart(svg('loss-chart'), $('loss-legend'), {
  xMax: 400, yMin: 0, yMax: lossMax, yTicks: [0, 0.5, 1, 1.5, 2], formatY: (y) => y.toFixed(1),
  describe: () => (losses.length ? `Loss chart: ${lossAverage[lossAverage.length - 1]!.y.toFixed(3)} nats per image (average of the last ${LOSS_WINDOW} steps) at step ${losses[losses.length - 1]!.x}` : 'Loss chart: no training yet'),
}, []);

const accuracyChart = new LineChart(svg('acc-chart'), $('acc-legend'), {
  xMax: 400, yMin: 0, yMax: 100, yTicks: [0, 20, 40, 60, 80, 100], formatY: (y) => `${y}%`,
  describe: () => {
    const h = heldOutPoints[heldOutPoints.length - 1];
    const t = trainPoints[trainPoints.length - 1];
    if (!t) return 'Accuracy chart: no training yet';
    return `Accuracy chart at step ${t.x}: training ${t.y.toFixed(1)}%${h ? `, held-out ${h.y.toFixed(1)}%` : ''}`;
  },
}, []);

function resetCharts(steps: number, withHeldOut: boolean): void {
  for (const a of [losses, lossAverage, heldOutPoints, trainPoints, zeroShotLine]) a.length = 0;
  lossMax = 2;
  lossChart.reset({ xMax: steps, yMax: lossMax, yTicks: [0, 0.5, 1, 1.5, 2] }, [
    { label: 'per step', className: 'loss', points: losses },
    { label: `average of ${LOSS_WINDOW}`, className: 'loss-avg', points: lossAverage },
  ]);
  const series: Series[] = [{ label: 'training', className: 'train-acc', points: trainPoints }];
  if (withHeldOut) series.unshift({ label: 'held-out', className: 'held-out', points: heldOutPoints }, { label: 'before training', className: 'zero-shot', points: zeroShotLine });
  accuracyChart.reset({ xMax: steps }, series);
}

function addLoss(step: number, loss: number): void {
  losses.push({ x: step, y: loss });
  const window = losses.slice(-LOSS_WINDOW);
  lossAverage.push({ x: step, y: window.reduce((s, p) => s + p.y, 0) / window.length });
  if (loss > lossMax) {
    lossMax = Math.ceil(loss);
    lossChart.reset({ yMax: lossMax, yTicks: Array.from({ length: lossMax + 1 }, (_, i) => i) }, [
      { label: 'per step', className: 'loss', points: losses },
      { label: `average of ${LOSS_WINDOW}`, className: 'loss-avg', points: lossAverage },
    ]);
  }
}

// Controls ------------------------------------------------------------------------------------------

function updateControls(): void {
  const busy = state.phase === 'preparing' || state.phase === 'training';
  const ready = state.phase !== 'loading';
  ui.train.disabled = !ready || busy || classList.classes.length < 2;
  ui.stop.disabled = !busy;
  ui.reset.disabled = !ready || (!busy && !state.hasRun);
  ui.download.disabled = !state.hasRun || busy;
  ui.loadSamples.disabled = busy;
  ui.addExample.disabled = classList.classes.length === 0 || pad.isEmpty || busy;
  ui.showHeldOut.disabled = !state.samples || !classList.classes.some((c) => c.bundled !== null);
  ui.shots.disabled = busy;
  settingsForm.setLocked(busy);
}

function setPhase(phase: Phase): void {
  state.phase = phase;
  updateControls();
}

// Drawing and prediction ----------------------------------------------------------------------------

function padChanged(): void {
  const input = pad.input();
  const ctx = ui.preview.getContext('2d')!;
  const image = new ImageData(28, 28);
  if (input) {
    for (let i = 0; i < 784; i++) {
      const v = Math.round(input[i]! * 255);
      image.data.set([v, v, v, 255], i * 4);
    }
  } else {
    for (let i = 0; i < 784; i++) image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  updateControls();
  if (input && state.hasRun) {
    worker.post({ type: 'predict', id: ++state.predictionId, image: input });
  } else if (!input) {
    ui.prediction.textContent = state.hasRun ? 'Draw a symbol to see what the model thinks it is.' : 'Predictions appear here once a model is trained: draw a symbol or show a held-out image.';
  }
}

function showPrediction(probabilities: Float32Array): void {
  const ranked = Array.from(probabilities, (p, i) => ({ p, name: state.classNames[i] ?? String(i) })).sort((a, b) => b.p - a.p);
  const verdict = document.createElement('p');
  verdict.className = 'verdict';
  verdict.append('Looks like ');
  const strong = document.createElement('strong');
  strong.textContent = ranked[0]!.name;
  verdict.append(strong, ` (${(100 * ranked[0]!.p).toFixed(0)}%)`);
  const rows = ranked.slice(0, 5).map((r, i) => {
    const row = document.createElement('div');
    row.className = `prob-row${i === 0 ? ' top' : ''}`;
    const name = document.createElement('span');
    name.textContent = r.name;
    const bar = document.createElement('span');
    bar.className = 'prob-bar';
    bar.setAttribute('aria-hidden', 'true');
    const fill = document.createElement('span');
    fill.style.width = `${(100 * r.p).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement('span');
    value.textContent = `${(100 * r.p).toFixed(1)}%`;
    row.append(name, bar, value);
    return row;
  });
  ui.prediction.replaceChildren(verdict, ...rows);
}

ui.clearPad.addEventListener('click', () => pad.clear());

ui.addExample.addEventListener('click', () => {
  const input = pad.input();
  const index = Number(ui.drawClass.value);
  if (!input || !classList.classes[index]) return;
  classList.addExample(index, input);
  say(`Added an example of '${classList.classes[index]!.name}' (${classList.classes[index]!.drawn.length} drawn). Train again to use it.`);
  pad.clear();
});

ui.showHeldOut.addEventListener('click', () => {
  const samples = state.samples;
  if (!samples) return;
  let seed = 1;
  try {
    seed = settingsForm.read().seed;
  } catch {
    // An invalid seed field only changes which images count as held out here.
  }
  const shots = Number(ui.shots.value);
  const bundledClasses = new Set(classList.classes.flatMap((c) => (c.bundled === null ? [] : [c.bundled])));
  let heldOut: number[];
  try {
    heldOut = splitSampleSet(samples, { shotsPerClass: shots, seed }).heldOut.filter((i) => bundledClasses.has(samples.labels[i]!));
  } catch (e) {
    showError((e as Error).message);
    return;
  }
  const index = heldOut[Math.floor(Math.random() * heldOut.length)]!;
  pad.showImage(imageValues(samples, index));
  say(`Showing a held-out image of ${samples.classNames[samples.labels[index]!]} (not used for training).`);
});

ui.addClassForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const problem = classList.add(ui.newClass.value);
  if (problem) {
    showError(problem);
    return;
  }
  showError(null);
  say(`Added class '${ui.newClass.value.trim()}': draw a few examples of it (5 or more works best).`);
  ui.newClass.value = '';
});

ui.shots.addEventListener('input', () => classList.render());

for (const type of ['input', 'change']) document.getElementById('settings')?.addEventListener(type, () => requestEstimate());

async function loadSamples(): Promise<void> {
  if (!state.samples) {
    say('Loading the bundled samples…');
    const response = await fetch(SAMPLES_URL);
    if (!response.ok) throw new Error(`fetching the bundled samples failed: HTTP ${response.status}`);
    state.samples = parseSampleSet(new Uint8Array(await response.arrayBuffer()));
  }
  classList.addBundled(state.samples);
  say(`Loaded ${state.samples.count} bundled images of digits ${state.samples.classNames.join(', ')}: ${ui.shots.value} per class train, the rest are held out.`);
}

ui.loadSamples.addEventListener('click', () => {
  showError(null);
  loadSamples().catch((e: Error) => showError(e.message));
});

// Training ------------------------------------------------------------------------------------------

ui.train.addEventListener('click', () => {
  showError(null);
  let settings: TrainSettings;
  let data;
  try {
    settings = settingsForm.read();
    data = assembleTrainingData(state.samples, classList.plan(), { shotsPerClass: Number(ui.shots.value), seed: settings.seed });
  } catch (e) {
    showError((e as Error).message);
    return;
  }
  startRun(settings, data, classList.classes.map((c) => c.name));
});

/** One training run in the worker, from the drawing mode or the spoken-word mode. */
function startRun(settings: TrainSettings, data: { train: Dataset; heldOut: Dataset | null }, classNames: string[]): void {
  state.settings = settings;
  state.classNames = classNames;
  state.hasRun = false;
  resetCharts(settings.steps, data.heldOut !== null);
  ui.progress.max = settings.steps;
  ui.progress.value = 0;
  ui.progressText.textContent = 'Preparing: prototype head, calibration, quantization, memory plan…';
  for (const el of [ui.accBefore, ui.accAfter, ui.accTrain, ui.speed, ui.hash]) {
    el.textContent = '—';
    delete el.dataset.value;
  }
  ui.runSettings.textContent = JSON.stringify({ ...settings, shotsPerClass: Number(ui.shots.value), classes: state.classNames }, null, 2);
  setPhase('preparing');
  say(`Preparing ${data.train.labels.length} training images of ${state.classNames.length} classes on ${settings.device.name}…`);
  worker.post({ type: 'train', settings, train: data.train, heldOut: data.heldOut, evalEvery: Math.max(1, Math.ceil(settings.steps / ACCURACY_POINTS)) });
}

ui.stop.addEventListener('click', () => {
  worker.post({ type: 'stop' });
  say('Stopping after the current step…');
});

ui.reset.addEventListener('click', () => {
  worker.post({ type: 'reset' });
  state.hasRun = false;
  state.memory = null;
  resetCharts(state.settings?.steps ?? 400, true);
  ui.progress.value = 0;
  ui.progressText.textContent = 'Not started';
  for (const el of [ui.accBefore, ui.accAfter, ui.accTrain, ui.speed, ui.hash]) {
    el.textContent = '—';
    delete el.dataset.value;
  }
  ui.gauge.replaceChildren();
  setPhase('idle');
  padChanged();
  say('Reset: the device is cleared. Change settings or examples and train again.');
});

ui.download.addEventListener('click', () => worker.post({ type: 'export' }));

function downloadModel(bytes: Uint8Array): void {
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `lastmile-adapted-${state.classNames.join('').replace(/[^A-Za-z0-9]/g, '') || 'model'}.lmdl`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  say(`Downloaded the adapted model (${kib(bytes.length)}, lastmile model format): load it with 'lastmile eval --model <file>'.`);
}

// Imported model ------------------------------------------------------------------------------------

/** Read no more than this from a chosen file (the worker refuses larger ones with the same limit). */
const MODEL_FILE_MAX_BYTES = 16 << 20;

ui.modelFile.addEventListener('change', () => {
  const file = ui.modelFile.files?.[0];
  if (!file) return;
  showError(null);
  if (file.size > MODEL_FILE_MAX_BYTES) {
    showError(`The model was not loaded: ${file.name} is ${(file.size / 1048576).toFixed(1)} MiB; the page loads models up to ${MODEL_FILE_MAX_BYTES >> 20} MiB`);
    return;
  }
  say(`Reading ${file.name}…`);
  file.arrayBuffer().then((buffer) => {
    if (state.phase === 'preparing' || state.phase === 'training') worker.post({ type: 'stop' });
    worker.post({ type: 'load-model', name: file.name, bytes: new Uint8Array(buffer) });
  }, (e: Error) => showError(`The model was not loaded: ${e.message}`));
});

function showImportedModel(name: string, m: ImportedModelSummary): void {
  state.hasRun = false;
  ui.modelInfo.dataset.state = m.trainsOnPage ? 'trainable' : 'plan-only';
  const plan = m.plan ? `inference plan for one image: ${kib(m.plan.sramBytes)} SRAM, ${kib(m.plan.flashBytes)} flash` : 'float model: quantized when training starts';
  const verdict = m.trainsOnPage
    ? 'Its input is a 28×28×1 image: load the digits or draw classes, then Train adapts it with QZO-FF under a new head.'
    : `Its input is [${m.inputShape.join('×')}], not a 28×28×1 image: the page shows its plan and estimates, but on-page training needs data of that shape (use 'lastmile adapt' with matching data).`;
  const list = document.createElement('ol');
  list.className = 'layers';
  list.append(...m.layers.map((l) => Object.assign(document.createElement('li'), { textContent: l })));
  ui.modelInfo.replaceChildren(
    Object.assign(document.createElement('p'), { textContent: `${name}: ${m.architecture}, ${m.kind === 'quantized' ? 'int8' : 'float'}, ${m.parameters.toLocaleString('en')} parameters, ${m.layers.length} layers; ${plan}.` }),
    Object.assign(document.createElement('p'), { className: 'verdict', textContent: verdict }),
    list,
  );
  ui.engine.dataset.model = name;
  setPhase('idle');
  requestEstimate();
  say(`Loaded ${name}. ${verdict}`);
}

// On-device estimates ------------------------------------------------------------------------------

let estimateId = 0;
let estimateTimer: ReturnType<typeof setTimeout> | undefined;

/** Ask the worker for the cost model's estimates under the settings as typed (debounced). */
function requestEstimate(): void {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(() => {
    let settings: TrainSettings;
    try {
      settings = settingsForm.read();
    } catch (e) {
      ui.mcuEstimate.textContent = `No on-device estimate: ${(e as Error).message}`;
      delete ui.mcuEstimate.dataset.available;
      return;
    }
    const classes = classList.classes;
    // Without classes yet, estimate for the bundled set's five classes at the default shots.
    const count = classes.length > 0 ? classes.length : 5;
    const trainImages = classes.length > 0 ? classes.reduce((n, c) => n + classCounts(c).train, 0) : 5 * (Number(ui.shots.value) || 10);
    worker.post({ type: 'estimate', id: ++estimateId, settings, classes: count, trainImages });
  }, 150);
}

function showEstimate(e: McuEstimateText): void {
  ui.mcuEstimate.dataset.available = String(e.available);
  const lines = [e.adaptation, e.inference].filter((l) => l !== '').map((l) => Object.assign(document.createElement('p'), { textContent: l }));
  if (e.basis) lines.push(Object.assign(document.createElement('p'), { className: 'hint', textContent: `Assumes ${e.basis}.` }));
  ui.mcuEstimate.replaceChildren(...lines);
}

function setAccuracy(el: HTMLElement, value: number | null): void {
  el.textContent = pct(value);
  if (value === null) delete el.dataset.value;
  else el.dataset.value = String(value);
}

// Worker --------------------------------------------------------------------------------------------

function describeError(message: Extract<FromWorker, { type: 'error' }>): string {
  const what = {
    init: 'The device could not start',
    train: state.phase === 'preparing' ? 'Training did not start' : 'Training stopped',
    predict: 'No prediction',
    export: 'No download',
    estimate: 'No on-device estimate',
    'load-model': 'The model was not loaded',
    mfcc: 'No MFCC',
  }[message.during];
  // The library names its option; the page's control for it has a different name.
  const hint = /dither: true/.test(message.message) ? ' Here: tick "Stochastic rounding (dither)".' : '';
  return `${what}: ${message.message}${hint}`;
}

function handle(message: FromWorker): void {
  switch (message.type) {
    case 'ready': {
      state.build = message.build;
      const f = message.features;
      ui.engine.dataset.build = message.build;
      ui.engine.innerHTML = '';
      ui.engine.append(
        `This browser: SIMD ${f.simd ? 'yes' : 'no'}, relaxed SIMD ${f.relaxedSimd ? 'yes' : 'no'} → running the `,
        Object.assign(document.createElement('strong'), { textContent: message.build }),
        ` build. Backbone: ${message.model.architecture}, ${message.model.parameters.toLocaleString('en')} parameters, pre-trained on ${message.model.pretrainedOn}.`,
      );
      setPhase('idle');
      requestEstimate();
      say('Ready. Load the bundled digits 5–9 or add your own classes, then train.');
      break;
    }
    case 'prepared': {
      state.memory = message.memory;
      state.hasRun = true;
      state.classNames = message.classNames;
      setPhase('training');
      setAccuracy(ui.accBefore, message.zeroShot.heldOut);
      setAccuracy(ui.accTrain, message.zeroShot.train);
      if (message.zeroShot.heldOut !== null) {
        zeroShotLine.push({ x: 0, y: message.zeroShot.heldOut }, { x: state.settings?.steps ?? 0, y: message.zeroShot.heldOut });
        heldOutPoints.push({ x: 0, y: message.zeroShot.heldOut });
      }
      trainPoints.push({ x: 0, y: message.zeroShot.train });
      accuracyChart.update();
      renderMemoryGauge(ui.gauge, message.memory, null);
      say(`Training with QZO-FF on the ${message.build} build: ${message.trainCount} training images, ${message.heldOutCount} held out. Before training (prototype head): ${pct(message.zeroShot.heldOut ?? message.zeroShot.train)}.`);
      break;
    }
    case 'progress': {
      for (const l of message.losses) addLoss(l.step, l.loss);
      const last = message.losses[message.losses.length - 1]?.step ?? message.accuracy?.step ?? 0;
      if (message.accuracy) {
        trainPoints.push({ x: message.accuracy.step, y: message.accuracy.train });
        setAccuracy(ui.accTrain, message.accuracy.train);
        if (message.accuracy.heldOut !== null) {
          heldOutPoints.push({ x: message.accuracy.step, y: message.accuracy.heldOut });
          setAccuracy(ui.accAfter, message.accuracy.heldOut);
        }
        accuracyChart.update();
      }
      lossChart.update();
      ui.progress.value = last;
      ui.progressText.textContent = `step ${last} of ${state.settings?.steps ?? '?'} · loss ${lossAverage[lossAverage.length - 1]?.y.toFixed(3) ?? '—'}`;
      ui.speed.textContent = `${state.build} · ${message.stepsPerSec.toFixed(0)} steps/s`;
      if (state.memory) renderMemoryGauge(ui.gauge, state.memory, message.sramHighWater);
      break;
    }
    case 'done': {
      setAccuracy(ui.accTrain, message.final.train);
      setAccuracy(ui.accAfter, message.final.heldOut);
      ui.hash.textContent = message.hash;
      ui.hash.dataset.value = message.hash;
      ui.speed.textContent = `${state.build} · ${message.steps} steps in ${seconds(message.trainMs)}`;
      ui.progress.value = message.steps;
      ui.progressText.textContent = `${message.stopped ? 'stopped at' : 'done:'} step ${message.steps} of ${state.settings?.steps ?? '?'}`;
      if (state.memory) renderMemoryGauge(ui.gauge, state.memory, message.sramHighWater);
      setPhase('done');
      ui.progressText.dataset.state = message.stopped ? 'stopped' : 'done';
      const heldOut = message.final.heldOut === null ? '' : `held-out accuracy ${pct(message.final.heldOut)}, `;
      say(`${message.stopped ? 'Stopped' : 'Done'} after ${message.steps} steps: ${heldOut}training accuracy ${pct(message.final.train)}, SRAM high-water ${kib(message.sramHighWater)}. Draw a symbol to try the model.`);
      padChanged();
      break;
    }
    case 'prediction':
      if (message.id === state.predictionId) showPrediction(message.probabilities);
      break;
    case 'mfcc':
      audioPanel.handle(message);
      break;
    case 'model':
      downloadModel(message.bytes);
      break;
    case 'model-loaded':
      showImportedModel(message.name, message.summary);
      break;
    case 'estimate':
      if (message.id === estimateId) showEstimate(message.estimate);
      break;
    case 'error':
      if (message.during === 'load-model') ui.modelInfo.dataset.state = 'error';
      if (message.during === 'mfcc') audioPanel.failed();
      if (message.during === 'estimate') {
        ui.mcuEstimate.textContent = describeError(message);
        break;
      }
      showError(describeError(message));
      if (message.during === 'train') {
        state.hasRun = false;
        ui.progressText.textContent = 'Not started';
        setPhase(state.build ? 'idle' : 'loading');
        say('Training did not run: see the message above.');
      } else if (message.during === 'init') {
        say('The page cannot train in this browser: see the message above.');
      }
      break;
  }
}

const worker = (() => {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'lastmile-trainer' });
  w.addEventListener('message', (e: MessageEvent<FromWorker>) => handle(e.data));
  w.addEventListener('error', (e) => showError(`The training worker failed to load: ${e.message || 'unknown error'}`));
  return { post: (message: ToWorker) => w.postMessage(message) };
})();

const audioPanel = new AudioPanel({
  post: (m) => worker.post(m),
  say,
  showError,
  train: (data, classNames) => {
    try {
      startRun(settingsForm.read(), data, classNames);
    } catch (e) {
      showError((e as Error).message);
    }
  },
});

resetCharts(400, true);
updateControls();
padChanged();
worker.post({ type: 'init', wasmBaseUrl: WASM_URL, modelUrl: MODEL_URL });
