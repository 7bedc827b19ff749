// A trainer's steps and what they leave in the session: per-step losses and every trained layer's
// weights and biases, read back through exportModel — what equivalence tests compare bit for bit.
import { expect } from 'vitest';
import type { QuantizedSession } from '../../src/runtime/session.js';
import { QzoFfTrainer, type QzoFfConfig } from '../../src/train/qzo-ff.js';

export interface TrainedState {
  losses: number[];
  weights: number[][];
  biases: number[][];
}

/** `steps` QZO-FF steps on `set`; the arena's high-water mark must equal the session's plan. */
export function trainedState(
  session: QuantizedSession, trainable: string[], config: QzoFfConfig, set: Parameters<QzoFfTrainer['trainStep']>[0], steps: number,
  internal?: ConstructorParameters<typeof QzoFfTrainer>[3],
): TrainedState {
  const trainer = new QzoFfTrainer(session, trainable, config, internal);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(trainer.trainStep(set).loss);
  expect(session.mcu.sram.highWater).toBe(session.plan.sramBytes);
  const m = session.exportModel();
  return { losses, weights: trainable.map((n) => Array.from(m.params[n]!.weights)), biases: trainable.map((n) => Array.from(m.params[n]!.bias)) };
}
