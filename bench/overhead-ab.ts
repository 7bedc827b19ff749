// Side-by-side A/B of the QZO-FF step overhead: the same configurations as bench/overhead.bench.ts,
// run in one process on two device builds (a baseline folder holding another build's simd.wasm, and
// this tree's build/), plus this tree with z buffers (zBuffer: true). Calls alternate between the
// variants, so every ratio comes from the same stretches of machine load; each variant's ratio is its
// minimum step / (2m × its own minimum plain forward), the least disturbed figures of many samples.
// The variants must train identically: every step's signs and loss are compared, and any difference
// aborts the run.
//
//   git worktree add /tmp/base <commit> && (cd /tmp/base && npm run build:wasm)   # or copy build/*.wasm
//   node --import tsx bench/overhead-ab.ts --baseline /tmp/base/build [--filter TEXT] [--reps N] [--json FILE] [--cpu]
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { QuantizedSession } from '../src/runtime/session.js';
import { Mcu } from '../src/device/mcu.js';
import type { SessionPlan } from '../src/runtime/session.js';
import { QzoFfTrainer, qzoFfSramBuffers } from '../src/train/qzo-ff.js';
import { selectionLabel, trainableLayers, type TrainSelection } from '../src/train/selection.js';
import { BENCH_PRESETS, benchModels, OUR_BUILD, quantizedBatch } from './models.js';
import { trainerConfig, OVERHEAD_BATCH, OVERHEAD_DIRECTIONS, OVERHEAD_SELECTIONS, OVERHEAD_TARGET } from './overhead.bench.js';
import { writeJson } from './cli.js';
import { textTable } from './suite.js';

// --cpu: time by the process's CPU time instead of the wall clock. On a machine shared by many busy
// processes the wall clock mostly measures waiting for a core; CPU time counts only the run itself
// (plus the engine's own background threads, idle once the code has tiered up).
const useCpuTime = process.argv.includes('--cpu');
const now = useCpuTime ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; } : () => performance.now();
const alignUp = (x: number) => Math.ceil(x / 16) * 16;

