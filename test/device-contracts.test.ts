// Contracts written on both sides of the host/device boundary: the GEMM micro-kernel tile and the
// packed-panel header size are constants in assembly/gemm.ts (the device) and in
// src/kernels/gemm.ts (the host, which sizes scratch with them). This fails when one side changes
// without the other.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GEMM_MR, GEMM_NR } from '../src/kernels/gemm.js';

const ROOT = join(import.meta.dirname, '..');
const CONTRACT = ['GEMM_MR', 'GEMM_NR', 'PANEL_HEADER_BYTES', 'NARROW_FIELD'];

function constants(file: string): Record<string, number> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(?:export )?const ([A-Z_]+)(?::\s*i32)?\s*=\s*(\d+);/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('host/device contracts', () => {
  it('assembly/gemm.ts and src/kernels/gemm.ts agree on the GEMM tile and the panel header sizes (8-column and narrow)', () => {
    const device = constants('assembly/gemm.ts');
    const host = constants('src/kernels/gemm.ts');
    for (const name of CONTRACT) {
      expect(device[name], `${name} in assembly/gemm.ts`).toBeTypeOf('number');
      expect(host[name], `${name} in src/kernels/gemm.ts`).toBe(device[name]);
    }
    // The parsed host values are the ones the host runs with.
    expect([GEMM_MR, GEMM_NR]).toEqual([host.GEMM_MR, host.GEMM_NR]);
  });
});
