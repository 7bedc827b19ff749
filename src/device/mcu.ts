// The emulated microcontroller: one device build over one fixed memory laid out as
//   [64 KiB static page][flash region][sram region]
// Flash holds what an MCU keeps in flash (frozen weights, their biases and requantization
// constants); SRAM holds everything that changes (activations, trainable weights, scratch,
// perturbation panels, loss buffers). The Wasm memory is exactly this big and cannot grow.
import { ConfigError } from '../errors.js';
import { Arena } from './arena.js';
import { Device } from './device.js';
import type { BuildFlavor } from './features.js';

export interface Budget {
  sramBytes: number;
  flashBytes: number;
}

export interface McuOptions {
  budget: Budget;
  build?: BuildFlavor | 'auto';
  wasmBaseUrl?: string | URL;
}

export class Mcu {
  readonly device: Device;
  readonly flash: Arena;
  readonly sram: Arena;
  readonly budget: Budget;

  private constructor(device: Device, budget: Budget) {
    this.device = device;
    this.budget = budget;
    this.flash = new Arena(device, budget.flashBytes, device.arenaBase, 'flash');
    this.sram = new Arena(device, budget.sramBytes, device.arenaBase + budget.flashBytes, 'sram');
  }

  static async create(options: McuOptions): Promise<Mcu> {
    const { sramBytes, flashBytes } = options.budget;
    for (const [name, v] of [['sram', sramBytes], ['flash', flashBytes]] as const) {
      if (!Number.isInteger(v) || v <= 0 || v > 512 * 1024 * 1024) throw new ConfigError(`${name} budget must be a positive integer number of bytes up to 512 MiB, got ${v}`);
      if (v % 16 !== 0) throw new ConfigError(`${name} budget must be a multiple of 16 B (the arena alignment), got ${v}`);
    }
    const device = await Device.create({ build: options.build, arenaBytes: sramBytes + flashBytes, wasmBaseUrl: options.wasmBaseUrl });
    return new Mcu(device, { sramBytes, flashBytes });
  }

  get build(): BuildFlavor {
    return this.device.build;
  }
}
