// Exported C against the emulator: for each run of the matrix, `lastmile adapt --json` (reference),
// `lastmile export --format c` with the same options, then `make host` and `make qemu CPU=…` on the
// listed cores. Every program must end with adapt's weights sha256, print adapt's per-step integer
// losses, and give the emulator's int32 logits on the query images, bit for bit. Wall times go to
// bench/results/metal-tests.json (docs/DEPLOY.md quotes them).
import { describe, expect, it, afterAll } from 'vitest';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adaptReference, emulatorQueryDigest, exportC, lossSumOverPasses, modelPath, runProgram, ROOT, type ProgramOutput } from './harness.js';
import { initFloatModel, saveModel } from '../../src/model/model.js';
import type { Architecture as ModelArchitecture } from '../../src/model/graph.js';

const ALL = ['cortex-m4', 'cortex-m7', 'cortex-m33', 'cortex-m55'];

interface MatrixRun {
  name: string;
  /** A bundled model under models/, or a seeded initialisation of an architecture (bit-exactness needs no training). */
  model: string | ModelArchitecture;
  data: string;
  /** Options shared by adapt and the export (each run names its --method: the default may change). */
  args: string[];
  /** Forwards per step over the batch: 2m, or 1 for the hybrid training only its head. */
  passes: number;
  batch: number;
  queries: number;
  targets: string[];
  /** Extra make variables (the runtime's compile-time options). */
  makeVars?: string[];
}

// --batch-size 5 keeps one micro-batch per forward (2·m forwards of 5 images per step), so 20 steps
// take seconds on QEMU; it also exercises the seeded per-epoch shuffle of the batch order.
// Every run pins its method: the QZO-FF rows stay the paper's plain step whatever adapt's default is.
const common = (steps: number, queries: number, method = 'qzo-ff') => ['--method', method, '--steps', String(steps), '--batch-size', '5', '--queries', String(queries)];
// Every exported kernel path on one small seeded network for 28×28 inputs: a 1-channel stem, max
// pooling over 8 channels (four per word on the DSP cores) and over 6 (one at a time), depthwise at
// strides 1 and 2 with padding, a 1×1 convolution, a 3×3 convolution with an odd channel count and a
// patch length that is not a multiple of four, global average pooling and the dense head.
const conv = (name: string, filters: number, k: number): ModelArchitecture['nodes'][number] => ({ kind: 'conv2d', name, filters, kernel: [k, k], stride: [1, 1], padding: 'same', activation: 'relu' });
const depthwise = (name: string, s: number): ModelArchitecture['nodes'][number] => ({ kind: 'depthwise', name, depthMultiplier: 1, kernel: [3, 3], stride: [s, s], padding: 'same', activation: 'relu' });
const pool = (name: string): ModelArchitecture['nodes'][number] => ({ kind: 'maxpool', name, pool: [2, 2], stride: [2, 2], padding: 'valid' });
const KERNEL_PATHS: ModelArchitecture = {
  name: 'kernel-paths',
  nodes: [
    { kind: 'input', name: 'input', shape: [28, 28, 1] }, conv('stem', 8, 3), pool('pool1'), depthwise('dw1', 1), conv('pw1', 6, 1), pool('pool2'),
    depthwise('dw2', 2), conv('conv3', 9, 3), { kind: 'globalavgpool', name: 'gap' }, { kind: 'dense', name: 'logits', units: 10, activation: 'none' },
  ],
};

