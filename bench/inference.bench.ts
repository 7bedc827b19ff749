// Inference latency per architecture preset: lastmile's simd build (QuantizedSession, 8w8a) against
// onnxruntime-web's wasm backend (1 thread) and onnxruntime-node's native CPU backend (1 thread, the
// ceiling) running the same model exported to ONNX QDQ int8 (src/model/onnx-export.ts). Per sample
// (batch 1) and per batch. The three are timed in one benchmark.js suite per configuration.
//
//   npm run bench:inference [-- --quick] [-- --json DIR] [-- --filter TEXT]
import * as ort from 'onnxruntime-web';
import * as ortNode from 'onnxruntime-node';
import { QuantizedSession } from '../src/runtime/session.js';
import { exportOnnx } from '../src/onnx/export.js';
import { parseBenchArgs, runIfEntryPoint, writeJson } from './cli.js';
import { BENCH_PRESETS, benchModels, mcuFor, OUR_BUILD, randomBatch, type BenchModels } from './models.js';
import { configureOrtWeb } from './ort-web.js';
import { ms, ratio, suiteReport, textTable, type SuiteReport } from './suite.js';
import { byName, measure, sig, type Timing } from './timing.js';

export type InferenceImpl = 'lastmile-simd' | 'ort-web' | 'ort-node';

export interface InferenceResult {
  model: string;
  batch: number;
  impl: InferenceImpl;
  /** Median ms per forward call of `batch` samples. */
  msPerBatch: number;
  msPerSample: number;
}

export const INFERENCE_BATCHES = [1, 8] as const;
// Many short rounds: the three implementations' samples come from the same stretches of machine load.
const FULL: Timing = { minSamples: 3, minTime: 0.05, maxTime: 0.1, rounds: 8, warmupCalls: 5 };
const QUICK: Timing = { minSamples: 3, minTime: 0.01, maxTime: 0.05, rounds: 1, warmupCalls: 2 };

interface Runner {
  impl: InferenceImpl;
  run: () => void | Promise<unknown>;
  release: () => Promise<void>;
}

async function lastmileRunner(m: BenchModels, batch: number): Promise<Runner> {
  const plan = QuantizedSession.plan(m.quantized, { batch });
  const session = new QuantizedSession(await mcuFor(plan), m.quantized, { batch });
  session.setInput(session.quantizeInput(randomBatch(m, batch).x));
  return { impl: 'lastmile-simd', run: () => session.forward(), release: async () => {} };
}

async function ortWebRunner(onnx: Uint8Array, m: BenchModels, batch: number): Promise<Runner> {
  configureOrtWeb();
  const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { input: new ort.Tensor('float32', randomBatch(m, batch).x, [batch, ...m.graph.inputShape]) };
  const run = async () => {
    const out = await session.run(feeds);
    for (const t of Object.values(out)) t.dispose();
  };
  return { impl: 'ort-web', run, release: () => session.release() };
}

async function ortNodeRunner(onnx: Uint8Array, m: BenchModels, batch: number): Promise<Runner> {
  const session = await ortNode.InferenceSession.create(onnx, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const feeds = { input: new ortNode.Tensor('float32', randomBatch(m, batch).x, [batch, ...m.graph.inputShape]) };
  return { impl: 'ort-node', run: () => session.run(feeds), release: () => session.release() };
}

export async function measureInference(model: string, batch: number, timing: Timing): Promise<InferenceResult[]> {
  const m = benchModels(model, 8);
  const onnx = exportOnnx(m.quantized);
  const runners = [await lastmileRunner(m, batch), await ortWebRunner(onnx, m, batch), await ortNodeRunner(onnx, m, batch)];
  try {
    const measured = await measure(
      runners.map((r) => (r.impl === 'lastmile-simd' ? { name: r.impl, fn: r.run as () => void } : { name: r.impl, fnAsync: r.run as () => Promise<unknown> })),
      timing,
    );
    return runners.map((r) => {
      const t = byName(measured, r.impl);
      return { model, batch, impl: r.impl, msPerBatch: sig(t), msPerSample: sig(t / batch) };
    });
  } finally {
    for (const r of runners) await r.release();
  }
}

export function inferenceTable(results: readonly InferenceResult[]): string {
  const rows = [['model', 'batch', 'lastmile simd ms', 'ort-web ms', 'ort-node ms', 'ort-web / lastmile', 'lastmile / ort-node', 'ms per sample (lastmile)']];
  const keys = [...new Set(results.map((r) => `${r.model}|${r.batch}`))];
  for (const key of keys) {
    const [model, b] = key.split('|');
    const get = (impl: InferenceImpl) => results.find((r) => r.model === model && r.batch === Number(b) && r.impl === impl);
    const ours = get('lastmile-simd')!;
    const web = get('ort-web');
    const nat = get('ort-node');
    rows.push([model!, b!, ms(ours.msPerBatch), web ? ms(web.msPerBatch) : '-', nat ? ms(nat.msPerBatch) : '-', web ? ratio(web.msPerBatch / ours.msPerBatch) : '-', nat ? ratio(ours.msPerBatch / nat.msPerBatch) : '-', ms(ours.msPerSample)]);
  }
  return textTable(rows);
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), 'inference');
  const timing = args.quick ? QUICK : FULL;
  console.log(`inference latency: lastmile ${OUR_BUILD} (8w8a) vs onnxruntime-web wasm (1 thread) vs onnxruntime-node CPU (1 thread), same model as ONNX QDQ int8${args.quick ? ' (--quick)' : ''}`);
  const results: InferenceResult[] = [];
  for (const model of BENCH_PRESETS) {
    for (const batch of INFERENCE_BATCHES) {
      if (args.filter && !`${model} batch ${batch}`.includes(args.filter)) continue;
      const r = await measureInference(model, batch, timing);
      results.push(...r);
      console.log(`  ${model.padEnd(18)} batch ${String(batch).padEnd(3)} ${r.map((x) => `${x.impl} ${ms(x.msPerBatch)} ms`).join('  ')}`);
    }
  }
  console.log('\n' + inferenceTable(results));
  const report: SuiteReport<InferenceResult> = suiteReport('inference', args.quick, 'bench:inference', {
    build: OUR_BUILD, weights: 'random He-normal, quantized 8w8a (per-channel; per-tensor head), fixed activation ranges', batches: [...INFERENCE_BATCHES],
    peers: { 'ort-web': 'onnxruntime-web wasm, numThreads 1, graphOptimizationLevel all', 'ort-node': 'onnxruntime-node CPU, intra/inter-op threads 1' },
  }, results, timing);
  if (args.json) await writeJson(args.json, report);
}

runIfEntryPoint(import.meta.url, main);
