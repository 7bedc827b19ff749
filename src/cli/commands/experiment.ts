// `lastmile experiment <name>`: reproduce one of the paper's experiment families (or all of them),
// write its JSON to experiments/results/<name>.json, and regenerate docs/RESULTS.md from every JSON
// present. Deterministic by seed except the recorded wall-clock times.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { eta, formatDuration } from '../progress.js';
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../util/package-root.js';
import { ConfigError } from '../../errors.js';
import { EXPERIMENT_NAMES, EXPERIMENTS, defaultReportPath, defaultResultsDir, type ExperimentName } from '../../experiments/index.js';
import type { ExperimentOptions } from '../../experiments/common.js';
import type { SubsetOptions } from '../../experiments/subset.js';
import type { GlobalOptions } from '../main.js';
import { intOption } from '../options.js';

interface ExperimentCliOptions {
  quick?: boolean;
  episodes?: string;
  steps?: string;
  seed?: string;
  out?: string;
  report?: string | false;
  jobs?: string;
  shard?: string;
  backbones?: string;
  shots?: string;
  selection?: string;
  columns?: string;
  variants?: string;
  append?: boolean;
}

/** Rough minutes per experiment on one idle core at the default settings: `all` balances its workers with these. */
const COST: Record<ExperimentName, number> = { fewshot: 150, ood: 2.5, 'cross-domain': 4.5, convergence: 12, memory: 0.1 };

/** Longest-first onto the least-loaded worker. */
function schedule(names: readonly ExperimentName[], jobs: number): ExperimentName[][] {
  const slots = Array.from({ length: Math.min(jobs, names.length) }, () => ({ cost: 0, names: [] as ExperimentName[] }));
  for (const n of [...names].sort((a, b) => COST[b] - COST[a])) {
    const slot = slots.reduce((a, b) => (b.cost < a.cost ? b : a));
    slot.cost += COST[n];
    slot.names.push(n);
  }
  return slots.map((s) => s.names);
}

/** One experiment in a child process (a worker per core); its progress lines are passed through. */
function runChild(name: ExperimentName, args: string[], command: string, say: (line: string) => void): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...process.execArgv, join(packageRoot(), 'bin', 'lastmile.js'), 'experiment', name, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LASTMILE_EXPERIMENT_COMMAND: command },
    });
    createInterface({ input: child.stderr }).on('line', (line) => say(line));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`experiment ${name} exited with status ${code}`))));
  });
}

