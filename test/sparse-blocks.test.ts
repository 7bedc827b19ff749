// Dense and convolution layers perturbed in place (sparse mask, dither, momentum's stored z) run in
// blocks of output units (channels) with a backup of one block (src/train/qzo-ff/backup-blocks.ts): same
// weights as the whole-layer backup, bit for bit, in the scalar and SIMD builds, on the GEMV and the
// packed GEMM path and on convolutions (8-column and narrow panels); the plan holds the block backup
// and equals the measured high-water mark.
import { describe, it, expect } from 'vitest';
import type { Architecture } from '../src/model/layers.js';
import { initFloatModel } from '../src/model/model.js';
import { resolveGraph } from '../src/model/graph.js';
import { quantizeModel } from '../src/quant/quantize.js';
import { QuantizedSession } from '../src/runtime/session.js';
import { qzoFfSessionOptions, qzoFfSramBuffers, type QzoFfConfig } from '../src/train/qzo-ff.js';
import { BLOCK_BACKUP_BYTES, backupSizes, layerUnits, planBackupBlocks } from '../src/train/qzo-ff/backup-blocks.js';
import { buildSparseMask } from '../src/train/sparse.js';
import { lowerGraph } from '../src/runtime/lowering.js';
import { mcuFor, quantizedBatch, type BenchModels } from '../bench/models.js';
import type { BuildFlavor } from '../src/device/features.js';
import { ConfigError } from '../src/errors.js';
import { runUnitBlocks } from '../src/ops/unit-blocks.js';
import { trainedState } from './helpers/trained-state.js';

const dense = (name: string, units: number, activation: 'relu' | 'none' = 'relu') => ({ kind: 'dense' as const, name, units, activation });
// 45 and 37 units over 60 and 45 inputs: neither is a multiple of its block, and 45·60 bits is not a whole number of mask bytes per unit.
const ARCH: Architecture = { name: 'blocks-mlp', nodes: [{ kind: 'input', name: 'input', shape: [60] }, dense('fc1', 45), dense('fc2', 37), dense('logits', 5, 'none')] };

// Convolutions whose masked weights exceed one block's budget: c1 3×3 over 5 channels (21 × 45
// weights), c2 1×1 (29 × 21); neither channel count is a multiple of a block or of a panel.
const CONV_ARCH: Architecture = {
  name: 'blocks-cnn',
  nodes: [
    { kind: 'input', name: 'input', shape: [7, 6, 5] },
    { kind: 'conv2d', name: 'c1', filters: 21, kernel: [3, 3], stride: [1, 1], padding: 'same', activation: 'relu' },
    { kind: 'conv2d', name: 'c2', filters: 29, kernel: [1, 1], stride: [1, 1], padding: 'same', activation: 'relu' },
    { kind: 'globalavgpool', name: 'gap' }, dense('logits', 5, 'none'),
  ],
};

function models(weightBits: 8 | 16, arch = ARCH): BenchModels {
  const graph = resolveGraph(arch);
  const float = initFloatModel(arch, 3);
  const ranges = Object.fromEntries(graph.nodes.map((n) => [n.node.name, { min: -4, max: 4 }]));
  const inputSize = (arch.nodes[0] as { shape: number[] }).shape.reduce((a, b) => a * b, 1);
  return { name: arch.name, graph, float, quantized: quantizeModel(float, ranges, { weightBits }), inputSize, classes: 5, macsPerSample: graph.nodes.reduce((s, n) => s + n.macs, 0) };
}

const BASE: QzoFfConfig = { epsilon: 2e-2, directions: 2, dist: 'gaussian', lr: 0.05, seed: 5 };
const TRAINABLE = ['fc1', 'fc2', 'logits'];

/** Weights and losses after `steps` steps, block-wise (the session's own plan) or with the whole-layer backup. */
async function train(bm: BenchModels, config: QzoFfConfig, batch: number, build: BuildFlavor, wholeLayer: boolean, steps = 4, layers = TRAINABLE, leanPacking?: 'narrow') {
  const training = { model: bm.quantized, trainable: layers, config };
  // The whole-layer run gets the shared backup sized for the largest layer (qzoFfSramBuffers alone).
  const chosen = wholeLayer ? { batch, trainable: new Set(layers), extraSram: qzoFfSramBuffers(batch, training) } : qzoFfSessionOptions(batch, training);
  const options = leanPacking ? { ...chosen, leanPacking } : chosen;
  const plan = QuantizedSession.plan(bm.quantized, options);
  const session = new QuantizedSession(await mcuFor(plan, build), bm.quantized, options);
  expect(session.plan.sramBytes).toBe(plan.sramBytes);
  return { plan, ...trainedState(session, layers, config, quantizedBatch(bm, batch, 11), steps, { wholeLayerBackup: wholeLayer }) };
}

