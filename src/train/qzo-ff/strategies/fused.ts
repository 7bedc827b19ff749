// The paper's path: ε·z is fused into the kernels' weight packing, nothing is materialised, and the
// update regenerates z from the direction keys. Used when every trained tensor is a plain weight tensor.
import { makePerturbSpec } from '../../../kernels/perturb.js';
import type { PerturbSpec } from '../../../kernels/perturb-spec.js';
import { prepareUpdate, updateWeights } from '../../../kernels/update.js';
import { fillZ, ONE_Q, streamKey } from '../../../kernels/rng.js';
import { perturbEpsilon } from '../residual-config.js';
import type { DeviceBuffer } from '../../../device/arena.js';
import type { BatchLoss, TensorState, TrainerParts, UpdateFactor } from '../tensor.js';

/** Fused perturbation specs for both signs, set up before the + forward (profiled as 'rng'). */
export function fusedDirectionLoss(
  parts: TrainerParts, loss: BatchLoss, time: <T>(label: string, kind: string, f: () => T) => T, seed: number, slot: number,
): (sign: 1 | -1) => number {
  const { config } = parts;
  const device = parts.session.mcu.device;
  const specs = (sign: 1 | -1) => {
    const map = new Map<string, PerturbSpec>();
    for (const l of parts.layers) {
      const spec = makePerturbSpec({ seed, tensorId: l.tensorId, epsilon: perturbEpsilon(config, config.epsilon * l.scale, l.weightScale), weightScale: l.weightScale, dist: config.dist, sign, weightBits: l.bits }, device);
      const z = l.zbuf ? directionZ(parts, l.zbuf, l.count, slot) : null;
      map.set(l.name, z ? { ...spec, z: { offset: z.offset, bytes: z.bytes } } : spec);
    }
    return map;
  };
  // z buffers: this direction's z, drawn once here for both passes (and the update where it can read it).
  if (parts.layers.some((l) => l.zbuf)) {
    time('z buffer fill', 'rng', () => {
      for (const l of parts.layers) {
        if (l.zbuf) fillZ(parts.session.mcu.sram, directionZ(parts, l.zbuf, l.count, slot), l.count, { key: streamKey(device, seed, l.tensorId), start: 0, dist: config.dist, oneQ: ONE_Q });
      }
    });
  }
  const plus = time('rng+perturb setup', 'rng', () => specs(1));
  const minus = time('rng+perturb setup', 'rng', () => specs(-1));
  return (sign) => {
    const map = sign === 1 ? plus : minus;
    return loss((name) => map.get(name));
  };
}

/** Integer update of a weight tensor whose z is regenerated from the keys (sparse: masked). */
export function fusedUpdate(parts: TrainerParts, t: TensorState, keys: number[], signs: readonly number[], factor: UpdateFactor): () => void {
  const arena = parts.session.mcu.sram;
  const staging = { keys: parts.keysBuf, signs: parts.signsBuf };
  const prepared = prepareUpdate(arena, { directions: parts.config.directions, dist: parts.config.dist, multiplier: factor.multiplier, shift: factor.shift }, `update:${t.layer}`, staging);
  // The update reads z where the buffer still holds every direction of the step: all m with
  // zBuffer 'step', and at m = 1 the one buffer.
  const m = parts.config.directions;
  const zbuf = t.zbuf;
  const z = zbuf && (m === 1 || parts.config.zBuffer === 'step') ? Array.from({ length: m }, (_, j) => directionZ(parts, zbuf, t.count, j)) : null;
  return () => updateWeights(arena, prepared, t.stored, t.count, t.bits as 8 | 16, { keys, signs, mask: t.mask, z });
}

/** Direction `slot`'s part of a z buffer: the whole buffer unless it holds every direction ('step'). */
function directionZ(parts: TrainerParts, zbuf: DeviceBuffer, count: number, slot: number): DeviceBuffer {
  if (parts.config.zBuffer !== 'step') return zbuf;
  return { name: `${zbuf.name}#${slot}`, offset: zbuf.offset + slot * count, bytes: count };
}
