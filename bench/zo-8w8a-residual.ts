// 8w8a with a residual (docs/TRAINING.md, "8w8a with a residual") against 16w8a on the few-shot task of
// docs/RESULTS.md §1: 5-way 5-shot episodes of the classes 5–9 no backbone saw (seeds 1000, 1001, …,
// 50 queries per class), small CNN on MNIST and Fashion-MNIST, full fine-tuning, QZO-FF m = 3,
// ε = 1e-3, η = 3e-3, whole support set per step. Every variant adapts the same episodes, so the
// differences are paired; prints a markdown table with 95% CIs and the planned SRAM peak. The method is
// pinned to QZO-FF, whatever adapt's default method is.
//   nice -n 15 npx tsx bench/zo-8w8a-residual.ts [episodes=30] [steps=500] [variants=16w8a,res8] [seed=1000] [data=mnist,fashion-mnist]
// Each episode is also printed to stderr as one `episode {json}` line, so a run split over several
// processes (different seed ranges) can be tabled together:
//   npx tsx bench/zo-8w8a-residual.ts merge LOG...
// Variants: 16w8a · res8 (8w8a, int8 residual) · res16 (8w8a, int16 residual) · dither (8w8a + dither)
// · plain8 (8w8a without a remedy: refused where εq = 0).
import { sampleEpisode } from '../src/data/fewshot.js';
import { adapt, type AdaptOptions } from '../src/train/adapt.js';
import { deviceFor, episodeSource, fmtStat, isEpsilonRefusal, loadBackbone, stat } from '../src/experiments/common.js';
import { BACKBONES } from '../src/experiments/backbones.js';
import { readFileSync } from 'node:fs';

interface EpisodeRow { data: string; seed: number; steps: number; zero: number; acc: Record<string, number | null>; sram: Record<string, number> }

/** A paired difference with its sign: +0.7 ± 2.1. */
const signed = (st: ReturnType<typeof stat>): string => (st === null ? '—' : `${st.mean >= 0 ? '+' : '−'}${fmtStat({ ...st, mean: Math.abs(st.mean) })}`);

function table(data: string, rows: EpisodeRow[], variants: string[]): void {
  const ref = variants[0]!;
  const n = rows.length;
  const zero = rows.map((r) => r.zero);
  console.log(`\n**small CNN · ${data}** (query accuracy %, mean ± 95% CI over ${n} episodes, seeds ${Math.min(...rows.map((r) => r.seed))}–${Math.max(...rows.map((r) => r.seed))}, ${rows[0]!.steps} steps; differences paired by episode; SRAM = planned QZO-FF peak)\n`);
  // With three or more variants the later ones are also paired against the second (the residual).
  const ref2 = variants.length > 2 ? variants[1]! : null;
  const against = (v: string, r: string, mine: EpisodeRow[]) => {
    const both = mine.filter((x) => x.acc[r] !== undefined && x.acc[r] !== null && x.acc[v] !== null);
    return both.length === mine.length ? signed(stat(both.map((x) => x.acc[v]! - x.acc[r]!))) : '';
  };
  console.log(`| variant | episodes | accuracy | − ${ref} (paired) |${ref2 ? ` − ${ref2} (paired) |` : ''} QZO-FF SRAM peak |`);
  console.log(`|---|---:|---:|---:|${ref2 ? '---:|' : ''}---:|`);
  console.log(`| zero-shot | ${n} | ${fmtStat(stat(zero))} | |${ref2 ? ' |' : ''} |`);
  for (const v of variants) {
    // A variant run on only some of the episodes (a later, smaller run) is paired on those.
    const mine = rows.filter((r) => v in r.acc);
    const xs = mine.map((r) => r.acc[v]!);
    const ok = xs.filter((x): x is number => x !== null);
    const refused = xs.length - ok.length;
    const paired = v === ref ? '' : against(v, ref, mine);
    const paired2 = ref2 === null ? null : v === ref || v === ref2 ? '' : against(v, ref2, mine);
    const sram = mine.find((r) => r.sram[v] !== undefined)?.sram[v];
    console.log(`| ${v} | ${mine.length} | ${ok.length ? fmtStat(stat(ok)) : '—'}${refused ? ` (refused ${refused}/${xs.length})` : ''} | ${paired} |${paired2 === null ? '' : ` ${paired2} |`} ${sram !== undefined ? `${(sram / 1024).toFixed(1)} KiB` : ''} |`);
  }
}

