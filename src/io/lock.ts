// One run per checkpoint directory (Node only). Two runs writing the same directory delete each
// other's files; a resume started during another run's save removes its temporary file. The lock is
// a file created with O_EXCL holding the owner's PID and its start time (from /proc where there is
// one, so a recycled PID is not mistaken for the owner). A lock whose owner is gone is stale: it is
// taken over, which is the normal case after a SIGKILL or a power cut.
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { FileError } from '../errors.js';

export const LOCK_NAME = '.lastmile.lock';

interface Owner {
  pid: number;
  started: string | null;
}

function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the ')' that ends the command name.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(owner: Owner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = startTime(owner.pid);
  return owner.started === null || now === null || now === owner.started;
}

function readOwner(path: string): Owner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>;
    return Number.isInteger(o.pid) && o.pid! > 0 ? { pid: o.pid!, started: typeof o.started === 'string' ? o.started : null } : null;
  } catch {
    return null;
  }
}

export interface DirectoryLock {
  readonly path: string;
  release(): void;
}

/** Take the lock on dir or throw FileError('busy') naming the PID that holds it. */
export function lockDirectory(dir: string, flag = '--checkpoint'): DirectoryLock {
  const path = join(dir, LOCK_NAME);
  const me: Owner = { pid: process.pid, started: startTime(process.pid) };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FileError('unwritable', `cannot lock ${flag} directory '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; choose a writable directory`);
      const owner = readOwner(path);
      if (owner && owner.pid !== process.pid && alive(owner)) {
        throw new FileError('busy', `${flag} directory '${dir}' is in use by another lastmile run (PID ${owner.pid}); wait for it to finish or use another directory`);
      }
      // Stale (owner gone) or unreadable (its writer died before writing it): move it aside
      // atomically, so of two runs taking over at once only one removes it, then retry.
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
        rmSync(aside, { force: true });
      } catch {
        // another run took it over first; the retry sees its lock
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      const owner = readOwner(path);
      if (owner?.pid === process.pid) rmSync(path, { force: true });
    };
    process.on('exit', release);
    return { path, release };
  }
  throw new FileError('busy', `${flag} directory '${dir}': could not take its lock; another lastmile run is starting in it — use another directory or retry`);
}
