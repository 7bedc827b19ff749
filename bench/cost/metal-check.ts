// End-to-end check of the cost model against whole exported models: bench/results/metal.json
// (npm run bench:metal, from the C export) measures instructions per kernel call of real layers
// inside real QZO-FF steps and inferences on the four QEMU boards. None of these calls was used
// for fitting; here every layer's predicted instructions per call sit beside the measured ones.
//
//   npm run bench:cost-metal-check [-- path/to/metal.json]
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { graphForModel } from '../../src/cost/model-graph.js';
import { layerKernelShape } from '../../src/cost/graph-estimate.js';
import { estimateKernel, type CostTarget } from '../../src/cost/model.js';
import { isCoreId } from '../../src/cost/cores.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface MetalKernel { name: string; kind: string; phase: 'train' | 'infer'; calls: number; instructionsPerCall: number }
interface MetalRun { name: string; model: string; config: { precision: string }; microBatch: number; trainable: string[]; cores: Record<string, { kernels: MetalKernel[] }> }

export interface MetalComparison { run: string; core: string; layer: string; phase: string; kernel: string; measured: number; predicted: number; error: number }

export async function compareWithMetal(runs: MetalRun[]): Promise<MetalComparison[]> {
  const out: MetalComparison[] = [];
  for (const run of runs) {
    const path = existsSync(run.model) ? run.model : join(root, 'models', run.model);
    const { graph } = await graphForModel(path);
    const bits = run.config.precision === '8w8a' ? 8 : 16;
    for (const [core, c] of Object.entries(run.cores)) {
      if (!isCoreId(core)) continue;
      // Instruction counts do not depend on clock, wait states or power.
      const target: CostTarget = { name: core, core, clockHz: 1e8, flashWaitStates: 0, flashLineBytes: 16, powerW: null };
      for (const k of c.kernels) {
        const node = graph.nodes.find((n) => n.node.name === k.name);
        if (!node) continue; // loss and update rows are not layers
        const shape = layerKernelShape(graph, node, { bits, batch: run.microBatch, perturbed: k.phase === 'train' && run.trainable.includes(k.name) });
        if (!shape) continue;
        const predicted = estimateKernel(shape, target).instructions;
        out.push({ run: run.name, core, layer: k.name, phase: k.phase, kernel: shape.kernel, measured: k.instructionsPerCall, predicted: Math.round(predicted), error: (predicted - k.instructionsPerCall) / k.instructionsPerCall });
      }
    }
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? join(root, 'bench', 'results', 'metal.json');
  const runs = (JSON.parse(readFileSync(file, 'utf8')) as { runs: MetalRun[] }).runs;
  const rows = await compareWithMetal(runs);
  console.log('| run | core | layer | phase | kernel | measured instr/call | predicted | error |\n|---|---|---|---|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.run} | ${r.core} | ${r.layer} | ${r.phase} | ${r.kernel} | ${r.measured} | ${r.predicted} | ${(100 * r.error).toFixed(2)}% |`);
  const worst = rows.reduce((m, r) => Math.max(m, Math.abs(r.error)), 0);
  console.log(`\n${rows.length} layer calls; largest |error| ${(100 * worst).toFixed(2)}% (the SysTick reads around each call add a few tens of instructions to the measured side)`);
}
