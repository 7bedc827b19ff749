// Property definitions shared by the quick fuzz in `npm test` (test/fuzz.test.ts) and the long run
// (`npm run fuzz`, test/fuzz/run.ts). Each target gets hostile input and must either succeed or throw
// a LastmileError subclass: never a WebAssembly.RuntimeError (a trap), a RangeError from an
// allocation, any other exception, or a case slower than CASE_TIME_LIMIT_MS (a hang).
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { LastmileError } from '../../src/errors.js';
import { crc32 } from '../../src/model/container.js';
import { loadModel } from '../../src/model/model.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.js';
import { datasetFromIdx, parseIdx } from '../../src/data/idx.js';
import { decodePng, readPngHeader } from '../../src/data/image-folder.js';
import { craftPng } from '../helpers/png.js';
import { Device } from '../../src/device/device.js';
import { Arena, type DeviceBuffer } from '../../src/device/arena.js';
import { avgPool2d, globalAvgPool, maxPool2d } from '../../src/kernels/pool.js';
import { fullyConnected, fullyConnectedScratchBytes } from '../../src/kernels/gemm.js';

export const CASE_TIME_LIMIT_MS = 2000;

export interface FuzzTarget {
  name: string;
  /** Outcomes seen so far: 'accepted', or an error class with its message's shape (numbers and quotes elided). */
  tally: Map<string, number>;
  /** Share of the total case budget (relative weight). */
  weight: number;
  property: () => fc.IPropertyWithHooks<[unknown]> | fc.IProperty<[unknown]>;
}

