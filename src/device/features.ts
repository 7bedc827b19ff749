// Engine feature detection with tiny probe modules, so a build is chosen before it is fetched.
import { ConfigError } from '../errors.js';
import { describe, isObject } from '../util/guards.js';

export type BuildFlavor = 'scalar' | 'simd' | 'relaxed';
export const BUILD_FLAVORS: readonly BuildFlavor[] = ['scalar', 'simd', 'relaxed'];

// (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15,
  253, 98, 11,
]);
// (func (result v128) i32.const 1 i8x16.splat i32.const 2 i8x16.splat i8x16.relaxed_swizzle)
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253,
  15, 65, 2, 253, 15, 253, 128, 2, 11,
]);

export interface EngineFeatures {
  simd: boolean;
  relaxedSimd: boolean;
}

export function detectFeatures(): EngineFeatures {
  return {
    simd: WebAssembly.validate(SIMD_PROBE),
    relaxedSimd: WebAssembly.validate(RELAXED_PROBE),
  };
}

/** The fastest build this engine runs: relaxed, then simd, then scalar. */
export function bestBuild(features: EngineFeatures = detectFeatures()): BuildFlavor {
  if (!isObject(features) || typeof features.simd !== 'boolean' || typeof features.relaxedSimd !== 'boolean') throw new ConfigError(`bestBuild takes engine features { simd, relaxedSimd } (from detectFeatures), got ${describe(features)}`);
  if (features.simd && features.relaxedSimd) return 'relaxed';
  if (features.simd) return 'simd';
  return 'scalar';
}

export function supportsBuild(build: BuildFlavor, features: EngineFeatures = detectFeatures()): boolean {
  if (build === 'scalar') return true;
  if (build === 'simd') return features.simd;
  return features.simd && features.relaxedSimd;
}
