// Experiment 4 (paper Figs. 3–4): what each training method needs in SRAM and flash, per backbone,
// for full fine-tuning and the linear probe. Every mode is planned by the session planner and then
// measured: the session is built in an arena sized to the plan and its high-water mark read back
// (they must agree; the experiment fails if they do not). "Scratch" is SRAM minus the trainable
// parameters themselves: activations, kernel scratch, gradients, optimizer state, perturbation
// buffers — the paper's "scratch memory". fp16 rows plan every method in fp16 (the paper's
// same-precision comparison; sessions execute in f32, so those are planned, not measured).
import type { Architecture } from '../model/graph.js';
import { resolveGraph } from '../model/graph.js';
import type { FloatModel, QuantizedModel, WeightBits } from '../model/model.js';
import { architecturePreset } from '../model/presets.js';
import { planningModels } from '../report/memory.js';
import { BackpropSession } from '../runtime/backprop-session.js';
import { Mcu } from '../device/mcu.js';
import { QuantizedSession, type SessionPlan } from '../runtime/session.js';
import { FloatZoTrainer, floatZoSramBuffers } from '../train/float-zo.js';
import { qzoFfSramBuffers, type QzoFfConfig } from '../train/qzo-ff.js';
import { trainableLayers } from '../train/selection.js';
import { presetFor } from './backbones.js';
import { secondsSince, type ExperimentOptions } from './common.js';

export const MEMORY_MODES = ['infer16', 'qzo16', 'qzo8', 'ff32', 'bp32', 'ff16', 'bp16'] as const;
export type MemoryMode = (typeof MEMORY_MODES)[number];
export const MEMORY_LABELS: Record<MemoryMode, string> = {
  infer16: 'inference 16w8a', qzo16: 'QZO-FF 16w8a', qzo8: 'QZO-FF 8w8a', ff32: 'FF f32', bp32: 'BP f32 (Adam)', ff16: 'FF fp16 (planned)', bp16: 'BP fp16 (Adam, planned)',
};

export interface ModeMemory {
  sram: number;
  flash: number;
  /** SRAM held by the trainable parameters themselves. */
  params: number;
  scratch: number;
  total: number;
  /** Arena high-water mark after building the session (null: planned only). */
  measured: number | null;
}

export interface MemoryRow {
  backbone: string;
  input: string;
  selection: 'full' | 'head';
  batch: number;
  trainableWeights: number;
  modes: Record<MemoryMode, ModeMemory>;
  /** BP over QZO-FF 16w8a, and BP fp16 over FF fp16. */
  ratios: { sram: number; scratch: number; total: number; fp16Scratch: number };
}

export interface MemoryResult {
  experiment: 'memory';
  rows: MemoryRow[];
  paper: { model: string; bpScratchMB: number; ffScratchMB: number; ratio: number };
  seconds: number;
}

const ZO: QzoFfConfig = { epsilon: 1e-3, directions: 3, dist: 'gaussian', lr: 3e-3, seed: 0 };
const round16 = (b: number) => Math.ceil(b / 16) * 16;

function paramBytes(plan: SessionPlan): number {
  let sum = 0;
  for (const b of plan.sram.buffers) if (plan.sramCategory[b.name] === 'trainable-params') sum += b.alignedBytes;
  return sum;
}

const entry = (plan: SessionPlan, measured: number | null, extra = 0): ModeMemory => {
  const sram = plan.sramBytes + extra;
  const params = paramBytes(plan);
  return { sram, flash: plan.flashBytes, params, scratch: sram - params, total: sram + plan.flashBytes, measured };
};

async function measureQuantized(model: QuantizedModel, options: ConstructorParameters<typeof QuantizedSession>[2], plan: SessionPlan): Promise<number> {
  const mcu = await Mcu.create({ budget: { sramBytes: round16(plan.sramBytes) || 16, flashBytes: round16(plan.flashBytes) || 16 } });
  new QuantizedSession(mcu, model, options);
  return mcu.sram.highWater;
}

/** FF f32: the forward-only plan, which includes the trainer's f32 copy and int8 z (5 B per trainable weight). */
async function measureFloatZo(model: FloatModel, trainable: string[], options: ConstructorParameters<typeof BackpropSession>[2], plan: SessionPlan): Promise<number> {
  const mcu = await Mcu.create({ budget: { sramBytes: round16(plan.sramBytes), flashBytes: round16(plan.flashBytes) || 16 } });
  const session = new BackpropSession(mcu, model, options);
  new FloatZoTrainer(session, trainable, ZO);
  return mcu.sram.highWater;
}

async function measureBackprop(model: FloatModel, options: ConstructorParameters<typeof BackpropSession>[2], plan: SessionPlan): Promise<number> {
  const mcu = await Mcu.create({ budget: { sramBytes: round16(plan.sramBytes), flashBytes: round16(plan.flashBytes) || 16 } });
  new BackpropSession(mcu, model, options);
  return mcu.sram.highWater;
}

