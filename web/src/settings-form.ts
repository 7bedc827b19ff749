// The settings panel: device presets (from the library's preset table) or a custom budget, and the
// QZO-FF options, read into the TrainSettings the worker and the Node check both take.
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_DEVICE, PRESETS, resolveDevice, type ResolvedDevice } from '../../src/device/presets.js';
import { DEFAULT_SETTINGS, type Precision, type TrainSettings } from './settings.js';

const CUSTOM = 'custom';

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no element #${id}`);
  return node as T;
}

export class SettingsForm {
  private readonly device = byId<HTMLSelectElement>('device');
  private readonly deviceInfo = byId<HTMLElement>('device-info');
  private readonly sram = byId<HTMLInputElement>('sram');
  private readonly flash = byId<HTMLInputElement>('flash');
  private readonly precision = byId<HTMLSelectElement>('precision');
  private readonly directions = byId<HTMLInputElement>('directions');
  private readonly dither = byId<HTMLInputElement>('dither');
  private readonly selection = byId<HTMLSelectElement>('selection');
  private readonly lastK = byId<HTMLInputElement>('last-k');
  private readonly lr = byId<HTMLInputElement>('lr');
  private readonly steps = byId<HTMLInputElement>('steps');
  private readonly batch = byId<HTMLInputElement>('batch');
  private readonly seed = byId<HTMLInputElement>('seed');

  constructor() {
    for (const p of PRESETS.values()) this.device.add(new Option(`${p.name} · ${p.board}`, p.name));
    this.device.add(new Option('Custom budget', CUSTOM));
    this.device.value = DEFAULT_DEVICE;
    this.device.addEventListener('change', () => this.presetChanged());
    for (const input of [this.sram, this.flash]) input.addEventListener('input', () => this.budgetEdited());
    this.selection.addEventListener('change', () => {
      this.lastK.disabled = this.selection.value !== 'last';
    });
    this.presetChanged();
  }

  private presetChanged(): void {
    const preset = PRESETS.get(this.device.value);
    if (!preset) {
      this.deviceInfo.textContent = 'Your own SRAM and flash budget.';
      return;
    }
    this.sram.value = String(preset.sramBytes / 1024);
    this.flash.value = String(preset.flashBytes / 1024);
    this.deviceInfo.textContent = `${preset.part}, ${preset.core} @ ${preset.clockMhz} MHz.`;
  }

  private budgetEdited(): void {
    const preset = PRESETS.get(this.device.value);
    if (preset && (Number(this.sram.value) * 1024 !== preset.sramBytes || Number(this.flash.value) * 1024 !== preset.flashBytes)) {
      this.device.value = CUSTOM;
      this.presetChanged();
    }
  }

  private resolveDevice(): ResolvedDevice {
    if (this.device.value !== CUSTOM) return resolveDevice(this.device.value);
    const kib = (input: HTMLInputElement, what: string) => {
      const v = Number(input.value);
      if (input.value.trim() === '' || !Number.isInteger(v) || v < 1) throw new ConfigError(`${what} must be a whole number of KiB, got '${input.value}'`);
      return `${v}k`;
    };
    return resolveDevice({ sram: kib(this.sram, 'SRAM'), flash: kib(this.flash, 'flash') });
  }

  /** The settings as typed; a ConfigError names the field to fix. */
  read(): TrainSettings {
    const number = (input: HTMLInputElement, label: string, o: { integer?: boolean; min: number; max: number }) => {
      const v = Number(input.value);
      if (input.value.trim() === '' || !Number.isFinite(v) || (o.integer && !Number.isInteger(v)) || v < o.min || v > o.max) {
        throw new ConfigError(`${label} must be ${o.integer ? 'a whole number' : 'a number'} from ${o.min} to ${o.max}, got '${input.value}'`);
      }
      return v;
    };
    const device = this.resolveDevice();
    const selection = this.selection.value === 'last' ? `last:${number(this.lastK, 'K (last K layers)', { integer: true, min: 1, max: 4 })}` : this.selection.value;
    return {
      ...DEFAULT_SETTINGS,
      device: { name: device.name, sramBytes: device.sramBytes, flashBytes: device.flashBytes },
      precision: this.precision.value as Precision,
      directions: number(this.directions, 'Directions per step (m)', { integer: true, min: 1, max: 8 }),
      dither: this.dither.checked,
      selection,
      lr: number(this.lr, 'Learning rate', { min: 1e-6, max: 1 }),
      steps: number(this.steps, 'Steps', { integer: true, min: 1, max: 20000 }),
      batchSize: number(this.batch, 'Images per step', { integer: true, min: 0, max: 5000 }),
      seed: number(this.seed, 'Seed', { integer: true, min: 0, max: 2 ** 32 - 1 }),
    };
  }

  /** Lock the form while a run trains: its settings are the run's. */
  setLocked(locked: boolean): void {
    for (const el of document.querySelectorAll<HTMLInputElement | HTMLSelectElement>('#settings input, #settings select')) {
      if (el === this.lastK) el.disabled = locked || this.selection.value !== 'last';
      else el.disabled = locked;
    }
  }
}
