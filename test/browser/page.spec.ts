// The page in a real browser: Debian's Chromium, headless, loads the built page from a local static
// server, detects SIMD, trains on the bundled samples through the page's own controls, and must end
// with the same adapted model, byte for byte, as a Node run of the same routine with the same seed.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initFloatModel, loadModel, type FloatModel } from '../../src/model/model.js';
import { architecturePreset } from '../../src/model/presets.js';
import { resolveDevice } from '../../src/device/presets.js';
import { calibrate } from '../../src/quant/calibrate.js';
import { quantizeModel } from '../../src/quant/quantize.js';
import { importTflite } from '../../src/tflite/import.js';
import { writeTflite } from '../../src/tflite/writer.js';
import { mcuEstimateText } from '../../web/src/mcu-estimates.js';
import { parseSampleSet } from '../../web/src/samples.js';
import { sha256Hex } from '../../web/src/sha256.js';
import { assembleTrainingData } from '../../web/src/training-data.js';
import { DEFAULT_SETTINGS, PersonalisationRun, runTraining, type TrainSettings } from '../../web/src/trainer-core.js';
import { launchChromium, serveFolder, type BrowserSession, type StaticServer } from './harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCREENSHOT_DIR = join(ROOT, 'test-results', 'browser');

// The run the test asks the page for. With 10 bundled images per class (50 training images, 950 held
// out), 400 full-batch steps take held-out accuracy from 57.3% (prototype head) to 78.2% at seed 1;
// seeds 2 and 3 end at 74.9% and 80.2% (measured in Node, docs/WEB.md). Chance is 20%.
const SHOTS = 10;
const SETTINGS: TrainSettings = (() => {
  const d = resolveDevice('nrf52840');
  return { ...DEFAULT_SETTINGS, device: { name: d.name, sramBytes: d.sramBytes, flashBytes: d.flashBytes }, steps: 400, seed: 1, lr: 0.003, directions: 3, batchSize: 0, selection: 'full', precision: '16w8a' };
})();
/** Held-out accuracy the trained model must reach, and its least gain over the untrained prototype head. */
const ACCURACY_BAR = 70;
const MIN_GAIN = 10;

/** The imported-model run: the page's defaults with fewer steps. Measured: held-out 57.2% → 77.4% (docs/WEB.md). */
const IMPORT_SETTINGS: TrainSettings = { ...SETTINGS, steps: 200 };
const IMPORT_BAR = 70;
const IMPORT_MIN_GAIN = 10;

let server: StaticServer;
let browser: BrowserSession;
const fromPage = { build: '', zeroShot: NaN, heldOut: NaN, hash: '' };

