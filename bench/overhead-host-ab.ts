// A/B of the QZO-FF step's fixed host cost: this tree against another checkout's src/ (same device
// build), both loaded in one process. Host-side changes must not change results, so every config first
// trains both trees side by side and aborts on any difference in a step's signs or loss.
//
// The step is 2m perturbed forward passes plus everything around them (batch staging, the integer loss,
// specs, update preparation and the update kernel): step = 2m·P + H. Timing a whole step A/B drowns a
// few-percent H in the forward passes' noise, so the parts are timed apart, by CPU time, interleaved:
//   F  the plain forward (as bench/overhead.bench.ts: the batch staged once),
//   P  the forward with every trained layer's fused perturbation (spec lookup per op, as a step does it),
//   H  a step whose forward passes are stubbed out (alternating logits, so the signs are not 0):
//      staging, loss, specs, update planning and the update kernel,
//   J  the same with constant logits: every sign is 0 and the update kernel returns at once, so J is
//      the step's fixed host work alone (staging, loss kernel, specs, update planning, the host loop).
// The projected overhead is (2m·P + H) / (2m·F) for each tree; the measured one, step / (2m·F), is
// printed beside it (noisier: it also carries the forward passes' variation).
//
//   git archive <commit> src bench | tar -x -C /tmp/base   (node_modules and build/ linked or copied beside)
//   node --import tsx bench/overhead-host-ab.ts --baseline /tmp/base [--filter TEXT] [--samples N] [--sample-ms MS]
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuMs, median } from './timing.js';
import { OVERHEAD_BATCH, trainerConfig } from './overhead.bench.js';
import { textTable } from './suite.js';

const CONFIGS: { model: string; m: number }[] = [
  { model: 'mnist-cnn', m: 1 }, { model: 'mnist-cnn', m: 3 },
  { model: 'ds-cnn', m: 1 }, { model: 'ds-cnn', m: 3 },
  { model: 'resnet8', m: 1 }, { model: 'resnet8', m: 3 },
];
const TIMED = ['F', 'P', 'H', 'J', 'S'] as const;
type Timed = (typeof TIMED)[number];

interface Side {
  /** F, P, H, J and S as above (S: the real step). */
  fns: Record<Timed, () => void>;
  step(): { loss: number; signs: number[] };
}

/** A trainer and session for `model` built from the tree at `root` (its src/ and bench/models.ts). */
async function side(root: string, model: string, m: number): Promise<Side> {
  const load = (file: string) => import(pathToFileURL(path.join(root, file)).href);
  const { QuantizedSession } = await load('src/runtime/session.ts');
  const { QzoFfTrainer, qzoFfSramBuffers } = await load('src/train/qzo-ff.ts');
  const { trainableLayers } = await load('src/train/selection.ts');
  const { loadMicroBatch } = await load('src/train/batches.ts');
  const { makePerturbSpec } = await load('src/kernels/perturb.ts');
  const { benchModels, mcuFor, quantizedBatch } = await load('bench/models.ts');
  const bm = benchModels(model, 16);
  const trainable: string[] = trainableLayers(bm.graph, { kind: 'full' });
  const config = trainerConfig(m);
  const batch = OVERHEAD_BATCH;
  const mk = async () => {
    const options = { batch, trainable: new Set(trainable), extraSram: qzoFfSramBuffers(batch, { model: bm.quantized, trainable, config }) };
    const session = new QuantizedSession(await mcuFor(QuantizedSession.plan(bm.quantized, options)), bm.quantized, options);
    return { session, trainer: new QzoFfTrainer(session, trainable, config) };
  };
  const real = await mk();
  const stubbed = await mk();
  const fixed = await mk();
  fixed.session.forward = () => {};
  // The stub writes alternating logits, so L⁺ ≠ L⁻ and the update kernel runs as in a real step.
  let pass = 0;
  stubbed.session.forward = () => {
    new Int32Array(stubbed.session.mcu.device.memory.buffer, stubbed.session.logits.offset, 1)[0] = pass++ % 2 ? 1 << 20 : -(1 << 20);
  };
  const set = quantizedBatch(bm, batch);
  const { session } = real;
  loadMicroBatch(session, set, Array.from({ length: batch }, (_, i) => i), 0, batch);
  const specs = new Map(trainable.map((name) => {
    const p = bm.quantized.params[name]!;
    return [name, makePerturbSpec({ seed: 12345, tensorId: session.paramLayers.indexOf(name), epsilon: config.epsilon, weightScale: Math.max(...p.weightScales), dist: config.dist, sign: 1, weightBits: p.weightBits }, session.mcu.device)];
  }));
  return {
    fns: {
      F: () => session.forward(),
      P: () => session.forward((n: string) => specs.get(n)),
      H: () => stubbed.trainer.trainStep(set),
      J: () => fixed.trainer.trainStep(set),
      S: () => real.trainer.trainStep(set),
    },
    step: () => real.trainer.trainStep(set),
  };
}

