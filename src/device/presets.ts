// MCU presets and memory budgets: which SRAM and flash byte budgets the emulated device enforces.
// Every figure in a preset names the document it was taken from (docs/MEMORY.md repeats them with
// the pages used to check them), because a budget nobody can trace is a budget nobody can trust.
// KB/KiB/k all mean 1024 bytes here, as in MCU datasheets and linker scripts.
import { ConfigError } from '../errors.js';
import { checkDevice } from '../util/guards.js';

export const KIB = 1024;
export const MIB = 1024 * KIB;

/** Budgets above these are not microcontrollers; they are almost certainly a units mistake. */
export const MAX_SRAM_BYTES = 64 * MIB;
export const MAX_FLASH_BYTES = 256 * MIB;

export interface McuPreset {
  /** Lower-case part name used on the command line, e.g. 'nrf52840'. */
  readonly name: string;
  /** Vendor and part as printed on the datasheet. */
  readonly part: string;
  readonly core: string;
  /** Maximum core clock in MHz. */
  readonly clockMhz: number;
  /** A common board carrying this part, whose flash figure the preset uses when flash is off-chip. */
  readonly board: string;
  readonly sramBytes: number;
  readonly flashBytes: number;
  /** Where the flash lives: on the die, or a QSPI chip on the board/module. */
  readonly flashLocation: 'on-chip' | 'external';
  /** Caveats a user sizing a model should know (banked SRAM, clock revisions ...). */
  readonly notes: string;
  /** Document titles each figure comes from. */
  readonly sources: { readonly sram: string; readonly flash: string; readonly clock: string };
}

export interface ResolvedDevice {
  /** Preset name, or 'custom-<sram>-<flash>' for a custom budget. */
  readonly name: string;
  readonly sramBytes: number;
  readonly flashBytes: number;
  /** The preset this came from; undefined for custom budgets. */
  readonly preset?: McuPreset;
  readonly core?: string;
  readonly clockMhz?: number;
  readonly board?: string;
}

export interface BudgetObject {
  readonly sram: number | string;
  readonly flash: number | string;
  /** Optional label for reports; defaults to 'custom-<sram>-<flash>'. */
  readonly name?: string;
}

