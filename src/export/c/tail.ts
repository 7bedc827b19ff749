// The hybrid's tail (the layer below the head, learned by integer backprop: src/train/hybrid-tail.ts)
// as the exported C needs it: its geometry, the tensors its gradient reads, and the constants of its
// step factors. c_w[o] = η·s_h·s_x/(P·s_w[o]·N) and c_b[o] = η·s_h/(P·s_x·s_w[o]·N) depend on N, the rows
// a step sums, which the application chooses per call (lm_train_step's n); so the device computes them
// in double with the emulator's order of operations (tailStepFactors) from constants written as exact
// hexadecimal literals, and the host checks the exported run's N here so a bad η fails before writing.
import { ConfigError } from '../../errors.js';
import type { SessionPlan } from '../../runtime/session.js';
import type { LoweredGraph } from '../../runtime/lowering.js';
import { tailStepFactors, type TailInfo } from '../../train/hybrid-tail.js';
import type { HeadInfo } from '../../train/hybrid.js';

/** The tail as hybrid-tail.ts finds it (the layer under `layer`), plus the run's constants the C needs. */
export interface ExportedTail extends Omit<TailInfo, 'name'> {
  layer: string;
  /** η in real units (HYBRID_DEFAULTS.tailLr or --tail-lr). */
  lr: number;
  /** The head's weight scale s_h (g is in head-weight units). */
  headWeightScale: number;
  /** Q15 warm-up steps, the head's. */
  warmup: number;
}

/** The plan's buffer of a tensor as the exported forward names it. */
export function tensorBufferName(lowered: LoweredGraph, name: string): string {
  const tensor = lowered.alias.get(name) ?? name;
  if (tensor === lowered.inputName) return 'io:input';
  if (tensor === lowered.outputName) return 'io:logits';
  return `act:${tensor}`;
}

/**
 * The tail for the C, or a ConfigError naming what the C cannot reproduce: a tensor the gradient reads
 * that the plan does not keep to the step's end (the forward would have overwritten it), or step
 * factors outside the 15-bit multiplier's range for the exported run's rows per step.
 */
export function exportTail(t: TailInfo, head: HeadInfo, o: { lr: number; warmup: number; rowsPerStep: number; plan: SessionPlan; lowered: LoweredGraph }): ExportedTail {
  const last = o.lowered.ops.length - 1;
  const buffers = new Map(o.plan.sram.buffers.map((b) => [b.name, b]));
  for (const [role, tensor] of [['input', t.input], ['gate', t.gate]] as const) {
    const name = tensorBufferName(o.lowered, tensor);
    const b = buffers.get(name);
    if (!b) throw new ConfigError(`the C export cannot run the hybrid tail '${t.name}': its ${role} '${tensor}' has no SRAM buffer in the plan; export with --bp-layers 1`);
    if (name !== 'io:input' && b.lastUse < last) {
      throw new ConfigError(`the C export cannot run the hybrid tail '${t.name}': the plan frees its ${role} '${tensor}' after op ${b.lastUse}, before the head (op ${last}) has written δ; export with --bp-layers 1`);
    }
  }
  if (head.weightBits !== 8 && head.weightBits !== 16) throw new ConfigError(`the C export's hybrid tail reads 8- or 16-bit head weights, '${head.name}' has ${head.weightBits}-bit ones`);
  // The trainer computes these at its first step; the exported run's N is fixed, so refuse it now.
  tailStepFactors(t, o.lr, o.rowsPerStep, head.weightScale);
  const { name, ...rest } = t;
  return { ...rest, layer: name, geometry: { ...t.geometry }, weightScales: [...t.weightScales], lr: o.lr, headWeightScale: head.weightScale, warmup: o.warmup };
}
