// When the final write of a trained model fails (disk full, file system gone read-only mid-run), the
// weights must not die with the process: they go to the first of a few fallback folders that takes
// them, and the error says where.
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileError, LastmileError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';

/** Write the bytes to a fresh folder under tmpdir, the working directory or home; returns the path, or null if none took them. */
export function rescueFile(name: string, bytes: Uint8Array, folders = [tmpdir(), process.cwd(), homedir()]): string | null {
  for (const base of folders) {
    try {
      const dir = mkdtempSync(join(base, 'lastmile-rescued-'));
      const path = join(dir, name);
      writeFileAtomic(path, bytes);
      return path;
    } catch {
      // try the next folder
    }
  }
  return null;
}

/**
 * Run the final writes; if one fails, rescue the trained model and rethrow the failure (typed) with
 * where the model now is.
 */
export async function writeOrRescue(write: () => Promise<void> | void, model: { name: string; bytes: Uint8Array }): Promise<void> {
  try {
    await write();
  } catch (e) {
    if (!(e instanceof LastmileError)) throw e;
    const saved = rescueFile(model.name, model.bytes);
    const where = saved ? `the trained model was saved to ${saved}` : 'the trained model could not be saved anywhere (tmpdir, working directory and home all refused it)';
    throw new FileError(e instanceof FileError ? e.reason : 'unwritable', `${e.message}; ${where}`);
  }
}
