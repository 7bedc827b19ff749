// Section sizes of an export's test program for one core, from arm-none-eabi-size via its Makefile.
import { execFileSync } from 'node:child_process';

/** Section sizes of the test program for one core, from arm-none-eabi-size (null without the toolchain). */
export function sizeReport(dir: string, core: string): string | null {
  try {
    const out = execFileSync('make', ['-s', '-C', dir, 'size', `CPU=${core}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const sections = new Map<string, number>();
    for (const line of out.split('\n')) {
      const m = /^\.(\w+)\s+(\d+)/.exec(line.trim());
      if (m) sections.set(m[1]!, Number(m[2]));
    }
    const get = (k: string) => sections.get(k) ?? 0;
    return `arm-none-eabi-size (${core}, test program with baked data): .text ${get('text')} B · .rodata ${get('rodata')} B · .data ${get('data')} B · .bss ${get('bss')} B`;
  } catch {
    return null;
  }
}