describe('the block rule', () => {
  const bm = models(16);
  const lowered = lowerGraph(bm.graph);
  const sparse = { by: 'random' as const, fraction: 0.5, seed: 2 };

  it('blocks start on mask bytes, cover every unit, hold every trainable weight, and the busiest fits the budget', () => {
    for (const [id, name] of ['fc1', 'fc2'].entries()) {
      const p = bm.quantized.params[name]!;
      const mask = buildSparseMask(p.weights, sparse, id);
      const b = planBackupBlocks(layerUnits(lowered, name), p.weights.length, 16, mask)!;
      expect(b).not.toBeNull();
      const units = p.bias.length;
      expect((b.units * b.weightsPerUnit) % 8).toBe(0);
      expect(b.trained.length).toBe(Math.ceil(units / b.units));
      expect(units % b.units).not.toBe(0);
      let kept = 0;
      for (let i = 0; i < p.weights.length; i++) kept += (mask[i >> 3]! >> (i & 7)) & 1;
      expect(b.trained.reduce((s, n) => s + n, 0)).toBe(kept);
      expect(b.backupBytes).toBe(Math.max(...b.trained) * 2);
      expect(b.backupBytes).toBeLessThanOrEqual(BLOCK_BACKUP_BYTES);
      // The most units that fit: one more step of units (the fewest that end on a mask byte) would not.
      const per = b.weightsPerUnit;
      const step = per % 8 === 0 ? 1 : per % 4 === 0 ? 2 : per % 2 === 0 ? 4 : 8;
      const wider = b.units + step;
      let busiest = 0;
      for (let u0 = 0; u0 < units; u0 += wider) {
        let n = 0;
        for (let i = u0 * per; i < Math.min(units, u0 + wider) * per; i++) n += (mask[i >> 3]! >> (i & 7)) & 1;
        busiest = Math.max(busiest, n);
      }
      expect(wider >= units || busiest * 2 > BLOCK_BACKUP_BYTES).toBe(true);
    }
  });

  it('a layer that fits at once, or an op without output units, runs whole; a unit wider than the budget still gets one step of units', () => {
    const p = bm.quantized.params.logits!;
    expect(planBackupBlocks(layerUnits(lowered, 'logits'), p.weights.length, 16, null)).toBeNull(); // 5·45·2 = 450 B
    expect(planBackupBlocks(undefined, 2700, 16, null)).toBeNull();
    const fc1 = bm.quantized.params.fc1!;
    const b = planBackupBlocks(layerUnits(lowered, 'fc1'), fc1.weights.length, 16, null, 16)!;
    expect(b.units).toBe(1); // no mask: any unit boundary will do
    expect(b.backupBytes).toBe(60 * 2);
    const masked = planBackupBlocks(layerUnits(lowered, 'fc1'), fc1.weights.length, 16, new Uint8Array(Math.ceil(fc1.weights.length / 8)).fill(255), 16)!;
    expect(masked.units).toBe(2); // 60 weights per unit: two units to reach a mask byte
  });

  it('a block size that is not a positive integer is refused before anything runs', () => {
    let entered = 0;
    for (const units of [0, -1, 1.5, Number.NaN]) {
      expect(() => runUnitBlocks({ units, enter: () => { entered++; return () => {}; } }, 10, () => {})).toThrow(ConfigError);
    }
    expect(entered).toBe(0);
  });
});

