// The long fuzz run: `npm run fuzz` (≥ 100,000 cases by default), `npm run fuzz -- --cases 20000
// --seed 7`. Prints each target's case count and time, and exits non-zero on the first failure
// (fast-check prints the shrunk counterexample and the seed/path to replay it).
import fc from 'fast-check';
import { casesPer, prepareKernels, TARGETS } from './properties.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} takes a positive integer, got '${process.argv[i + 1]}'`);
  return v;
}

const total = flag('cases', 100_000);
const seed = flag('seed', 20241124);
await prepareKernels();
const t0 = performance.now();
let ran = 0;
for (const [target, cases] of casesPer(total)) {
  const t = performance.now();
  fc.assert(target.property(), { numRuns: cases, seed, endOnFailure: true });
  ran += cases;
  const accepted = target.tally.get('accepted') ?? 0;
  console.log(`${target.name.padEnd(55)} ${String(cases).padStart(8)} cases  ${((performance.now() - t) / 1000).toFixed(1).padStart(6)} s  ${String(accepted).padStart(6)} accepted, ${target.tally.size - (accepted ? 1 : 0)} distinct typed errors`);
  if (process.argv.includes('--verbose')) for (const [k, v] of [...target.tally].sort((a, b) => b[1] - a[1])) console.log(`    ${String(v).padStart(7)}  ${k}`);
}
const seconds = (performance.now() - t0) / 1000;
const rss = process.memoryUsage().rss / 2 ** 20;
console.log(`fuzz: ${ran} cases over ${TARGETS.length} targets in ${seconds.toFixed(1)} s (seed ${seed}); only typed errors, no traps, no case over the time limit; RSS at the end ${rss.toFixed(0)} MiB`);