/** Run `f`; accept success or a LastmileError; anything else (or a slow case) fails the property. */
export function onlyTypedErrors(f: () => void, tally?: Map<string, number>): void {
  const t0 = performance.now();
  let outcome = 'accepted';
  try {
    f();
  } catch (e) {
    if (e instanceof LastmileError) outcome = `${e.name}: ${messageShape(e.message)}`;
    else {
      const kind = e instanceof WebAssembly.RuntimeError ? 'a Wasm trap' : `an untyped ${(e as Error)?.constructor?.name ?? typeof e}`;
      throw new Error(`${kind}: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  if (tally) tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
  const ms = performance.now() - t0;
  if (ms > CASE_TIME_LIMIT_MS) throw new Error(`took ${ms.toFixed(0)} ms (limit ${CASE_TIME_LIMIT_MS} ms)`);
}

/** A message with its variable parts removed, so outcomes group by the check that fired. */
const messageShape = (m: string) => m.replace(/^[^:]*fuzzed[^:]*: /, '').replace(/'[^']*'/g, "'…'").replace(/-?\d+(\.\d+)?(e-?\d+)?/g, 'N').replace(/\(.*\)/g, '(…)').slice(0, 70);

// ---- byte mutations --------------------------------------------------------------------------

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  // Huge or boundary sizes where a length field may be.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0), fc.nat()) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 32 }) }) },
);

function mutate(source: Uint8Array, ms: Mutation[], focus?: number): Uint8Array {
  let b = source.slice();
  for (const m of ms) {
    // Most mutations land in the header region, where the parsing decisions are.
    const span = focus !== undefined && m.at % 4 !== 0 ? Math.min(focus, b.length) : b.length;
    const at = span > 0 ? m.at % span : 0;
    if (m.kind === 'flip' && b.length) b[at] = b[at]! ^ (1 << m.bit);
    else if (m.kind === 'set' && b.length) b[at] = m.value;
    else if (m.kind === 'u32' && b.length >= 4) new DataView(b.buffer).setUint32(Math.min(at, b.length - 4), m.value >>> 0, m.value % 2 === 0);
    else if (m.kind === 'truncate') b = b.slice(0, b.length ? m.at % b.length : 0);
    else if (m.kind === 'splice') {
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b.subarray(0, at));
      out.set(m.bytes, at);
      out.set(b.subarray(at), at + m.bytes.length);
      b = out;
    }
  }
  return b;
}

/** Recompute the trailing CRC-32 so a mutation reaches the parser behind the checksum. */
function fixTrailingCrc(b: Uint8Array, from = 0, to = b.length): void {
  if (to - from < 8) return;
  new DataView(b.buffer, b.byteOffset).setUint32(to - 4, crc32(b.subarray(from, to - 4)), true);
}

/** Make an LMCK file consistent again after a mutation: payload length, inner and outer CRC. */
function fixCheckpoint(b: Uint8Array): void {
  if (b.length < 32) return;
  const view = new DataView(b.buffer, b.byteOffset);
  view.setUint32(8, b.length - 16, true);
  fixTrailingCrc(b, 12, b.length - 4);
  fixTrailingCrc(b);
}

// ---- seeds: valid files to mutate -------------------------------------------------------------

let seeds: { model: Uint8Array; checkpoint: Uint8Array; png: Uint8Array; pngRgba: Uint8Array } | undefined;
function seedFiles() {
  if (seeds) return seeds;
  const model = new Uint8Array(readFileSync(new URL('../../models/mnist-cnn-digits04.lmdl', import.meta.url)));
  const checkpoint = encodeCheckpoint({
    run: { seed: 1, lr: 0.003, selection: { kind: 'full' } },
    trainer: {
      step: 3,
      batchOrder: { rng: 12345, cursor: 2, order: [2, 0, 1, 4, 3] },
      tensors: [
        { layer: 'conv1', part: 'w', values: Int16Array.from({ length: 24 }, (_, i) => i * 37 - 400), history: Int8Array.from({ length: 24 }, (_, i) => i - 12) },
        { layer: 'conv1', part: 'b', values: Int32Array.from({ length: 4 }, (_, i) => i * 1000), history: null },
        { layer: 'head', part: 'w', values: Int8Array.from({ length: 10 }, (_, i) => i * 9 - 40), history: null },
      ],
    },
    losses: Float64Array.from([1.5, 1.25, 1.125]),
  });
  const png = (w: number, h: number, colorType: 0 | 6) => {
    const img = new PNG({ width: w, height: h, colorType, inputColorType: 6, inputHasAlpha: true });
    for (let i = 0; i < img.data.length; i++) img.data[i] = i % 4 === 3 ? 255 : (i * 31) & 255;
    return new Uint8Array(PNG.sync.write(img, { colorType }));
  };
  seeds = { model, checkpoint, png: png(5, 4, 0), pngRgba: png(3, 3, 6) };
  return seeds;
}

// ---- targets ----------------------------------------------------------------------------------

const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });
/** Now and then, bytes with no structure at all instead of a mutated valid file. */
const rawBytes = fc.oneof({ weight: 15, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) });

export const modelLoader: FuzzTarget = {
  name: 'model loader (LMDL)',
  tally: new Map(),
  weight: 2,
  property: () =>
    fc.property(fc.record({ ms: mutations, fixCrc: fc.boolean(), random: rawBytes }), (c) => {
      const s = seedFiles();
      const bytes = c.random ?? mutate(s.model, c.ms, 2048);
      if (c.fixCrc && !c.random) fixTrailingCrc(bytes);
      onlyTypedErrors(() => loadModel(bytes, 'fuzzed model'), modelLoader.tally);
    }) as fc.IProperty<[unknown]>,
};

export const checkpointLoader: FuzzTarget = {
  name: 'checkpoint loader (LMCK)',
  tally: new Map(),
  weight: 2,
  property: () =>
    fc.property(fc.record({ ms: mutations, fix: fc.boolean(), random: rawBytes }), (c) => {
      const s = seedFiles();
      const bytes = c.random ?? mutate(s.checkpoint, c.ms, 1024);
      if (c.fix && !c.random) fixCheckpoint(bytes);
      onlyTypedErrors(() => decodeCheckpoint(bytes, 'fuzzed checkpoint'), checkpointLoader.tally);
    }) as fc.IProperty<[unknown]>,
};

const dim = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 12 }) }, { weight: 1, arbitrary: fc.constantFrom(0xffffffff, 0x10000, 1 << 30, 60000) });
export const idxReader: FuzzTarget = {
  name: 'IDX reader',
  tally: new Map(),
  weight: 2,
  property: () =>
    fc.property(
      fc.record({
        magic: fc.oneof({ weight: 6, arbitrary: fc.constant([0, 0, 8]) }, { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 3, maxLength: 3 }) }),
        dims: fc.oneof({ weight: 6, arbitrary: fc.array(dim, { minLength: 3, maxLength: 3 }) }, { weight: 2, arbitrary: fc.array(dim, { minLength: 0, maxLength: 6 }) }),
        labelsMatch: fc.boolean(),
        extra: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) }),
        labelsN: fc.integer({ min: 0, max: 12 }),
        labelMax: fc.integer({ min: 0, max: 255 }),
        classes: fc.integer({ min: 1, max: 12 }),
      }),
      (c) => {
        const count = c.dims.reduce((a, b) => a * b, 1);
        const labelsN = c.labelsMatch && (c.dims[0] ?? 0) <= 255 ? c.dims[0] ?? 0 : c.labelsN;
        // Data as long as declared (± extra) when that is small; hostile declarations get a few bytes.
        const dataBytes = Math.max(0, count <= 4096 ? count + c.extra : 16);
        const bytes = new Uint8Array(4 + 4 * c.dims.length + dataBytes);
        bytes.set(c.magic, 0);
        bytes[3] = c.dims.length;
        c.dims.forEach((d, i) => new DataView(bytes.buffer).setUint32(4 + 4 * i, d, false));
        for (let i = 4 + 4 * c.dims.length; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
        onlyTypedErrors(() => {
          const images = parseIdx(bytes, 'fuzzed images');
          const labels = parseIdx(Uint8Array.from([0, 0, 8, 1, 0, 0, 0, labelsN, ...Array.from({ length: labelsN }, (_, i) => (i * 13) % (c.labelMax + 1))]), 'fuzzed labels');
          datasetFromIdx('fuzzed', images, labels, c.classes);
        }, idxReader.tally);
      },
    ) as fc.IProperty<[unknown]>,
};

/** A PNG whose IHDR we choose (dimensions, depth, colour type) with a valid or broken stream behind it. */
function craftedPng(w: number, h: number, depth: number, colorType: number, interlace: number, payload: Uint8Array): Uint8Array {
  return craftPng({ width: w, height: h, depth, colorType, interlace }, deflateSync(payload));
}

export const imageReader: FuzzTarget = {
  name: 'image-folder reader (PNG)',
  tally: new Map(),
  weight: 2,
  property: () =>
    fc.property(
      fc.oneof(
        fc.record({ kind: fc.constant('mutated' as const), ms: mutations, rgba: fc.boolean(), channels: fc.constantFrom(1 as const, 3 as const) }),
        fc.record({
          kind: fc.constant('crafted' as const),
          w: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(100000, 0xffffffff, 4097)),
          h: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(100000, 0x7fffffff)),
          depth: fc.constantFrom(1, 2, 4, 8, 16, 3, 0, 255),
          colorType: fc.constantFrom(0, 2, 3, 4, 6, 1, 7),
          interlace: fc.constantFrom(0, 1, 2),
          payload: fc.uint8Array({ maxLength: 200 }),
          /** A scanline stream of exactly the declared size (filter byte + row), so decoding goes deep. */
          wellFormed: fc.boolean(),
          channels: fc.constantFrom(1 as const, 3 as const),
          alpha: fc.constantFrom('reject' as const, 'black' as const, 'white' as const),
        }),
      ),
      (c) => {
        const s = seedFiles();
        let bytes: Uint8Array;
        if (c.kind === 'mutated') bytes = mutate(c.rgba ? s.pngRgba : s.png, c.ms, 64);
        else {
          const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[c.colorType] ?? 1;
          const rowBytes = 1 + Math.ceil((c.w * channels * c.depth) / 8);
          const streamBytes = rowBytes * c.h;
          const payload = c.wellFormed && c.interlace === 0 && streamBytes <= 4096
            ? Uint8Array.from({ length: streamBytes }, (_, i) => (i % rowBytes === 0 ? c.payload[i % Math.max(1, c.payload.length)]! % 5 : c.payload[i % Math.max(1, c.payload.length)] ?? i))
            : c.payload;
          bytes = craftedPng(c.w, c.h, c.depth, c.colorType, c.interlace, payload);
        }
        onlyTypedErrors(() => {
          readPngHeader(bytes, 'fuzzed.png');
          decodePng(bytes, 'fuzzed.png', c.channels, c.kind === 'crafted' ? c.alpha : 'black');
        }, imageReader.tally);
      },
    ) as fc.IProperty<[unknown]>,
};

// ---- kernel wrappers with random shapes and hostile buffers ------------------------------------

let bench: { device: Device; arena: Arena } | undefined;
export async function prepareKernels(): Promise<void> {
  if (bench) return;
  const device = await Device.create({ build: 'simd', arenaBytes: 1024 * 1024 });
  bench = { device, arena: new Arena(device) };
}

// Mostly valid, so cases get past the first check and reach the deeper ones.
const size = fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, Number.NaN, 1 << 20, 2 ** 31) });
/** A buffer that is right, too short, misplaced past memory, negative or not an integer. */
const bufferFlaw = fc.oneof({ weight: 12, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.constantFrom('short', 'outside', 'negative', 'fraction', 'overlap') });

function buffer(arena: Arena, bytes: number, flaw: string, name: string, other?: DeviceBuffer): DeviceBuffer {
  const safe = Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= 256 * 1024 ? bytes : 16;
  const b = arena.alloc(Math.max(1, safe), name);
  switch (flaw) {
    case 'short':
      return { name, offset: b.offset, bytes: Math.max(0, safe - 1) };
    case 'outside':
      return { name, offset: arena.device.memory.buffer.byteLength - 3, bytes: safe };
    case 'negative':
      return { name, offset: -64, bytes: safe };
    case 'fraction':
      return { name, offset: b.offset + 0.5, bytes: safe };
    case 'overlap':
      return other ? { name, offset: other.offset, bytes: safe } : b;
    default:
      return { name, offset: b.offset, bytes: safe };
  }
}

export const kernelWrappers: FuzzTarget = {
  name: 'kernel wrappers (pool, global pool, fully connected)',
  tally: new Map(),
  weight: 2,
  property: () =>
    fc.property(
      fc.record({
        kernel: fc.constantFrom('avg', 'max', 'global', 'fc'),
        batch: size, h: size, w: size, c: size, fh: size, fw: size, sh: size, sw: size,
        padding: fc.constantFrom('same', 'valid', 'same', 'valid', 'bogus'),
        actMin: fc.constantFrom(-128, -128, -128, -129, 0, Number.NaN),
        actMax: fc.constantFrom(127, 127, 127, 128, -128, 5),
        bits: fc.constantFrom(8, 16, 8, 16, 4),
        zp: fc.constantFrom(0, -128, 127, 0, 3, 128, 0.5),
        inFlaw: bufferFlaw, outFlaw: bufferFlaw, wFlaw: bufferFlaw, sFlaw: bufferFlaw,
        bias: fc.boolean(),
      }),
      (c) => {
        if (!bench) throw new Error('call prepareKernels() before running the kernel property');
        const { arena } = bench;
        arena.reset();
        onlyTypedErrors(() => {
          const n = (x: number) => (Number.isSafeInteger(x) && x > 0 && x < 4096 ? x : 4);
          if (c.kernel === 'fc') {
            const p = { batch: c.batch, inFeatures: c.h, outFeatures: c.c, weightBits: c.bits as 8 | 16, inputZeroPoint: c.zp };
            const input = buffer(arena, n(c.batch) * n(c.h), c.inFlaw, 'input');
            const weights = buffer(arena, n(c.h) * n(c.c) * (c.bits === 16 ? 2 : 1), c.wFlaw, 'weights');
            const bias = c.bias ? buffer(arena, n(c.c) * 4, 'ok', 'bias') : null;
            const output = buffer(arena, n(c.batch) * n(c.c) * 4, c.outFlaw, 'output', input);
            let scratchBytes = 64;
            try {
              scratchBytes = fullyConnectedScratchBytes(p);
            } catch (e) {
              if (!(e instanceof LastmileError)) throw e;
            }
            const scratch = buffer(arena, scratchBytes, c.sFlaw, 'scratch');
            fullyConnected(arena, input, weights, bias, output, p, null, scratch);
            return;
          }
          if (c.kernel === 'global') {
            const input = buffer(arena, n(c.batch) * n(c.h) * n(c.w) * n(c.c), c.inFlaw, 'input');
            const output = buffer(arena, n(c.batch) * n(c.c), c.outFlaw, 'output', input);
            globalAvgPool(arena, input, output, { batch: c.batch, height: c.h, width: c.w, channels: c.c, actMin: c.actMin, actMax: c.actMax });
            return;
          }
          const p = { batch: c.batch, inHeight: c.h, inWidth: c.w, channels: c.c, filterHeight: c.fh, filterWidth: c.fw, strideHeight: c.sh, strideWidth: c.sw, padding: c.padding as 'same', actMin: c.actMin, actMax: c.actMax };
          const input = buffer(arena, n(c.batch) * n(c.h) * n(c.w) * n(c.c), c.inFlaw, 'input');
          const output = buffer(arena, n(c.batch) * n(c.h) * n(c.w) * n(c.c), c.outFlaw, 'output', input);
          (c.kernel === 'avg' ? avgPool2d : maxPool2d)(arena, input, output, p);
        }, kernelWrappers.tally);
      },
    ) as fc.IProperty<[unknown]>,
};

export const TARGETS: FuzzTarget[] = [modelLoader, checkpointLoader, idxReader, imageReader, kernelWrappers];

/** Split a total case budget over the targets by weight (each at least 1). */
export function casesPer(total: number): Map<FuzzTarget, number> {
  const weights = TARGETS.reduce((a, t) => a + t.weight, 0);
  return new Map(TARGETS.map((t) => [t, Math.max(1, Math.round((total * t.weight) / weights))]));
}
