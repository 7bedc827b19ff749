// The page's keyword mode: record a word with the microphone (or add .wav clips), see its MFCC as
// the emulated device computed it, collect a few examples per word, personalise the loaded keyword
// model on the device (the same worker and training run as the drawing mode) and try it on a new
// recording.
import type { Dataset } from '../../src/data/dataset.js';
import { clipFromWav, recordClip } from './audio-clip.js';
import type { FromWorker, ToWorker } from './protocol.js';

const FRAMES = 49;
const COEFFS = 10;

interface Example {
  word: string;
  values: Float32Array;
}

interface Pending {
  purpose: 'example' | 'recognise';
  word: string;
  clip: Int16Array;
}

export interface AudioPanelHooks {
  post(message: ToWorker): void;
  /** Starts a training run on these examples through the page's own run machinery. */
  train(data: { train: Dataset; heldOut: Dataset | null }, classNames: string[]): void;
  say(text: string): void;
  showError(text: string | null): void;
}

const el = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no element #${id}`);
  return node as T;
};

/** The last clip and its features, for anyone checking the page from outside (the browser test). */
declare global {
  interface Window {
    lastmileAudio?: { clip: Int16Array; features: Int8Array; quant: { scale: number; zeroPoint: number } };
  }
}

export class AudioPanel {
  private readonly examples: Example[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly ui = {
    word: el<HTMLInputElement>('audio-word'),
    record: el<HTMLButtonElement>('audio-record'),
    files: el<HTMLInputElement>('audio-files'),
    mfcc: el<HTMLCanvasElement>('audio-mfcc'),
    examples: el('audio-examples'),
    train: el<HTMLButtonElement>('audio-train'),
    recognise: el<HTMLButtonElement>('audio-recognise'),
    result: el('audio-result'),
    state: el('audio-state'),
  };

  constructor(private readonly hooks: AudioPanelHooks) {
    this.ui.record.addEventListener('click', () => void this.record('example'));
    this.ui.recognise.addEventListener('click', () => void this.record('recognise'));
    this.ui.files.addEventListener('change', () => void this.addFiles());
    this.ui.train.addEventListener('click', () => this.startTraining());
    this.renderExamples();
  }

  private word(): string {
    const w = this.ui.word.value.trim().toLowerCase();
    if (!/^[a-z0-9_-]{1,24}$/.test(w)) throw new Error('type the word first: letters, digits, - or _, up to 24 characters');
    return w;
  }

  private send(purpose: Pending['purpose'], word: string, clip: Int16Array): void {
    const id = this.nextId++;
    this.pending.set(id, { purpose, word, clip });
    this.hooks.post({ type: 'mfcc', id, clip, predict: purpose === 'recognise' });
  }

  private async record(purpose: Pending['purpose']): Promise<void> {
    this.hooks.showError(null);
    let word = '';
    try {
      if (purpose === 'example') word = this.word();
      this.setState('recording');
      this.hooks.say(purpose === 'example' ? `Recording "${word}"… say it now.` : 'Recording… say one of your words.');
      const { clip } = await recordClip();
      this.setState('computing');
      this.send(purpose, word, clip);
    } catch (e) {
      this.setState('idle');
      this.hooks.showError(`The microphone did not record: ${(e as Error).message}`);
    }
  }

  private async addFiles(): Promise<void> {
    this.hooks.showError(null);
    try {
      const word = this.word();
      const files = [...(this.ui.files.files ?? [])];
      if (files.some((f) => f.size > 10 * 1024 * 1024)) throw new Error('a .wav clip may be at most 10 MiB');
      for (const f of files) this.send('example', word, clipFromWav(new Uint8Array(await f.arrayBuffer()), f.name));
      this.setState('computing');
    } catch (e) {
      this.hooks.showError(`The clips were not added: ${(e as Error).message}`);
    } finally {
      this.ui.files.value = '';
    }
  }

  /** The worker's answer to an 'mfcc' request. */
  handle(message: Extract<FromWorker, { type: 'mfcc' }>): void {
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    window.lastmileAudio = { clip: p.clip, features: message.features, quant: message.quant };
    this.drawMfcc(message.features);
    if (p.purpose === 'example') {
      this.examples.push({ word: p.word, values: message.values });
      this.renderExamples();
      this.hooks.say(`Added an example of "${p.word}" (MFCC computed on the device).`);
    } else if (message.probabilities) {
      const names = this.classNames();
      let best = 0;
      message.probabilities.forEach((v, i) => {
        if (v > message.probabilities![best]!) best = i;
      });
      this.ui.result.dataset.word = names[best] ?? String(best);
      this.ui.result.textContent = `Heard: ${names[best] ?? best} (${(100 * message.probabilities[best]!).toFixed(0)}%)`;
    } else {
      this.ui.result.textContent = 'Train first: the adapted model answers.';
      delete this.ui.result.dataset.word;
    }
    if (this.pending.size === 0) this.setState('idle');
  }

  failed(): void {
    this.pending.clear();
    this.setState('idle');
  }

  private classNames(): string[] {
    return [...new Set(this.examples.map((e) => e.word))];
  }

  private startTraining(): void {
    this.hooks.showError(null);
    const names = this.classNames();
    if (names.length < 2) {
      this.hooks.showError('Record or add examples of at least two words first.');
      return;
    }
    const images = new Float32Array(this.examples.length * FRAMES * COEFFS);
    this.examples.forEach((e, i) => images.set(e.values, i * FRAMES * COEFFS));
    const labels = Int32Array.from(this.examples, (e) => names.indexOf(e.word));
    const train: Dataset = { name: 'recorded words', shape: [FRAMES, COEFFS, 1], images, labels, classes: names.length, classNames: names };
    this.hooks.train({ train, heldOut: null }, names);
  }

  private setState(s: 'idle' | 'recording' | 'computing'): void {
    this.ui.state.dataset.state = s;
    this.ui.state.textContent = s === 'idle' ? '' : s === 'recording' ? 'Recording…' : 'Computing the MFCC on the device…';
    this.ui.record.disabled = s !== 'idle';
    this.ui.recognise.disabled = s !== 'idle';
  }

  private renderExamples(): void {
    const counts = new Map<string, number>();
    for (const e of this.examples) counts.set(e.word, (counts.get(e.word) ?? 0) + 1);
    this.ui.examples.textContent = counts.size === 0 ? 'No examples yet.' : [...counts].map(([w, n]) => `${w}: ${n}`).join(' · ');
    this.ui.examples.dataset.count = String(this.examples.length);
    this.ui.train.disabled = counts.size < 2;
  }

  /** The 49 × 10 int8 MFCC as a heat map: time left to right, coefficient 0 at the top. */
  private drawMfcc(features: Int8Array): void {
    const c = this.ui.mfcc;
    const g = c.getContext('2d');
    if (!g) return;
    const w = c.width / FRAMES;
    const h = c.height / COEFFS;
    for (let f = 0; f < FRAMES; f++) {
      for (let k = 0; k < COEFFS; k++) {
        const v = (features[f * COEFFS + k]! + 128) / 255;
        g.fillStyle = `rgb(${Math.round(255 * v)}, ${Math.round(255 * (1 - Math.abs(v - 0.5) * 2))}, ${Math.round(255 * (1 - v))})`;
        g.fillRect(f * w, k * h, Math.ceil(w), Math.ceil(h));
      }
    }
    c.dataset.drawn = 'true';
  }
}
