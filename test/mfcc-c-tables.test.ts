// The exported C front end's tables (src/export/c/runtime/lm_mfcc_tables.h) hold the emulated
// device's values (assembly/mfcc_tables.ts), table by table; both come from scripts/gen-mfcc-tables.mjs.
// (The C code itself is checked bit for bit on the host and on QEMU in `npm run test:metal`.)
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

function tables(text: string, pattern: RegExp): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of text.matchAll(pattern)) out.set(m[1]!, m[2]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number));
  return out;
}

describe('MFCC tables of the C export', () => {
  it('equal the device tables value for value', () => {
    const as = tables(readFileSync(resolve(ROOT, 'assembly/mfcc_tables.ts'), 'utf8'), /export const (\w+) = memory\.data<\w+>\(\[([^\]]*)\]\)/g);
    const c = tables(readFileSync(resolve(ROOT, 'src/export/c/runtime/lm_mfcc_tables.h'), 'utf8'), /static const \w+ LM_(\w+)\[\d+\] = \{([^}]*)\}/g);
    expect([...c.keys()].sort()).toEqual([...as.keys()].sort());
    expect(as.size).toBe(9);
    for (const [name, values] of as) expect({ name, values: c.get(name) }).toEqual({ name, values });
  });
});
