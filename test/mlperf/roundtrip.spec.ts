// Import → export of the four MLPerf Tiny models: every original tensor comes back exactly (name,
// shape, type, scales, zero points, bytes), Arm NN runs the exported file with outputs identical to
// the original's, and our outputs after re-import are identical too. Plus memory, profile and the
// TFLM tensor-arena comparison through the CLI.
import { afterAll, describe, expect, it } from 'vitest';
import { importTflite } from '../../src/tflite/import.js';
import { readTflite } from '../../src/tflite/reader.js';
import { writeTflite } from '../../src/tflite/writer.js';
import { createInt8Runner } from '../../src/runtime/int8-run.js';
import { tflmComparison } from '../../src/cli/tflite.js';
import type { QuantizedModel } from '../../src/model/model.js';
import { main } from '../../src/cli/main.js';
import { armnnRunMany, mlperfModel, randomInt8, MLPERF_MODELS } from './armnn.js';

const memoryRows: Record<string, unknown>[] = [];

async function cliJson(args: string[]): Promise<Record<string, unknown>> {
  const log: string[] = [];
  const orig = console.log;
  console.log = (s: string) => void log.push(String(s));
  try {
    expect(await main(['node', 'lastmile', '--json', ...args])).toBe(0);
  } finally {
    console.log = orig;
  }
  return JSON.parse(log.join('\n'));
}

describe('MLPerf Tiny round trip and CLI', () => {
  for (const name of MLPERF_MODELS) {
    it(`${name}: import → export reproduces every tensor; Arm NN and lastmile give identical outputs on both files`, async () => {
      const { path, bytes } = mlperfModel(name);
      const model = importTflite(bytes, path) as QuantizedModel;
      const exported = writeTflite(model);
      const a = readTflite(bytes);
      const b = new Map(readTflite(exported).tensors.map((t) => [t.name, t]));
      for (const t of a.tensors) {
        const u = b.get(t.name);
        expect(u, t.name).toBeDefined();
        expect([u!.shape, u!.type, u!.quant]).toEqual([t.shape, t.type, t.quant]);
        expect(Buffer.compare(Buffer.from(u!.data ?? []), Buffer.from(t.data ?? [])), t.name).toBe(0);
      }
      expect(b.size).toBe(a.tensors.length);
      const runner = await createInt8Runner(model);
      const x = randomInt8(20 * runner.inputSize, 9);
      const [refOriginal, refExported] = armnnRunMany([{ model: path, inputs: x }, { model: exported, inputs: x }]);
      expect(Array.from(refExported!)).toEqual(Array.from(refOriginal!));
      const again = await createInt8Runner(importTflite(exported) as QuantizedModel);
      expect(Array.from(again.run(x))).toEqual(Array.from(runner.run(x)));
    });

    it(`${name}: lastmile memory and profile work; inference SRAM next to TFLM's greedy arena`, async () => {
      const { path } = mlperfModel(name);
      const memory = await cliJson(['memory', '--model', path, '--device', '1m/2m']);
      const modes = memory.modes as Record<string, { sramPeak: number; fits: boolean }>;
      expect(modes.infer!.sramPeak).toBeGreaterThan(0);
      expect(modes.ff!.sramPeak).toBeGreaterThanOrEqual(modes.infer!.sramPeak);
      const tflm = memory.tflm as { tflmArena: number; lastmileInfer: number; lastmileActivations: number };
      const profile = await cliJson(['profile', '--model', path, '--device', '1m/2m', '--steps', '1', '--train', 'head']);
      expect(JSON.stringify(profile)).toContain('fc_');
      const outputs = (await createInt8Runner(importTflite(mlperfModel(name).bytes) as QuantizedModel)).outputSize;
      // Our activations need no more than TFLM's greedy plan, apart from the int32 head buffer.
      expect(tflm.lastmileActivations).toBeLessThanOrEqual(tflm.tflmArena + 4 * outputs);
      memoryRows.push({ model: name, tflmArenaBytes: tflm.tflmArena, lastmileActivationsBytes: tflm.lastmileActivations, lastmileInferenceSramBytes: tflm.lastmileInfer, qzoFfFullSramBytes: modes.ff!.sramPeak });
      expect(await tflmComparison(path)).toEqual(tflm);
    });
  }
  afterAll(() => {
    console.log('\nInference SRAM (batch 1) vs the TFLM tensor arena by its greedy planner rules');
    console.table(memoryRows);
  });
});
