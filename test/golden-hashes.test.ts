// Bit-identity guard: the outputs of a fixed set of real runs hash to the recorded values. A change
// here means a result changed; if that is intended, re-record with `npm run golden:update` and say why.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { FIXTURE, GOLDEN_RUNS } from './helpers/golden-runs.js';

const recorded = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, Record<string, string>>;

describe('golden output hashes', () => {
  it('the fixture records every run', () => {
    expect(Object.keys(recorded).sort()).toEqual(GOLDEN_RUNS.map((r) => r.name).sort());
  });
  for (const run of GOLDEN_RUNS) {
    it(run.name, async () => {
      expect(await run.run()).toEqual(recorded[run.name]);
    }, 600_000);
  }
});
