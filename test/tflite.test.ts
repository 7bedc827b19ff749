// .tflite in and out with the project's own files: exact round trips through our writer and reader,
// the same int8 outputs after a round trip, exact 8↔16-bit lifting, typed errors for hostile or
// unsupported files, and the CLI commands (import, run, export).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, FormatError, UnsupportedError } from '../src/errors.js';
import { architecturePreset } from '../src/model/presets.js';
import { planningModels } from '../src/report/memory.js';
import type { FloatModel, QuantizedModel } from '../src/model/model.js';
import { importTflite } from '../src/tflite/import.js';
import { readTflite } from '../src/tflite/reader.js';
import { encodeTflite, writeTflite, type TensorSpec } from '../src/tflite/writer.js';
import { createInt8Runner } from '../src/runtime/int8-run.js';
import { liftModelTo16, requantizeModelTo8 } from '../src/tflite/requantize.js';
import { parseInt8Tensor } from '../src/tflite/files.js';
import { BuiltinOp, TensorType } from '../src/tflite/schema.js';
import { tflmArena } from '../src/tflite/tflm-arena.js';
import { main } from '../src/cli/main.js';

function randomInt8(n: number, seed: number): Int8Array {
  let s = seed;
  return Int8Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) | 0;
    return s >> 24;
  });
}

const int8Model = (preset: string): QuantizedModel => planningModels(architecturePreset(preset), 8).quantized;

function expectSameParams(a: QuantizedModel, b: QuantizedModel): void {
  expect(Object.keys(b.params).length).toBe(Object.keys(a.params).length);
  const bp = Object.values(b.params);
  Object.values(a.params).forEach((p, i) => {
    const q = bp[i]!;
    expect(q.weightBits).toBe(p.weightBits);
    expect(Array.from(q.weights)).toEqual(Array.from(p.weights));
    expect(Array.from(q.weightScales)).toEqual(Array.from(p.weightScales));
    expect(Array.from(q.bias)).toEqual(Array.from(p.bias));
  });
}

describe('.tflite round trip (our writer, our reader)', () => {
  for (const preset of ['ds-cnn', 'resnet8', 'fc-autoencoder']) {
    it(`${preset}: int8 export → import keeps every weight, bias, scale and zero point, and the outputs`, async () => {
      const model = int8Model(preset);
      const back = importTflite(writeTflite(model), `${preset}.tflite`) as QuantizedModel;
      expect(back.kind).toBe('quantized');
      expectSameParams(model, back);
      const kinds = (m: QuantizedModel) => m.architecture.nodes.filter((n) => n.kind !== 'relu' && n.kind !== 'relu6').map((n) => n.kind).join(',');
      expect(kinds(back).replace(/avgpool,flatten/g, 'globalavgpool')).toBe(kinds(model));
      // TFLite stores scales as float32; lastmile keeps activation scales as doubles.
      const qa = Object.values(model.activations).map((q) => `${Math.fround(q.scale)}:${q.zeroPoint}`);
      for (const q of Object.values(back.activations)) expect(qa).toContain(`${q.scale}:${q.zeroPoint}`);
      const [ra, rb] = [await createInt8Runner(model), await createInt8Runner(back)];
      const x = randomInt8(4 * ra.inputSize, 7);
      expect(Array.from(rb.run(x))).toEqual(Array.from(ra.run(x)));
    });
  }

  it('16-bit weights are re-quantized on export, and re-importing gives exactly what was written', () => {
    const model = planningModels(architecturePreset('ds-cnn'), 16).quantized;
    const back = importTflite(writeTflite(model)) as QuantizedModel;
    expectSameParams(requantizeModelTo8(model), back);
  });

  it('lifting int8 weights to 16 bits is exact and re-quantizing gives the int8 weights back', () => {
    const model = int8Model('resnet8');
    const lifted = liftModelTo16(model);
    for (const [name, p] of Object.entries(lifted.params)) {
      const o = model.params[name]!;
      expect(p.weightBits).toBe(16);
      for (let c = 0; c < o.weightScales.length; c++) expect(p.weightScales[c]! * 256).toBe(o.weightScales[c]);
      expect(Array.from(p.weights)).toEqual(Array.from(o.weights, (w) => w * 256));
    }
    expectSameParams(model, requantizeModelTo8(lifted));
  });

  it('float export → import keeps the float weights bit for bit', () => {
    const float: FloatModel = planningModels(architecturePreset('ds-cnn'), 8).float;
    const back = importTflite(writeTflite(float)) as FloatModel;
    expect(back.kind).toBe('float');
    const values = (m: FloatModel) => Object.values(m.params).flatMap((p) => [...p.weights, ...p.bias]);
    expect(values(back)).toEqual(values(float));
  });

  it('extraOutputs exposes inner tensors as graph outputs after the model output; an unknown name is a ConfigError', () => {
    const model = int8Model('ds-cnn');
    const inner = model.architecture.nodes.filter((n) => n.kind === 'conv2d').map((n) => n.name);
    const file = readTflite(writeTflite(model, { extraOutputs: inner }));
    const plain = readTflite(writeTflite(model));
    expect(file.outputs.length).toBe(1 + inner.length);
    expect(file.outputs[0]).toBe(plain.outputs[0]);
    expect(file.outputs.slice(1).map((t) => file.tensors[t]!.name)).toEqual(inner);
    expect(() => writeTflite(model, { extraOutputs: ['no-such-layer'] })).toThrow(ConfigError);
  });

  it('plans the TFLM arena by the greedy rule (largest first, lowest free offset)', () => {
    const a = tflmArena(readTflite(writeTflite(int8Model('ds-cnn'))));
    for (const b of a.buffers) for (const c of a.buffers) {
      if (b === c || b.first > c.last || c.first > b.last) continue;
      expect(b.offset + b.bytes <= c.offset || c.offset + c.bytes <= b.offset).toBe(true);
    }
    expect(a.bytes).toBe(Math.max(...a.buffers.map((b) => b.offset + b.bytes)));
  });
});

