import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_DEVICE,
  KIB,
  MAX_FLASH_BYTES,
  MAX_SRAM_BYTES,
  MIB,
  PRESETS,
  describeDevice,
  formatBytes,
  parseBytes,
  presetNames,
  resolveDevice,
} from '../src/device/presets.js';
import { ConfigError } from '../src/errors.js';

describe('device presets', () => {
  it('carry the datasheet budgets, KB = 1024 B', () => {
    const budgets = Object.fromEntries([...PRESETS.values()].map((p) => [p.name, [p.sramBytes / KIB, p.flashBytes / KIB]]));
    expect(budgets).toEqual({
      nrf52840: [256, 1024],
      stm32f746: [320, 1024],
      stm32h743: [1024, 2048],
      rp2040: [264, 2048],
      'esp32-s3': [512, 8192],
      stm32f411: [128, 512],
      apollo3: [384, 1024],
      imxrt1062: [1024, 2048],
    });
  });

  it('record core, clock, board and a source for every figure', () => {
    for (const p of PRESETS.values()) {
      expect(p.name).toBe(p.name.toLowerCase());
      expect(p.core.length, p.name).toBeGreaterThan(0);
      expect(p.board.length, p.name).toBeGreaterThan(0);
      expect(Number.isInteger(p.clockMhz) && p.clockMhz > 0, p.name).toBe(true);
      for (const field of ['sram', 'flash', 'clock'] as const) expect(p.sources[field].length, `${p.name} ${field}`).toBeGreaterThan(10);
    }
    expect(PRESETS.get('nrf52840')).toMatchObject({ core: 'Arm Cortex-M4F', clockMhz: 64, board: 'Arduino Nano 33 BLE' });
    expect(PRESETS.get('rp2040')).toMatchObject({ clockMhz: 133, flashLocation: 'external', board: 'Raspberry Pi Pico' });
    expect(PRESETS.get('stm32h743')!.clockMhz).toBe(480);
  });

  it('default to the paper-style 256 KB SRAM / 1 MB flash class (nrf52840)', () => {
    expect(DEFAULT_DEVICE).toBe('nrf52840');
    const d = resolveDevice();
    expect(d).toMatchObject({ name: 'nrf52840', sramBytes: 262144, flashBytes: 1048576, clockMhz: 64 });
    expect(d.preset).toBe(PRESETS.get('nrf52840'));
  });

  it('resolve by name regardless of case, spacing and punctuation', () => {
    expect(resolveDevice('NRF52840').name).toBe('nrf52840');
    expect(resolveDevice('  stm32f746 ').sramBytes).toBe(320 * KIB);
    expect(resolveDevice('ESP32S3').name).toBe('esp32-s3');
    expect(resolveDevice('esp32_s3').flashBytes).toBe(8 * MIB);
    expect(resolveDevice('i.MX RT1062' as string).name).toBe('imxrt1062');
  });

  it('reject unknown names with a ConfigError that lists every known preset', () => {
    expect(() => resolveDevice('stm32f103')).toThrow(ConfigError);
    try {
      resolveDevice('arduino-uno');
      expect.unreachable();
    } catch (e) {
      const message = (e as Error).message;
      expect(message).toContain("unknown preset 'arduino-uno'");
      for (const name of presetNames()) expect(message).toContain(name);
      expect(message).toContain("'256k/1m'");
    }
  });

  it('describe themselves in one line for logs', () => {
    expect(describeDevice(resolveDevice('rp2040'))).toBe('rp2040 (Raspberry Pi Pico, dual Arm Cortex-M0+ @ 133 MHz): 264 KiB SRAM / 2 MiB flash');
    expect(describeDevice(resolveDevice('96k/384k'))).toBe('custom-96KiB-384KiB: 96 KiB SRAM / 384 KiB flash');
  });
});

