import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32, decodeContainer, encodeContainer } from '../src/model/container.js';
import { initFloatModel, loadModel, saveModel, type QuantizedModel } from '../src/model/model.js';
import { architecturePreset } from '../src/model/presets.js';
import { resolveGraph, paramNodes } from '../src/model/graph.js';
import { FormatError, LastmileError } from '../src/errors.js';

/** Re-seal a tampered file so only the header/tensor validation can catch the damage. */
function reseal(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

function withHeader(bytes: Uint8Array, edit: (h: Record<string, unknown>) => void): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const len = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len)));
  edit(header);
  // Rebuild the file around the edited header, moving the data section to its new aligned start.
  const json = new TextEncoder().encode(JSON.stringify(header));
  const oldStart = Math.ceil((12 + len) / 16) * 16;
  const newStart = Math.ceil((12 + json.length) / 16) * 16;
  const data = bytes.subarray(oldStart, bytes.length - 4);
  const out = new Uint8Array(newStart + data.length + 4);
  out.set(bytes.subarray(0, 8), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(data, newStart);
  return reseal(out);
}

describe('model file format', () => {
  it('round-trips a float model bit for bit', () => {
    const model = initFloatModel(architecturePreset('mnist-cnn'), 7, { classes: 10 });
    const loaded = loadModel(saveModel(model));
    expect(loaded.kind).toBe('float');
    expect(loaded.architecture).toEqual(model.architecture);
    expect(loaded.meta).toEqual({ classes: 10 });
    for (const [name, p] of Object.entries(model.params)) {
      expect(Buffer.from(loaded.params[name]!.weights.buffer).equals(Buffer.from(p.weights.buffer))).toBe(true);
    }
  });

  it('round-trips a quantized model with int16 weights and activation scales', () => {
    const arch = architecturePreset('mlp');
    const graph = resolveGraph(arch);
    const params: QuantizedModel['params'] = {};
    for (const n of paramNodes(graph)) {
      const w = new Int16Array(n.weightShape!.reduce((a, b) => a * b, 1)).map((_, i) => ((i * 7919) % 65535) - 32767);
      params[n.node.name] = { weightBits: 16, weights: w, weightScales: Float32Array.of(0.001), bias: new Int32Array(n.biasLength!).fill(-5) };
    }
    const activations = Object.fromEntries(graph.nodes.map((n) => [n.node.name, { scale: 0.05, zeroPoint: -128 }]));
    const model: QuantizedModel = { kind: 'quantized', architecture: arch, params, activations, meta: {} };
    const loaded = loadModel(saveModel(model)) as QuantizedModel;
    expect(loaded.activations).toEqual(activations);
    expect(Array.from(loaded.params.fc1!.weights.slice(0, 5))).toEqual(Array.from(params.fc1!.weights.slice(0, 5)));
    expect(loaded.params.fc1!.weightBits).toBe(16);
  });

  it('detects every single-byte corruption and every truncation with a FormatError', () => {
    const bytes = saveModel(initFloatModel(architecturePreset('mlp'), 1));
    const r = fc.sample(fc.nat({ max: bytes.length - 1 }), 300);
    for (const at of r) {
      const bad = bytes.slice();
      bad[at] ^= 0x5a;
      expect(() => loadModel(bad)).toThrow(FormatError);
    }
    for (const len of [0, 3, 15, 100, bytes.length - 1]) expect(() => loadModel(bytes.subarray(0, len))).toThrow(FormatError);
    expect(() => loadModel(new TextEncoder().encode('PK\u0003\u0004 not a model at all'))).toThrow(/not a lastmile model/);
  });

  it('rejects hostile headers (huge declared sizes, out-of-file offsets) without allocating', () => {
    const bytes = saveModel(initFloatModel(architecturePreset('mlp'), 1));
    const huge = withHeader(bytes, (h) => {
      const t = (h.tensors as { shape: number[]; bytes: number }[])[0]!;
      t.shape = [1 << 28, 1 << 28];
      t.bytes = 4;
    });
    expect(() => loadModel(huge)).toThrow(FormatError);
    const outside = withHeader(bytes, (h) => {
      (h.tensors as { offset: number }[])[1]!.offset = 1e9;
    });
    expect(() => loadModel(outside)).toThrow(/outside the file/);
    const badArch = withHeader(bytes, (h) => {
      (h.architecture as { nodes: { units?: number }[] }).nodes[1]!.units = -3;
    });
    expect(() => loadModel(badArch)).toThrow(/invalid architecture/);
    const v2 = bytes.slice();
    v2[4] = 2;
    expect(() => loadModel(reseal(v2))).toThrow(/version 2/);
  });

  it('random bytes never escape as anything but a FormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (junk) => {
        const sealed = junk.length >= 16 ? reseal(Uint8Array.from([76, 77, 68, 76, 1, 0, 0, 0, ...junk])) : junk;
        try {
          decodeContainer(sealed);
          loadModel(sealed);
        } catch (e) {
          expect(e).toBeInstanceOf(LastmileError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('container rejects a tensor whose data does not match its shape', () => {
    expect(() => encodeContainer({ header: {}, tensors: [{ name: 'x', shape: [2, 3], data: new Float32Array(5) }] })).toThrow(FormatError);
  });
});

describe('model file format from Node buffers', () => {
  it('loads a file read with fs (a Buffer view into a shared pool) bit for bit', async () => {
    const { writeFileSync, readFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const model = initFloatModel(architecturePreset('mnist-cnn'), 3);
    const file = join(mkdtempSync(join(tmpdir(), 'lastmile-model-')), 'm.lmdl');
    writeFileSync(file, saveModel(model));
    const loaded = loadModel(readFileSync(file));
    for (const [name, p] of Object.entries(model.params)) {
      expect(Array.from(loaded.params[name]!.weights as Float32Array)).toEqual(Array.from(p.weights));
    }
  });
});
