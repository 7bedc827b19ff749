// Every function and class the core entry exports gets null, undefined and wrong-typed arguments
// from a JavaScript caller: each must answer with a typed LastmileError before any work, never a
// TypeError from deep inside. The table must name every export, so a new one cannot skip the check.
import { describe, it, expect } from 'vitest';
import * as api from '../src/index.js';
import { LastmileError } from '../src/errors.js';

const BAD = [null, undefined, 42, 'x', {}] as const;
type Call = (bad: unknown) => unknown;

// For each export, the calls to make with a bad value in one argument's place.
const CALLS: Record<string, Call[]> = {
  Device: [(b) => api.Device.create((b === undefined || (typeof b === 'object' && b !== null) ? { build: 42 } : b) as never)],
  Mcu: [(b) => api.Mcu.create(b as never)],
  Arena: [(b) => new api.Arena(b as never)],
  QuantizedSession: [(b) => new api.QuantizedSession(b as never, b as never, b as never)],
  BackpropSession: [(b) => new api.BackpropSession(b as never, b as never, b as never)],
  QzoFfTrainer: [(b) => new api.QzoFfTrainer(b as never, b as never, b as never)],
  qzoFfSramBuffers: [(b) => api.qzoFfSramBuffers((typeof b === 'number' ? 0 : b) as never)],
  setDefaultWasmBaseUrl: [(b) => (b === undefined || typeof b === 'string' ? api.setDefaultWasmBaseUrl(42 as never) : api.setDefaultWasmBaseUrl(b as never))],
  bestBuild: [(b) => (b === undefined ? api.bestBuild(null as never) : api.bestBuild(b as never))],
  resolveDevice: [(b) => (b === undefined || b === 'x' ? api.resolveDevice('no-such-device') : api.resolveDevice(b as never))],
  describeDevice: [(b) => api.describeDevice(b as never)],
  planMemory: [(b) => api.planMemory(b as never)],
  verifyPlan: [(b) => api.verifyPlan(b as never)],
  resolveGraph: [(b) => api.resolveGraph(b as never)],
  architecturePreset: [(b) => api.architecturePreset(b as never)],
  initFloatModel: [(b) => api.initFloatModel(b as never)],
  loadModel: [(b) => api.loadModel(b as never)],
  saveModel: [(b) => api.saveModel(b as never)],
  quantizeMultiplier: [(b) => api.quantizeMultiplier((typeof b === 'number' ? Infinity : b) as never)],
  quantizeModel: [(b) => api.quantizeModel(b as never, {})],
  calibrate: [(b) => api.calibrate(b as never, b as never)],
  sampleEpisode: [(b) => api.sampleEpisode(b as never, b as never)],
  corrupt: [(b) => api.corrupt(b as never, 'noise', 1, 1)],
  selectClasses: [(b) => api.selectClasses(b as never, [0])],
  subset: [(b) => api.subset(b as never, [0])],
  adapt: [(b) => api.adapt(b as never)],
  encodeCheckpoint: [(b) => api.encodeCheckpoint(b as never)],
  decodeCheckpoint: [(b) => api.decodeCheckpoint(b as never)],
  loadNewestCheckpoint: [(b) => api.loadNewestCheckpoint(b as never)],
  saveCheckpoint: [(b) => api.saveCheckpoint(b as never, b as never)],
  trainBackprop: [(b) => api.trainBackprop(b as never, b as never, b as never)],
  evaluateFloat: [(b) => api.evaluateFloat(b as never, b as never)],
  evaluate: [(b) => api.evaluate(b as never, b as never)],
  pretrain: [(b) => api.pretrain(b as never)],
  withPrototypeHead: [(b) => api.withPrototypeHead(b as never, b as never)],
  memoryReport: [(b) => api.memoryReport(b as never, { device: api.resolveDevice() }), (b) => api.memoryReport(api.architecturePreset('mnist-cnn'), b as never)],
};

// Exports that take no arguments or only read state: nothing to validate.
const NO_INPUT = new Set(['Profiler', 'detectFeatures', 'presetNames', 'MissingPackageError']);

/** The error a call ends with, sync or async; null when it returns. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
    return null;
  } catch (e) {
    return e;
  }
}

describe('public API input validation', () => {
  const exported = Object.entries(api).filter(([name, v]) => typeof v === 'function' && !(v.prototype instanceof Error) && v !== Error);

  it('the table covers every exported function and class', () => {
    const missing = exported.map(([name]) => name).filter((n) => !(n in CALLS) && !NO_INPUT.has(n));
    expect(missing).toEqual([]);
  });

  it.each(Object.keys(CALLS))('%s answers null, undefined and wrong types with a typed error', async (name) => {
    for (const call of CALLS[name]!) {
      for (const bad of BAD) {
        // A few functions accept some of these values (undefined = the default); the table's call
        // substitutes a value they must refuse, so every row still expects an error.
        const e = await failure(() => call(bad));
        expect(e, `${name}(${String(bad)}) returned instead of throwing`).not.toBeNull();
        expect(e, `${name}(${String(bad)}): ${String(e)}`).toBeInstanceOf(LastmileError);
      }
    }
  });

  it('selectClasses and memoryReport name the argument and what it takes', () => {
    expect(() => api.selectClasses(null as never, [0])).toThrow(/selectClasses: data must be a Dataset/);
    expect(() => api.selectClasses({ name: 'd', shape: [1, 1, 1], images: new Float32Array(1), labels: new Int32Array(1), classes: 2 }, [0, 7])).toThrow(/selectClasses: classes\[1\] must be an integer in \[0, 2\)/);
    expect(() => api.memoryReport(null as never, { device: api.resolveDevice() })).toThrow(/memoryReport: source must be an architecture/);
    expect(() => api.memoryReport(api.architecturePreset('mnist-cnn'), null as never)).toThrow(/memoryReport takes an options object/);
  });
});
