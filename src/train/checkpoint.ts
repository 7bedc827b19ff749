// Training checkpoints: the encoding (pure, browser-safe) and the save/prune/resume policy over any
// store that can write a named blob atomically. File I/O lives in checkpoint-store.ts.
//
//   offset 0   "LMCK"            magic
//          4   u16 version       (1)
//          6   u16 reserved      (0)
//          8   u32 payloadBytes  length of the payload
//         12   payload           an LMDL container (src/model/container.ts): JSON header with the run's
//                                configuration, step, data-order cursor and RNG state; tensors for the
//                                trained values, momentum histories, the epoch's permutation, losses
//   last 4     u32 CRC-32 of every byte before it
//
// The file's length must be exactly 16 + payloadBytes, so a truncated or extended file fails before
// the payload is parsed; the payload has its own CRC and the same bounded reader as a model file.
import { ConfigError, FormatError } from '../errors.js';
import { crc32, decodeContainer, encodeContainer, type NamedTensor } from '../model/container.js';
import type { TrainedTensorState, TrainerState } from './qzo-ff.js';
import { checkHasMethods, describe, isObject } from '../util/guards.js';

export const CHECKPOINT_MAGIC = 'LMCK';
export const CHECKPOINT_VERSION = 1;
const CHECKPOINT_KIND = 'lastmile-checkpoint';
/** A checkpoint holds trainable tensors of an MCU-sized model: 256 MiB is far beyond any real one. */
export const MAX_CHECKPOINT_BYTES = 256 << 20;
const MAX_TRAINED_TENSORS = 4096;

/** Every setting that changes the numbers a run produces; resuming requires it to be identical. */
export type RunConfig = Record<string, unknown>;

/**
 * A method's own state beyond the trained tensors (e.g. the hybrid head's first-step statistics):
 * named finite numbers and named int32 vectors, stored as they are.
 */
export interface MethodState {
  scalars: Record<string, number>;
  tensors: Record<string, Int32Array>;
}

export interface Checkpoint {
  run: RunConfig;
  trainer: TrainerState & { method?: MethodState };
  /** Per-step mean losses so far (reporting), so a resumed run reports what an uninterrupted one would. */
  losses: Float64Array;
}

