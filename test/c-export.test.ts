// The C export on the host compiler (gcc is on every machine): the exported QZO-FF and hybrid runs end
// with adapt's weights digest and the emulator's query logits, bit for bit; bad input is refused with
// a typed error before anything is written. The QEMU matrix is `npm run test:metal`.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adaptReference, emulatorQueryDigest, exportC, lossSumOverPasses, lossSumQ16, modelPath, runProgram } from './metal/harness.js';
import { checkExportable, exportC as exportCLibrary, type CExportOptions } from '../src/export/c/index.js';
import { initFloatModel, loadModel, saveModel } from '../src/model/model.js';
import { architecturePreset } from '../src/model/presets.js';
import { ConfigError, UnsupportedError } from '../src/errors.js';
import type { FloatModel } from '../src/model/model.js';

describe('C export on the host cc', () => {
  it('mnist-cnn head, 16w8a, 3 steps: same weights sha256, losses and query logits as adapt and the emulator', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-'));
    const runArgs = ['--method', 'qzo-ff', '--train', 'head', '--steps', '3', '--queries', '4'];
    const [ref, exported] = await Promise.all([
      // The export on this branch emits the QZO-FF program: compare with adapt's qzo-ff (the default is the hybrid).
      adaptReference(['--method', 'qzo-ff', ...runArgs], join(dir, 'adapt')),
      exportC(runArgs, ['--model', modelPath('mnist-cnn-digits04.lmdl')], join(dir, 'c')),
    ]);
    // The export prints the arena map and the planned SRAM next to the arena it emitted.
    expect(exported.stdout).toMatch(/planned SRAM (\d+) B = arena \1 B/);
    expect(exported.stdout).toMatch(/^\s+\d+\s+\d+\s+\d+\s+0\.\.\d+\s+w:logits$/m);
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
    expect(out.steps.map((s) => s.reduce((a, b) => a + b, 0))).toEqual(ref.losses.map((l) => lossSumQ16(l, 3, 25)));
    const emu = await emulatorQueryDigest(join(dir, 'adapt', 'model.lmdl'), { data: 'mnist', classes: '5-9', ways: 5, shots: 5, queries: 4, seed: 1, microBatch: 5 });
    expect(out.queryLogitsSha256).toBe(emu.digest);
    const header = await readFile(join(dir, 'c', 'lm_model.h'), 'utf8');
    expect(Number(/#define LM_ARENA_BYTES (\d+)u/.exec(header)![1])).toBe(ref.ffSram);
  });

  it('default hybrid (head and tail by backprop), mnist-cnn full, 16w8a, 3 steps: same weights, losses and logits; the head and tail buffers are in the arena plan', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-hybrid-'));
    const runArgs = ['--method', 'hybrid', '--train', 'full', '--steps', '3', '--batch-size', '5', '--queries', '4'];
    const [ref, exported] = await Promise.all([
      adaptReference(runArgs, join(dir, 'adapt')),
      exportC(runArgs, ['--model', modelPath('mnist-cnn-digits04.lmdl')], join(dir, 'c')),
    ]);
    expect(exported.stdout).toMatch(/planned SRAM (\d+) B = arena \1 B/);
    for (const b of ['hybrid-delta', 'hybrid-grad-w', 'hybrid-grad-b', 'hybrid-feature-sums', 'hybrid-feature-mean', 'tail-g', 'tail-patch', 'tail-grad-w', 'tail-grad-b']) expect(exported.stdout).toMatch(new RegExp(`^\\s+\\d+\\s+\\d+\\s+\\d+\\s+0\\.\\.\\d+\\s+extra:${b}$`, 'm'));
    // The tail's input (pool2) and gate (conv3) live to the head, the last op (7), as in the emulator's plan.
    for (const t of ['pool2', 'conv3']) expect(exported.stdout).toMatch(new RegExp(`^\\s+\\d+\\s+\\d+\\s+\\d+\\s+\\d+\\.\\.7\\s+act:${t}$`, 'm'));
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
    // 2m = 2 perturbed forwards of 5 samples per step (the hybrid's default m = 1); the head's sums came from those same forwards.
    expect(out.steps.map((s) => s.reduce((a, b) => a + b, 0))).toEqual(ref.losses.map((l) => lossSumOverPasses(l, 2, 5)));
    const emu = await emulatorQueryDigest(join(dir, 'adapt', 'model.lmdl'), { data: 'mnist', classes: '5-9', ways: 5, shots: 5, queries: 4, seed: 1, microBatch: 5 });
    expect(out.queryLogitsSha256).toBe(emu.digest);
    const header = await readFile(join(dir, 'c', 'lm_model.h'), 'utf8');
    expect(Number(/#define LM_ARENA_BYTES (\d+)u/.exec(header)![1])).toBe(ref.ffSram);
    expect(header).toMatch(/#define LM_METHOD "hybrid"/);
    expect(header).toMatch(/#define LM_BP_LAYERS 2/);
    const meta = JSON.parse(await readFile(join(dir, 'c', 'export.json'), 'utf8')) as { config: { method: string; bpLayers: number; tailLr: number } };
    expect(meta.config).toMatchObject({ method: 'hybrid', bpLayers: 2, tailLr: 0.3 });
  });

  it('hybrid with --bp-layers 1 and --m 3 (head only by backprop, QZO-FF below), 3 steps: same weights and losses; no tail buffers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-hybrid-bp1-'));
    const runArgs = ['--method', 'hybrid', '--bp-layers', '1', '--m', '3', '--train', 'full', '--steps', '3', '--batch-size', '5', '--queries', '4'];
    const [ref, exported] = await Promise.all([
      adaptReference(runArgs, join(dir, 'adapt')),
      exportC(runArgs, ['--model', modelPath('mnist-cnn-digits04.lmdl')], join(dir, 'c')),
    ]);
    expect(exported.stdout).not.toMatch(/extra:tail-/);
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
    expect(out.steps.map((s) => s.reduce((a, b) => a + b, 0))).toEqual(ref.losses.map((l) => lossSumOverPasses(l, 6, 5)));
    const header = await readFile(join(dir, 'c', 'lm_model.h'), 'utf8');
    expect(Number(/#define LM_ARENA_BYTES (\d+)u/.exec(header)![1])).toBe(ref.ffSram);
    expect(header).toMatch(/#define LM_BP_LAYERS 1/);
  });

  it('hybrid with the last two layers alone (--train last:2, no QZO-FF) and a --tail-lr: one forward per sample, same weights and losses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-hybrid-last2-'));
    const runArgs = ['--method', 'hybrid', '--train', 'last:2', '--tail-lr', '0.1', '--steps', '3', '--batch-size', '5', '--queries', '4'];
    const [ref] = await Promise.all([
      adaptReference(runArgs, join(dir, 'adapt')),
      exportC(runArgs, ['--model', modelPath('mnist-cnn-digits04.lmdl')], join(dir, 'c')),
    ]);
    const source = await readFile(join(dir, 'c', 'lm_model.c'), 'utf8');
    expect(source).toContain(`/* The hybrid tail 'conv3'`);
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
    expect(out.steps.map((s) => s.reduce((a, b) => a + b, 0))).toEqual(ref.losses.map((l) => lossSumOverPasses(l, 1, 5)));
  });

  it('hybrid on an MLP: the dense tail (fc2, no pool, ReLU gate) by backprop, fc1 by QZO-FF, 3 steps: same weights and losses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-hybrid-mlp-'));
    // A seeded initialisation: bit-exactness does not need a trained backbone.
    const model = join(dir, 'mlp.lmdl');
    await writeFile(model, saveModel(initFloatModel(architecturePreset('mlp'), 7)));
    // fc1 (784×128, 16-bit) in SRAM and the tail's int64 sums (64×128×8 B) need more than the default part.
    const runArgs = ['--method', 'hybrid', '--train', 'full', '--device', 'stm32h743', '--steps', '3', '--batch-size', '5', '--queries', '4'];
    const [ref, exported] = await Promise.all([
      adaptReference(['--model', model, ...runArgs], join(dir, 'adapt')),
      exportC(runArgs, ['--model', model], join(dir, 'c')),
    ]);
    expect(exported.stdout).toMatch(/extra:tail-grad-w$/m);
    const source = await readFile(join(dir, 'c', 'lm_model.c'), 'utf8');
    expect(source).toContain(`/* The hybrid tail 'fc2' (below the head, through no pool)`);
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
    expect(out.steps.map((s) => s.reduce((a, b) => a + b, 0))).toEqual(ref.losses.map((l) => lossSumOverPasses(l, 2, 5)));
  });

  it('refuses the hybrid tail options where they cannot apply, with a typed error, before any work', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-tail-bad-'));
    const backbone = loadModel(new Uint8Array(await readFile(modelPath('mnist-cnn-digits04.lmdl')))) as FloatModel;
    const base = { backbone, support: null!, query: null!, device: { name: 'x', sramBytes: 1 << 20, flashBytes: 1 << 20 }, modelLabel: 'mnist-cnn' };
    const cases: [Partial<CExportOptions>, RegExp][] = [
      [{ method: 'hybrid', selection: { kind: 'head' }, bpLayers: 2 }, /--bp-layers 2 cannot apply: the selection leaves 'conv3' frozen/],
      [{ method: 'hybrid', bpLayers: 1, tailLr: 0.1 }, /--tail-lr sets the η of the layer below the head/],
      [{ method: 'qzo-ff', tailLr: 0.1 }, /--tail-lr is the hybrid tail's step size/],
      [{ method: 'qzo-ff', bpLayers: 2 }, /--bp-layers sets the layers the hybrid learns by backprop/],
      [{ method: 'hybrid', tailLr: -1 }, /tail learning rate must be a finite number > 0/],
    ];
    for (const [k, [extra, message]] of cases.entries()) {
      const out = join(dir, String(k));
      const run = exportCLibrary({ ...base, ...extra, out });
      await expect(run).rejects.toThrow(ConfigError);
      await expect(run).rejects.toThrow(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('hybrid head only with a fixed --head-lr, 3 steps: same weights and losses (η baked as an exact double, no V)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-hybrid-lr-'));
    const runArgs = ['--method', 'hybrid', '--train', 'head', '--head-lr', '0.02', '--steps', '3', '--batch-size', '5', '--queries', '4'];
    const [ref] = await Promise.all([
      adaptReference(runArgs, join(dir, 'adapt')),
      exportC(runArgs, ['--model', modelPath('mnist-cnn-digits04.lmdl')], join(dir, 'c')),
    ]);
    const source = await readFile(join(dir, 'c', 'lm_model.c'), 'utf8');
    expect(source).toContain('0x1.47ae147ae147bp-6, /* fixed η');
    const out = await runProgram(join(dir, 'c'), 'host');
    expect(out.weightsSha256).toBe(ref.weightsSha256);
    expect(out.steps.map((s) => s.reduce((a, b) => a + b, 0))).toEqual(ref.losses.map((l) => lossSumOverPasses(l, 1, 5)));
  });

  it('refuses a method the C cannot run, and --head-lr without the hybrid, before any work', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-method-'));
    const backbone = loadModel(new Uint8Array(await readFile(modelPath('mnist-cnn-digits04.lmdl')))) as FloatModel;
    const base = { backbone, support: null!, query: null!, device: { name: 'x', sramBytes: 1 << 20, flashBytes: 1 << 20 }, modelLabel: 'mnist-cnn' };
    const bp = exportCLibrary({ ...base, method: 'bp' as unknown as 'hybrid', out: join(dir, 'bp') });
    await expect(bp).rejects.toThrow(UnsupportedError);
    await expect(bp).rejects.toThrow(/runs the methods qzo-ff and hybrid, not 'bp'/);
    const lr = exportCLibrary({ ...base, method: 'qzo-ff', headLr: 0.01, out: join(dir, 'lr') });
    await expect(lr).rejects.toThrow(ConfigError);
    await expect(lr).rejects.toThrow(/--head-lr is the hybrid head's step size/);
    expect(existsSync(join(dir, 'bp')) || existsSync(join(dir, 'lr'))).toBe(false);
  });

  it('refuses an unsupported selection or mode with a typed error and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lm-c-bad-'));
    const backbone = loadModel(new Uint8Array(await readFile(modelPath('mnist-cnn-digits04.lmdl')))) as FloatModel;
    const base = { backbone, support: null!, query: null!, device: { name: 'x', sramBytes: 1 << 20, flashBytes: 1 << 20 }, modelLabel: 'mnist-cnn' };
    const cases: [Partial<CExportOptions>, RegExp][] = [
      [{ selection: { kind: 'bias' } }, /selections full, head and last:K, not 'bias'/],
      [{ enhancements: { momentum: { alpha: 0.5, beta: 0.5 } } }, /does not support --momentum/],
      [{ schedule: { kind: 'cosine' } }, /constant learning-rate schedule only/],
      [{ enhancements: { control: { guard: true, warmup: 100 } } }, /step-size control .* is not in the exported C/],
    ];
    for (const [extra, message] of cases) {
      const out = join(dir, String(cases.findIndex((c) => c[0] === extra)));
      const run = exportCLibrary({ ...base, ...extra, out });
      await expect(run).rejects.toThrow(UnsupportedError);
      await expect(run).rejects.toThrow(message);
      expect(existsSync(out)).toBe(false);
    }
    // An existing folder is never overwritten, and is refused before any work.
    await expect(exportCLibrary({ ...base, out: dir })).rejects.toThrow(/already exists/);
  });

  it('names an operator without a C kernel (a head that is not dense)', () => {
    const backbone: FloatModel = {
      kind: 'float', meta: {}, params: {},
      architecture: { name: 'pool-head', nodes: [{ kind: 'input', name: 'input', shape: [4, 4, 1] }, { kind: 'globalavgpool', name: 'gap' }] },
    };
    expect(() => checkExportable({ backbone, support: null!, query: null!, device: { name: 'x', sramBytes: 1 << 20, flashBytes: 1 << 20 } })).toThrow(UnsupportedError);
    expect(() => checkExportable({ backbone, support: null!, query: null!, device: { name: 'x', sramBytes: 1 << 20, flashBytes: 1 << 20 } })).toThrow(/'gap' is a 'globalavgpool'/);
  });
});
