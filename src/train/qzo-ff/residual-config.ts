// What the residual mode (8w8a with error feedback) can be combined with, checked before training
// starts, and the check that a saved state's residual fits the trainer it is restored into.
import { ConfigError, FormatError } from '../../errors.js';
import { requireResidualBits } from '../../kernels/residual-update.js';
import type { QzoFfConfig } from '../qzo-ff.js';
import type { TensorState } from './tensor.js';

export function validateResidual(config: QzoFfConfig): void {
  if (!config.residual) throw new ConfigError(`residualBits is set (${String(config.residualBits)}) but residual is off: set residual: true (CLI --residual)`);
  if (config.residualBits !== undefined) requireResidualBits(config.residualBits);
  // Each of these writes or restores the stored weights through its own path, which would leave the residual behind.
  if (config.dither) throw new ConfigError('residual and dither are two remedies for the same 8w8a problem: choose one');
  if (config.momentum) throw new ConfigError('the residual update regenerates z from the stream; momentum-guided sampling stores z: use one or the other');
  if (config.control?.guard) throw new ConfigError('the guarded step restores the weights from a copy that does not hold the residual: drop --guard/--strict-guard with --residual');
  if (config.params === 'bias') throw new ConfigError(`the residual carries weight updates, but params is 'bias' (int32 biases need none): drop residual`);
}

/** A state's residual must be there exactly when the trainer keeps one, of its width and length. */
export function checkResidualState(t: Pick<TensorState, 'layer' | 'part' | 'count' | 'residual'>, saved: Int8Array | Int16Array | null | undefined): void {
  const what = `trainer state '${t.part}:${t.layer}'`;
  if (!t.residual) {
    if (saved) throw new ConfigError(`${what} holds a residual but this trainer does not use one: resume with the residual setting it was saved with`);
    return;
  }
  if (!saved) throw new ConfigError(`${what} has no residual but this trainer keeps one: resume with the residual setting it was saved with`);
  const want = t.residual.bits === 16 ? Int16Array : Int8Array;
  if (!(saved instanceof want) || saved.length !== t.count) throw new FormatError(`${what}: the residual holds ${saved.length} ${saved.constructor.name} values, this trainer needs ${t.count} ${want.name}`);
}

/**
 * The real ε a weight tensor is perturbed by. With a residual the perturbation still moves whole int8
 * LSBs, so an ε below half an LSB (εq = 0, which plain 8w8a refuses) is raised to one LSB (εq = 1).
 * sign-m-SPSA uses only the sign of L⁺ − L⁻, so the larger ε needs no rescaling of the difference.
 */
export const perturbEpsilon = (config: Pick<QzoFfConfig, 'residual'>, epsilon: number, lsb: number): number =>
  config.residual ? Math.max(epsilon, lsb) : epsilon;
