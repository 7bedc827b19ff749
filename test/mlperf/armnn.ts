// Runs Arm NN's CpuRef backend (Debian python3-pyarmnn under /usr/bin/python3) on raw int8 inputs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./armnn_ref.py', import.meta.url));
export const MLPERF_DIR = fileURLToPath(new URL('../../../shared/mlperf-tiny/', import.meta.url));
export const MLPERF_MODELS = ['kws_ref_model', 'ic_resnet8_int8', 'vww_96_int8', 'ad01_int8'] as const;

/** The model's bytes; throws (the suite fails, it does not skip) when ../shared is missing. */
export function mlperfModel(name: string): { path: string; bytes: Uint8Array } {
  const path = `${MLPERF_DIR}${name}.tflite`;
  if (!existsSync(path)) throw new Error(`${path} is missing: the MLPerf suite needs ../shared/mlperf-tiny/ beside the repository`);
  return { path, bytes: new Uint8Array(readFileSync(path)) };
}

export function armnnRun(modelPath: string, inputs: Int8Array): Int8Array {
  return armnnRunMany([{ model: modelPath, inputs }])[0]!;
}

/** Several models in one Arm NN process (its start-up dominates small runs). Models may be bytes. */
export function armnnRunMany(jobs: { model: string | Uint8Array; inputs: Int8Array }[]): Int8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'lastmile-armnn-'));
  try {
    const args: string[] = [];
    jobs.forEach((j, i) => {
      let model = j.model;
      if (typeof model !== 'string') {
        writeFileSync(join(dir, `m${i}.tflite`), model);
        model = join(dir, `m${i}.tflite`);
      }
      writeFileSync(join(dir, `in${i}.bin`), j.inputs);
      args.push(model, join(dir, `in${i}.bin`), join(dir, `out${i}.bin`));
    });
    execFileSync('/usr/bin/python3', [SCRIPT, ...args], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 24 });
    return jobs.map((_, i) => {
      const b = readFileSync(join(dir, `out${i}.bin`));
      return new Int8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deterministic uniform int8 samples. */
export function randomInt8(count: number, seed: number): Int8Array {
  let s = seed >>> 0;
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

export interface Agreement {
  samples: number;
  values: number;
  exact: number;
  maxAbsDiff: number;
  exactShare: number;
  argmaxAgree: number;
}

export function compare(ours: Int8Array, ref: Int8Array, outputSize: number): Agreement {
  let exact = 0;
  let maxAbsDiff = 0;
  let argmaxAgree = 0;
  const samples = ours.length / outputSize;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    if (d === 0) exact++;
    maxAbsDiff = Math.max(maxAbsDiff, d);
  }
  for (let s = 0; s < samples; s++) {
    const arg = (a: Int8Array) => {
      let best = 0;
      for (let c = 1; c < outputSize; c++) if (a[s * outputSize + c]! > a[s * outputSize + best]!) best = c;
      return best;
    };
    if (arg(ours) === arg(ref)) argmaxAgree++;
  }
  return { samples, values: ours.length, exact, maxAbsDiff, exactShare: exact / ours.length, argmaxAgree };
}
