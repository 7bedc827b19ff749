// The one way lastmile writes a result file (Node only): a temporary file in the same directory,
// fsync, rename over the final name, fsync the directory. A crash, a full disk or a read-only file
// system leaves the previous file or the new one, never a torn one, and never a stray temporary.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileError } from '../errors.js';

/** Temporary files of interrupted writes start with this, so nothing mistakes them for results. */
export const TEMPORARY_PREFIX = '.lastmile-tmp-';

export function writeError(path: string, e: unknown, what = 'file'): FileError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new FileError('no-space', `cannot write ${what} '${path}': no space left on the device; free some space or choose another --out`);
  if (code === 'EROFS') return new FileError('unwritable', `cannot write ${what} '${path}': the file system is read-only; choose a writable --out`);
  if (code === 'EACCES' || code === 'EPERM') return new FileError('unwritable', `cannot write ${what} '${path}': permission denied; choose a writable --out`);
  if (code === 'EISDIR') return new FileError('unwritable', `cannot write ${what} '${path}': it is a directory; give a file name`);
  if (code === 'ENOTDIR') return new FileError('unwritable', `cannot write ${what} '${path}': a part of the path is a file, not a directory; choose another --out`);
  return new FileError('unwritable', `cannot write ${what} '${path}': ${code ?? (e as Error).message}; choose another --out`);
}

/** fsync a directory so a rename or unlink in it is durable; file systems that cannot are left as they are. */
export function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // EINVAL/EPERM where directories cannot be synced: the rename is as durable as the platform allows.
  } finally {
    closeSync(fd);
  }
}

/** Write bytes (or UTF-8 text) to path atomically and durably; a FileError (typed by reason) on failure. */
export function writeFileAtomic(path: string, data: Uint8Array | string, what = 'file'): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const dir = dirname(path);
  const tmp = join(dir, `${TEMPORARY_PREFIX}${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the write error is the one to report
      }
    }
    rmSync(tmp, { force: true });
    throw writeError(path, e, what);
  }
  syncDirectory(dir);
}
