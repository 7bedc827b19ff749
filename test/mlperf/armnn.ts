// Runs Arm NN's CpuRef backend (Debian python3-pyarmnn under /usr/bin/python3) on raw int8 inputs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./armnn_ref.py', import.meta.url));
export const MLPERF_DIR = fileURLToPath(new URL('../../../shared/mlperf-tiny/', import.meta.url));
export const MLPERF_MODELS = ['kws_ref_model', 'ic_resnet8_int8', 'vww_96_int8', 'ad01_int8'] as const;

export function armnnRun(modelPath: string, inputs: Int8Array): Int8Array {
  const dir = mkdtempSync(join(tmpdir(), 'lastmile-armnn-'));
  try {
    writeFileSync(join(dir, 'in.bin'), inputs);
    execFileSync('/usr/bin/python3', [SCRIPT, modelPath, join(dir, 'in.bin'), join(dir, 'out.bin')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const b = readFileSync(join(dir, 'out.bin'));
    return new Int8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
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
