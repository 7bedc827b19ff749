// Time and energy data for every device preset (src/device/presets.ts), keyed by preset name so
// the preset list itself stays unchanged: the core the cost model uses, the clock it is run at,
// the flash wait states at that clock, and the active-mode power (supply × run current at that
// clock). Each figure names its document and table. The figures were transcribed from those
// documents' tables; docs/COST-MODEL.md lists which were re-checked and which are recollection.
import type { CoreId } from './cores.js';

export interface DeviceCost {
  /** Core the cost model uses, or null when no calibrated model exists for it ("no estimate"). */
  core: CoreId | null;
  clockHz: number;
  /** Flash wait states at clockHz (extra cycles per flash line fetched by a data read). */
  flashWaitStates: number;
  /** Bytes per flash read line (the width one wait-stated access returns). */
  flashLineBytes: number;
  supplyV: number;
  /** Typical run current at clockHz, code running from flash. */
  runCurrentA: number;
  sources: { core: string; waitStates: string; power: string };
  /** Why there is no estimate, or what is assumed beyond the datasheet. */
  note?: string;
}

export const DEVICE_COSTS: Record<string, DeviceCost> = {
  nrf52840: {
    core: 'cortex-m4', clockHz: 64_000_000, flashWaitStates: 0, flashLineBytes: 16, supplyV: 3.0, runCurrentA: 3.3e-3,
    sources: {
      core: 'nRF52840 Product Specification v1.7, section 6.1 "CPU": Arm Cortex-M4 with FPU at 64 MHz',
      waitStates: 'nRF52840 Product Specification v1.7, section 6.1 "CPU" (flash with instruction cache); no wait-state figure is published, 0 assumed',
      power: 'nRF52840 Product Specification v1.7, section 6.1.2 "CPU electrical specification": I_CPU,FLASH,CACHE running CoreMark at 64 MHz from flash, cache enabled, DC/DC, 3 V: 3.3 mA',
    },
    note: 'wait states: the cache hides them for code; data reads of weights are assumed to hit no extra wait states',
  },
  stm32f746: {
    core: 'cortex-m7', clockHz: 216_000_000, flashWaitStates: 7, flashLineBytes: 32, supplyV: 3.3, runCurrentA: 0.193,
    sources: {
      core: 'STM32F746xx datasheet (DS10916), section 1 "Features": Arm Cortex-M7 up to 216 MHz',
      waitStates: 'RM0385 (STM32F75xxx/74xxx reference manual), section 3.3.2, Table 5 "Number of wait states according to CPU clock": 7 WS at 210-216 MHz, 2.7-3.6 V',
      power: 'DS10916, Table 22 "Typical and maximum current consumption in Run mode, code with data processing running from Flash (ART ON)": 216 MHz, all peripherals enabled: 193 mA typ at 3.3 V',
    },
  },
  stm32h743: {
    core: 'cortex-m7', clockHz: 480_000_000, flashWaitStates: 4, flashLineBytes: 32, supplyV: 3.3, runCurrentA: 0.263,
    sources: {
      core: 'STM32H743xI datasheet (DS12110), section 1 "Features": Arm Cortex-M7 up to 480 MHz (revision V)',
      waitStates: 'RM0433 (STM32H742/743/750/753 reference manual), section 4.3.8, Table 17 "FLASH recommended number of wait states": 4 WS at 225-240 MHz AXI clock (CPU 480 MHz), VOS0',
      power: 'DS12110, Table 36 "Typical consumption in Run mode, code with data processing running from Flash, cache ON": 480 MHz, VOS0, all peripherals disabled: 263 mA typ',
    },
  },
  stm32f411: {
    core: 'cortex-m4', clockHz: 100_000_000, flashWaitStates: 3, flashLineBytes: 16, supplyV: 3.3, runCurrentA: 0.0108,
    sources: {
      core: 'STM32F411xC/E datasheet (DS10314), section 1 "Features": Arm Cortex-M4 with FPU up to 100 MHz',
      waitStates: 'RM0383 (STM32F411xC/E reference manual), section 3.4, Table 5 "Number of wait states according to CPU clock": 3 WS at 90-100 MHz, 2.7-3.6 V',
      power: 'DS10314, Table 21 "Typical and maximum current consumption, code with data processing (ART accelerator disabled) running from Flash": 100 MHz, peripherals disabled: 10.8 mA typ (the "100 µA/MHz" of the front page)',
    },
  },
  apollo3: {
    core: 'cortex-m4', clockHz: 96_000_000, flashWaitStates: 0, flashLineBytes: 16, supplyV: 3.3, runCurrentA: 96 * 10e-6,
    sources: {
      core: 'Apollo3 Blue SoC Datasheet (Ambiq), section 1 "Features": Arm Cortex-M4F, 48 MHz, 96 MHz TurboSPOT',
      waitStates: 'Apollo3 Blue SoC Datasheet, "Flash cache": code and data through a 16 KB cache; no wait-state figure published, 0 assumed',
      power: 'Apollo3 Blue SoC Datasheet, section 1 "Features": 6 µA/MHz executing from flash at 3.3 V (48 MHz); TurboSPOT 96 MHz assumed 10 µA/MHz (no published figure)',
    },
    note: 'the 96 MHz run current is an assumption: the datasheet publishes 6 µA/MHz at 48 MHz only',
  },
  imxrt1062: {
    core: 'cortex-m7', clockHz: 600_000_000, flashWaitStates: 0, flashLineBytes: 32, supplyV: 3.3, runCurrentA: 0.1,
    sources: {
      core: 'i.MX RT1060 Crossover Processors Data Sheet (IMXRT1060CEC), section 1: Arm Cortex-M7 up to 600 MHz',
      waitStates: 'no on-chip flash: weights are assumed copied to the 512 KB tightly coupled RAM (0 wait states), as Teensy 4 code does for hot data',
      power: 'PJRC Teensy 4.0 product page, "Power": about 100 mA at 600 MHz from the 5 V supply (board figure; the data sheet gives no single run current)',
    },
    note: 'power is a board-level figure at the USB 5 V input converted at the 3.3 V rail, so energy is an upper-bound estimate',
  },
  rp2040: {
    core: null, clockHz: 133_000_000, flashWaitStates: 0, flashLineBytes: 16, supplyV: 3.3, runCurrentA: 0.0245,
    sources: {
      core: 'RP2040 Datasheet, section 2.1: dual Arm Cortex-M0+; no QEMU board for the M0+ was calibrated',
      waitStates: 'RP2040 Datasheet, section 2.6.3 "Flash": execute in place through a 16 KB cache from QSPI flash',
      power: 'Raspberry Pi Pico Datasheet, section 3.1 "Power consumption": about 24.5 mA typical while busy at 125 MHz (Popcorn / BOOTSEL figures)',
    },
    note: 'no estimate: the Cortex-M0+ (ARMv6-M, no DSP, single-cycle 32-bit multiply optional) has no calibrated QEMU board in this model',
  },
  'esp32-s3': {
    core: null, clockHz: 240_000_000, flashWaitStates: 0, flashLineBytes: 32, supplyV: 3.3, runCurrentA: 0.0435,
    sources: {
      core: 'ESP32-S3 Series Datasheet, section 1: Xtensa LX7 dual core up to 240 MHz; qemu-system-arm cannot run it',
      waitStates: 'ESP32-S3 Series Datasheet, "Cache": external flash through the instruction/data caches',
      power: 'ESP32-S3 Series Datasheet, Table "Current consumption in active mode depending on CPU frequency": 240 MHz, dual core running, 43.5 mA typ (approximate, from the modem-sleep table)',
    },
    note: 'no estimate: the Xtensa LX7 has no calibrated emulator in this model',
  },
};

export function runPowerW(cost: DeviceCost): number {
  return cost.supplyV * cost.runCurrentA;
}