describe('custom budgets', () => {
  it.each([
    ['256k/1m', 262144, 1048576],
    ['320KiB/1MiB', 327680, 1048576],
    ['256KB/1MB', 262144, 1048576],
    ['256 KiB / 1 MiB', 262144, 1048576],
    ['262144/1048576', 262144, 1048576],
    ['sram=262144,flash=1048576', 262144, 1048576],
    ['flash=1m, sram=256k', 262144, 1048576],
    ['SRAM=96K,FLASH=0.5M', 98304, 524288],
    ['1.5m/2m', 1572864, 2097152],
    ['64m/256m', MAX_SRAM_BYTES, MAX_FLASH_BYTES],
  ])('parses %s', (text, sramBytes, flashBytes) => {
    const d = resolveDevice(text);
    expect(d).toMatchObject({ sramBytes, flashBytes });
    expect(d.preset).toBeUndefined();
    expect(d.name).toMatch(/^custom-/);
  });

  it('accepts {sram, flash} objects with numbers or unit strings, and an optional name', () => {
    expect(resolveDevice({ sram: 262144, flash: '1m' })).toEqual({ name: 'custom-256KiB-1MiB', sramBytes: 262144, flashBytes: 1048576 });
    expect(resolveDevice({ sram: '320KiB', flash: '1MiB', name: 'my-board' }).name).toBe('my-board');
  });

  it('round-trip any in-range byte counts, with or without units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_SRAM_BYTES }), fc.integer({ min: 1, max: MAX_FLASH_BYTES }), (sram, flash) => {
        expect(resolveDevice(`${sram}/${flash}`)).toMatchObject({ sramBytes: sram, flashBytes: flash });
        expect(resolveDevice(`sram=${sram}b,flash=${flash}B`)).toMatchObject({ sramBytes: sram, flashBytes: flash });
        expect(resolveDevice({ sram, flash })).toMatchObject({ sramBytes: sram, flashBytes: flash });
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 * 1024 }), fc.integer({ min: 1, max: 256 }), (kib, mib) => {
        expect(resolveDevice(`${kib}k/${mib}m`)).toMatchObject({ sramBytes: kib * KIB, flashBytes: mib * MIB });
      }),
      { numRuns: 200 },
    );
  });

  it.each([
    ['0/1m', /SRAM must be positive/],
    ['256k/0', /flash must be positive/],
    ['-256k/1m', /expected a byte count/],
    ['abc/1m', /expected a byte count/],
    ['256q/1m', /unknown unit 'q'/],
    ['0.3k/1m', /not a whole number/],
    ['65m/1m', /SRAM 65 MiB exceeds the 64 MiB limit.*check the units/],
    ['64m/257m', /flash 257 MiB exceeds the 256 MiB limit/],
    ['1g/1g', /SRAM 1024 MiB exceeds/],
    ['256k', /expected '<sram>\/<flash>'/],
    ['256k/1m/2m', /expected '<sram>\/<flash>'/],
    ['sram=256k', /expected '<sram>\/<flash>'.*'sram=<bytes>,flash=<bytes>'/],
    ['sram=256k,flash=1m,eeprom=4k', /unexpected or repeated field 'eeprom=4k'/],
    ['sram=256k,sram=1m', /unexpected or repeated field 'sram=1m'/],
    ['', /empty string/],
  ])('rejects %j with a ConfigError', (text, message) => {
    expect(() => resolveDevice(text)).toThrow(ConfigError);
    expect(() => resolveDevice(text)).toThrow(message);
  });

  it('rejects nonsense budget objects with a ConfigError', () => {
    const bad: unknown[] = [
      { sram: Number.NaN, flash: MIB },
      { sram: 256 * KIB, flash: Number.POSITIVE_INFINITY },
      { sram: -1, flash: MIB },
      { sram: 1.5, flash: MIB },
      { sram: 256 * KIB },
      { sram: MAX_SRAM_BYTES + 1, flash: MIB },
      { sram: KIB, flash: MAX_FLASH_BYTES + 1 },
      { sram: '12 parsecs', flash: MIB },
      { sram: [], flash: MIB },
      42,
    ];
    for (const b of bad) expect(() => resolveDevice(b as never), JSON.stringify(b)).toThrow(ConfigError);
  });
});

describe('byte formatting and parsing', () => {
  it('formats with binary units and at most two decimals', () => {
    expect([0, 1023, 1024, 1536, 262144, 1048576, 1572864, 3 * MIB + 1].map(formatBytes)).toEqual([
      '0 B',
      '1023 B',
      '1 KiB',
      '1.5 KiB',
      '256 KiB',
      '1 MiB',
      '1.5 MiB',
      '3 MiB',
    ]);
  });

  it('parses the units k, KB, KiB, m, MB, MiB, g and bare bytes, case-insensitively', () => {
    expect(['16', '16b', '1k', '1KB', '1kib', '1m', '1MB', '1MiB', '1g'].map((t) => parseBytes(t))).toEqual([
      16, 16, 1024, 1024, 1024, MIB, MIB, MIB, 1024 * MIB,
    ]);
    expect(() => parseBytes('1kbit')).toThrow(/unknown unit 'kbit'/);
  });
});