describe('block-wise in-place perturbation = whole-layer backup, bit for bit', () => {
  const sparse = { sparse: { by: 'random' as const, fraction: 0.5, seed: 2 } };
  const cases: [string, 8 | 16, QzoFfConfig, number][] = [
    ['sparse 16-bit, GEMV (batch 1)', 16, { ...BASE, ...sparse }, 1],
    ['sparse 16-bit, packed GEMM (batch 6)', 16, { ...BASE, ...sparse }, 6],
    ['sparse 8w8a, GEMV (batch 2)', 8, { ...BASE, ...sparse, lr: 0.5 }, 2],
    ['sparse + dither, 16-bit', 16, { ...BASE, ...sparse, dither: true }, 1],
    ['momentum (no mask), 16-bit', 16, { ...BASE, momentum: { alpha: 0.5, beta: 0.5 } }, 1],
  ];
  for (const [label, bits, config, batch] of cases) {
    for (const build of ['scalar', 'simd'] as BuildFlavor[]) {
      it(`${label}, ${build}`, async () => {
        const bm = models(bits);
        const blocks = await train(bm, config, batch, build, false);
        const whole = await train(bm, config, batch, build, true);
        expect(blocks.losses).toEqual(whole.losses);
        expect(blocks.weights).toEqual(whole.weights);
        expect(blocks.biases).toEqual(whole.biases);
        expect(blocks.weights.some((w, i) => w.some((v, j) => v !== bm.quantized.params[TRAINABLE[i]!]!.weights[j]))).toBe(true);
        // The plan holds each layer's block backup, no more.
        const lowered = lowerGraph(bm.graph);
        for (const [id, name] of TRAINABLE.entries()) {
          const p = bm.quantized.params[name]!;
          const mask = config.sparse ? buildSparseMask(p.weights, config.sparse, id) : null;
          const b = planBackupBlocks(layerUnits(lowered, name), p.weights.length, bits, mask);
          const planned = blocks.plan.sram.buffers.find((x) => x.name === `extra:zo-backup:${name}`)!;
          const trainable = mask ? mask.reduce((s, v) => s + ((v.toString(2).match(/1/g) ?? []).length), 0) : p.weights.length;
          expect(planned.bytes).toBe(b ? b.backupBytes : trainable * (bits / 8));
          if (name !== 'logits') expect(planned.bytes).toBeLessThanOrEqual(BLOCK_BACKUP_BYTES);
        }
        expect(blocks.plan.sramBytes).toBeLessThan(whole.plan.sramBytes);
      });
    }
  }
});

describe('block-wise in-place perturbation of convolutions = whole-layer backup, bit for bit', () => {
  const CONV_TRAINABLE = ['c1', 'c2', 'logits'];
  const config: QzoFfConfig = { ...BASE, sparse: { by: 'random', fraction: 0.5, seed: 2 } };
  for (const [label, batch, narrow] of [['batch 1', 1, undefined], ['batch 3, narrow panels', 3, 'narrow']] as const) {
    for (const build of ['scalar', 'simd'] as BuildFlavor[]) {
      it(`sparse 16-bit, ${label}, ${build}`, async () => {
        const bm = models(16, CONV_ARCH);
        const blocks = await train(bm, config, batch, build, false, 3, CONV_TRAINABLE, narrow);
        const whole = await train(bm, config, batch, build, true, 3, CONV_TRAINABLE, narrow);
        expect(blocks.losses).toEqual(whole.losses);
        expect(blocks.weights).toEqual(whole.weights);
        expect(blocks.biases).toEqual(whole.biases);
        const lowered = lowerGraph(bm.graph);
        let smallerOffered = 0;
        for (const [id, name] of CONV_TRAINABLE.entries()) {
          const p = bm.quantized.params[name]!;
          expect(blocks.weights[id]!.some((v, j) => v !== p.weights[j])).toBe(true);
          if (name === 'logits') continue;
          // Both convolutions run in blocks of channels, each block's backup within the budget; the least-SRAM
          // plan (narrow) gives each the smallest backup it can run with, and the trainer's blocks fit it.
          const mask = buildSparseMask(p.weights, config.sparse!, id);
          const b = planBackupBlocks(layerUnits(lowered, name), p.weights.length, 16, mask)!;
          expect(b.units).toBeLessThan(p.bias.length);
          expect(b.backupBytes).toBeLessThanOrEqual(BLOCK_BACKUP_BYTES);
          const sizes = backupSizes(layerUnits(lowered, name), p.weights.length, 16, mask, 0);
          expect(sizes[0]).toBe(b.backupBytes);
          smallerOffered += sizes.length - 1;
          expect(blocks.plan.sram.buffers.find((x) => x.name === `extra:zo-backup:${name}`)!.bytes).toBe(narrow ? sizes.at(-1) : b.backupBytes);
        }
        // c1's blocks can shrink below the default rule's (c2's mask bytes already force 8-channel blocks).
        expect(smallerOffered).toBeGreaterThan(0);
        if (narrow) expect(blocks.plan.narrowPanels.length).toBeGreaterThan(0);
        expect(blocks.plan.sramBytes).toBeLessThan(whole.plan.sramBytes);
      });
    }
  }
});
