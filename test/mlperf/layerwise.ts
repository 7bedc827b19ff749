// Layer-by-layer comparison with Arm NN CpuRef on whole-model inputs. Arm NN runs the model once
// with every layer's output bound as a graph output (writer option extraOutputs); we run, for each
// layer, (a) our model cut after that layer on the same model inputs ("carried": differences
// carried from earlier layers included) and (b) that layer alone on the very int8 tensors Arm NN fed
// its own copy of the layer ("same inputs": only this layer's arithmetic can differ).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mcu } from '../../src/device/mcu.js';
import { addI8, prepareAdd } from '../../src/kernels/eltwise.js';
import { resolveGraph } from '../../src/model/graph.js';
import type { QuantizedModel } from '../../src/model/model.js';
import { lowerGraph, type LoweredOp } from '../../src/runtime/lowering.js';
import { createInt8Runner, outputStage } from '../../src/runtime/int8-run.js';
import { softmaxI8 } from '../../src/kernels/softmax.js';
import { activationClamp } from '../../src/ops/shape.js';
import { writeTflite } from '../../src/tflite/writer.js';
import { compare, type Agreement } from './armnn.js';

const SCRIPT = fileURLToPath(new URL('./armnn_layers.py', import.meta.url));

/** Arm NN CpuRef on `model` with all graph outputs bound: one Int8Array per output, samples back to back. */
export function armnnAllOutputs(model: Uint8Array, inputs: Int8Array, outputs: number): Int8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'lastmile-armnn-layers-'));
  try {
    writeFileSync(join(dir, 'm.tflite'), model);
    writeFileSync(join(dir, 'in.bin'), inputs);
    execFileSync('/usr/bin/python3', [SCRIPT, join(dir, 'm.tflite'), join(dir, 'in.bin'), join(dir, 'out')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return Array.from({ length: outputs }, (_, k) => {
      const b = readFileSync(join(dir, `out.${k}.bin`));
      return new Int8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The model without its final softmax. */
export const withoutSoftmax = (m: QuantizedModel): QuantizedModel => ({ ...m, meta: { ...m.meta, tflite: { ...(m.meta.tflite as object), softmax: undefined } } });

/** The model cut after node `last`: `last` and the nodes it depends on (architecture order), no softmax. */
export function prefixModel(m: QuantizedModel, last: string): QuantizedModel {
  const nodes = m.architecture.nodes;
  const end = nodes.findIndex((n) => n.name === last);
  const needed = new Set([last]);
  for (let i = end; i >= 0; i--) {
    const n = nodes[i]!;
    if (!needed.has(n.name)) continue;
    for (const input of n.inputs ?? (i > 0 ? [nodes[i - 1]!.name] : [])) needed.add(input);
  }
  // Keep inputs explicit: dropping a node must not change which node the next one reads.
  const kept = nodes.flatMap((n, i) => (needed.has(n.name) ? [i > 0 && !n.inputs ? { ...n, inputs: [nodes[i - 1]!.name] } : n] : []));
  return withoutSoftmax({
    ...m,
    architecture: { ...m.architecture, nodes: kept },
    params: Object.fromEntries(Object.entries(m.params).filter(([k]) => needed.has(k))),
    activations: Object.fromEntries(Object.entries(m.activations).filter(([k]) => needed.has(k))),
  });
}

/** One lowered op alone, reading tensor `input` (single-input ops). */
function singleOpModel(m: QuantizedModel, op: LoweredOp, inShape: number[]): QuantizedModel {
  const node = { ...op.node.node, inputs: ['input'] };
  const name = op.node.node.name;
  return {
    kind: 'quantized', architecture: { name, nodes: [{ kind: 'input', name: 'input', shape: inShape }, node] },
    params: m.params[name] ? { [name]: m.params[name]! } : {},
    activations: { input: m.activations[op.inputs[0]!]!, [name]: m.activations[op.output]! }, meta: {},
  };
}

export interface LayerRow {
  layer: string;
  kind: string;
  /** Our model cut after this layer vs Arm NN's tensor, same model inputs. */
  carried: Agreement;
  /** This layer alone on Arm NN's own input tensor(s) vs Arm NN's output. */
  same: Agreement;
}

/**
 * Every lowered op of `model` (the head included, softmax excluded; the softmax is compared by
 * the caller) on `samples` model inputs `x`. Arm NN's tensors for the op outputs come back too.
 */
export async function layerwise(model: QuantizedModel, x: Int8Array, samples: number): Promise<{ rows: LayerRow[]; armnn: Map<string, Int8Array> }> {
  const base = withoutSoftmax(model);
  const graph = resolveGraph(base.architecture);
  const lowered = lowerGraph(graph);
  const shapeOf = new Map(graph.nodes.map((n) => [n.node.name, n.outShape]));
  const size = (t: string) => shapeOf.get(t)!.reduce((a, b) => a * b, 1);
  const outputs = lowered.ops.map((o) => o.output);
  // With a softmax, the graph output (output 0) is the softmax's and every op's tensor follows;
  // without one, the last op's tensor is output 0 and the others follow.
  const stage = outputStage(model).softmax;
  const extra = stage ? outputs : outputs.slice(0, -1);
  const refs = armnnAllOutputs(writeTflite(model, { extraOutputs: extra }), x, extra.length + 1);
  const armnn = new Map<string, Int8Array>([[lowered.inputName, x]]);
  if (!stage) armnn.set(outputs[outputs.length - 1]!, refs[0]!);
  extra.forEach((t, k) => armnn.set(t, refs[k + 1]!));
  const rows: LayerRow[] = [];
  for (const op of lowered.ops) {
    const out = op.output;
    const ref = armnn.get(out)!;
    // `out` is the op's last architecture node (its fused activation node, if it has one).
    const carried = compare((await createInt8Runner(prefixModel(base, out))).run(x), ref, size(out));
    let same: Agreement;
    if (op.inputs.length === 1) {
      const alone = await createInt8Runner(singleOpModel(base, op, shapeOf.get(op.inputs[0]!)!));
      same = compare(alone.run(armnn.get(op.inputs[0]!)!), ref, size(out));
    } else {
      same = compare(await addAlone(base, op, armnn.get(op.inputs[0]!)!, armnn.get(op.inputs[1]!)!), ref, size(out));
    }
    rows.push({ layer: out, kind: op.node.node.kind, carried, same });
  }
  if (stage) {
    const head = armnn.get(outputs[outputs.length - 1]!)!;
    const classes = head.length / samples;
    const mcu = await Mcu.create({ budget: { sramBytes: Math.ceil(head.length / 16) * 16, flashBytes: 16 } });
    const buf = mcu.sram.put(head, 'logits');
    softmaxI8(mcu.sram, buf, buf, samples, classes, stage);
    const alone = mcu.sram.i8(buf).slice();
    const full = (await createInt8Runner(model)).run(x);
    rows.push({ layer: 'softmax', kind: 'softmax', carried: compare(full, refs[0]!, classes), same: compare(alone, refs[0]!, classes) });
    armnn.set('softmax', refs[0]!);
  }
  return { rows, armnn };
}

/** Our device's int8 ADD (the kernel QuantizedSession runs) on two given tensors. */
async function addAlone(m: QuantizedModel, op: LoweredOp, a: Int8Array, b: Int8Array): Promise<Int8Array> {
  const [qa, qb] = op.inputs.map((t) => m.activations[t]!);
  const qo = m.activations[op.output]!;
  const prepared = prepareAdd({ scaleA: qa!.scale, zeroPointA: qa!.zeroPoint, scaleB: qb!.scale, zeroPointB: qb!.zeroPoint, scaleOut: qo.scale, zeroPointOut: qo.zeroPoint, ...activationClamp(op.activation, qo.scale, qo.zeroPoint) });
  const bytes = Math.ceil(a.length / 16) * 16;
  const mcu = await Mcu.create({ budget: { sramBytes: 3 * bytes, flashBytes: 16 } });
  const ba = mcu.sram.put(a, 'a');
  const bb = mcu.sram.put(b, 'b');
  const out = mcu.sram.alloc(a.length, 'out');
  addI8(mcu.sram, ba, bb, out, a.length, prepared);
  return mcu.sram.i8(out).slice();
}