if (process.argv[2] === 'merge') {
  // Rows of one episode from different runs (other variants, same seed and steps) are joined.
  const byEpisode = new Map<string, EpisodeRow>();
  const variants: string[] = [];
  for (const f of process.argv.slice(3)) {
    for (const line of readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('episode '))) {
      const r = JSON.parse(line.slice(8)) as EpisodeRow;
      for (const v of Object.keys(r.acc)) if (!variants.includes(v)) variants.push(v);
      const key = `${r.data}:${r.seed}`;
      const have = byEpisode.get(key);
      if (!have) { byEpisode.set(key, r); continue; }
      if (have.steps !== r.steps) throw new Error(`${key}: logged with ${have.steps} and ${r.steps} steps`);
      for (const v of Object.keys(r.acc)) if (v in have.acc) throw new Error(`${key}: variant ${v} appears twice in the logs`);
      have.acc = { ...have.acc, ...r.acc };
      have.sram = { ...have.sram, ...r.sram };
      if (Number.isNaN(have.zero)) have.zero = r.zero;
    }
  }
  const rows = [...byEpisode.values()];
  for (const data of [...new Set(rows.map((r) => r.data))]) {
    const mine = rows.filter((r) => r.data === data).sort((a, b) => a.seed - b.seed);
    table(data, mine, variants.filter((v) => mine.some((r) => v in r.acc)));
  }
  process.exit(0);
}

const episodes = Number(process.argv[2] ?? 30);
const steps = Number(process.argv[3] ?? 500);
const variants = (process.argv[4] ?? '16w8a,res8').split(',');
const seed0 = Number(process.argv[5] ?? 1000);
const datasets = (process.argv[6] ?? 'mnist,fashion-mnist').split(',');
const ZO = { epsilon: 1e-3, directions: 3, dist: 'gaussian' as const, lr: 3e-3 };

const VARIANTS: Record<string, Pick<AdaptOptions, 'precision' | 'enhancements'>> = {
  '16w8a': { precision: '16w8a' },
  res8: { precision: '8w8a', enhancements: { residual: true, residualBits: 8 } },
  res16: { precision: '8w8a', enhancements: { residual: true, residualBits: 16 } },
  dither: { precision: '8w8a', enhancements: { dither: true } },
  plain8: { precision: '8w8a' },
};
for (const v of variants) if (!VARIANTS[v]) throw new Error(`unknown variant '${v}'; known: ${Object.keys(VARIANTS).join(', ')}`);

console.log(`${episodes} episodes (seeds ${seed0}…), ${steps} steps, full fine-tuning, m = ${ZO.directions}, ε = ${ZO.epsilon}, η = ${ZO.lr}`);
const t0 = performance.now();
for (const data of datasets) {
  const key = data === 'mnist' ? 'cnn-mnist' : 'cnn-fashion';
  const backbone = await loadBackbone(key);
  const source = await episodeSource(BACKBONES[key]!.data);
  const device = deviceFor(key);
  const rows: EpisodeRow[] = [];
  for (let e = 0; e < episodes; e++) {
    const seed = seed0 + e;
    const ep = sampleEpisode(source, { classPool: [5, 6, 7, 8, 9], ways: 5, shots: 5, queries: 50, seed });
    const row: EpisodeRow = { data, seed, steps, zero: NaN, acc: {}, sram: {} };
    for (const v of variants) {
      try {
        const r = await adapt({ backbone, support: ep.support, query: ep.query, device, selection: { kind: 'full' }, steps, seed, baseline: false, method: 'qzo-ff', ...ZO, ...VARIANTS[v] });
        if (v === variants[0]) row.zero = r.zeroShot;
        row.acc[v] = r.after;
        row.sram[v] = r.memory.ff.sramPeak;
      } catch (err) {
        if (!isEpsilonRefusal(err)) throw err;
        row.acc[v] = null;
      }
    }
    rows.push(row);
    process.stderr.write(`${data} ${e + 1}/${episodes} (${((performance.now() - t0) / 1000).toFixed(0)} s)\nepisode ${JSON.stringify(row)}\n`);
  }
  table(data, rows, variants);
}
console.log(`\nwall time ${((performance.now() - t0) / 60000).toFixed(1)} min`);
