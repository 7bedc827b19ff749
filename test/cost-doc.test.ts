// docs/COST-MODEL.md's fit table is the one bench/results/cost-fit.json gives: a re-fit that is not
// re-rendered into the doc (node --import tsx bench/cost/fit-table.ts --write) fails here.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { BEGIN, END, readFitCalls, renderFitTable } from '../bench/cost/fit-table.js';

describe('docs/COST-MODEL.md fit table', () => {
  it('matches bench/results/cost-fit.json', () => {
    const doc = readFileSync('docs/COST-MODEL.md', 'utf8');
    const block = doc.slice(doc.indexOf(BEGIN) + BEGIN.length, doc.indexOf(END)).trim();
    expect(doc.indexOf(BEGIN)).toBeGreaterThan(0);
    expect(block).toBe(renderFitTable(readFitCalls()));
  });

  it('renders what the calls say: per-core maxima, family maxima and the bounds rounded up', () => {
    const calls = [
      ...['cortex-m4', 'cortex-m7', 'cortex-m33', 'cortex-m55'].flatMap((core, i) => [
        { core, kernel: 'conv_w8', heldOut: false, error: 0.001 * (i + 1) },
        { core, kernel: 'conv_w8', heldOut: true, error: 0.0002 },
        { core, kernel: 'conv_w16', heldOut: false, error: 0.0211 },
        { core, kernel: 'dw_w16', heldOut: true, error: 0.004 },
      ]),
    ];
    const table = renderFitTable(calls);
    expect(table).toContain('| conv_w8 | 1 / 1 | 0.10% · 0.20% · 0.30% · 0.40% | 0.02% · 0.02% · 0.02% · 0.02% |');
    expect(table).toContain('| dw_w8 / dw_w16 | 0 / 0 | ≤ 0.00% | ≤ 0.40% |');
    expect(table).toMatch(/within \*\*2\.2%\*\* \(target 5%\)/);
  });
});
