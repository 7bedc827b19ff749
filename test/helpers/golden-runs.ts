// The fixed set of runs whose outputs must not change while the code is restructured: each run is
// the real `lastmile` command (from the TypeScript sources), and each yields a SHA-256 of the parts
// of its output that are deterministic (timings, dates and temporary paths are left out).
//
//   npm run golden:update   re-records test/fixtures/golden-hashes.json (only when a change of
//                           results is intended; say which hash changed and why in the commit)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE = join(ROOT, 'test/fixtures/golden-hashes.json');

/**
 * Keys whose values are wall-clock measurements, dates or machine facts, never results; and 'mcu',
 * the on-device time/energy estimate, which changes with every refit of the cost model (its own
 * suites, test/cost.test.ts and npm run test:cost-metal, check it).
 */
const VOLATILE = new Set(['wallMs', 'seconds', 'wallSeconds', 'run', 'date', 'loadAverageAtEnd', 'timing', 'ms', 'gmacPerS', 'share', 'model_path', 'mcu']);

function stripVolatile(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripVolatile);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !VOLATILE.has(k)).map(([k, x]) => [k, stripVolatile(x)]));
  return v;
}

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Spawned, not spawnSync: a test worker blocked for a minute misses vitest's RPC deadlines. */
function lastmile(args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', join(ROOT, 'test/helpers/lastmile-src.ts'), ...args], { cwd: ROOT, timeout: 600_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`lastmile ${args.join(' ')} exited with ${code}: ${stderr}`)))));
}

export interface GoldenRun {
  name: string;
  /** Hashes of this run's outputs, by output name. */
  run: () => Promise<Record<string, string>>;
}

/** `adapt` on the shipped backbone: the saved model file, the trained-parameter digest and the report. */
function adaptRun(name: string, args: string[]): GoldenRun {
  return {
    name,
    run: async () => {
      const out = mkdtempSync(join(tmpdir(), 'lastmile-golden-'));
      try {
        const json = JSON.parse(await lastmile(['adapt', ...args, '--json', '--out', out])) as Record<string, unknown>;
        // `episode` echoes the run's data recipe (added for eval --query-from); it is input, not result.
        const { model: _path, episode: _episode, ...report } = json;
        return {
          modelFile: sha(readFileSync(join(out, 'model.lmdl'))),
          weightsSha256: String(json.weightsSha256),
          report: sha(JSON.stringify(stripVolatile(report))),
        };
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  };
}

const MEMORY_PRESETS = ['ds-cnn', 'resnet8', 'mobilenetv1-0.25', 'fc-autoencoder', 'mnist-cnn', 'mlp'];
const SHORT = ['--steps', '30', '--queries', '30', '--no-baseline'];

export const GOLDEN_RUNS: GoldenRun[] = [
  // `npm start` is `lastmile adapt`: the default job (with its backprop baseline), fewer steps.
  adaptRun('start', ['--steps', '40', '--queries', '40']),
  adaptRun('adapt-head', ['--train', 'head', ...SHORT]),
  adaptRun('adapt-bias', ['--train', 'bias', ...SHORT]),
  adaptRun('adapt-last2', ['--train', 'last:2', ...SHORT]),
  adaptRun('adapt-sparse', ['--train', 'sparse:0.1', ...SHORT]),
  ...MEMORY_PRESETS.map((preset): GoldenRun => ({
    name: `memory-${preset}`,
    run: async () => ({ json: sha(JSON.stringify(stripVolatile(JSON.parse(await lastmile(['memory', '--model', preset, '--json']))))) }),
  })),
  {
    name: 'experiment-fewshot-quick',
    run: async () => {
      const out = mkdtempSync(join(tmpdir(), 'lastmile-golden-'));
      try {
        await lastmile(['experiment', 'fewshot', '--quick', '--no-report', '--quiet', '--out', out]);
        return { json: sha(JSON.stringify(stripVolatile(JSON.parse(readFileSync(join(out, 'fewshot.json'), 'utf8'))))) };
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  },
  {
    // ONNX export of a float and a quantized (per-channel, resnet8 with its residual adds) model, and
    // the import of the float export back.
    name: 'onnx',
    run: async () => {
      const out = mkdtempSync(join(tmpdir(), 'lastmile-golden-'));
      try {
        await lastmile(['export', '--model', 'models/mnist-cnn-digits04.lmdl', '--out', join(out, 'float.onnx')]);
        await lastmile(['import', '--onnx', join(out, 'float.onnx'), '--out', join(out, 'back.lmdl')]);
        await lastmile(['quantize', '--model', 'models/resnet8-mnist-digits04.lmdl', '--per-channel', '--calibration-samples', '64', '--out', join(out, 'q.lmdl'), '--json']);
        await lastmile(['export', '--model', join(out, 'q.lmdl'), '--out', join(out, 'qdq.onnx')]);
        const file = (f: string) => sha(readFileSync(join(out, f)));
        return { float: file('float.onnx'), imported: file('back.lmdl'), quantized: file('q.lmdl'), qdq: file('qdq.onnx') };
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'profile',
    run: async () => {
      const j = JSON.parse(await lastmile(['profile', '--steps', '2', '--json'])) as { byKind: { name: string; calls: number; macs: number }[]; byLayer: { name: string; kind: string; calls: number; macs: number }[]; memory: unknown; trainable: unknown };
      // byKind is sorted by time, so its names are compared as a set.
      const kinds = j.byKind.map((r) => [r.name, r.calls, r.macs]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      const layers = j.byLayer.map((r) => [r.name, r.kind, r.calls, r.macs]);
      return { rows: sha(JSON.stringify({ kinds, layers })), memory: sha(JSON.stringify({ memory: j.memory, trainable: j.trainable })) };
    },
  },
];

if (process.argv.includes('--write')) {
  const only = process.argv.slice(process.argv.indexOf('--write') + 1);
  const previous = (() => {
    try {
      return JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, Record<string, string>>;
    } catch {
      return {};
    }
  })();
  const hashes: Record<string, Record<string, string>> = { ...previous };
  for (const r of GOLDEN_RUNS) {
    if (only.length && !only.includes(r.name)) continue;
    const t = performance.now();
    hashes[r.name] = await r.run();
    console.error(`${r.name}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  writeFileSync(FIXTURE, `${JSON.stringify(hashes, null, 2)}\n`);
  console.error(`wrote ${FIXTURE}`);
}
