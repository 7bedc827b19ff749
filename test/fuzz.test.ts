// The fuzz properties of test/fuzz/properties.ts with a few thousand cases in total (the long run is
// `npm run fuzz`): hostile model, checkpoint, IDX and PNG files and kernel calls with random shapes
// and buffers get only typed errors — no traps, no untyped exceptions, no slow cases.
import { describe, it, beforeAll, expect } from 'vitest';
import fc from 'fast-check';
import { casesPer, onlyTypedErrors, prepareKernels, TARGETS } from './fuzz/properties.js';
import { FormatError } from '../src/errors.js';

const TOTAL = Number(process.env.FUZZ_CASES ?? 3000);

beforeAll(prepareKernels);

describe('fuzz (quick)', () => {
  for (const [target, cases] of casesPer(TOTAL)) {
    it(`${target.name}: ${cases} cases, only typed errors`, () => {
      fc.assert(target.property(), { numRuns: cases, seed: 424242 });
    });
  }

  it('the oracle itself fails on traps, untyped errors and slow cases', () => {
    expect(() => onlyTypedErrors(() => { throw new FormatError('fine'); })).not.toThrow();
    expect(() => onlyTypedErrors(() => { throw new WebAssembly.RuntimeError('unreachable'); })).toThrow(/Wasm trap/);
    expect(() => onlyTypedErrors(() => { throw new RangeError('Array buffer allocation failed'); })).toThrow(/untyped RangeError/);
    expect(() => onlyTypedErrors(() => { const t = performance.now(); while (performance.now() - t < 2100); })).toThrow(/limit/);
    expect(TARGETS.length).toBe(6);
  });
});
