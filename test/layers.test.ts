// The source folders form one order and imports only point down it (or within a layer):
//   errors/util/io/audio/data → device → kernels → model/ops → runtime → onnx → quant → train/cost → report → experiments/export → cli → index.ts, entries/
// A file that imports from a higher layer fails here, with the offending import named.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SRC = join(import.meta.dirname, '..', 'src');

export const LAYERS: Record<string, number> = {
  'errors.ts': 0, util: 0, io: 0, data: 0, audio: 0,
  device: 1,
  kernels: 2,
  model: 3, ops: 3, tflite: 3,
  runtime: 4,
  onnx: 5,
  quant: 6,
  train: 7, cost: 7,
  report: 8,
  experiments: 9,
  export: 9,
  cli: 10,
  'index.ts': 11, entries: 11,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const layerOf = (file: string): string => relative(SRC, file).split('/')[0]!;

function upwardImports(): string[] {
  const bad: string[] = [];
  for (const file of files(SRC)) {
    const from = layerOf(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts');
      const to = layerOf(target);
      if (LAYERS[from] === undefined || LAYERS[to] === undefined) {
        bad.push(`${relative(SRC, file)}: folder '${LAYERS[from] === undefined ? from : to}' has no layer; add it to LAYERS in test/layers.test.ts`);
      } else if (LAYERS[to]! > LAYERS[from]!) {
        bad.push(`${relative(SRC, file)} (${from}) imports ${m[1]} (${to}), a higher layer`);
      }
    }
  }
  return bad;
}

describe('layering', () => {
  it('no import in src/ points from a lower layer to a higher one', () => {
    expect(upwardImports()).toEqual([]);
  });

  it('every folder of src/ has a layer', () => {
    for (const f of readdirSync(SRC)) expect(LAYERS[f], `src/${f}`).toBeDefined();
  });
});
