// Output paths are checked before any training (Node only): a run that cannot write its result must
// fail in a second, not after an hour of training. Each check creates the missing folders, then
// proves the folder writable by writing, syncing and deleting a probe file — the only test that
// catches read-only mounts, full disks and permission rules alike — and compares the free space
// with what the outputs will need.
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileError } from '../errors.js';
import { TEMPORARY_PREFIX, writeError } from './atomic-write.js';
import { fileKind } from './bounded-read.js';

/** Create dir and its missing parents one level at a time (mkdir -p on Node 20 can spin under /proc). */
function makeDirs(dir: string, flag: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    let s;
    try {
      s = statSync(d);
    } catch {
      missing.push(d);
      if (dirname(d) === d) break;
      continue;
    }
    if (!s.isDirectory()) throw new FileError('unwritable', `${flag} '${dir}': '${d}' is ${s.isFile() ? 'a file' : fileKind(s)}, not a directory; choose another ${flag}`);
    break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(dir, e, `${flag} folder`);
    }
  }
}

/** Write, sync and delete a probe of `bytes` bytes in dir: fails now on a read-only or full file system. */
function probe(dir: string, flag: string, bytes: number): void {
  const path = join(dir, `${TEMPORARY_PREFIX}probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | null = null;
  try {
    fd = openSync(path, 'wx');
    const block = new Uint8Array(Math.min(bytes, 1 << 20));
    for (let left = bytes; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(left, block.length));
    fsyncSync(fd);
  } catch (e) {
    throw writeError(dir, e, `${flag} folder`);
  } finally {
    if (fd !== null) closeSync(fd);
    rmSync(path, { force: true });
  }
}

function checkSpace(dir: string, flag: string, needBytes: number): void {
  let free: number;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    return; // not knowable here: the probe and the atomic write still protect the result
  }
  if (free < needBytes) {
    throw new FileError('no-space', `${flag} '${dir}': ${free} B free, the outputs need about ${needBytes} B; free some space or choose another ${flag}`);
  }
}

/**
 * An output folder (adapt --out): created if missing; an existing non-directory is refused; it must
 * take a probe file and have room for needBytes.
 */
export function checkOutputDir(dir: string, flag: string, needBytes: number): void {
  makeDirs(dir, flag);
  probe(dir, flag, Math.min(needBytes, 1 << 20));
  checkSpace(dir, flag, needBytes);
}

/**
 * An output file (pretrain --out, export --out, …): its folder is checked as above; the file itself
 * may exist only as a regular file (it is replaced atomically).
 */
export function checkOutputFile(file: string, flag: string, needBytes: number): void {
  let s;
  try {
    s = statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new FileError('unwritable', `${flag} '${file}': a part of the path is a file, not a directory; choose another ${flag}`);
  }
  if (s && !s.isFile()) throw new FileError('unwritable', `${flag} '${file}' is ${fileKind(s)}; give a file name to write`);
  checkOutputDir(dirname(file), flag, needBytes);
}