function args(): { baseline: string; filter?: string; samples: number; sampleMs: number } {
  const a = process.argv.slice(2);
  const value = (flag: string) => { const i = a.indexOf(flag); return i >= 0 ? a[i + 1] : undefined; };
  const baseline = value('--baseline');
  if (!baseline) throw new Error('usage: overhead-host-ab.ts --baseline DIR [--filter TEXT] [--samples N] [--sample-ms MS]');
  return { baseline: path.resolve(baseline), filter: value('--filter'), samples: Number(value('--samples') ?? 15), sampleMs: Number(value('--sample-ms') ?? 30) };
}

async function main(): Promise<void> {
  const o = args();
  const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const rows: string[][] = [];
  const f = (x: number, d = 3) => x.toFixed(d);
  for (const { model, m } of CONFIGS) {
    const label = `${model} full m=${m}`;
    if (o.filter && !label.includes(o.filter)) continue;
    const sides = { base: await side(o.baseline, model, m), this: await side(here, model, m) };
    // Identical training, step for step.
    for (let i = 0; i < 20; i++) {
      const ra = sides.base.step();
      const rb = sides.this.step();
      if (ra.loss !== rb.loss || ra.signs.join() !== rb.signs.join()) throw new Error(`${label}: the trees differ at step ${i} (loss ${ra.loss} vs ${rb.loss}, signs ${ra.signs} vs ${rb.signs})`);
    }
    const reps: Record<string, number> = {};
    const samples: Record<string, number[]> = {};
    for (const [name, s] of Object.entries(sides)) {
      for (const t of TIMED) {
        const fn = s.fns[t];
        for (let i = 0; i < 3; i++) fn();
        let r = 1;
        for (;;) { const t0 = cpuMs(); for (let i = 0; i < r; i++) fn(); if (cpuMs() - t0 >= o.sampleMs) break; r *= 2; }
        reps[`${name}.${t}`] = r;
        samples[`${name}.${t}`] = [];
      }
    }
    for (let k = 0; k < o.samples; k++) {
      for (const t of TIMED) {
        for (const name of k % 2 ? ['this', 'base'] as const : ['base', 'this'] as const) {
          const key = `${name}.${t}`;
          const fn = sides[name].fns[t];
          const t0 = cpuMs();
          for (let i = 0; i < reps[key]!; i++) fn();
          samples[key]!.push((cpuMs() - t0) / reps[key]!);
        }
      }
    }
    const med = (key: string) => median(samples[key]!);
    const F = (med('base.F') + med('this.F')) / 2;
    for (const name of ['base', 'this'] as const) {
      const [P, H, J, S] = [med(`${name}.P`), med(`${name}.H`), med(`${name}.J`), med(`${name}.S`)];
      rows.push([label, name, f(med(`${name}.F`)), f(P), f(H, 4), f(J, 4), f(S), f((2 * m * P + H) / (2 * m * F)), f(S / (2 * m * F))]);
      console.log(rows[rows.length - 1]!.join('  '));
    }
  }
  console.log('\n' + textTable([['config', 'tree', 'F ms', 'P ms', 'H ms', 'J ms', 'step ms', '(2mP+H)/2mF', 'step/2mF'], ...rows]));
}

await main();
