// Real scale -> (int32 multiplier, shift), exactly as TFLM's QuantizeMultiplier:
// frexp the scale into q·2^shift with q in [0.5, 1), round q·2^31, renormalise on overflow,
// and flush shifts below -31 to zero.
import { ConfigError } from '../errors.js';

export interface QuantizedMultiplier {
  multiplier: number;
  shift: number;
}

/** C frexp: x = m · 2^e with |m| in [0.5, 1). */
export function frexp(x: number): [number, number] {
  if (x === 0 || !Number.isFinite(x)) return [x, 0];
  const abs = Math.abs(x);
  let e = Math.max(-1073, Math.floor(Math.log2(abs)) + 1);
  let m = abs * 2 ** -e;
  // log2 can be off by one near powers of two; fix up so m is in [0.5, 1).
  while (m < 0.5) {
    m *= 2;
    e -= 1;
  }
  while (m >= 1) {
    m /= 2;
    e += 1;
  }
  return [x < 0 ? -m : m, e];
}

export function quantizeMultiplier(realMultiplier: number): QuantizedMultiplier {
  if (!Number.isFinite(realMultiplier)) throw new ConfigError(`quantizeMultiplier: scale must be finite, got ${realMultiplier}`);
  if (realMultiplier === 0) return { multiplier: 0, shift: 0 };
  const [q, e] = frexp(realMultiplier);
  let shift = e;
  // TFLM uses TfLiteRound (round half away from zero) on q * 2^31.
  let qFixed = Math.sign(q) * Math.round(Math.abs(q) * 2 ** 31);
  if (Math.abs(qFixed) === 2 ** 31) {
    qFixed /= 2;
    shift += 1;
  }
  if (shift < -31) {
    shift = 0;
    qFixed = 0;
  }
  // TFLM clamps shift at 30 (a larger shift would overflow the left shift of the accumulator).
  if (shift > 30) {
    shift = 30;
    qFixed = (2 ** 31) - 1;
  }
  return { multiplier: qFixed, shift };
}
