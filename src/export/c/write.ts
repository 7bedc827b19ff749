// An output folder written completely or not at all: every file goes into a fresh temporary
// sibling folder (each fsynced), which is renamed into place only when all of them are written.
import { mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';

export async function writeFolderAtomically(out: string, files: ReadonlyMap<string, string>): Promise<void> {
  const target = resolve(out);
  const existing = await stat(target).catch(() => null);
  if (existing) throw new ConfigError(`output folder '${out}' already exists: choose a new folder (an export never overwrites one)`);
  await mkdir(dirname(target), { recursive: true });
  const temp = await mkdtemp(join(dirname(target), `.${basename(target)}.tmp-`));
  try {
    for (const [path, text] of files) {
      const file = join(temp, path);
      await mkdir(dirname(file), { recursive: true });
      const handle = await open(file, 'w');
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await rename(temp, target);
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
}