beforeAll(async () => {
  server = await serveFolder(join(ROOT, 'dist-web'));
  browser = await launchChromium({ width: 1366, height: 768 });
  await browser.page.goto(server.url);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const byTestId = (id: string) => browser.page.locator(`[data-testid="${id}"]`);

describe('the page in Chromium', () => {
  it('detects WebAssembly SIMD and runs a SIMD build of the device', async () => {
    const engine = byTestId('engine');
    await expect.poll(() => engine.getAttribute('data-build'), { timeout: 30_000 }).not.toBeNull();
    fromPage.build = (await engine.getAttribute('data-build'))!;
    expect(['relaxed', 'simd']).toContain(fromPage.build);
    expect(await engine.textContent()).toContain('SIMD yes');
    // The engine really has SIMD: the smallest SIMD module validates in the page itself.
    const simd = await browser.page.evaluate(() => WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11])));
    expect(simd).toBe(true);
  });

  it(`trains on the bundled samples through the page's controls past ${ACCURACY_BAR}% held-out accuracy`, async () => {
    const page = browser.page;
    await page.getByLabel('Microcontroller').selectOption('nrf52840');
    await page.getByLabel('Precision').selectOption(SETTINGS.precision);
    await page.getByLabel('Directions per step (m)').fill(String(SETTINGS.directions));
    await page.getByLabel('Trainable layers').selectOption(SETTINGS.selection);
    await page.getByLabel('Learning rate η').fill(String(SETTINGS.lr));
    await page.getByLabel('Steps').fill(String(SETTINGS.steps));
    await page.getByLabel('Images per step').fill(String(SETTINGS.batchSize));
    await page.getByLabel('Seed').fill(String(SETTINGS.seed));
    await page.getByLabel('Bundled images per class').fill(String(SHOTS));
    await page.getByRole('button', { name: 'Load digits 5–9' }).click();
    await expect.poll(() => page.locator('#class-rows tr').count()).toBe(5);
    const train = page.getByRole('button', { name: 'Train', exact: true });
    await expect.poll(() => train.isEnabled()).toBe(true);
    await train.click();
    await page.locator('#progress-text[data-state="done"]').waitFor({ timeout: 90_000 });

    fromPage.zeroShot = Number(await byTestId('accuracy-zero-shot').getAttribute('data-value'));
    fromPage.heldOut = Number(await byTestId('accuracy-held-out').getAttribute('data-value'));
    fromPage.hash = (await byTestId('weights-hash').getAttribute('data-value')) ?? '';
    expect(fromPage.heldOut).toBeGreaterThanOrEqual(ACCURACY_BAR);
    expect(fromPage.heldOut - fromPage.zeroShot).toBeGreaterThanOrEqual(MIN_GAIN);
    expect(fromPage.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await byTestId('speed').textContent()).toContain(`${SETTINGS.steps} steps`);
    // The gauge's measured SRAM high-water mark equals the plan, and backprop is shown not to fit.
    const gauge = await byTestId('memory-gauge').innerText();
    const measured = /QZO-FF, measured high-water\s+([\d.]+ KiB)/.exec(gauge)?.[1];
    const planned = /QZO-FF, planned\s+([\d.]+ KiB)/.exec(gauge)?.[1];
    expect(measured).toBeDefined();
    expect(measured).toBe(planned);
    expect(gauge).toMatch(/Backprop f32 \(Adam\) would need\s+[\d.]+ KiB \(does not fit\)/);
  });

  it('shows the cost model\'s on-device time and energy for the preset, and says so when a core has no estimate', async () => {
    const page = browser.page;
    const estimate = byTestId('mcu-estimate');
    // The same function in Node, on the same backbone, settings and five classes of 10 images.
    const backbone = loadModel(new Uint8Array(await readFile(join(ROOT, 'models', 'mnist-cnn-digits04.lmdl')))) as FloatModel;
    const expected = mcuEstimateText(backbone.architecture, SETTINGS, { classes: 5, trainImages: 5 * SHOTS });
    expect(expected.available).toBe(true);
    expect(expected.adaptation).toMatch(/^on nrf52840 \(cortex-m4 @ 64 MHz, estimated\): [\d.]+ ms per QZO-FF step, [\d.]+ (s|min|h) for 400 steps, [\d.]+ (mJ|J)$/);
    await expect.poll(() => estimate.getAttribute('data-available')).toBe('true');
    await expect.poll(() => estimate.textContent()).toContain(expected.adaptation);
    expect(await estimate.textContent()).toContain(expected.inference);
    expect(expected.inference).toMatch(/^inference: [\d.]+ ms, [\d.]+ mJ per image$/);
    // Settings move the estimate: twice the directions, about twice the time per step.
    await page.getByLabel('Directions per step (m)').fill('6');
    const six = mcuEstimateText(backbone.architecture, { ...SETTINGS, directions: 6 }, { classes: 5, trainImages: 5 * SHOTS });
    await expect.poll(() => estimate.textContent()).toContain(six.adaptation);
    const perStep = (t: string) => Number(/([\d.]+) ms per QZO-FF step/.exec(t)![1]);
    expect(perStep(six.adaptation) / perStep(expected.adaptation)).toBeGreaterThan(1.8);
    // The RP2040's Cortex-M0+ has no calibrated emulator: no number, the reason instead.
    await page.getByLabel('Microcontroller').selectOption('rp2040');
    await expect.poll(() => estimate.getAttribute('data-available')).toBe('false');
    expect(await estimate.textContent()).toContain('no estimate');
    expect(await estimate.textContent()).not.toMatch(/ms per QZO-FF step/);
    await page.getByLabel('Microcontroller').selectOption('nrf52840');
    await page.getByLabel('Directions per step (m)').fill(String(SETTINGS.directions));
    await expect.poll(() => estimate.textContent()).toContain(expected.adaptation);
  });

  it('predicts a held-out image and a drawing made with the keyboard', async () => {
    const page = browser.page;
    await page.getByRole('button', { name: 'Show a held-out image' }).click();
    await expect.poll(() => byTestId('prediction').textContent()).toMatch(/Looks like [5-9] \(\d+%\)/);
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'page.png') });

    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => byTestId('prediction').textContent()).toContain('Draw a symbol');
    const pad = page.getByLabel('Drawing pad');
    await pad.focus();
    await page.keyboard.press('Space');
    for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Space');
    await expect.poll(() => byTestId('prediction').textContent()).toMatch(/Looks like [5-9]/);
    expect(await page.getByRole('button', { name: 'Add example' }).isEnabled()).toBe(true);
  });

  it('downloads the adapted model in the lastmile format, with the hash the page shows', async () => {
    const [download] = await Promise.all([browser.page.waitForEvent('download'), browser.page.getByRole('button', { name: 'Download model (.lmdl)' }).click()]);
    const bytes = new Uint8Array(await readFile((await download.path())!));
    expect(sha256Hex(bytes)).toBe(fromPage.hash);
    const model = loadModel(bytes, download.suggestedFilename());
    expect(model.kind).toBe('quantized');
    expect(model.meta.classNames).toEqual(['5', '6', '7', '8', '9']);
  });

  it('ends with the same weights, bit for bit, as Node running the same routine with the same seed', async () => {
    const samples = parseSampleSet(new Uint8Array(await readFile(join(ROOT, 'web', 'assets', 'digits-5to9.bin'))));
    const backbone = loadModel(new Uint8Array(await readFile(join(ROOT, 'models', 'mnist-cnn-digits04.lmdl')))) as FloatModel;
    const classes = samples.classNames.map((name, i) => ({ name, bundled: i, drawn: [] }));
    const data = assembleTrainingData(samples, classes, { shotsPerClass: SHOTS, seed: SETTINGS.seed });
    const run = await PersonalisationRun.prepare(backbone, data.train, data.heldOut, SETTINGS, { build: 'auto' });
    const result = await runTraining(run, { evalEvery: SETTINGS.steps });
    expect(result.final.heldOut).toBe(fromPage.heldOut);
    expect(sha256Hex(run.exportModel())).toBe(fromPage.hash);
    console.log(`page (${fromPage.build} build) and Node (${run.build} build): held-out ${fromPage.zeroShot.toFixed(1)}% → ${fromPage.heldOut.toFixed(1)}%, SHA-256 ${fromPage.hash}`);
  });

  it('shows a budget that is too small as a readable message, before training', async () => {
    const page = browser.page;
    await page.getByRole('button', { name: 'Reset' }).click();
    await page.getByLabel('SRAM (KiB)').fill('32');
    expect(await page.getByLabel('Microcontroller').inputValue()).toBe('custom');
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent(), { timeout: 30_000 }).toContain('Training did not start');
    expect(await alert.textContent()).toContain('does not fit the device');
    expect(await alert.textContent()).toMatch(/SRAM needs \d+ B .* but 32768 B/);
    expect(await page.getByRole('button', { name: 'Train', exact: true }).isEnabled()).toBe(true);
  });

  it('learns two symbols drawn with the mouse and recognises new drawings of them', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await expect.poll(() => page.locator('[data-testid="engine"]').getAttribute('data-build'), { timeout: 30_000 }).not.toBeNull();
    for (const name of ['O', 'X']) {
      await page.getByLabel('New class name').fill(name);
      await page.getByRole('button', { name: 'Add class' }).click();
    }
    const box = (await page.getByLabel('Drawing pad').boundingBox())!;
    const stroke = async (points: [number, number][]) => {
      const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
      await page.mouse.move(...at(points[0]!));
      await page.mouse.down();
      for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 3 });
      await page.mouse.up();
    };
    const ring = (rx: number, ry: number): [number, number][] => Array.from({ length: 25 }, (_, i) => [0.5 + rx * Math.cos((i / 24) * 2 * Math.PI), 0.5 + ry * Math.sin((i / 24) * 2 * Math.PI)]);
    const cross = async (j: number) => {
      await stroke([[0.2 + j, 0.2], [0.8 - j, 0.8]]);
      await stroke([[0.8, 0.2 + j], [0.2, 0.8 - j]]);
    };
    for (let k = 0; k < 5; k++) {
      const j = k * 0.03;
      await page.getByLabel('Example of class').selectOption({ label: 'O' });
      await stroke(ring(0.3 - j, 0.3 + j));
      await page.getByRole('button', { name: 'Add example' }).click();
      await page.getByLabel('Example of class').selectOption({ label: 'X' });
      await cross(j);
      await page.getByRole('button', { name: 'Add example' }).click();
    }
    expect(await page.locator('#class-rows').innerText()).toMatch(/O\s+5 \(5 drawn\)\s+0[\s\S]*X\s+5 \(5 drawn\)\s+0/);
    await page.getByLabel('Steps').fill('100');
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await page.locator('#progress-text[data-state="done"]').waitFor({ timeout: 60_000 });
    expect(Number(await page.locator('[data-testid="accuracy-train"]').getAttribute('data-value'))).toBe(100);
    const prediction = page.locator('[data-testid="prediction"]');
    await stroke(ring(0.25, 0.27));
    await expect.poll(() => prediction.textContent()).toMatch(/^Looks like O/);
    await page.getByRole('button', { name: 'Clear' }).click();
    await cross(0.05);
    await expect.poll(() => prediction.textContent()).toMatch(/^Looks like X/);
    await page.close();
  });

  it('loads an int8 .tflite through the file input, shows its plan and estimates, and adapts it bit-identically to Node', async () => {
    // The shipped backbone, calibrated on the bundled digits and quantized to int8, written as .tflite.
    const samples = parseSampleSet(new Uint8Array(await readFile(join(ROOT, 'web', 'assets', 'digits-5to9.bin'))));
    const backbone = loadModel(new Uint8Array(await readFile(join(ROOT, 'models', 'mnist-cnn-digits04.lmdl')))) as FloatModel;
    const classes = samples.classNames.map((name, i) => ({ name, bundled: i, drawn: [] }));
    const data = assembleTrainingData(samples, classes, { shotsPerClass: SHOTS, seed: IMPORT_SETTINGS.seed });
    const ranges = await calibrate(backbone, data.train, { build: 'auto' });
    const tflite = writeTflite(quantizeModel(backbone, ranges, { weightBits: 8, perChannel: false }));

    const page = await browser.newPage();
    await page.goto(server.url);
    await expect.poll(() => page.locator('[data-testid="engine"]').getAttribute('data-build'), { timeout: 30_000 }).not.toBeNull();
    const alert = page.getByRole('alert');
    // A file that is not a flatbuffer gets the reader's typed message, and the page keeps working.
    await page.getByLabel('Load a .tflite model').setInputFiles({ name: 'broken.tflite', mimeType: 'application/octet-stream', buffer: Buffer.from('not a flatbuffer at all') });
    await expect.poll(() => alert.textContent(), { timeout: 10_000 }).toContain('The model was not loaded: ');
    expect(await alert.textContent()).toContain('broken.tflite');

    await page.getByLabel('Load a .tflite model').setInputFiles({ name: 'digits04-int8.tflite', mimeType: 'application/octet-stream', buffer: Buffer.from(tflite) });
    const info = page.locator('[data-testid="model-info"]');
    await expect.poll(() => info.getAttribute('data-state'), { timeout: 10_000 }).toBe('trainable');
    expect(await info.textContent()).toMatch(/digits04-int8\.tflite: .*int8, [\d,]+ parameters, \d+ layers; inference plan for one image: [\d.]+ KiB SRAM/);
    expect(await info.textContent()).toContain('28×28×1 image');
    await page.getByLabel('Microcontroller').selectOption('nrf52840');
    await page.getByLabel('Steps').fill(String(IMPORT_SETTINGS.steps));
    await page.getByLabel('Bundled images per class').fill(String(SHOTS));
    await page.getByRole('button', { name: 'Load digits 5–9' }).click();
    await expect.poll(() => page.locator('#class-rows tr').count()).toBe(5);
    await expect.poll(() => page.locator('[data-testid="mcu-estimate"]').textContent()).toMatch(/on nrf52840 \(cortex-m4 @ 64 MHz, estimated\): [\d.]+ ms per QZO-FF step/);

    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await page.locator('#progress-text[data-state="done"]').waitFor({ timeout: 90_000 });
    const zeroShot = Number(await page.locator('[data-testid="accuracy-zero-shot"]').getAttribute('data-value'));
    const heldOut = Number(await page.locator('[data-testid="accuracy-held-out"]').getAttribute('data-value'));
    const hash = (await page.locator('[data-testid="weights-hash"]').getAttribute('data-value')) ?? '';
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download model (.lmdl)' }).click()]);
    const pageModel = new Uint8Array(await readFile((await download.path())!));
    expect(sha256Hex(pageModel)).toBe(hash);
    await page.close();

    // Node imports the same bytes under the same file name (it names the architecture) and runs the same routine: same accuracy, same adapted model.
    const run = await PersonalisationRun.prepare(importTflite(tflite, 'digits04-int8.tflite'), data.train, data.heldOut, IMPORT_SETTINGS, { build: 'auto' });
    expect(run.zeroShot.heldOut).toBe(zeroShot);
    const result = await runTraining(run, { evalEvery: IMPORT_SETTINGS.steps });
    expect(result.final.heldOut).toBe(heldOut);
    const nodeModel = run.exportModel();
    expect(sha256Hex(nodeModel)).toBe(hash);
    console.log(`imported int8 .tflite, page and Node: held-out ${zeroShot.toFixed(1)}% → ${heldOut.toFixed(1)}% in ${IMPORT_SETTINGS.steps} steps, SHA-256 ${hash}`);
    expect(heldOut).toBeGreaterThanOrEqual(IMPORT_BAR);
    expect(heldOut - zeroShot).toBeGreaterThanOrEqual(IMPORT_MIN_GAIN);
  });

  it('shows the plan and estimates of a .tflite with another input shape, and says on-page training needs matching data', async () => {
    const tflite = writeTflite(initFloatModel(architecturePreset('ds-cnn'), 1));
    const page = await browser.newPage();
    await page.goto(server.url);
    await expect.poll(() => page.locator('[data-testid="engine"]').getAttribute('data-build'), { timeout: 30_000 }).not.toBeNull();
    await page.getByLabel('Load a .tflite model').setInputFiles({ name: 'ds-cnn.tflite', mimeType: 'application/octet-stream', buffer: Buffer.from(tflite) });
    const info = page.locator('[data-testid="model-info"]');
    await expect.poll(() => info.getAttribute('data-state'), { timeout: 10_000 }).toBe('plan-only');
    expect(await info.textContent()).toContain('Its input is [49×10×1], not a 28×28×1 image');
    expect(await info.textContent()).toContain('on-page training needs data of that shape');
    expect(await info.locator('li').count()).toBe(architecturePreset('ds-cnn').nodes.length);
    const estimate = page.locator('[data-testid="mcu-estimate"]');
    await expect.poll(() => estimate.textContent()).toMatch(/on nrf52840 \(cortex-m4 @ 64 MHz, estimated\): [\d.]+ ms per QZO-FF step/);
    // Train refuses it with a readable message before any work.
    await page.getByRole('button', { name: 'Load digits 5–9' }).click();
    await expect.poll(() => page.locator('#class-rows tr').count()).toBe(5);
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent(), { timeout: 30_000 }).toContain('Training did not start: the images hold 784 values (28×28×1); model');
    expect(await alert.textContent()).toContain('takes [49×10×1]: on-page training needs data of that shape');
    await page.close();
  });

  it('logged no console errors and threw no page errors', () => {
    expect(browser.problems).toEqual([]);
  });
});