describe('.tflite reader refuses hostile and unsupported files with typed errors', () => {
  const t = (name: string, shape: number[], type = TensorType.INT8): Omit<TensorSpec, 'buffer'> => ({ name, shape, type, quant: { scale: [0.1], zeroPoint: [0], dim: 0 } });
  const file = (ops: { builtin: number; inputs: number[]; outputs: number[] }[], tensors = [t('a', [1, 4]), t('b', [1, 4]), t('c', [1, 4])], outputs = [2]) =>
    encodeTflite(tensors.map((x) => ({ ...x, buffer: 0 })), [new Uint8Array(0)], ops, [0], outputs, false, 'crafted');
  const valid = writeTflite(int8Model('ds-cnn'));

  it('a dangling tensor reference (read before anything writes it)', () => {
    expect(() => readTflite(file([{ builtin: BuiltinOp.ADD, inputs: [0, 1], outputs: [2] }]))).toThrow(FormatError);
    expect(() => readTflite(file([{ builtin: BuiltinOp.ADD, inputs: [0, 1], outputs: [2] }]))).toThrow(/before anything writes it/);
  });
  it('a cycle (an operator reading a later operator\'s output)', () => {
    const ops = [{ builtin: BuiltinOp.ADD, inputs: [0, 2], outputs: [1] }, { builtin: BuiltinOp.ADD, inputs: [0, 1], outputs: [2] }];
    expect(() => readTflite(file(ops))).toThrow(/cycle or a dangling/);
  });
  it('a tensor index past the end, a tensor written twice', () => {
    expect(() => readTflite(file([{ builtin: BuiltinOp.ADD, inputs: [0, 9], outputs: [2] }]))).toThrow(/refers to tensor 9/);
    expect(() => readTflite(file([{ builtin: BuiltinOp.ADD, inputs: [0, 0], outputs: [0] }]))).toThrow(/already/);
  });
  it('unsupported operators are listed together', () => {
    const ops = [{ builtin: BuiltinOp.MUL, inputs: [0, 0], outputs: [1] }, { builtin: BuiltinOp.LOGISTIC, inputs: [1], outputs: [2] }];
    expect(() => importTflite(file(ops))).toThrow(UnsupportedError);
    expect(() => importTflite(file(ops))).toThrow(/MUL, LOGISTIC/);
  });
  it('a truncated file, a wrong identifier, a buffer that does not match its shape', () => {
    for (const cut of [0, 7, 100, valid.length >> 1, valid.length - 1]) expect(() => importTflite(valid.subarray(0, cut))).toThrow(FormatError);
    const wrong = valid.slice();
    wrong.set([0x58, 0x58, 0x58, 0x58], 4);
    expect(() => readTflite(wrong)).toThrow(/file identifier/);
    const bad = encodeTflite([{ ...t('a', [1, 4]), buffer: 0 }, { ...t('w', [4, 4]), buffer: 1 }], [new Uint8Array(0), new Uint8Array(3)], [], [0], [0], false, 'x');
    expect(() => readTflite(bad)).toThrow(/needs 16 B/);
  });
  it('huge vector lengths are refused before anything is allocated', () => {
    const m = readTflite(valid);
    expect(m.tensors.length).toBeGreaterThan(0);
    // The root table's first vtable-referenced vector: set every u32 that holds the tensor count to 2^31.
    const view = new DataView(valid.buffer.slice(0));
    const count = m.tensors.length;
    let patched = 0;
    for (let i = 0; i + 4 <= valid.length; i += 4) if (view.getUint32(i, true) === count) { view.setUint32(i, 0x7fffffff, true); patched++; }
    expect(patched).toBeGreaterThan(0);
    expect(() => importTflite(new Uint8Array(view.buffer))).toThrow(FormatError);
  });
});