const PRESET_LIST: readonly McuPreset[] = [
  {
    name: 'nrf52840',
    part: 'Nordic Semiconductor nRF52840',
    core: 'Arm Cortex-M4F',
    clockMhz: 64,
    board: 'Arduino Nano 33 BLE',
    sramBytes: 256 * KIB,
    flashBytes: 1 * MIB,
    flashLocation: 'on-chip',
    notes: 'The paper-style "256 KB SRAM / 1 MB flash" class. A BLE SoftDevice, if used, takes part of both.',
    sources: {
      sram: 'nRF52840 Product Specification (Nordic Semiconductor), Memory; Arduino Nano 33 BLE product page, Tech Specs',
      flash: 'nRF52840 Product Specification (Nordic Semiconductor), Memory; Arduino Nano 33 BLE product page, Tech Specs',
      clock: 'nRF52840 Product Specification (Nordic Semiconductor), CPU',
    },
  },
  {
    name: 'stm32f746',
    part: 'STMicroelectronics STM32F746xG',
    core: 'Arm Cortex-M7',
    clockMhz: 216,
    board: 'STM32F746G-DISCO (32F746GDISCOVERY)',
    sramBytes: 320 * KIB,
    flashBytes: 1 * MIB,
    flashLocation: 'on-chip',
    notes: '320 KB system SRAM includes 64 KB DTCM; the 16 KB ITCM and 4 KB backup SRAM are not counted.',
    sources: {
      sram: 'STM32F745xx/STM32F746xx datasheet (DS10916), Features: "320KB of SRAM including 64KB of data TCM RAM"',
      flash: 'STM32F745xx/STM32F746xx datasheet (DS10916), Features: 1 Mbyte of Flash memory',
      clock: 'STM32F745xx/STM32F746xx datasheet (DS10916), Features: up to 216 MHz',
    },
  },
  {
    name: 'stm32h743',
    part: 'STMicroelectronics STM32H743xI',
    core: 'Arm Cortex-M7',
    clockMhz: 480,
    board: 'NUCLEO-H743ZI2',
    sramBytes: 1 * MIB,
    flashBytes: 2 * MIB,
    flashLocation: 'on-chip',
    notes:
      'RAM is banked (DTCM 128 KB, AXI SRAM 512 KB, SRAM1-4, ITCM 64 KB): the largest contiguous block is 512 KB. ' +
      'Silicon revision Y runs at 400 MHz, revision V at 480 MHz.',
    sources: {
      sram: 'STM32H742xI/G STM32H743xI/G datasheet (DS12110), Features: up to 1 Mbyte of RAM',
      flash: 'STM32H742xI/G STM32H743xI/G datasheet (DS12110), Features: 2 Mbytes of Flash memory',
      clock: 'STM32H742xI/G STM32H743xI/G datasheet (DS12110), Features: up to 480 MHz',
    },
  },
  {
    name: 'rp2040',
    part: 'Raspberry Pi RP2040',
    core: 'dual Arm Cortex-M0+',
    clockMhz: 133,
    board: 'Raspberry Pi Pico',
    sramBytes: 264 * KIB,
    flashBytes: 2 * MIB,
    flashLocation: 'external',
    notes: 'No on-chip flash: the Pico carries 2 MB of QSPI flash, executed in place through a 16 KB cache.',
    sources: {
      sram: 'RP2040 Datasheet (Raspberry Pi Ltd): 264kB on-chip SRAM in six independent banks',
      flash: 'Raspberry Pi Pico Datasheet / Pico product brief: 2MB on-board QSPI flash',
      clock: 'RP2040 Datasheet (Raspberry Pi Ltd): dual Cortex-M0+ at up to 133 MHz',
    },
  },
  {
    name: 'esp32-s3',
    part: 'Espressif ESP32-S3',
    core: 'dual Xtensa LX7',
    clockMhz: 240,
    board: 'ESP32-S3-DevKitC-1 with ESP32-S3-WROOM-1-N8',
    sramBytes: 512 * KIB,
    flashBytes: 8 * MIB,
    flashLocation: 'external',
    notes: 'Flash is on the module (N8 = 8 MB quad SPI). Optional PSRAM (R2/R8 modules) is not counted as SRAM.',
    sources: {
      sram: 'ESP32-S3 Series Datasheet (Espressif): 512 KB SRAM, 384 KB ROM',
      flash: 'ESP32-S3-WROOM-1 & WROOM-1U Datasheet (Espressif), ordering information: N8 = 8 MB flash',
      clock: 'ESP32-S3 Series Datasheet (Espressif): Xtensa 32-bit LX7 dual-core, up to 240 MHz',
    },
  },
  {
    name: 'stm32f411',
    part: 'STMicroelectronics STM32F411xE',
    core: 'Arm Cortex-M4F',
    clockMhz: 100,
    board: 'WeAct Black Pill V2.0 (STM32F411CEU6)',
    sramBytes: 128 * KIB,
    flashBytes: 512 * KIB,
    flashLocation: 'on-chip',
    notes: 'Half the paper-style budget: a useful "does it still fit?" stress target.',
    sources: {
      sram: 'STM32F411xC/E datasheet (DS10314), Features: 128 Kbytes of SRAM',
      flash: 'STM32F411xC/E datasheet (DS10314), Features: up to 512 Kbytes of Flash memory',
      clock: 'STM32F411xC/E datasheet (DS10314), Features: up to 100 MHz',
    },
  },
  {
    name: 'apollo3',
    part: 'Ambiq Apollo3 Blue',
    core: 'Arm Cortex-M4F',
    clockMhz: 96,
    board: 'SparkFun Edge / SparkFun Artemis',
    sramBytes: 384 * KIB,
    flashBytes: 1 * MIB,
    flashLocation: 'on-chip',
    notes: '48 MHz nominal; 96 MHz in TurboSPOT burst mode.',
    sources: {
      sram: 'Apollo3 Blue SoC Datasheet (Ambiq Micro): up to 384 KB SRAM',
      flash: 'Apollo3 Blue SoC Datasheet (Ambiq Micro): up to 1 MB flash',
      clock: 'Apollo3 Blue SoC Datasheet (Ambiq Micro): 48 MHz, 96 MHz with TurboSPOT',
    },
  },
  {
    name: 'imxrt1062',
    part: 'NXP i.MX RT1062',
    core: 'Arm Cortex-M7',
    clockMhz: 600,
    board: 'PJRC Teensy 4.0',
    sramBytes: 1 * MIB,
    flashBytes: 2 * MIB,
    flashLocation: 'external',
    notes:
      'RAM is 512 KB tightly coupled (FlexRAM ITCM/DTCM) + 512 KB OCRAM. No on-chip flash: Teensy 4.0 has 2 MB QSPI flash ' +
      '(Teensy 4.1 has 8 MB; pass a custom budget for it).',
    sources: {
      sram: 'i.MX RT1060 Crossover Processors Data Sheet (NXP): 1 MB on-chip RAM; PJRC Teensy 4.0 product page',
      flash: 'PJRC Teensy 4.0 product page: 2 Mbyte of flash memory',
      clock: 'i.MX RT1060 Crossover Processors Data Sheet (NXP): Cortex-M7 up to 600 MHz',
    },
  },
];