const RUNS: MatrixRun[] = [
  { name: 'seeded kernel-paths net full 16w8a', model: KERNEL_PATHS, data: 'mnist', args: ['--train', 'full', ...common(3, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m4', 'cortex-m55'] },
  // LM_COL_MAX = 8 sends every convolution with a longer patch (the stem's 9 taps, conv3's 54) down the
  // per-row path that only patches over 576 taps take by default.
  { name: 'seeded kernel-paths net full 16w8a, per-row convolution path (LM_COL_MAX = 8)', model: KERNEL_PATHS, data: 'mnist', args: ['--train', 'full', ...common(3, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m4'], makeVars: ['DEFS=-DLM_COL_MAX=8'] },
  { name: 'seeded kernel-paths net head 8w8a with dither', model: KERNEL_PATHS, data: 'mnist', args: ['--train', 'head', '--precision', '8w8a', '--dither', ...common(3, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m4', 'cortex-m7'] },
  { name: 'mnist-cnn head 16w8a', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'head', ...common(20, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', ...ALL] },
  { name: 'mnist-cnn full 16w8a', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'full', ...common(20, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', ...ALL] },
  { name: 'mnist-cnn last:2 16w8a', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'last:2', ...common(20, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', ...ALL] },
  { name: 'mnist-cnn head 16w8a, 200 steps', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'head', ...common(200, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m4'] },
  { name: 'mnist-cnn head 8w8a (ε = 0.02)', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'head', '--precision', '8w8a', '--eps', '0.02', ...common(20, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m55'] },
  { name: 'mnist-cnn full 8w8a with dither', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'full', '--precision', '8w8a', '--dither', ...common(20, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m4'] },
  { name: 'fashion-cnn full 16w8a', model: 'fashion-cnn-classes04.lmdl', data: 'fashion-mnist', args: ['--data', 'fashion-mnist', '--train', 'full', ...common(20, 10)], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m33'] },
  { name: 'resnet8-mnist last:2 16w8a, m = 1', model: 'resnet8-mnist-digits04.lmdl', data: 'mnist', args: ['--train', 'last:2', '--m', '1', ...common(20, 5)], passes: 2, batch: 5, queries: 5, targets: ['host', 'cortex-m7'] },
  // The hybrid (integer backprop for the dense head, and by default for the layer below it, the
  // "tail"): the head alone (one unperturbed forward per step), the head and tail alone, and with the
  // body by QZO-FF (the backprop sums over the same 2m perturbed forwards; the hybrid's default m is 1).
  { name: 'mnist-cnn hybrid head 16w8a', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'head', ...common(20, 10, 'hybrid')], passes: 1, batch: 5, queries: 10, targets: ['host', 'cortex-m4', 'cortex-m55'] },
  { name: 'mnist-cnn hybrid full 16w8a (head and tail by backprop; the default m = 1)', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'full', ...common(20, 10, 'hybrid')], passes: 2, batch: 5, queries: 10, targets: ['host', 'cortex-m4', 'cortex-m55'] },
  { name: 'mnist-cnn hybrid full 16w8a, --bp-layers 1, m = 3', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'full', '--bp-layers', '1', '--m', '3', ...common(20, 10, 'hybrid')], passes: 6, batch: 5, queries: 10, targets: ['host', 'cortex-m4'] },
  { name: 'mnist-cnn hybrid last:2 16w8a (head and tail only)', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'last:2', ...common(20, 10, 'hybrid')], passes: 1, batch: 5, queries: 10, targets: ['host', 'cortex-m4', 'cortex-m55'] },
  { name: 'mnist-cnn hybrid full 8w8a with dither', model: 'mnist-cnn-digits04.lmdl', data: 'mnist', args: ['--train', 'full', '--precision', '8w8a', '--dither', ...common(20, 10, 'hybrid')], passes: 2, batch: 5, queries: 10, targets: ['host', 'cortex-m55'] },
  // The tail through the residual add (ResNet-8: the gate is the add's ReLU output). Its int64 sums
  // (288 KiB) do not fit the default device's 256 KiB: plan for a 1 MiB part.
  { name: 'resnet8-mnist hybrid full 16w8a, m = 1 (tail through the residual add)', model: 'resnet8-mnist-digits04.lmdl', data: 'mnist', args: ['--train', 'full', '--m', '1', '--device', 'stm32h743', ...common(20, 5, 'hybrid')], passes: 2, batch: 5, queries: 5, targets: ['host', 'cortex-m4', 'cortex-m55'] },
  { name: 'resnet8-fashion head 16w8a, m = 1', model: 'resnet8-fashion-classes04.lmdl', data: 'fashion-mnist', args: ['--data', 'fashion-mnist', '--train', 'head', '--m', '1', ...common(20, 5)], passes: 2, batch: 5, queries: 5, targets: ['host'] },
];

/** Runs the targets two at a time (the machine has two cores). */
async function runTargets(dir: string, targets: string[], makeVars: readonly string[] = []): Promise<Map<string, ProgramOutput>> {
  const out = new Map<string, ProgramOutput>();
  const queue = [...targets];
  const worker = async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) out.set(t, await runProgram(dir, t, undefined, makeVars));
  };
  await Promise.all([worker(), worker()]);
  return out;
}

const timings: Record<string, Record<string, number>> = {};

describe('exported C on the host and on QEMU Cortex-M, against adapt and the emulator', () => {
  afterAll(async () => {
    await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    // A run of part of the suite (-t) updates its own entries and keeps the others.
    const file = join(ROOT, 'bench', 'results', 'metal-tests.json');
    const before = await readFile(file, 'utf8').then((t) => (JSON.parse(t) as { timings: Record<string, Record<string, number>> }).timings).catch(() => ({}));
    const note = 'wall seconds per program run (make host / make qemu, compile included) on the machine that ran npm run test:metal; a run of part of the suite (-t) updates its own entries';
    await writeFile(file, JSON.stringify({ note, timings: { ...before, ...timings } }, null, 2) + '\n');
  });

  for (const r of RUNS) {
    it(`${r.name}: ${r.targets.join(', ')}`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'lm-metal-'));
      let model = typeof r.model === 'string' ? modelPath(r.model) : join(dir, 'seeded.lmdl');
      if (typeof r.model !== 'string') await writeFile(model, saveModel(initFloatModel(r.model, 7)));
      const [ref] = await Promise.all([
        adaptReference(['--model', model, ...r.args], join(dir, 'adapt')),
        exportC(r.args, ['--model', model], join(dir, 'c')),
      ]);
      const emu = await emulatorQueryDigest(join(dir, 'adapt', 'model.lmdl'), { data: r.data, classes: '5-9', ways: 5, shots: 5, queries: r.queries, seed: 1, microBatch: 5 });
      const results = await runTargets(join(dir, 'c'), r.targets, r.makeVars);
      timings[r.name] = Object.fromEntries([...results].map(([t, o]) => [t, Math.round(o.ms / 100) / 10]));
      const wantLosses = ref.losses.map((l) => lossSumOverPasses(l, r.passes, r.batch));
      for (const [target, out] of results) {
        expect({ target, sha: out.weightsSha256 }).toEqual({ target, sha: ref.weightsSha256 });
        expect({ target, losses: out.steps.map((s) => s.reduce((a, b) => a + b, 0)) }).toEqual({ target, losses: wantLosses });
        expect({ target, logits: out.queryLogitsSha256 }).toEqual({ target, logits: emu.digest });
      }
    });
  }
});
