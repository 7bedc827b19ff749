// The keyword-spotting section of docs/RESULTS.md, from experiments/results/kws.json.
import { BP_RECIPE } from '../train/bp-recipe.js';
import type { KwsResult } from './kws.js';
import { KWS_KEYWORDS } from './kws.js';

const pct = (x: number): string => x.toFixed(1);

export function kwsSection(r: (KwsResult & { run?: { command?: string; date?: string } }) | null): string {
  if (!r) return ['## Keyword spotting (MLPerf Tiny KWS model, espeak-ng voices)', '', 'Not run: `lastmile experiment kws` (needs espeak-ng, sox and ../shared/mlperf-tiny).', ''].join('\n');
  const out: string[] = [
    '## Keyword spotting (MLPerf Tiny KWS model, espeak-ng voices)',
    '',
    `The MLPerf Tiny keyword spotter (\`kws_ref_model.tflite\`, int8 DS-CNN, sha256 ${r.model.sha256Prefix}…) imported as it is, fed 49 × 10 MFCC computed by the device's fixed-point front end (docs/AUDIO.md) from words rendered offline by espeak-ng ${r.speech.espeak.replace(/^eSpeak NG text-to-speech: /, '').split(' ')[0]} (${r.speech.clipsPerWord} clips per voice and word: 3 speeds × 3 pitches × 2 noise levels). Reproduce: \`${r.run?.command ?? 'lastmile experiment kws'}\`${r.run?.date ? ` (run ${r.run.date}, ${Math.round(r.seconds)} s)` : ''}.`,
    '',
    '### Zero-shot accuracy per voice',
    '',
    'The imported model, unchanged: its argmax over the ten keyword outputs on keyword clips, and its 12-way decision when the ten Speech Commands auxiliary words (bed, bird, cat, dog, happy, house, marvin, sheila, tree, wow) must come out as `unknown`.',
    '',
    `| voice | keywords (10-way) | 12-way incl. unknown words | ${KWS_KEYWORDS.join(' | ')} |`,
    `|---|---|---|${KWS_KEYWORDS.map(() => '---').join('|')}|`,
  ];
  for (const v of r.zeroShot) {
    out.push(`| ${v.voice} | **${pct(v.keywordAccuracy)}%** | ${pct(v.twelveWayAccuracy)}% | ${KWS_KEYWORDS.map((w) => (v.perWord[w] ? `${v.perWord[w]![0]}/${v.perWord[w]![1]}` : '—')).join(' | ')} |`);
  }
  const worst = [...r.zeroShot].sort((a, b) => a.keywordAccuracy - b.keywordAccuracy)[0];
  const best = [...r.zeroShot].sort((a, b) => b.keywordAccuracy - a.keywordAccuracy)[0];
  if (worst && best) out.push('', `Worst development voice: **${worst.voice}** (${pct(worst.keywordAccuracy)}%); best: ${best.voice} (${pct(best.keywordAccuracy)}%).`);
  const fe = r.frontEnd;
  out.push(
    '',
    `Front end on the device per 1 s clip: ${fe.sramBytes.toLocaleString('en-US')} B SRAM while it runs (the int16 clip, the int8 features, scratch), ${fe.flashBytes.toLocaleString('en-US')} B of flash tables, ${fe.multiplies.toLocaleString('en-US')} 32×32→64-bit multiplies and ${fe.squareRoots.toLocaleString('en-US')} integer square roots.`,
    '',
  );
  return out.join('\n');
}

export function kwsTasksSection(r: KwsResult | null): string {
  if (!r || !r.task1) return '';
  const out: string[] = [
    '### Task 1: a new voice, same words (the model keeps its own head)',
    '',
    `The worst development voice by zero-shot accuracy adapts from K recordings per keyword with QZO-FF 16w8a on the last two layers (the last pointwise convolution and the classifier) on the nRF52840 budget, ${r.task1[0]?.steps ?? '—'} steps, ε = 1e-3, 3 directions, η = 3e-3 (the CLI defaults of \`lastmile adapt\`). Accuracy is the argmax over the ten keyword outputs, on that voice's held-out recordings (never in the support set) and on all keyword recordings of the other development voices (untouched by training). \`ms per step\` is wall time of the emulator on this shared 2-core host, not an MCU estimate.`,
    '',
    '| voice | K | before | QZO-FF after (16-bit) | QZO-FF after (int8) | other voices before → after | backprop f32: before → after | backprop: other voices after | SRAM peak QZO-FF / backprop | ms per step QZO-FF / backprop (emulator) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const t of r.task1) {
    const bp = t.bp;
    out.push(`| ${t.voice} | ${t.shots} | ${pct(t.before)}% | **${pct(t.after)}%** | ${pct(t.afterInt8)}% | ${pct(t.othersBefore)}% → ${pct(t.othersAfter)}% | ${bp ? `${pct(bp.before)}% → **${pct(bp.after)}%**` : '—'} | ${bp ? `${pct(bp.othersAfter)}%` : '—'} | ${(t.sramPeak / 1024).toFixed(1)} KiB${t.fits ? '' : ' (does not fit)'} / ${bp ? `${(bp.sramPeak / 1024).toFixed(1)} KiB${bp.fitsNrf52840 ? '' : ' (does not fit the nRF52840)'}` : '—'} | ${t.msPerStep.toFixed(0)} / ${bp ? bp.msPerStep.toFixed(0) : '—'} |`);
  }
  out.push('', `Backprop runs in f32 with the baseline recipe's optimizer (Adam η = ${BP_RECIPE.lr}, src/train/bp-recipe.ts) on the same support set, micro-batches of 5, layers and number of steps, with the model\'s weights dequantized and its classifier cut to the ten keyword rows; it needs more SRAM than the nRF52840 has, so it runs in a 4 MiB budget. Its "before" differs slightly from the int8 model\'s because activations are not quantized in f32.`);
  out.push(
    '',
    '### Task 2: three new words, a new head',
    '',
    `Words the model only ever saw as \`unknown\` (${r.task2[0]?.words.join(', ') ?? '—'}), K = 5 recordings each, per voice: a prototype head (class means of the model's 64 int8 features) replaces the classifier, then QZO-FF 16w8a trains it (${r.task2[0]?.steps ?? '—'} steps). Accuracy on the held-out recordings of the same voice (3-way).`,
    '',
    '| voice | prototype head | after QZO-FF (16-bit) | after (int8) | SRAM peak | ms per step |',
    '|---|---|---|---|---|---|',
  );
  for (const t of r.task2) out.push(`| ${t.voice} | ${pct(t.prototype)}% | **${pct(t.after)}%** | ${pct(t.afterInt8)}% | ${(t.sramPeak / 1024).toFixed(1)} KiB | ${t.msPerStep.toFixed(0)} |`);
  out.push('');
  return out.join('\n');
}
