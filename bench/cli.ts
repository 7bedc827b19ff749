// One command line for every suite: --quick, --json DIR (each suite writes DIR/<suite>.json; a path
// ending in .json is taken as the file itself, which the kernel suite has always accepted), --filter.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface BenchArgs {
  quick: boolean;
  /** Where this suite's JSON goes, if asked for. */
  json?: string;
  filter?: string;
}

export const DEFAULT_RESULTS_DIR = 'bench/results';

export function parseBenchArgs(argv: readonly string[], suite: string): BenchArgs {
  const args: BenchArgs = { quick: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--json' || a === '--filter') {
      const value = argv[++i];
      if (!value || value.startsWith('--')) throw new Error(`${a} needs a value`);
      if (a === '--json') args.json = jsonPath(value, suite);
      else args.filter = value;
    } else throw new Error(`unknown argument '${a}' (use --quick, --json DIR, --filter TEXT)`);
  }
  return args;
}

export function jsonPath(value: string, suite: string): string {
  return value.endsWith('.json') ? value : path.join(value, `${suite}.json`);
}

export async function writeJson(file: string, data: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(data, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
}

/** Whether the file is the entry point (not imported by a test or by bench/all.ts). */
export function isEntryPoint(url: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const file = new URL(url).pathname;
  return path.resolve(entry) === file || path.resolve(entry) + '.ts' === file;
}

/** Run a suite's main() when its file is the entry point; a failure prints its stack and sets exit code 1. */
export function runIfEntryPoint(url: string, main: () => Promise<void>): void {
  if (!isEntryPoint(url)) return;
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exitCode = 1;
  });
}