export const PRESETS: ReadonlyMap<string, McuPreset> = new Map(PRESET_LIST.map((p) => [p.name, p]));

/** The paper-style "256 KB SRAM / 1 MB flash" class (Arduino Nano 33 BLE). */
export const DEFAULT_DEVICE = 'nrf52840';

export function presetNames(): string[] {
  return PRESET_LIST.map((p) => p.name);
}

/**
 * A device from a preset name ('nrf52840', case-insensitive, punctuation optional), a budget
 * string ('256k/1m', '320KiB/1MiB', 'sram=262144,flash=1048576'), or a {sram, flash} object.
 * Omitted → the default preset.
 */
export function resolveDevice(nameOrBudget: string | BudgetObject = DEFAULT_DEVICE): ResolvedDevice {
  if (typeof nameOrBudget === 'object' && nameOrBudget !== null) return fromBudgetObject(nameOrBudget);
  if (typeof nameOrBudget !== 'string') {
    throw new ConfigError(`device: expected a preset name, a budget string or {sram, flash}, got ${describe(nameOrBudget)}`);
  }
  const text = nameOrBudget.trim();
  if (text === '') {
    throw new ConfigError(`device: got an empty string; use a preset (${presetNames().join(', ')}) or a budget like '256k/1m'`);
  }
  if (looksLikeBudget(text)) return fromBudgetString(text);
  const preset = findPreset(text);
  if (!preset) {
    throw new ConfigError(
      `device: unknown preset '${text}'; known presets are ${presetNames().join(', ')}, ` +
        `or give a budget such as '256k/1m' or 'sram=262144,flash=1048576'`,
    );
  }
  return {
    name: preset.name,
    sramBytes: preset.sramBytes,
    flashBytes: preset.flashBytes,
    preset,
    core: preset.core,
    clockMhz: preset.clockMhz,
    board: preset.board,
  };
}

/** One line for logs and reports: "nrf52840 (Arduino Nano 33 BLE, Arm Cortex-M4F @ 64 MHz): 256 KiB SRAM / 1 MiB flash". */
export function describeDevice(device: ResolvedDevice): string {
  checkDevice(device);
  const budget = `${formatBytes(device.sramBytes)} SRAM / ${formatBytes(device.flashBytes)} flash`;
  if (!device.preset) return `${device.name}: ${budget}`;
  return `${device.name} (${device.board}, ${device.core} @ ${device.clockMhz} MHz): ${budget}`;
}

/** Bytes in the largest binary unit that keeps the number short: 262144 → '256 KiB', 1536 → '1.5 KiB'. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} B`;
  const sign = bytes < 0 ? '-' : '';
  const n = Math.abs(bytes);
  if (n >= MIB) return `${sign}${trimNumber(n / MIB)} MiB`;
  if (n >= KIB) return `${sign}${trimNumber(n / KIB)} KiB`;
  return `${sign}${n} B`;
}

/**
 * A byte count from '262144', '256k', '256 KB', '320KiB', '1m', '1.5MiB' (binary units).
 * `what` names the quantity in error messages.
 */
export function parseBytes(text: string | number, what = 'size'): number {
  if (typeof text === 'number') return checkByteCount(text, String(text), what);
  if (typeof text !== 'string') throw new ConfigError(`${what}: expected a byte count like 262144 or '256k', got ${describe(text)}`);
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) {
    throw new ConfigError(`${what}: expected a byte count like 262144, '256k' or '1MiB', got '${text}'`);
  }
  const unit = match[2]!.toLowerCase();
  const scale = UNIT_SCALE[unit];
  if (scale === undefined) {
    throw new ConfigError(`${what}: unknown unit '${match[2]}' in '${text}'; use B, k/KB/KiB, m/MB/MiB or g/GB/GiB (all binary)`);
  }
  return checkByteCount(Number(match[1]) * scale, text, what);
}

const UNIT_SCALE: Record<string, number> = {
  '': 1,
  b: 1,
  k: KIB,
  kb: KIB,
  kib: KIB,
  m: MIB,
  mb: MIB,
  mib: MIB,
  g: 1024 * MIB,
  gb: 1024 * MIB,
  gib: 1024 * MIB,
};

