// Writes the C sources of an export: the model (constants in flash, one static arena laid out as the
// planner laid it out, the forward pass as one call per operator), the baked run data and main.c.
import type { PreparedRun } from './prepare.js';
import { cDouble, type ExportedHead } from './head.js';
import { tensorBufferName, type ExportedTail } from './tail.js';
import type { CParams, COpContext } from '../../ops/c-emit.js';
import { cEmitter } from './ops.js';
import { elementCount } from '../../model/graph.js';
import { quantizeMultiplier } from '../../kernels/multiplier.js';
import type { PlannedBuffer } from '../../runtime/planner.js';

const ident = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_');

/** A C array initializer, a few values per line. */
function cArray(values: ArrayLike<number>, perLine = 24): string {
  const lines: string[] = [];
  for (let i = 0; i < values.length; i += perLine) {
    const row: string[] = [];
    for (let j = i; j < Math.min(values.length, i + perLine); j++) {
      const v = values[j]!;
      // INT32_MIN cannot be written as a literal in C; no parameter reaches it, but stay correct.
      row.push(v === -2147483648 ? '(-2147483647 - 1)' : String(v));
    }
    lines.push('  ' + row.join(', '));
  }
  return lines.join(',\n');
}

const ctype = (bits: 8 | 16 | 32): string => (bits === 8 ? 'int8_t' : bits === 16 ? 'int16_t' : 'int32_t');

/** The fused activation's clamp on the int8 grid (the session's rule). */
function activationClamp(activation: string, scale: number, zp: number): { actMin: number; actMax: number } {
  if (activation === 'relu') return { actMin: zp, actMax: 127 };
  if (activation === 'relu6') return { actMin: zp, actMax: Math.min(127, zp + Math.round(6 / scale)) };
  return { actMin: -128, actMax: 127 };
}

export interface OpInfo {
  name: string;
  kind: string;
  macs: number;
  outputs: number;
  weights: number;
  bytesMoved: number;
}

export interface EmittedModel {
  files: Map<string, string>;
  ops: OpInfo[];
  arenaBytes: number;
  buffers: readonly PlannedBuffer[];
}