export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  if (!isObject(c) || !ArrayBuffer.isView(c.losses) || !isObject(c.trainer) || !Array.isArray(c.trainer.tensors)) throw new ConfigError(`encodeCheckpoint takes a Checkpoint { trainer, losses, ... } (as adapt's onCheckpoint gives), got ${describe(c)}`);
  if (c.losses.length !== c.trainer.step) throw new ConfigError(`checkpoint: ${c.losses.length} losses recorded for ${c.trainer.step} steps`);
  const tensors: NamedTensor[] = [];
  for (const t of c.trainer.tensors) {
    tensors.push({ name: `value:${t.part}:${t.layer}`, shape: [t.values.length], data: t.values });
    if (t.history) tensors.push({ name: `history:${t.part}:${t.layer}`, shape: [t.history.length], data: t.history });
    if (t.residual) tensors.push({ name: `residual:${t.part}:${t.layer}`, shape: [t.residual.length], data: t.residual });
  }
  const ms = c.trainer.method;
  for (const [name, data] of Object.entries(ms?.tensors ?? {})) tensors.push({ name: `method:${name}`, shape: [data.length], data });
  tensors.push({ name: 'order', shape: [c.trainer.batchOrder.order.length], data: Int32Array.from(c.trainer.batchOrder.order) });
  tensors.push({ name: 'losses', shape: [c.losses.byteLength], data: new Uint8Array(c.losses.buffer, c.losses.byteOffset, c.losses.byteLength) });
  const payload = encodeContainer({
    header: {
      kind: CHECKPOINT_KIND, step: c.trainer.step, run: c.run,
      batchOrder: { rng: c.trainer.batchOrder.rng, cursor: c.trainer.batchOrder.cursor },
      // `residual` only when kept (8w8a with a residual), so other checkpoints keep their header.
      trained: c.trainer.tensors.map((t) => ({ layer: t.layer, part: t.part, history: t.history !== null, ...(t.residual ? { residual: true } : {}) })),
      ...(c.trainer.control ? { control: { spread: c.trainer.control.spread } } : {}),
      ...(ms ? { method: { scalars: ms.scalars, tensors: Object.keys(ms.tensors) } } : {}),
    },
    tensors,
  });
  const out = new Uint8Array(16 + payload.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  view.setUint16(4, CHECKPOINT_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, payload.length, true);
  out.set(payload, 12);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** Decode and check a checkpoint; anything truncated, corrupt or inconsistent is a FormatError naming `what`. */
export function decodeCheckpoint(bytes: Uint8Array, what = 'checkpoint'): Checkpoint {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(`${what}: expected bytes`);
  if (bytes.length > MAX_CHECKPOINT_BYTES) throw new FormatError(`${what}: ${bytes.length} B is larger than the ${MAX_CHECKPOINT_BYTES} B limit for a checkpoint`);
  if (bytes.length < 16) throw new FormatError(`${what}: ${bytes.length} B is too short to be a lastmile checkpoint (truncated?)`);
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  if (magic !== CHECKPOINT_MAGIC) throw new FormatError(`${what}: not a lastmile checkpoint (magic '${printable(magic)}', expected '${CHECKPOINT_MAGIC}')`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== CHECKPOINT_VERSION) throw new FormatError(`${what}: checkpoint version ${version} is not supported (this build reads version ${CHECKPOINT_VERSION}); resume with the lastmile that wrote it`);
  const payloadBytes = view.getUint32(8, true);
  if (16 + payloadBytes !== bytes.length) throw new FormatError(`${what}: declares a ${payloadBytes} B payload but the file is ${bytes.length} B (truncated or extended)`);
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) throw new FormatError(`${what}: checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)}): the file is corrupt`);
  const { header, tensors } = decodeContainer(bytes.subarray(12, 12 + payloadBytes), `${what} payload`);
  if (header.kind !== CHECKPOINT_KIND) throw new FormatError(`${what}: payload kind '${String(header.kind)}' is not '${CHECKPOINT_KIND}'`);
  const step = header.step;
  if (!Number.isSafeInteger(step) || (step as number) < 0) throw new FormatError(`${what}: step ${JSON.stringify(step)} is not a non-negative integer`);
  const run = header.run;
  if (!run || typeof run !== 'object' || Array.isArray(run)) throw new FormatError(`${what}: the run configuration is missing`);
  const order = header.batchOrder as { rng?: unknown; cursor?: unknown } | undefined;
  if (!order || typeof order !== 'object' || !isU32(order.rng) || !Number.isSafeInteger(order.cursor)) throw new FormatError(`${what}: data-order state (RNG, cursor) is missing or invalid`);
  const trained = header.trained;
  if (!Array.isArray(trained) || trained.length === 0 || trained.length > MAX_TRAINED_TENSORS) throw new FormatError(`${what}: the list of trained tensors is missing or invalid`);
  const byName = new Map(tensors.map((t) => [t.name, t.data]));
  if (byName.size !== tensors.length) throw new FormatError(`${what}: a tensor name appears twice`);
  const states: TrainedTensorState[] = trained.map((raw, i) => {
    const e = raw as { layer?: unknown; part?: unknown; history?: unknown; residual?: unknown };
    if (typeof e.layer !== 'string' || (e.part !== 'w' && e.part !== 'b') || typeof e.history !== 'boolean') throw new FormatError(`${what}: trained tensor #${i} is described wrongly`);
    const values = byName.get(`value:${e.part}:${e.layer}`);
    if (!(values instanceof Int8Array || values instanceof Int16Array || values instanceof Int32Array)) {
      throw new FormatError(`${what}: the values of '${e.part}:${e.layer}' are missing or not int8/int16/int32`);
    }
    if ((e.part === 'b') !== values instanceof Int32Array) throw new FormatError(`${what}: '${e.part}:${e.layer}' has the wrong element type`);
    let history: Int8Array | null = null;
    if (e.history) {
      const h = byName.get(`history:${e.part}:${e.layer}`);
      if (!(h instanceof Int8Array) || h.length !== values.length) throw new FormatError(`${what}: the momentum history of '${e.part}:${e.layer}' is missing or the wrong size`);
      history = h;
    }
    if (e.residual !== undefined && e.residual !== true) throw new FormatError(`${what}: trained tensor #${i} is described wrongly`);
    const residual = e.residual ? byName.get(`residual:${e.part}:${e.layer}`) : undefined;
    if (e.residual && (!(residual instanceof Int8Array || residual instanceof Int16Array) || residual.length !== values.length)) throw new FormatError(`${what}: the residual of '${e.part}:${e.layer}' is missing or the wrong size`);
    return { layer: e.layer, part: e.part, values, history, ...(residual ? { residual: residual as Int8Array | Int16Array } : {}) };
  });
  const control = header.control as { spread?: unknown } | undefined;
  if (control !== undefined && (!control || typeof control !== 'object' || !Number.isSafeInteger(control.spread) || (control.spread as number) < 0)) {
    throw new FormatError(`${what}: the step-control state (running loss spread) is invalid`);
  }
  const method = decodeMethodState(header.method, byName, what);
  const permutation = byName.get('order');
  if (!(permutation instanceof Int32Array)) throw new FormatError(`${what}: the data order is missing`);
  const lossBytes = byName.get('losses');
  if (!(lossBytes instanceof Uint8Array) || lossBytes.length !== (step as number) * 8) throw new FormatError(`${what}: expected ${(step as number) * 8} B of losses for ${step} steps`);
  const losses = new Float64Array(lossBytes.buffer.slice(lossBytes.byteOffset, lossBytes.byteOffset + lossBytes.byteLength));
  return {
    run: run as RunConfig,
    trainer: { step: step as number, batchOrder: { rng: order.rng as number, cursor: order.cursor as number, order: Array.from(permutation) }, tensors: states, ...(control ? { control: { spread: control.spread as number } } : {}), ...(method ? { method } : {}) },
    losses,
  };
}

