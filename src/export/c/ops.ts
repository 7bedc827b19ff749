// The C emitter of each operator, looked up by node kind in the operator registry (OpDef.c, one
// file per operator in src/ops/<kind>/c.ts); a kind without one cannot be exported.
import { OPS } from '../../ops/registry.js';
import type { COpEmitter } from '../../ops/c-emit.js';
import type { NodeKind } from '../../model/layers.js';

export function cEmitter(kind: NodeKind): COpEmitter | undefined {
  return Object.hasOwn(OPS, kind) ? OPS[kind]?.c : undefined;
}

/** Kinds that run as C kernels (flatten and fused activations need none: they are lowered away). */
export const C_KINDS: readonly string[] = Object.keys(OPS).filter((k) => cEmitter(k as NodeKind));