export function emitModel(run: PreparedRun): EmittedModel {
  const { quantized: model, graph, lowered, plan, microBatch: batch } = run;
  const buffers = new Map(plan.sram.buffers.map((b) => [b.name, b]));
  const at = (name: string): number => {
    const b = buffers.get(name);
    if (!b) throw new Error(`internal: buffer '${name}' is not in the plan`);
    return b.offset;
  };
  const arenaPtr = (type: string, name: string) => `LM_AT(${type}, ${at(name)}) /* ${name} */`;
  const trainable = new Set(run.trainable);
  const decls: string[] = [];
  const initCopies: string[] = [];
  const body: string[] = [];
  const ops: OpInfo[] = [];
  const tensorExpr = (t: string): string => {
    if (t === lowered.inputName) return arenaPtr('int8_t', 'io:input');
    if (t === lowered.outputName) return arenaPtr('int32_t', 'io:logits');
    return arenaPtr('int8_t', `act:${t}`);
  };

  // Parameters: flash constants for frozen layers; initial values copied into the arena for trainable ones.
  const paramSymbols = new Map<string, { weights: string; bias: string; bits: 8 | 16; requant: string; weightsBytes: number }>();
  lowered.ops.forEach((op, i) => {
    const name = op.node.node.name;
    const p = model.params[name];
    if (!p) return;
    const id = ident(name);
    const bits = p.weightBits;
    const isHead = i === lowered.ops.length - 1;
    // A parameter lives in the arena exactly when the session's plan put it in SRAM (what training writes).
    const inSram = (key: string) => buffers.has(key);
    const place = (key: string, data: Int8Array | Int16Array | Int32Array, type: string): string => {
      const sym = `LM_${key.startsWith('w:') ? 'W' : key.startsWith('b:') ? 'B' : 'RQDATA'}_${id}`;
      if (inSram(key)) {
        decls.push(`/* initial ${key}, copied into the arena by lm_init */\nstatic const ${type} ${sym}_INIT[${data.length}] = {\n${cArray(data)}\n};`);
        initCopies.push(`  memcpy(lm_arena.bytes + ${at(key)}, ${sym}_INIT, sizeof ${sym}_INIT); /* ${key} */`);
        return `LM_AT(${type}, ${at(key)})`;
      }
      decls.push(`static const ${type} ${sym}[${data.length}] = {\n${cArray(data)}\n};`);
      return sym;
    };
    const weights = place(`w:${name}`, p.weights, ctype(bits));
    const bias = place(`b:${name}`, p.bias, 'int32_t');
    let requant = '&LM_RAW_OUTPUT';
    if (!isHead) {
      const inQ = model.activations[op.inputs[0]!]!;
      const outQ = model.activations[op.output]!;
      const count = p.weightScales.length;
      const data = new Int32Array(2 * count);
      for (let c = 0; c < count; c++) {
        const q = quantizeMultiplier((inQ.scale * p.weightScales[c]!) / outQ.scale);
        data[c] = q.multiplier;
        data[count + c] = q.shift;
      }
      const sym = place(`rq:${name}`, data, 'int32_t');
      const clamp = activationClamp(op.activation, outQ.scale, outQ.zeroPoint);
      const base = inSram(`rq:${name}`) ? `LM_AT(const int32_t, ${at(`rq:${name}`)})` : sym;
      decls.push(`static const lm_requant LM_RQ_${id} = { ${base}, ${base} + ${count}, ${count > 1 ? 1 : 0}, ${outQ.zeroPoint}, ${clamp.actMin}, ${clamp.actMax} };`);
      requant = `&LM_RQ_${id}`;
    }
    paramSymbols.set(name, { weights, bias, bits, requant, weightsBytes: p.weights.byteLength });
  });

  const paramIndex = new Map(run.paramLayers.map((n, i) => [n, i]));
  lowered.ops.forEach((op, i) => {
    const n = op.node;
    const name = n.node.name;
    const emitter = cEmitter(n.node.kind)!;
    const id = `${i}_${ident(name)}`;
    const ctx: COpContext = {
      node: n.node, inputs: op.inputs, output: op.output, activation: op.activation, outShape: n.outShape,
      ...(n.weightShape ? { weightShape: n.weightShape } : {}), batch, id,
      tensor: tensorExpr,
      inputShape: (k = 0) => graph.nodes[n.inputs[k]!]!.outShape,
      inputQuant: (k = 0) => model.activations[op.inputs[k]!]!,
      outputQuant: () => model.activations[op.output]!,
      params: (): CParams => {
        const s = paramSymbols.get(name);
        if (!s) throw new Error(`internal: layer '${name}' has no parameters`);
        const scratch = buffers.get(`scratch:${name}`);
        const k = paramIndex.get(name)!;
        return {
          weights: s.weights, bias: s.bias, bits: s.bits, requant: s.requant,
          perturb: trainable.has(name) ? `(perturb ? perturb[${k}] : LM_NO_PERTURB)` : 'LM_NO_PERTURB',
          scratch: scratch ? `lm_arena.bytes + ${scratch.offset}` : '(void *)0', scratchBytes: scratch ? scratch.bytes : 0,
        };
      },
      declare: (code) => decls.push(code),
    };
    body.push(`  LM_PROFILE_BEGIN(${i});`, `  ${emitter.emit(ctx)}`, `  LM_PROFILE_END(${i});`);
    const inputs = op.inputs.reduce((s, t) => s + batch * elementCount(t === lowered.inputName ? graph.inputShape : graph.nodes.find((x) => x.node.name === t)!.outShape), 0);
    const outputs = batch * elementCount(n.outShape);
    const p = model.params[name];
    const weightBytes = p ? p.weights.byteLength + p.bias.byteLength : 0;
    ops.push({ name, kind: n.node.kind, macs: n.macs * batch, outputs, weights: p ? p.weights.length : 0, bytesMoved: inputs + outputs * (i === lowered.ops.length - 1 ? 4 : 1) + weightBytes });
  });

  const arenaBytes = plan.sram.peakBytes;
  const sortedParams = Object.keys(model.params).sort();
  const paramTable = sortedParams.map((name) => {
    const s = paramSymbols.get(name)!;
    const p = model.params[name]!;
    return `  { "${name}", ${s.weights}, ${s.weightsBytes}u, ${s.bias}, ${p.bias.length}u, ${s.bits}, ${trainable.has(name) ? 1 : 0} },`;
  });
  const trainedTable = run.trained.map((t) => {
    const panel = t.dither ? `LM_AT(void, ${at(`extra:zo-panel:w:${t.layer}`)})` : '(void *)0';
    return `  { ${t.tensorId}u, ${t.tensorId}, LM_AT(void, ${at(`w:${t.layer}`)}), ${t.bits}, ${t.count}u, ${t.epsQ}, ${t.updateMultiplier}, ${t.updateShift}, ${panel}, ${t.dither?.mult ?? 0}, ${t.dither?.shift ?? 0} }, /* ${t.layer} */`;
  });
  const map = plan.sram.buffers.map((b) => ` *   [${String(b.offset).padStart(7)}, ${String(b.offset + b.alignedBytes).padStart(7)})  ${String(b.bytes).padStart(7)} B  ops ${b.firstUse}..${b.lastUse}  ${b.name}`).join('\n');
  const headTensor = lowered.ops[lowered.ops.length - 1]!.inputs[0]!;
  const headCode = run.head ? hybridHeadCode(run.head, {
    weights: `LM_AT(void, ${at(`w:${run.head.layer}`)})`, bias: arenaPtr('int32_t', `b:${run.head.layer}`), input: tensorExpr(headTensor),
    delta: arenaPtr('int32_t', 'extra:hybrid-delta'), gradW: arenaPtr('int32_t', 'extra:hybrid-grad-w'), gradB: arenaPtr('int32_t', 'extra:hybrid-grad-b'),
    sums: arenaPtr('int64_t', 'extra:hybrid-feature-sums'), mean: arenaPtr('int32_t', 'extra:hybrid-feature-mean'),
  }) : '';
  const tailCode = run.tail ? hybridTailCode(run.tail, run.head!, {
    headWeights: `LM_AT(const void, ${at(`w:${run.head!.layer}`)})`, delta: arenaPtr('const int32_t', 'extra:hybrid-delta'),
    input: arenaPtr('const int8_t', tensorBufferName(lowered, run.tail.input)), gate: arenaPtr('const int8_t', tensorBufferName(lowered, run.tail.gate)),
    g: arenaPtr('int32_t', 'extra:tail-g'), patch: arenaPtr('int32_t', 'extra:tail-patch'), gradW: arenaPtr('int64_t', 'extra:tail-grad-w'), gradB: arenaPtr('int64_t', 'extra:tail-grad-b'),
    weights: `LM_AT(void, ${at(`w:${run.tail.layer}`)})`, bias: arenaPtr('int32_t', `b:${run.tail.layer}`),
  }) : '';
  const distCode = run.config.dist === 'gaussian' ? 'LM_DIST_GAUSSIAN' : 'LM_DIST_RADEMACHER';
  const opInfo = ops.map((o) => `  { "${o.name}", "${o.kind}", ${o.macs}u, ${o.outputs}u, ${o.weights}u, ${o.bytesMoved}u },`).join('\n');

  const header = `/* lastmile export of '${model.architecture.name}' (${run.config.precision}, train ${run.config.selection}): the C API.
 * Generated by \`lastmile export --format c\`; see README.md. */
#ifndef LM_MODEL_H
#define LM_MODEL_H

#include <stdint.h>
#include "lm_qzo.h"

#define LM_ARENA_BYTES ${arenaBytes}u /* == the planner's SRAM for ${run.head ? 'hybrid' : 'QZO-FF'} training */
/* The exported step: ${run.head ? `hybrid (integer backprop for the head '${run.head.layer}'${run.tail ? ` and the layer below it, '${run.tail.layer}'` : ''}, ${run.trained.length ? 'QZO-FF for the rest' : 'nothing else trains'})` : 'plain QZO-FF'}. */
#define LM_METHOD "${run.config.method}"
/* Parameter layers learned by integer backprop (0: plain QZO-FF). */
#define LM_BP_LAYERS ${run.head ? (run.tail ? 2 : 1) : 0}
/* 1 when only the hybrid head trains: a step is one unperturbed forward per sample (report.loss). */
#define LM_HEAD_ONLY ${run.head && !run.trained.length ? 1 : 0}
#define LM_INPUT_SIZE ${elementCount(graph.inputShape)}
#define LM_CLASSES ${elementCount(graph.outputShape)}
#define LM_MICRO_BATCH ${batch}
/* Quantize an input value x as clamp(round(x / LM_INPUT_SCALE) + LM_INPUT_ZERO_POINT, -128, 127). */
#define LM_INPUT_SCALE ${model.activations[lowered.inputName]!.scale}
#define LM_INPUT_ZERO_POINT ${run.inputZeroPoint}

typedef struct {
  const char *name;
  const void *weights;
  uint32_t weight_bytes;
  const int32_t *bias;
  uint32_t bias_count;
  int32_t bits;
  int32_t trainable;
} lm_parameter;

typedef struct {
  const char *name;
  const char *kind;
  uint32_t macs, outputs, weights, bytes_moved;
} lm_op_info;

/* Copies the initial trainable parameters into the arena and resets the step counter. */
void lm_init(void);
/* One training step on n quantized samples (images: n × LM_INPUT_SIZE int8, in this order). */
int32_t lm_train_step(const int8_t *images, const int32_t *labels, int32_t n, lm_step_report *report);
/* The same with the step's samples picked from a set by index. */
int32_t lm_train_step_indexed(const int8_t *images, const int32_t *labels, const uint16_t *indices, int32_t n, lm_step_report *report);
/* Integer logits [n][LM_CLASSES] (real value: logit × the head's scale; argmax is the class). */
void lm_infer(const int8_t *images, int32_t n, int32_t *logits);
uint32_t lm_steps_done(void);
/* Every parameter tensor, sorted by layer name; returns the count. */
int32_t lm_parameters(const lm_parameter **out);
/* SHA-256 over every parameter tensor (weights then bias, layers sorted by name): adapt's weightsSha256. */
void lm_weights_sha256(char out[65]);

extern const lm_op_info lm_ops[];
extern const int32_t lm_op_count;

#endif
`;

  const source = `/* lastmile export of '${model.architecture.name}': constants, the arena and the forward pass.
 * Generated by \`lastmile export --format c\`. */
#include "lm_model.h"
#include "lm_sha256.h"

#include <string.h>

/* The one static arena, laid out exactly as the planner laid it out (offset, end, bytes, lifetime):
${map}
 */
static union {
  uint64_t align;
  uint8_t bytes[LM_ARENA_BYTES];
} lm_arena;

#define LM_AT(type, offset) ((type *)(void *)(lm_arena.bytes + (offset)))
#define LM_NO_PERTURB ((const lm_perturb *)0)

static const lm_requant LM_RAW_OUTPUT = { 0, 0, 0, 0, 0, 0 };

${decls.join('\n\n')}

static void lm_forward(const lm_perturb *const *perturb) {
  (void)perturb;
${body.join('\n')}
}

${run.trained.length ? `static const lm_trained_tensor LM_TRAINED[${run.trained.length}] = {
${trainedTable.join('\n')}
};
` : `/* No tensor is perturbed: only the hybrid head trains. */
#define LM_TRAINED ((const lm_trained_tensor *)0)
`}
${headCode}${tailCode}static const lm_net LM_NET = {
  ${run.config.seed >>> 0}u, ${run.config.directions}, ${distCode}, ${36}, ${run.inverseOneQ.multiplier}, ${run.inverseOneQ.shift},
  ${batch}, LM_INPUT_SIZE, LM_CLASSES, LM_INPUT_ZERO_POINT,
  ${run.loss.multiplier}, ${run.loss.shift},
  ${run.paramLayers.length}, ${run.trained.length}, LM_TRAINED,
  ${arenaPtr('int8_t', 'io:input')}, ${arenaPtr('int32_t', 'io:logits')},
  ${arenaPtr('int32_t', 'extra:labels')}, ${arenaPtr('int32_t', 'extra:loss')},
  ${arenaPtr('uint32_t', 'extra:update-keys')}, ${arenaPtr('int32_t', 'extra:update-signs')},
  lm_forward, ${run.head ? '&LM_HEAD' : '(const lm_head *)0'},
  ${run.control.warmup}, ${run.control.batchScale ? 1 : 0}, ${run.train.count},
  ${run.tail ? '&LM_TAIL' : '(const lm_tail *)0'},
};

static const lm_parameter LM_PARAMETERS[${sortedParams.length}] = {
${paramTable.join('\n')}
};

const lm_op_info lm_ops[${ops.length}] = {
${opInfo}
};
const int32_t lm_op_count = ${ops.length};

static uint32_t lm_step_count;

void lm_init(void) {
  memset(lm_arena.bytes, 0, sizeof lm_arena.bytes);
${initCopies.join('\n')}${run.head ? '\n  memset(&lm_head_state_v, 0, sizeof lm_head_state_v);' : ''}
  lm_step_count = 0;
}

int32_t lm_train_step_indexed(const int8_t *images, const int32_t *labels, const uint16_t *indices, int32_t n, lm_step_report *report) {
  const int32_t code = lm_qzo_step(&LM_NET, lm_step_count, images, labels, indices, n, report);
  if (code == 0) lm_step_count++;
  return code;
}

int32_t lm_train_step(const int8_t *images, const int32_t *labels, int32_t n, lm_step_report *report) {
  return lm_train_step_indexed(images, labels, (const uint16_t *)0, n, report);
}

void lm_infer(const int8_t *images, int32_t n, int32_t *logits) {
  lm_qzo_infer(&LM_NET, images, n, logits);
}

uint32_t lm_steps_done(void) {
  return lm_step_count;
}

int32_t lm_parameters(const lm_parameter **out) {
  *out = LM_PARAMETERS;
  return ${sortedParams.length};
}

void lm_weights_sha256(char out[65]) {
  lm_sha256 h;
  int32_t i;
  lm_sha256_init(&h);
  for (i = 0; i < ${sortedParams.length}; i++) {
    lm_sha256_update(&h, LM_PARAMETERS[i].weights, LM_PARAMETERS[i].weight_bytes);
    lm_sha256_update(&h, LM_PARAMETERS[i].bias, LM_PARAMETERS[i].bias_count * 4u);
  }
  lm_sha256_hex(&h, out);
}
`;
  const files = new Map<string, string>([['lm_model.h', header], ['lm_model.c', source]]);
  return { files, ops, arenaBytes, buffers: plan.sram.buffers };
}

