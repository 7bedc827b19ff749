// The paper's path: ε·z is fused into the kernels' weight packing, nothing is materialised, and the
// update regenerates z from the direction keys. Used when every trained tensor is a plain weight tensor.
import { makePerturbSpec } from '../../../kernels/perturb.js';
import type { PerturbSpec } from '../../../kernels/perturb-spec.js';
import { prepareUpdate, updateWeights, type PreparedUpdate } from '../../../kernels/update.js';
import { fillZ, ONE_Q, streamKey } from '../../../kernels/rng.js';
import { perturbEpsilon } from '../residual-config.js';
import type { DeviceBuffer } from '../../../device/arena.js';
import type { BatchLoss, LayerState, TensorState, TrainerParts, UpdateFactor } from '../tensor.js';

/** Fused perturbation specs for both signs, set up before the + forward (profiled as 'rng'). */
export function fusedDirectionLoss(
  parts: TrainerParts, loss: BatchLoss, time: <T>(label: string, kind: string, f: () => T) => T, seed: number, slot: number,
): (sign: 1 | -1) => number {
  const { config } = parts;
  const device = parts.session.mcu.device;
  // z buffers: this direction's z, drawn once here for both passes (and the update where it can read it).
  if (parts.layers.some((l) => l.zbuf)) {
    time('z buffer fill', 'rng', () => {
      for (const l of parts.layers) {
        if (l.zbuf) fillZ(parts.session.mcu.sram, directionZ(parts, l.zbuf, l.count, slot), l.count, { key: streamKey(device, seed, l.tensorId), start: 0, dist: config.dist, oneQ: ONE_Q });
      }
    });
  }
  const keys: number[] = [];
  const plus = time('rng+perturb setup', 'rng', () => directionSpecs(parts, seed, slot, 1, keys));
  const minus = time('rng+perturb setup', 'rng', () => directionSpecs(parts, seed, slot, -1, keys));
  return (sign) => {
    const map = sign === 1 ? plus : minus;
    return loss((name) => map.get(name));
  };
}

/**
 * Every layer's spec for one sign of direction `seed`: its run-constant spec with the direction's stream
 * key (computed by the first sign into `keys`, reused by the second) and the sign on εq.
 */
function directionSpecs(parts: TrainerParts, seed: number, slot: number, sign: 1 | -1, keys: number[]): Map<string, PerturbSpec> {
  const device = parts.session.mcu.device;
  const map = new Map<string, PerturbSpec>();
  const specs = fusedLayerSpecs(parts);
  for (let i = 0; i < specs.length; i++) {
    const { layer: l, spec } = specs[i]!;
    const key = (keys[i] ??= streamKey(device, seed, l.tensorId));
    const at: PerturbSpec = { key, start: spec.start, dist: spec.dist, signedEps: sign * spec.signedEps, oneQ: spec.oneQ, multiplier: spec.multiplier, shift: spec.shift };
    if (l.zbuf) {
      const z = directionZ(parts, l.zbuf, l.count, slot);
      at.z = { offset: z.offset, bytes: z.bytes };
    }
    map.set(l.name, at);
  }
  return map;
}

/**
 * Each layer's spec at sign +1, derived and validated (εq, 1q, the 1/1q multiplier) once per trainer
 * on its first step: none of it depends on the direction, and the overflow bound is symmetric in the
 * sign, so the spec at −1 is valid too. Its key is a placeholder that every direction replaces.
 */
const layerSpecs = new WeakMap<TrainerParts, { layer: LayerState; spec: PerturbSpec }[]>();

function fusedLayerSpecs(parts: TrainerParts): { layer: LayerState; spec: PerturbSpec }[] {
  let specs = layerSpecs.get(parts);
  if (!specs) {
    const { config } = parts;
    const device = parts.session.mcu.device;
    specs = parts.layers.map((l) => ({
      layer: l,
      spec: makePerturbSpec({ seed: 0, tensorId: l.tensorId, epsilon: perturbEpsilon(config, config.epsilon * l.scale, l.weightScale), weightScale: l.weightScale, dist: config.dist, sign: 1, weightBits: l.bits }, device),
    }));
    layerSpecs.set(parts, specs);
  }
  return specs;
}

/** Integer update of a weight tensor whose z is regenerated from the keys (sparse: masked). */
export function fusedUpdate(parts: TrainerParts, t: TensorState, keys: number[], signs: readonly number[], factor: UpdateFactor): () => void {
  const arena = parts.session.mcu.sram;
  const prepared = preparedUpdate(parts, t, factor);
  // The update reads z where the buffer still holds every direction of the step: all m with
  // zBuffer 'step', and at m = 1 the one buffer.
  const m = parts.config.directions;
  const zbuf = t.zbuf;
  const z = zbuf && (m === 1 || parts.config.zBuffer === 'step') ? Array.from({ length: m }, (_, j) => directionZ(parts, zbuf, t.count, j)) : null;
  return () => updateWeights(arena, prepared, t.stored, t.count, t.bits as 8 | 16, { keys, signs, mask: t.mask, z });
}

/** A tensor's prepared update, kept while its factor stays the same (a constant rate: the whole run). */
const preparedUpdates = new WeakMap<TensorState, PreparedUpdate>();

function preparedUpdate(parts: TrainerParts, t: TensorState, factor: UpdateFactor): PreparedUpdate {
  const kept = preparedUpdates.get(t);
  if (kept && kept.multiplier === factor.multiplier && kept.shift === factor.shift) return kept;
  const staging = { keys: parts.keysBuf, signs: parts.signsBuf };
  const prepared = prepareUpdate(parts.session.mcu.sram, { directions: parts.config.directions, dist: parts.config.dist, multiplier: factor.multiplier, shift: factor.shift }, `update:${t.layer}`, staging);
  preparedUpdates.set(t, prepared);
  return prepared;
}

/** Direction `slot`'s part of a z buffer: the whole buffer unless it holds every direction ('step'). */
function directionZ(parts: TrainerParts, zbuf: DeviceBuffer, count: number, slot: number): DeviceBuffer {
  if (parts.config.zBuffer !== 'step') return zbuf;
  return { name: `${zbuf.name}#${slot}`, offset: zbuf.offset + slot * count, bytes: count };
}