describe('int8 tensors for the run contract', () => {
  it('reads raw .bin and int8 .npy, refuses other dtypes', () => {
    expect(Array.from(parseInt8Tensor(new Uint8Array([1, 255, 128]), 'x.bin'))).toEqual([1, -1, -128]);
    const npy = (descr: string, data: number[]) => {
      const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (1, ${data.length}), }`.padEnd(54) + '\n';
      return new Uint8Array([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length, 0, ...Buffer.from(header), ...data]);
    };
    expect(Array.from(parseInt8Tensor(npy('|i1', [5, 250]), 'x.npy'))).toEqual([5, -6]);
    expect(() => parseInt8Tensor(npy('<f4', [0, 0, 0, 0]), 'x.npy')).toThrow(/int8/);
    expect(() => parseInt8Tensor(npy('|i1', [1]).subarray(0, 30), 'x.npy')).toThrow(FormatError);
  });
});

describe('CLI: import --tflite, run, export --format tflite', () => {
  it('imports with labels, runs one inference, exports the same tensors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lastmile-tflite-'));
    const model = int8Model('ds-cnn');
    const src = join(dir, 'm.tflite');
    writeFileSync(src, writeTflite(model));
    const labels = Array.from({ length: 12 }, (_, i) => `k${i}`).join(',');
    const log: string[] = [];
    const orig = console.log;
    console.log = (s: string) => void log.push(String(s));
    try {
      expect(await main(['node', 'lastmile', 'import', '--tflite', src, '--labels', labels, '--out', join(dir, 'm.lmdl')])).toBe(0);
      const x = randomInt8(49 * 10, 3);
      writeFileSync(join(dir, 'x.bin'), x);
      expect(await main(['node', 'lastmile', '--json', 'run', '--model', join(dir, 'm.lmdl'), '--input', join(dir, 'x.bin')])).toBe(0);
      const out = JSON.parse(log[log.length - 1]!);
      const expected = (await createInt8Runner(model)).run(x);
      expect(out.outputs[0]).toEqual(Array.from(expected));
      expect(out.predicted[0]).toBe(`k${out.argmax[0]}`);
      expect(await main(['node', 'lastmile', 'export', '--format', 'tflite', '--model', join(dir, 'm.lmdl'), '--out', join(dir, 'back.tflite')])).toBe(0);
      expectSameParams(model, importTflite(new Uint8Array(readFileSync(join(dir, 'back.tflite')))) as QuantizedModel);
      expect(await main(['node', 'lastmile', 'run', '--model', join(dir, 'm.lmdl'), '--input', join(dir, 'm.lmdl')])).toBe(2);
      expect(await main(['node', 'lastmile', 'import', '--tflite', src, '--labels', 'a,b', '--out', join(dir, 'bad.lmdl')])).toBe(2);
    } finally {
      console.log = orig;
    }
  });
});