/** The hybrid head's constants and its lm_head (arena pointers given as C expressions). */
function hybridHeadCode(h: ExportedHead, ptr: { weights: string; bias: string; input: string; delta: string; gradW: string; gradB: string; sums: string; mean: string }): string {
  return `/* The hybrid head '${h.layer}': SGD with η ${h.lr === null ? `= ${h.headStep}/(s_f²·V), V measured on the first step` : `= ${h.lr}`}, sums over ${h.passes} forward${h.passes > 1 ? 's' : ''} per sample${h.center ? ', centred' : ''}, ${h.warmup}-step warm-up. */
static lm_head_state lm_head_state_v;
static const lm_head LM_HEAD = {
  ${h.classes}, ${h.features}, ${h.featureZero},
  ${ptr.weights}, ${h.weightBits}, ${ptr.bias},
  ${ptr.input},
  ${ptr.delta}, ${ptr.gradW}, ${ptr.gradB},
  ${ptr.sums}, ${ptr.mean},
  ${h.center ? 1 : 0}, ${h.warmup},
  ${h.lr === null ? '0.0' : cDouble(h.lr)}, /* fixed η (0: from the features) */
  ${cDouble(h.headStep)}, ${cDouble(h.featureScale)}, ${cDouble(h.featureScaleSq)}, ${cDouble(h.weightScale)}, /* head step, s_f, s_f², Δw */
  &lm_head_state_v,
};

`;
}

