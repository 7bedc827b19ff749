// Re-measures the calibration sweep on all four QEMU boards from the exported C kernels in this
// checkout and checks the shipped coefficients (src/cost/coefficients.ts) against the fresh counts:
// every fit shape within 5%, every held-back shape within 10%. Stale coefficients (kernel sources
// changed since the last `npm run bench:cost-calibrate && npm run bench:cost-fit`) fail here.
// LM_COST_KERNELS=DIR measures another checkout's exported runtime instead of src/export/c/runtime.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCalibration } from '../../src/cost/calibration.js';
import { FITTED } from '../../src/cost/coefficients.js';
import { predictInstructions, relativeError } from '../../src/cost/fit.js';

const repoRoot = resolve(import.meta.dirname, '..', '..');

describe('cost model vs QEMU instruction counts', () => {
  it('the shipped fit reproduces a fresh sweep on M4, M7, M33 and M55', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lastmile-cost-spec-')), 'calibration.json');
    execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'cost', 'calibrate.ts'), '--out', out, ...(process.env.LM_COST_KERNELS ? ['--kernels', process.env.LM_COST_KERNELS] : [])], { cwd: repoRoot, stdio: 'inherit' });
    const fresh = parseCalibration(readFileSync(out, 'utf8'));
    const shipped = parseCalibration(readFileSync(join(repoRoot, 'bench', 'results', 'cost-calibration.json'), 'utf8'));
    expect(fresh.source, 'the kernel sources changed since the shipped calibration; re-run bench:cost-calibrate and bench:cost-fit').toBe(shipped.source);
    for (const core of ['cortex-m4', 'cortex-m7', 'cortex-m33', 'cortex-m55']) {
      const records = fresh.cores[core]!.records;
      expect(records.length).toBeGreaterThan(200);
      for (const r of records) {
        const err = relativeError(predictInstructions(FITTED[core]![r.shape.kernel]!, r.shape), r.instructions);
        expect(err, `${core} ${r.shape.kernel} ${JSON.stringify(r.shape)}`).toBeLessThan(r.heldOut ? 0.1 : 0.05);
      }
    }
  });
});