interface Backbone {
  name: string;
  input: string;
  arch: Architecture;
}

function backbones(quick: boolean): Backbone[] {
  const all: Backbone[] = [
    { name: 'mnist-cnn', input: '28×28×1', arch: presetFor('mnist-cnn', [28, 28, 1], 5) },
    { name: 'resnet8', input: '28×28×1', arch: presetFor('resnet8', [28, 28, 1], 5) },
    { name: 'resnet8', input: '32×32×3', arch: architecturePreset('resnet8') },
    { name: 'mobilenetv1-0.25', input: '96×96×3', arch: architecturePreset('mobilenetv1-0.25') },
  ];
  return quick ? all.slice(0, 1) : all;
}

export interface MemoryOptions extends ExperimentOptions {
  batches?: number[];
}

export async function runMemory(o: MemoryOptions = {}): Promise<MemoryResult> {
  const t0 = performance.now();
  const list = backbones(!!o.quick);
  const batches = o.batches ?? [1, 5];
  const total = list.length * 2 * batches.length;
  let done = 0;
  const rows: MemoryRow[] = [];
  for (const b of list) {
    const models: Record<WeightBits, ReturnType<typeof planningModels>> = { 16: planningModels(b.arch, 16), 8: planningModels(b.arch, 8) };
    const float = models[16].float;
    for (const selection of ['full', 'head'] as const) {
      const trainable = trainableLayers(resolveGraph(b.arch), { kind: selection });
      const trainableWeights = trainable.reduce((s, n) => s + float.params[n]!.weights.length, 0);
      for (const batch of batches) {
        const set = new Set(trainable);
        const infer = QuantizedSession.plan(models[16].quantized, { batch });
        const qzo = (bits: WeightBits) => {
          const model = models[bits].quantized;
          const options = { batch, trainable: set, extraSram: qzoFfSramBuffers(batch, { model, trainable, config: ZO }) };
          return { model, options, plan: QuantizedSession.plan(model, options) };
        };
        const q16 = qzo(16);
        const q8 = qzo(8);
        const bpOptions = { batch, trainable: set, optimizer: { kind: 'adam' as const, lr: 1e-3 } };
        const ffOptions = { ...bpOptions, forwardOnly: true, extraSram: floatZoSramBuffers(float, trainable) };
        const ffPlan = BackpropSession.plan(float, ffOptions);
        const bpPlan = BackpropSession.plan(float, bpOptions);
        const ff16 = BackpropSession.plan(float, { ...bpOptions, forwardOnly: true, precision: 'f16' });
        const bp16 = BackpropSession.plan(float, { ...bpOptions, precision: 'f16' });
        const modes: Record<MemoryMode, ModeMemory> = {
          infer16: entry(infer, await measureQuantized(models[16].quantized, { batch }, infer)),
          qzo16: entry(q16.plan, await measureQuantized(q16.model, q16.options, q16.plan)),
          qzo8: entry(q8.plan, await measureQuantized(q8.model, q8.options, q8.plan)),
          ff32: entry(ffPlan, null),
          bp32: entry(bpPlan, await measureBackprop(float, bpOptions, bpPlan)),
          // fp16 FF keeps an fp16 copy and int8 z: 3 B per trainable weight.
          ff16: entry(ff16, null, 3 * trainableWeights),
          bp16: entry(bp16, null),
        };
        modes.ff32.measured = await measureFloatZo(float, trainable, ffOptions, ffPlan);
        for (const m of MEMORY_MODES) {
          const x = modes[m];
          // The arena rounds every buffer to 16 B; the trainer's copy and z are two buffers per tensor.
          if (x.measured !== null && Math.abs(x.measured - x.sram) > 32 * trainable.length) {
            throw new Error(`internal: ${b.name} ${selection} batch ${batch} ${m}: planned ${x.sram} B but the arena measured ${x.measured} B`);
          }
        }
        rows.push({
          backbone: b.name, input: b.input, selection, batch, trainableWeights, modes,
          ratios: {
            sram: modes.bp32.sram / modes.qzo16.sram, scratch: modes.bp32.scratch / modes.qzo16.scratch, total: modes.bp32.total / modes.qzo16.total,
            fp16Scratch: modes.bp16.scratch / modes.ff16.scratch,
          },
        });
        o.onProgress?.(++done, total, `memory ${b.name} ${b.input} ${selection} batch ${batch}`);
      }
    }
  }
  return { experiment: 'memory', rows, paper: { model: 'ViT-tiny', bpScratchMB: 31.64, ffScratchMB: 11.43, ratio: 31.64 / 11.43 }, seconds: secondsSince(t0) };
}