/** The hybrid tail's constants and its lm_tail (arena pointers given as C expressions). */
function hybridTailCode(t: ExportedTail, h: ExportedHead, ptr: { headWeights: string; delta: string; input: string; gate: string; g: string; patch: string; gradW: string; gradB: string; weights: string; bias: string }): string {
  const g = t.geometry;
  const geometry = [g.inHeight, g.inWidth, g.inChannels, g.outHeight, g.outWidth, g.outChannels, g.kernelHeight, g.kernelWidth, g.strideHeight, g.strideWidth, g.padTop, g.padLeft];
  return `/* The hybrid tail '${t.layer}' (below the head, through ${t.positions > 1 ? `a global pool of ${t.positions} positions` : 'no pool'}): SGD with η = ${t.lr},
 * ${t.weightScales.length > 1 ? 'per-channel' : 'per-tensor'} factors from the rows each step sums, ${t.warmup}-step warm-up; reads '${t.input}' and the gate '${t.gate}' (${t.gateLo} < v < ${t.gateHi}). */
static const double LM_TAIL_WEIGHT_SCALES[${t.weightScales.length}] = {
${t.weightScales.map((s) => `  ${cDouble(s)},`).join('\n')}
};
static const lm_tail LM_TAIL = {
  { ${geometry.join(', ')} }, /* inH inW cin outH outW cout kH kW strideH strideW padTop padLeft */
  ${h.classes}, ${ptr.headWeights}, ${h.weightBits},
  ${ptr.delta},
  ${ptr.input}, ${t.inputZero},
  ${ptr.gate}, ${t.gateLo}, ${t.gateHi},
  ${ptr.g}, ${ptr.patch},
  ${ptr.gradW}, ${ptr.gradB},
  ${ptr.weights}, ${t.weightBits}, ${ptr.bias},
  ${t.warmup},
  ${cDouble(t.lr)}, ${cDouble(t.headWeightScale)}, ${cDouble(t.inputScale)}, ${cDouble(t.positions)}, /* η, s_h, s_x, P */
  LM_TAIL_WEIGHT_SCALES, ${t.weightScales.length},
};

`;
}

