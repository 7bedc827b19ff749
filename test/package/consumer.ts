// A consumer project for the packaging suite: the packed tarball installed into a fresh folder under
// the system temp dir, where nothing can resolve the repository's node_modules.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, lstat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = join(import.meta.dirname, '..', '..');

export interface Consumer {
  dir: string;
  tarball: string;
  /** Size of the tarball and of its unpacked files, as npm pack reports them. */
  packedBytes: number;
  unpackedBytes: number;
}

export async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

/** npm pack (which builds through `prepare`), then install the tarball into a new project. */
export async function installPackedTarball(npmInstallFlags: string[]): Promise<Consumer> {
  const root = await mkdtemp(join(tmpdir(), 'lastmile-package-'));
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', root], REPO);
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; size: number; unpackedSize: number }[];
  const tarball = join(root, info!.filename);
  const dir = join(root, 'consumer');
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  await sh('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', ...npmInstallFlags], dir);
  return { dir, tarball, packedBytes: info!.size, unpackedBytes: info!.unpackedSize };
}

/** Apparent size of a folder as `du -sb` counts it: every file, link and folder entry, links not followed. */
export async function folderBytes(dir: string): Promise<number> {
  let total = (await lstat(dir)).size;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await folderBytes(path) : (await lstat(path)).size;
  }
  return total;
}

export async function installedPackages(nodeModules: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    if (entry.name.startsWith('@')) {
      for (const sub of await readdir(join(nodeModules, entry.name))) names.push(`${entry.name}/${sub}`);
    } else names.push(entry.name);
  }
  return names.sort();
}