/** Serves one folder's .wasm files on 127.0.0.1 (devices in Node fetch a wasmBaseUrl over HTTP). */
async function serveFolder(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const name = path.basename(new URL(req.url ?? '/', 'http://x').pathname);
    if (!name.endsWith('.wasm')) { res.writeHead(404).end(); return; }
    readFile(path.join(dir, name)).then(
      (bytes) => res.writeHead(200, { 'content-type': 'application/wasm' }).end(bytes),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return { server, url: `http://127.0.0.1:${address.port}/` };
}

async function setup(model: string, selection: TrainSelection, m: number, zBuffer: boolean, wasmBaseUrl?: string) {
  const bm = benchModels(model, 16);
  const trainable = trainableLayers(bm.graph, selection);
  const config = trainerConfig(m, zBuffer);
  const extraSram = qzoFfSramBuffers(OVERHEAD_BATCH, { model: bm.quantized, trainable, config });
  const options = { batch: OVERHEAD_BATCH, trainable: new Set(trainable), extraSram };
  const plan: SessionPlan = QuantizedSession.plan(bm.quantized, options);
  const mcu = await Mcu.create({ budget: { sramBytes: Math.max(16, alignUp(plan.sramBytes)), flashBytes: Math.max(16, alignUp(plan.flashBytes)) }, build: OUR_BUILD, ...(wasmBaseUrl ? { wasmBaseUrl } : {}) });
  const session = new QuantizedSession(mcu, bm.quantized, options);
  const trainer = new QzoFfTrainer(session, trainable, config);
  const set = quantizedBatch(bm, OVERHEAD_BATCH);
  const zBufferBytes = extraSram.filter((b) => b.name.startsWith('zo-zbuf:')).reduce((s, b) => s + b.bytes, 0);
  const trainableWeights = trainable.reduce((s, n) => s + bm.quantized.params[n]!.weights.length, 0);
  return { step: () => trainer.trainStep(set), forward: () => session.forward(), sramBytes: plan.sramBytes, zBufferBytes, trainableWeights };
}

export interface AbRow {
  model: string;
  selection: string;
  m: number;
  trainableWeights: number;
  forwardMs: { before: number; after: number; zBuffer: number };
  stepMs: { before: number; after: number; zBuffer: number };
  ratio: { before: number; after: number; zBuffer: number };
  /** SRAM the z buffers add to the plan, bytes. */
  zBufferBytes: number;
  sramBytes: { regenerate: number; zBuffer: number };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const baseline = arg('--baseline');
  if (!baseline) throw new Error('--baseline DIR (a folder holding the baseline simd.wasm) is required');
  const filter = arg('--filter');
  const repsArg = arg('--reps');
  const json = arg('--json');
  const { server, url } = await serveFolder(path.resolve(baseline));
  const rows: AbRow[] = [];
  try {
    for (const model of BENCH_PRESETS) {
      for (const selection of OVERHEAD_SELECTIONS) {
        for (const m of OVERHEAD_DIRECTIONS) {
          const label = `${model} ${selectionLabel(selection)} m=${m}`;
          if (filter && !label.includes(filter)) continue;
          const v = { before: await setup(model, selection, m, false, url), after: await setup(model, selection, m, false), zBuffer: await setup(model, selection, m, true) };
          const t = { before: { f: [] as number[], s: [] as number[] }, after: { f: [] as number[], s: [] as number[] }, zBuffer: { f: [] as number[], s: [] as number[] } };
          const reps = repsArg ? Number(repsArg) : ['fc-autoencoder', 'mnist-cnn'].includes(model) ? 80 : 25;
          const warmup = Math.max(3, Math.ceil(reps / 4));
          for (let i = 0; i < warmup + reps; i++) {
            const results = [];
            for (const k of ['before', 'after', 'zBuffer'] as const) {
              let t0 = now(); v[k].forward(); const f = now() - t0;
              t0 = now(); const r = v[k].step(); const s = now() - t0;
              // The first rounds run while the engine is still tiering the code up: checked, not timed.
              if (i >= warmup) { t[k].f.push(f); t[k].s.push(s); }
              results.push(JSON.stringify([r.loss, r.signs]));
            }
            if (results[0] !== results[1] || results[0] !== results[2]) throw new Error(`${label}: step ${i} differs between the variants: ${results.join(' | ')}`);
          }
          const min = (xs: number[]) => Math.min(...xs);
          const forwardMs = { before: min(t.before.f), after: min(t.after.f), zBuffer: min(t.zBuffer.f) };
          const stepMs = { before: min(t.before.s), after: min(t.after.s), zBuffer: min(t.zBuffer.s) };
          const r = (k: keyof typeof forwardMs) => Number((stepMs[k] / (2 * m * forwardMs[k])).toFixed(3));
          const row: AbRow = {
            model, selection: selectionLabel(selection), m, trainableWeights: v.after.trainableWeights, forwardMs, stepMs,
            ratio: { before: r('before'), after: r('after'), zBuffer: r('zBuffer') },
            zBufferBytes: v.zBuffer.zBufferBytes, sramBytes: { regenerate: v.after.sramBytes, zBuffer: v.zBuffer.sramBytes },
          };
          rows.push(row);
          console.log(`  ${label.padEnd(30)} before ${row.ratio.before.toFixed(2)}×  after ${row.ratio.after.toFixed(2)}×  z buffer ${row.ratio.zBuffer.toFixed(2)}× (+${row.zBufferBytes} B SRAM)`);
        }
      }
    }
  } finally {
    server.close();
  }
  const x = (n: number) => `${n.toFixed(2)}×`;
  console.log('\n' + textTable([
    ['model', 'train', 'm', 'weights', 'fwd ms', 'step before', 'step after', 'step z-buffer', 'before', 'after', 'z buffer', 'target', 'z buffer SRAM'],
    ...rows.map((r) => [r.model, r.selection, String(r.m), String(r.trainableWeights), r.forwardMs.after.toFixed(3), r.stepMs.before.toFixed(3), r.stepMs.after.toFixed(3), r.stepMs.zBuffer.toFixed(3),
      x(r.ratio.before), x(r.ratio.after), x(r.ratio.zBuffer), r.ratio.after <= OVERHEAD_TARGET ? 'met' : 'not met', `+${r.zBufferBytes} B`]),
  ]));
  if (json) await writeJson(json, { baseline, build: OUR_BUILD, batch: OVERHEAD_BATCH, clock: useCpuTime ? 'process CPU time' : 'wall', rows });
}

await main();
