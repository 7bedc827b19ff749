// Checkpoints in a directory (Node only). A save is atomic and durable the POSIX way: write a
// temporary file, fsync it, rename it over the final name, fsync the directory. A power cut or
// SIGKILL at any instruction leaves either the previous file or the new one, never a torn one; the
// temporary file it may leave behind is never read and is removed on the next open.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError, LastmileError } from '../errors.js';
import { checkpointStep, MAX_CHECKPOINT_BYTES, type CheckpointStore } from './checkpoint.js';
import { readBounded, notRegular } from '../io/bounded-read.js';
import { syncDirectory } from '../io/atomic-write.js';
import { lockDirectory, type DirectoryLock } from '../io/lock.js';

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
    // A directory, FIFO or device named like a checkpoint would hang the resume or break pruning
    // after training: refuse it now.
    for (const name of readdirSync(dir)) {
      if (checkpointStep(name) === null) continue;
      const s = statSync(join(dir, name), { throwIfNoEntry: false });
      if (s && !s.isFile()) {
        throw notRegular(join(dir, name), 'checkpoint', s);
      }
    }
  }

  private held: DirectoryLock | null = null;

  /**
   * One run per directory: another live process holding it is a FileError('busy'). Take it before
   * removing temporaries or reading checkpoints; it is released by unlock or at process exit, and a
   * lock whose process died (SIGKILL, power cut) is stale and taken over.
   */
  lock(): boolean {
    if (this.held) return false;
    this.held = lockDirectory(this.dir);
    return true;
  }

  unlock(): void {
    this.held?.release();
    this.held = null;
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
    // Bounded while reading: a hostile or runaway file must not make us allocate it.
    try {
      return await readBounded(path, { maxBytes: MAX_CHECKPOINT_BYTES, what: 'checkpoint' });
    } catch (e) {
      if (e instanceof LastmileError) throw new FormatError(e.message);
      throw e;
    }
  }

  async remove(name: string): Promise<void> {
    rmSync(join(this.dir, name), { force: true });
    syncDirectory(this.dir);
  }
}