export function registerExperiment(program: Command): void {
  program
    .command('experiment')
    .description("reproduce the paper's experiments on MNIST and Fashion-MNIST and write docs/RESULTS.md")
    .argument('<name>', `${EXPERIMENT_NAMES.join(', ')}, all, kws (keyword spotting; needs espeak-ng and ../shared), backbones (re-create the ResNet-8 backbones in models/), report (re-render from the JSON) or merge (combine --shard partials)`)
    .argument('[parts...]', 'with merge: the partial files of every shard (<out>/<name>.shard-<i>-of-<n>.json)')
    .option('--quick', 'the reduced smoke version (a few episodes and steps)')
    .option('--episodes <n>', "episodes per cell (default: each experiment's own; see docs/RESULTS.md)")
    .option('--steps <n>', "zeroth-order steps (default: each experiment's own)")
    .option('--seed <n>', 'first episode seed (default: each experiment its own)')
    .option('--out <dir>', 'where the JSON results go', 'experiments/results')
    .option('--report <file>', 'the Markdown report to regenerate (default docs/RESULTS.md, or <out>/RESULTS.md when --out is not the default)')
    .option('--no-report', 'write the JSON only')
    .option('--jobs <n>', 'with all: experiments run in this many worker processes (default: 2, or 1 on a one-core machine)')
    .option('--shard <i/n>', 'run only slice i of n (0 ≤ i < n) of the work units and write <out>/<name>.shard-<i>-of-<n>.json; `experiment merge` combines them (docs/CLUSTER.md)')
    .option('--backbones <keys>', 'fewshot: only these backbones (comma-separated: cnn-mnist, cnn-fashion, resnet8-mnist, resnet8-fashion)')
    .option('--shots <list>', 'fewshot: only these shot counts (comma-separated, e.g. 5 or 5,1)')
    .option('--selection <full|head>', 'fewshot: only full fine-tuning or only the linear probe (default both)')
    .option('--columns <keys>', 'fewshot: only these optional columns (comma-separated: ffFloat, qzo8, qzo8dither, hybrid; zero-shot, BP and QZO-FF 16w8a always run)')
    .option('--variants <keys>', 'cross-domain: only these variants (comma-separated keys, e.g. qzo16,hybrid,sharpness)')
    .option('--append', 'fewshot, cross-domain (and merge of their shards): keep the cells / rows of the existing <out>/<name>.json that this run does not re-run, instead of replacing the record')
    .addHelpText('after', '\nExamples:\n  lastmile experiment memory\n  lastmile experiment fewshot --quick --out /tmp/smoke\n  npm run experiments        # all of them: hours with the 30-episode few-shot table\n  lastmile experiment fewshot --shard 0/3     # one third of the work; then\n  lastmile experiment merge experiments/results/fewshot.shard-*.json\n  lastmile experiment fewshot --backbones cnn-mnist,cnn-fashion --selection full --shots 5 --append')
    .action(async (name: string, parts: string[], opts: ExperimentCliOptions, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      const say = (line: string) => {
        if (!global.quiet && !global.json) console.error(line);
      };
      const outDir = resolve(opts.out ?? 'experiments/results');
      const defaultOut = outDir === resolve(defaultResultsDir()) || opts.out === 'experiments/results';
      const outputDir = defaultOut ? defaultResultsDir() : outDir;
      const reportPath = opts.report === false ? null : opts.report ? resolve(opts.report) : defaultOut ? defaultReportPath() : join(outDir, 'RESULTS.md');
      if (parts.length > 0 && name !== 'merge') throw new ConfigError(`experiment ${name} takes no further arguments (got '${parts[0]}'); only merge takes partial files`);
      if (opts.shard !== undefined && !(EXPERIMENT_NAMES as readonly string[]).includes(name)) throw new ConfigError(`--shard splits one experiment (${EXPERIMENT_NAMES.join(', ')}), not '${name}'`);
      if (name === 'merge') {
        const { runMerge } = await import('./experiment-shard.js');
        const merged = await runMerge(parts.map((p) => resolve(p)), outputDir, !!opts.append);
        say(`merged ${merged.shards} shards (${merged.units} units) of ${merged.name} → ${merged.path}`);
        if (reportPath) {
          const { writeReport } = await import('../../experiments/results-md.js');
          await writeReport(outputDir, reportPath);
          say(`wrote ${reportPath}`);
        }
        if (global.json) console.log(JSON.stringify({ experiment: merged.name, shards: merged.shards, units: merged.units, out: merged.path, report: reportPath }, null, 2));
        return;
      }
      if (name === 'report') {
        if (!reportPath) throw new ConfigError('report with --no-report does nothing');
        const { writeReport } = await import('../../experiments/results-md.js');
        await writeReport(outputDir, reportPath);
        say(`wrote ${reportPath}`);
        return;
      }
      if (name === 'backbones') {
        const { makeBackbones } = await import('../../experiments/make-backbones.js');
        await makeBackbones(say);
        return;
      }
      if (name === 'kws') {
        // Not part of `all`: it needs espeak-ng, sox and the MLPerf Tiny model beside the repository.
        const { runKws } = await import('../../experiments/kws.js');
        const tKws = performance.now();
        const kwsOptions: ExperimentOptions = { quick: !!opts.quick, onProgress: (done, total, label) => {
          const left = eta(done, total, (performance.now() - tKws) / 1000);
          say(`kws ${done}/${total} ${label} · ETA ${left === null ? '—' : formatDuration(left)}`);
        } };
        if (opts.steps !== undefined) kwsOptions.steps = intOption(opts.steps, 'steps', 1);
        if (opts.seed !== undefined) kwsOptions.seed = intOption(opts.seed, 'seed', 0);
        const result = await runKws(kwsOptions);
        const command = ['lastmile experiment kws', ...(opts.quick ? ['--quick'] : []), ...(['steps', 'seed'] as const).flatMap((k) => (opts[k] === undefined ? [] : [`--${k}`, opts[k]!]))].join(' ');
        await mkdir(outputDir, { recursive: true });
        writeFileAtomic(join(outputDir, 'kws.json'), `${JSON.stringify({ ...result, run: { command, quick: !!opts.quick, node: process.version, date: new Date().toISOString().slice(0, 10) } }, null, 1)}\n`, 'experiment results');
        if (reportPath) {
          const { writeReport } = await import('../../experiments/results-md.js');
          await writeReport(outputDir, reportPath);
          say(`wrote ${reportPath}`);
        }
        return;
      }
      const names: ExperimentName[] = name === 'all' ? [...EXPERIMENT_NAMES] : (EXPERIMENT_NAMES as readonly string[]).includes(name) ? [name as ExperimentName] : [];
      if (names.length === 0) throw new ConfigError(`unknown experiment '${name}'; use ${EXPERIMENT_NAMES.join(', ')}, all, backbones, report or merge`);
      const { parseSubset } = await import('../../experiments/subset.js');
      const options: ExperimentOptions & SubsetOptions = { quick: !!opts.quick, ...parseSubset(name, opts) };
      if (opts.append && name !== 'fewshot' && name !== 'cross-domain') throw new ConfigError(`--append collects few-shot cells and cross-domain rows; '${name}' has neither`);
      if (opts.episodes !== undefined) options.episodes = intOption(opts.episodes, 'episodes', 1);
      if (opts.steps !== undefined) options.steps = intOption(opts.steps, 'steps', 1);
      if (opts.seed !== undefined) options.seed = intOption(opts.seed, 'seed', 0);
      const command = process.env.LASTMILE_EXPERIMENT_COMMAND ?? ['lastmile experiment', name, ...process.argv.slice(3).filter((a) => a !== name && a !== 'experiment')].join(' ');
      if (opts.shard !== undefined) {
        const { parseShard } = await import('../../experiments/shard.js');
        const { runShard } = await import('./experiment-shard.js');
        const shard = parseShard(opts.shard);
        const path = await runShard(names[0]!, { ...options, onProgress: (done, total, label) => say(`${names[0]} shard ${shard.index}/${shard.count} ${done}/${total} ${label}`) }, shard, outputDir, command);
        say(`shard ${shard.index}/${shard.count} of ${names[0]} → ${path}`);
        if (global.json) console.log(JSON.stringify({ experiment: names[0], shard, out: path }, null, 2));
        return;
      }
      await mkdir(outputDir, { recursive: true });
      const tAll = performance.now();
      const summaries: Record<string, number> = {};
      const jobs = opts.jobs !== undefined ? intOption(opts.jobs, 'jobs', 1) : Math.min(2, cpus().length);
      if (names.length > 1 && jobs > 1) {
        // Node runs one experiment on one core; the machine has more, so `all` runs several at once.
        const args = ['--no-report', '--out', outputDir, ...(opts.quick ? ['--quick'] : []), ...(['episodes', 'steps', 'seed'] as const).flatMap((k) => (opts[k] === undefined ? [] : [`--${k}`, opts[k]!]))];
        const groups = schedule(names, jobs);
        say(`running ${names.length} experiments in ${groups.length} workers: ${groups.map((g) => g.join(' → ')).join(' | ')}`);
        await Promise.all(groups.map(async (group) => {
          for (const n of group) await runChild(n, global.quiet ? [...args, '--quiet'] : args, command, say);
        }));
      }
      for (const n of names.length > 1 && jobs > 1 ? [] : names) {
        const t0 = performance.now();
        const tty = !global.quiet && !global.json && process.stderr.isTTY;
        const bar = tty ? new cliProgress.SingleBar({ format: `${n.padEnd(12)} [{bar}] {value}/{total} · {label} · {elapsed}s · ETA {eta_formatted}`, barsize: 24, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic) : null;
        let started = false;
        const result = await EXPERIMENTS[n]({
          ...options,
          onProgress: (done, total, label) => {
            if (bar) {
              if (!started) bar.start(total, 0, { label });
              started = true;
              bar.update(done, { label, elapsed: Math.round((performance.now() - t0) / 1000) });
            } else {
              const left = eta(done, total, (performance.now() - t0) / 1000);
              say(`[${((performance.now() - tAll) / 1000).toFixed(0).padStart(5)} s] ${n} ${done}/${total} ${label} · ETA ${left === null ? '—' : formatDuration(left)}`);
            }
          },
        });
        bar?.stop();
        const { runBlock, writeResult } = await import('./experiment-shard.js');
        await writeResult(outputDir, n, result, runBlock(command, !!opts.quick), !!opts.append);
        summaries[n] = result.seconds;
        say(`${n}: done in ${result.seconds.toFixed(0)} s → ${join(outputDir, `${n}.json`)}`);
      }
      if (name === 'all') {
        const wallSeconds = Math.round((performance.now() - tAll) / 100) / 10;
        writeFileAtomic(join(outputDir, 'all.json'), `${JSON.stringify({ experiment: 'all', command, jobs, wallSeconds, quick: !!opts.quick, cpus: cpus().length, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100), date: new Date().toISOString().slice(0, 10) }, null, 1)}\n`, 'experiment results');
      }
      if (reportPath) {
        // Imported late: Vega is only needed here, and the report reads whatever JSON is present.
        const { writeReport } = await import('../../experiments/results-md.js');
        await writeReport(outputDir, reportPath);
        say(`wrote ${reportPath}`);
      }
      const totalSeconds = (performance.now() - tAll) / 1000;
      if (global.json) console.log(JSON.stringify({ experiments: summaries, seconds: totalSeconds, out: outputDir, report: reportPath }, null, 2));
      else if (name === 'all') say(`all done in ${(totalSeconds / 60).toFixed(1)} min`);
    });
}