function decodeMethodState(raw: unknown, byName: Map<string, unknown>, what: string): MethodState | undefined {
  if (raw === undefined) return undefined;
  const r = raw as { scalars?: unknown; tensors?: unknown };
  if (!r || typeof r !== 'object' || !r.scalars || typeof r.scalars !== 'object' || Array.isArray(r.scalars) || !Array.isArray(r.tensors) || r.tensors.length > MAX_TRAINED_TENSORS) {
    throw new FormatError(`${what}: the method's state is invalid`);
  }
  const scalars: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.scalars as Record<string, unknown>)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new FormatError(`${what}: the method's state '${k}' is not a finite number`);
    scalars[k] = v;
  }
  const tensors: Record<string, Int32Array> = {};
  for (const k of r.tensors) {
    const t = typeof k === 'string' ? byName.get(`method:${k}`) : undefined;
    if (!(t instanceof Int32Array)) throw new FormatError(`${what}: the method's state tensor '${String(k)}' is missing or not int32`);
    tensors[k as string] = t;
  }
  return { scalars, tensors };
}

/** Top-level keys whose values differ between two run configurations (compared as canonical JSON). */
export function differingKeys(stored: RunConfig, requested: RunConfig): string[] {
  const keys = [...new Set([...Object.keys(stored), ...Object.keys(requested)])].sort();
  return keys.filter((k) => canonicalJson(stored[k]) !== canonicalJson(requested[k]));
}

/** JSON with object keys sorted, so two equal configurations serialise identically. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What a CheckpointStore must implement, checked at the public entry points. */
const STORE_METHODS = ['save', 'list', 'read', 'remove'] as const;

