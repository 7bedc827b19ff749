// Prints the published-number table and writes bench/results/cost-mlperf.json.
//
//   npm run bench:cost-mlperf        (needs ../shared)
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COST_MODEL_VERSION } from '../../src/cost/model.js';
import { compareWithPublished, importedGraphs } from './mlperf.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const csvPath = join(root, '..', 'shared', 'reference', 'mlperf-tiny-latency.csv');
// The graphs are the ones `lastmile import --tflite` produces from the reference model files.
const { rows, table, goal } = compareWithPublished(readFileSync(csvPath, 'utf8'), await importedGraphs(join(root, '..', 'shared', 'mlperf-tiny')));
console.log(table);
console.log('\nCycles/MAC goal on Cortex-M4 (estimate ≤ 1.2 × TFLM + CMSIS-NN reference; physical limit 0.5):');
  for (const g of goal) console.log(`  ${g.benchmark}: reference ${g.reference.toFixed(2)}, ours ${g.estimate.toFixed(2)} cycles/MAC (int8 weights) = ${g.ratio.toFixed(2)}× → ${g.met ? 'met' : 'NOT met'}; 16w8a SMLAD path ${g.estimate16w8a.toFixed(2)} = ${g.ratio16w8a.toFixed(2)}×`);
const path = join(root, 'bench', 'results', 'cost-mlperf.json');
writeFileSync(path + '.tmp', `{"costModel": ${JSON.stringify(COST_MODEL_VERSION)}, "source": "../shared/reference/mlperf-tiny-latency.csv", "graphs": "imported from ../shared/mlperf-tiny/*.tflite", "cyclesPerMacGoal": ${JSON.stringify(goal)}, "rows": [\n${rows.map((r) => JSON.stringify(r)).join(',\n')}\n]}\n`);
renameSync(path + '.tmp', path);
console.log(`\nwrote ${path}`);
