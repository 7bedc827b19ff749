// The keyword-spotting section of docs/RESULTS.md, from experiments/results/kws.json.
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