/**
 * Where checkpoints live. save() must be atomic: after a crash at any moment, the name holds either
 * its previous contents (or nothing) or the new bytes in full, never a mix.
 */
export interface CheckpointStore {
  /** Human-readable location for messages (a directory, a database name). */
  readonly location: string;
  save(name: string, bytes: Uint8Array): Promise<void>;
  /** Names of stored checkpoints (any order). */
  list(): Promise<string[]>;
  read(name: string): Promise<Uint8Array>;
  remove(name: string): Promise<void>;
  /**
   * Optional exclusive use for one run: true if this call took it (the caller then calls unlock),
   * false if this store already held it; throws if another run holds it.
   */
  lock?(): boolean;
  unlock?(): void;
}

const NAME = /^ckpt-(\d{1,15})\.lmck$/;
export const checkpointName = (step: number): string => `ckpt-${step}.lmck`;
export const checkpointStep = (name: string): number | null => {
  const m = NAME.exec(name);
  return m ? Number(m[1]) : null;
};

/** Stored checkpoint names, newest (highest step) first. */
export async function listCheckpoints(store: CheckpointStore): Promise<string[]> {
  const named = (await store.list()).map((name) => ({ name, step: checkpointStep(name) })).filter((c): c is { name: string; step: number } => c.step !== null);
  return named.sort((a, b) => b.step - a.step).map((c) => c.name);
}

export interface SkippedCheckpoint {
  name: string;
  reason: string;
}

/** Read and check one stored checkpoint; its name must agree with the step inside. */
export async function readCheckpoint(store: CheckpointStore, name: string): Promise<Checkpoint> {
  const c = decodeCheckpoint(await store.read(name), `${store.location}/${name}`);
  if (checkpointStep(name) !== c.trainer.step) throw new FormatError(`${store.location}/${name}: holds step ${c.trainer.step}, not the step its name says (renamed file?)`);
  return c;
}

/** The newest checkpoint that decodes, and every newer one that did not (with the reason). */
export async function loadNewestCheckpoint(store: CheckpointStore): Promise<{ checkpoint: Checkpoint | null; name: string | null; skipped: SkippedCheckpoint[] }> {
  checkHasMethods(store, STORE_METHODS, 'loadNewestCheckpoint: store', 'a CheckpointStore { save, list, read, remove }');
  const skipped: SkippedCheckpoint[] = [];
  for (const name of await listCheckpoints(store)) {
    try {
      return { checkpoint: await readCheckpoint(store, name), name, skipped };
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      skipped.push({ name, reason: e.message });
    }
  }
  return { checkpoint: null, name: null, skipped };
}

/**
 * Save a checkpoint, then prune: keep the newest `keep` good checkpoints and delete older ones. The
 * new file is durable before anything is deleted, so at every moment at least one good one exists.
 */
export async function saveCheckpoint(store: CheckpointStore, c: Checkpoint, keep = 2): Promise<string> {
  checkHasMethods(store, STORE_METHODS, 'saveCheckpoint: store', 'a CheckpointStore { save, list, read, remove }');
  if (!Number.isInteger(keep) || keep < 1) throw new ConfigError(`checkpoints to keep must be an integer ≥ 1, got ${keep}`);
  const name = checkpointName(c.trainer.step);
  await store.save(name, encodeCheckpoint(c));
  let good = 0;
  for (const other of await listCheckpoints(store)) {
    if (good >= keep) {
      await store.remove(other);
      continue;
    }
    if (other === name) {
      good++;
      continue;
    }
    try {
      await readCheckpoint(store, other);
      // Only older checkpoints count towards `keep`; a newer one left by an earlier, longer attempt is
      // about to be overwritten when this run reaches its step, and is kept until then.
      if ((checkpointStep(other) ?? 0) < c.trainer.step) good++;
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      // An unreadable file older than a good one can never be resumed from: drop it.
      if (good > 0) await store.remove(other);
    }
  }
  return name;
}

const isU32 = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