function checkByteCount(value: number, shown: string, what: string): number {
  if (!Number.isFinite(value)) throw new ConfigError(`${what}: expected a finite byte count, got ${shown}`);
  if (!Number.isInteger(value)) {
    throw new ConfigError(`${what}: '${shown}' is ${value} bytes, not a whole number; give whole bytes`);
  }
  return value;
}

function checkBudget(sramBytes: number, flashBytes: number, shown: string): void {
  if (sramBytes <= 0) throw new ConfigError(`device budget '${shown}': SRAM must be positive, got ${sramBytes} B`);
  if (flashBytes <= 0) throw new ConfigError(`device budget '${shown}': flash must be positive, got ${flashBytes} B`);
  // The same rule as Mcu.create, so `memory` refuses what `adapt` would refuse.
  for (const [name, v] of [['SRAM', sramBytes], ['flash', flashBytes]] as const) {
    if (v % 16 !== 0) throw new ConfigError(`device budget '${shown}': ${name} ${v} B is not a multiple of 16 B (the arena alignment); use ${Math.floor(v / 16) * 16 || 16} or ${Math.ceil(v / 16) * 16}`);
  }
  if (sramBytes > MAX_SRAM_BYTES) {
    throw new ConfigError(
      `device budget '${shown}': SRAM ${formatBytes(sramBytes)} exceeds the ${formatBytes(MAX_SRAM_BYTES)} limit for an MCU; check the units (k = KiB, m = MiB)`,
    );
  }
  if (flashBytes > MAX_FLASH_BYTES) {
    throw new ConfigError(
      `device budget '${shown}': flash ${formatBytes(flashBytes)} exceeds the ${formatBytes(MAX_FLASH_BYTES)} limit for an MCU; check the units (k = KiB, m = MiB)`,
    );
  }
}

function looksLikeBudget(text: string): boolean {
  return /[/=,]/.test(text) || /^[0-9]/.test(text);
}

function fromBudgetString(text: string): ResolvedDevice {
  let sramText: string | undefined;
  let flashText: string | undefined;
  if (text.includes('=')) {
    for (const part of text.split(',')) {
      const eq = part.indexOf('=');
      const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? '' : part.slice(eq + 1);
      if (key === 'sram' && sramText === undefined) sramText = value;
      else if (key === 'flash' && flashText === undefined) flashText = value;
      else {
        throw new ConfigError(
          `device budget '${text}': unexpected or repeated field '${part.trim()}'; use 'sram=<bytes>,flash=<bytes>', e.g. 'sram=256k,flash=1m'`,
        );
      }
    }
  } else {
    const parts = text.split('/');
    if (parts.length === 2) [sramText, flashText] = parts;
  }
  if (sramText === undefined || flashText === undefined) {
    throw new ConfigError(
      `device budget '${text}': expected '<sram>/<flash>' (e.g. '256k/1m') or 'sram=<bytes>,flash=<bytes>'`,
    );
  }
  const sramBytes = parseBytes(sramText, `device budget '${text}' (SRAM)`);
  const flashBytes = parseBytes(flashText, `device budget '${text}' (flash)`);
  checkBudget(sramBytes, flashBytes, text);
  return { name: customName(sramBytes, flashBytes), sramBytes, flashBytes };
}

function fromBudgetObject(budget: BudgetObject): ResolvedDevice {
  const shown = `{sram: ${describe(budget.sram)}, flash: ${describe(budget.flash)}}`;
  if (budget.sram === undefined || budget.flash === undefined) {
    throw new ConfigError(`device budget ${shown}: both sram and flash are required, e.g. {sram: '256k', flash: '1m'}`);
  }
  const sramBytes = parseBytes(budget.sram, `device budget ${shown} (SRAM)`);
  const flashBytes = parseBytes(budget.flash, `device budget ${shown} (flash)`);
  checkBudget(sramBytes, flashBytes, shown);
  const name = budget.name?.trim() || customName(sramBytes, flashBytes);
  return { name, sramBytes, flashBytes };
}

function findPreset(text: string): McuPreset | undefined {
  const key = squash(text);
  return PRESET_LIST.find((p) => squash(p.name) === key);
}

/** 'ESP32_S3', 'esp32s3' and 'esp32-s3' all name the same part. */
function squash(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function customName(sramBytes: number, flashBytes: number): string {
  return `custom-${formatBytes(sramBytes).replace(' ', '')}-${formatBytes(flashBytes).replace(' ', '')}`;
}

function trimNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toFixed(2)));
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
