// Checkpoints in a directory (Node only). A save is atomic and durable the POSIX way: write a
// temporary file, fsync it, rename it over the final name, fsync the directory. A power cut or
// SIGKILL at any instruction leaves either the previous file or the new one, never a torn one; the
// temporary file it may leave behind is never read and is removed on the next open.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError } from '../errors.js';
import { MAX_CHECKPOINT_BYTES, type CheckpointStore } from './checkpoint.js';

const TEMPORARY = /^\.ckpt-.*\.tmp-\d+$/;

export class FileCheckpointStore implements CheckpointStore {
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = dir;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new ConfigError(`cannot create the checkpoint directory '${dir}': ${(e as Error).message}; choose a writable path for --checkpoint`);
    }
    if (!statSync(dir).isDirectory()) throw new ConfigError(`checkpoint path '${dir}' is not a directory; give --checkpoint a directory`);
  }

  /** Delete temporary files left by a writer that died mid-save (call only when no writer is running). */
  removeTemporaries(): string[] {
    const stale = readdirSync(this.dir).filter((n) => TEMPORARY.test(n));
    for (const n of stale) rmSync(join(this.dir, n), { force: true });
    return stale;
  }

  async save(name: string, bytes: Uint8Array): Promise<void> {
    const tmp = join(this.dir, `.${name}.tmp-${process.pid}`);
    const fd = openSync(tmp, 'w');
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, name));
    syncDirectory(this.dir);
  }

  async list(): Promise<string[]> {
    return readdirSync(this.dir).filter((n) => !TEMPORARY.test(n));
  }

  async read(name: string): Promise<Uint8Array> {
    const path = join(this.dir, name);
    let size: number;
    try {
      size = statSync(path).size;
    } catch (e) {
      throw new FormatError(`${path}: cannot be read (${(e as Error).message})`);
    }
    // Bound the size before reading: a hostile or runaway file must not make us allocate it.
    if (size > MAX_CHECKPOINT_BYTES) throw new FormatError(`${path}: ${size} B is larger than the ${MAX_CHECKPOINT_BYTES} B limit for a checkpoint`);
    try {
      return new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new FormatError(`${path}: cannot be read (${(e as Error).message})`);
    }
  }

  async remove(name: string): Promise<void> {
    rmSync(join(this.dir, name), { force: true });
    syncDirectory(this.dir);
  }
}

/** fsync a directory so a rename or unlink in it is durable. Some platforms cannot open directories; there the rename is as durable as they allow. */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // EINVAL/EPERM on file systems without directory fsync: nothing more can be done.
  } finally {
    closeSync(fd);
  }
}
