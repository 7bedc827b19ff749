// README.md of an export: how to build it, call it from an application, and what memory it needs.
import type { PreparedRun } from './prepare.js';
import type { OpInfo } from './emit.js';
import { BOARDS } from './boards.js';

export function readme(run: PreparedRun, modelLabel: string, ops: OpInfo[], arenaMap: string): string {
  const c = run.config;
  const h = run.head;
  const t = run.tail;
  const headOnly = !!h && run.trained.length === 0;
  const methodText = h
    ? `the hybrid method (integer backprop for the dense head \`${h.layer}\`, SGD η = ${h.lr ?? `${h.headStep}/(s_f²·V) from the first step's features`}${t ? `, and for the layer below it \`${t.layer}\`, SGD η = ${t.lr}` : ''}${headOnly ? '' : '; QZO-FF for the other trained layers'})`
    : 'plain QZO-FF';
  return `# ${run.quantized.architecture.name}: on-device ${h ? 'hybrid' : 'QZO-FF'} training in C99

Exported by \`lastmile export --format c --method ${c.method}\` from \`${modelLabel}\`: ${methodText}, ${c.precision}, train ${c.selection}
(${run.trainable.join(', ')}), m = ${c.directions}, ε = ${c.epsilon}, η = ${c.lr}, ${c.dist} z, seed ${c.seed}${c.dither ? ', dither (stochastic rounding)' : ''}${c.normalize ? ', kernel-wise normalisation' : ''},
micro-batch ${run.microBatch}, ${run.stepBatch} samples per step, ${run.steps} steps baked into \`main.c\`.

## Build and run

    make host                       # system cc: trains, prints per-step losses and the digests
    make qemu CPU=cortex-m4         # arm-none-eabi-gcc + qemu-system-arm (semihosting output)
    make size CPU=cortex-m4         # .text/.rodata/.data/.bss
    make bench CPU=cortex-m4        # instructions per kernel call (SysTick, -icount shift=0)

Boards: ${BOARDS.map((b) => `${b.cpu} → ${b.machine}`).join(', ')}.

\`main.c\` prints ${headOnly ? '\`step N loss_q16 L\` (the integer batch loss of the step\'s unperturbed forward, Q16.16 nats)' : '\`step N loss_q16 L+ L− …\` (the integer batch losses of each direction, Q16.16 nats)'},
\`weights sha256 <hex>\` (the same digest as \`lastmile adapt --json\`'s \`weightsSha256\`: every parameter
tensor, weights then bias, layers sorted by name) and \`query logits sha256 <hex>\` over the int32 logits
of the ${run.query.count} held-out query images.

## What runs where

The host computed the starting point exactly as \`lastmile adapt\` does (prototype head, calibration,
quantization, ε and η on each weight grid, the per-step sample order); those integers are baked in.
Every step runs on the target: direction seeds and the counter-based z stream, the perturbation fused
into the kernels' weight reads (w·1q ± εq·z requantized to the weight grid), the fixed-point
cross-entropy and its sign, and the integer update.${h ? ` The hybrid head is never perturbed: on each of
${headOnly ? 'the step\'s unperturbed forwards' : 'the same 2m perturbed forwards'} it turns the int32 logits into δ = softmax − onehot (Q.15, the
loss's own fixed-point exp) and sums δ·(f − zf) and δ in int32; on the first step it also sums the features' statistics
(S_d, Σ‖f − zf‖², int64) and fixes their mean m and V = mean ‖f − zf − m‖²${h.lr === null ? ', and η = head step/(s_f²·V) (one double division)' : ''}.
After the forwards the head steps, centred: G_W ← ΣδF − m·Σδ, W ← W − round(c_w·G_W), b ← b − round(c_b·Σδ) − ΔW·m,
with c_w = η·s_f/(N·2^15·Δw), c_b = η/(N·2^15·s_f·Δw) computed in double (correctly rounded × and ÷, the
emulator's order of operations, so every target gets the same bits) and × min(1, (t+1)/${h.warmup}) in Q15. A step whose factor
falls outside the multiplier range is refused (code 1).${t ? ` The tail \`${t.layer}\` learns from the same forwards
(runtime/lm_tail_grad.c): g = round(Whᵀ·δ/2^15) per feature, the input patches summed over the positions its
gate \`${t.gate}\` passes (${t.gateLo} < v < ${t.gateHi}), int64 sums ΣW += g·P, ΣB += g·n (saturating at ±(2^47 − 1)); at the step,
before the head's, W ← W − round(ΣW·c_w), b ← b − round(ΣB·c_b) with c_w = η·s_h·s_x/(P·s_w·N), c_b = η·s_h/(P·s_x·s_w·N)
in double (${t.weightScales.length > 1 ? 'per output channel' : 'per tensor'}), as 15-bit multipliers with the same warm-up.` : ''}${run.control.warmup || run.control.batchScale ? ` The QZO-FF update is × min(1, (t+1)/${run.control.warmup})${run.control.batchScale ? ' × √(B/N)' : ''} in Q15 (warm-up${run.control.batchScale ? ' and mini-batch scale' : ''}).` : ''} The build uses -ffp-contract=off.` : ' There is no floating point in the library.'}

## Calling it from an application (Arduino, Zephyr, bare metal)

Add \`lm_model.c\` and \`runtime/*.c\` to the build, include \`lm_model.h\`:

    lm_init();                                         /* once: trainable parameters into the arena */
    lm_train_step(images, labels, n, &report);         /* n quantized samples, n × LM_INPUT_SIZE int8 */
    lm_infer(images, n, logits);                       /* int32 logits [n][LM_CLASSES] */

Quantize inputs as \`clamp(round(x / LM_INPUT_SCALE) + LM_INPUT_ZERO_POINT, -128, 127)\`. On Cortex-M cores
with the DSP extension the dot products use SMLAD (define \`LM_PORTABLE_ONLY\` to force the portable
loop); both give the same bits. The library is not re-entrant (one static arena).

## Memory

SRAM: one static arena of ${run.plan.sramBytes} B (\`LM_ARENA_BYTES\`), exactly the planner's ${h ? 'hybrid' : 'QZO-FF'} plan${h ? ` (the
head's δ rows and int32 gradient sums are its \`extra:hybrid-*\` buffers${t ? `, the tail's int64 sums and scratch its \`extra:tail-*\` buffers, and the tail's input and gate live to the head` : ''})` : ''};
plus a few hundred bytes of stack for a step (the perturbation table). Flash: the frozen parameters
(${run.plan.flashBytes} B in the plan) plus the initial values of the trainable ones, the code, and
— in this test build only — the baked training and query images (\`lm_data.c\`).

\`\`\`
${arenaMap}
\`\`\`

## Operators

${ops.map((o) => `- ${o.name} (${o.kind}): ${o.macs} MACs per micro-batch, ${o.outputs} outputs`).join('\n')}
`;
}