/** The run's data (training set, per-step order, query set) and the test program. */
export function emitRunData(run: PreparedRun): Map<string, string> {
  const size = run.train.sampleSize;
  const header = `/* The run's data, baked by \`lastmile export --format c\`: quantized training samples and labels,
 * the host's per-step sample order, and the held-out query images. */
#ifndef LM_DATA_H
#define LM_DATA_H

#include <stdint.h>

#define LM_STEPS ${run.steps}
#define LM_STEP_BATCH ${run.stepBatch}
#define LM_TRAIN_COUNT ${run.train.count}
#define LM_QUERY_COUNT ${run.query.count}

extern const int8_t lm_train_images[${run.train.count * size}];
extern const int32_t lm_train_labels[${run.train.count}];
extern const uint16_t lm_train_order[${run.order.length}];
extern const int8_t lm_query_images[${run.query.count * size}];
extern const int32_t lm_query_labels[${run.query.count}];

#endif
`;
  const source = `#include "lm_data.h"

const int8_t lm_train_images[${run.train.count * size}] = {
${cArray(run.train.samples, 28)}
};
const int32_t lm_train_labels[${run.train.count}] = {
${cArray(run.train.labels)}
};
const uint16_t lm_train_order[${run.order.length}] = {
${cArray(run.order)}
};
const int8_t lm_query_images[${run.query.count * size}] = {
${cArray(run.query.samples, 28)}
};
const int32_t lm_query_labels[${run.query.count}] = {
${cArray(run.query.labels)}
};
`;
  const main = `/* The test program: the same adaptation as \`lastmile adapt\` with the exported options, then the
 * weights digest and the query logits digest. Output goes through stdio (semihosting on QEMU). */
#include <stdio.h>

#include "lm_data.h"
#include "lm_model.h"
#include "lm_sha256.h"

int main(void) {
  static int32_t logits[LM_MICRO_BATCH * LM_CLASSES];
  lm_step_report report;
  lm_sha256 h;
  char hex[65];
  uint32_t s;
  int32_t from, correct = 0;
  lm_init();
  for (s = 0; s < LM_STEPS; s++) {
    int32_t j, code = lm_train_step_indexed(lm_train_images, lm_train_labels, lm_train_order + (uint32_t)LM_STEP_BATCH * s, LM_STEP_BATCH, &report);
    if (code != 0) {
      printf("step %lu failed with code %ld\\n", (unsigned long)s + 1u, (long)code);
      return 1;
    }
    printf("step %lu loss_q16", (unsigned long)s + 1u);
${run.head && !run.trained.length
    ? `    (void)j;
    printf(" %ld", (long)report.loss);`
    : `    for (j = 0; j < ${run.config.directions}; j++) printf(" %ld %ld", (long)report.loss_plus[j], (long)report.loss_minus[j]);`}
    printf("\\n");
  }
  lm_weights_sha256(hex);
  printf("weights sha256 %s\\n", hex);
  lm_sha256_init(&h);
  for (from = 0; from < LM_QUERY_COUNT; from += LM_MICRO_BATCH) {
    const int32_t rows = LM_QUERY_COUNT - from < LM_MICRO_BATCH ? LM_QUERY_COUNT - from : LM_MICRO_BATCH;
    int32_t r, c;
    lm_infer(lm_query_images + (uint32_t)from * LM_INPUT_SIZE, rows, logits);
    lm_sha256_update(&h, logits, (uint32_t)rows * LM_CLASSES * 4u);
    for (r = 0; r < rows; r++) {
      int32_t best = 0;
      for (c = 1; c < LM_CLASSES; c++) if (logits[r * LM_CLASSES + c] > logits[r * LM_CLASSES + best]) best = c;
      correct += best == lm_query_labels[from + r];
    }
  }
  lm_sha256_hex(&h, hex);
  printf("query logits sha256 %s\\n", hex);
  printf("query accuracy %ld/%d\\n", (long)correct, LM_QUERY_COUNT);
  return 0;
}
`;
  return new Map([['lm_data.h', header], ['lm_data.c', source], ['main.c', main]]);
}
