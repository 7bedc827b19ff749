// The page's spoken-word mode in Chromium with a fake microphone: Chromium plays a WAV rendered by
// espeak-ng ("yes", a voice variant never used for training, in 2 s of silence, looped) as the
// capture device. The page loads MLPerf Tiny's keyword model, takes 3 words × 5 clips as .wav files,
// records from the microphone, shows the MFCC (which must equal the Node device front end's on the
// same samples, bit for bit), personalises on the emulated MCU and must recognise the recording.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without types
import { generate } from '../../scripts/gen-speech.mjs';
import { encodeWav, readWavClip } from '../../src/audio/wav.js';
import { createMfccFrontEnd, KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT } from '../../src/kernels/mfcc.js';
import { launchChromium, serveFolder, type BrowserSession, type StaticServer } from '../browser/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MODEL = resolve(ROOT, '../shared/mlperf-tiny/kws_ref_model.tflite');
const WORDS = ['yes', 'no', 'up'];
const VOICE = 'en-us';

let server: StaticServer;
let browser: BrowserSession;
let speech = '';
let micClip: Int16Array;

beforeAll(async () => {
  expect(existsSync(MODEL), `${MODEL} is missing: put ../shared/mlperf-tiny beside the repository`).toBe(true);
  const dir = mkdtempSync(join(tmpdir(), 'lm-kws-page-'));
  speech = join(dir, 'speech');
  // Training: speeds 130/160/190 × pitch 35/65 at 30 dB (take 5 per word); the microphone: pitch 50, speed 160.
  generate({ out: speech, words: WORDS, voices: [VOICE], speeds: [130, 160, 190], pitches: [35, 50, 65], snr: [30] });
  micClip = await readWavClip(join(speech, VOICE, 'yes', `${VOICE}_s160_p50_snr30.wav`));
  // 2 s per loop: the word centred in the first second, then a silent second, so a 3 s recording
  // always holds one whole word and its loudest second is that word.
  const loop = new Int16Array(32000);
  loop.set(micClip, 0);
  const fake = join(dir, 'mic.wav');
  writeFileSync(fake, encodeWav(loop));
  server = await serveFolder(join(ROOT, 'dist-web'));
  browser = await launchChromium({ width: 1366, height: 900 }, ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${fake}`, '--autoplay-policy=no-user-gesture-required']);
  await browser.context.grantPermissions(['microphone']);
  await browser.page.goto(server.url);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const byTestId = (id: string) => browser.page.locator(`[data-testid="${id}"]`);

describe('spoken-word mode with a fake microphone', () => {
  it('records, shows the device MFCC, personalises the KWS model and recognises the recording', async () => {
    const page = browser.page;
    await expect.poll(() => page.locator('#engine').getAttribute('data-build'), { timeout: 60_000 }).toBeTruthy();
    await page.setInputFiles('#model-file', MODEL);
    await expect.poll(() => byTestId('model-info').getAttribute('data-state'), { timeout: 60_000 }).toMatch(/plan-only|trainable/);

    // Five training clips per word, never the microphone's variant (pitch 50 at speed 160).
    for (const word of WORDS) {
      const files = (await readdir(join(speech, VOICE, word))).filter((f) => f !== `${VOICE}_s160_p50_snr30.wav`).sort().slice(0, 5);
      await page.fill('#audio-word', word);
      await page.setInputFiles('#audio-files', files.map((f) => join(speech, VOICE, word, f)));
    }
    await expect.poll(() => byTestId('audio-examples').getAttribute('data-count'), { timeout: 60_000 }).toBe('15');

    // The microphone, before training (so the recording stays held out): the page records and shows
    // the MFCC; compare it with Node's on the samples it recorded.
    await page.click('#audio-recognise');
    await expect.poll(() => byTestId('audio-result').textContent(), { timeout: 60_000 }).toMatch(/Train first/);
    expect(await byTestId('audio-examples').getAttribute('data-count')).toBe('15');
    const recorded = await page.evaluate(() => ({ clip: Array.from(window.lastmileAudio!.clip), features: Array.from(window.lastmileAudio!.features), quant: window.lastmileAudio!.quant }));
    expect(recorded.quant).toEqual({ scale: expect.closeTo(KWS_INPUT_SCALE, 6), zeroPoint: KWS_INPUT_ZERO_POINT });
    const node = await createMfccFrontEnd(recorded.quant);
    const clip = Int16Array.from(recorded.clip);
    expect(Array.from(node.features(clip))).toEqual(recorded.features);
    // What Chromium delivered against the file it played: its capture path resamples (48 kHz device,
    // 16 kHz context), so the samples differ slightly; the peak must be the word's, not silence.
    const peak = (a: Int16Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    console.log(`recorded peak ${peak(clip)} vs file peak ${peak(micClip)}; features differing from the file's own MFCC: ${Array.from(node.features(micClip)).filter((v, i) => v !== recorded.features[i]).length} of 490`);
    expect(peak(clip)).toBeGreaterThan(peak(micClip) / 4);
    expect(await byTestId('audio-mfcc').getAttribute('data-drawn')).toBe('true');

    // Train the head only for a short run (the page's controls), then recognise a new recording.
    await page.selectOption('#selection', 'head');
    await page.fill('#steps', '50');
    await page.click('#audio-train');
    await expect.poll(() => page.locator('#progress-text').getAttribute('data-state'), { timeout: 8 * 60_000, interval: 1000 }).toBe('done');
    await page.click('#audio-recognise');
    await expect.poll(() => byTestId('audio-result').getAttribute('data-word'), { timeout: 60_000 }).toBe('yes');
    console.log(`page: ${await byTestId('audio-result').textContent()}; accuracy after: ${await page.locator('#acc-after').textContent()} train ${await page.locator('#acc-train').textContent()}`);
    expect(browser.problems).toEqual([]);
  });
});
