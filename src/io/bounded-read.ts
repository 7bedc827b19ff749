// The one way lastmile reads a file a user points at (Node only). stat() says 0 B for /dev/zero and
// a FIFO blocks open() until a writer appears, so sizes are not trusted: the file is opened
// non-blocking, fstat'ed (the same inode that will be read), refused unless it is a regular file,
// and read in chunks that stop one byte past the cap — memory never exceeds the cap, however the
// file lies about its size or grows while being read.
import { open, type FileHandle } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { FileError, FormatError } from '../errors.js';

export interface BoundedReadOptions {
  /** Largest accepted file, in bytes. */
  maxBytes: number;
  /** What the file is, for messages ("model", "IDX file", "checkpoint"). */
  what: string;
}

const CHUNK = 1 << 20;

/** Names the kind of a non-regular file for an error message. */
export function fileKind(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

export function notRegular(path: string, what: string, s: Stats): FileError {
  return new FileError('not-regular', `${what} '${path}' is ${fileKind(s)}, not a regular file; point at the file itself`);
}

async function openRegular(path: string, what: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused right after by fstat.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'ENOENT' ? 'check the path' : err.code === 'EACCES' ? 'check its permissions' : 'check the path';
    throw new FileError('unreadable', `cannot read ${what} '${path}': ${err.code ?? err.message}; ${hint}`);
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw notRegular(path, what, s);
    return { handle, size: s.size };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Read a whole regular file of at most maxBytes; anything else is a FileError before any large allocation. */
export async function readBounded(path: string, { maxBytes, what }: BoundedReadOptions): Promise<Uint8Array> {
  const { handle, size } = await openRegular(path, what);
  try {
    if (size > maxBytes) throw tooLarge(path, what, size, maxBytes);
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(CHUNK, maxBytes + 1 - total);
      const buf = new Uint8Array(want);
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(buf, 0, want, null));
      } catch (e) {
        throw new FileError('unreadable', `cannot read ${what} '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      if (n === 0) break;
      chunks.push(n === want ? buf : buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooLarge(path, what, `more than ${maxBytes}`, maxBytes);
    }
    return concat(chunks, total);
  } finally {
    await handle.close();
  }
}

function tooLarge(path: string, what: string, size: number | string, maxBytes: number): FileError {
  return new FileError('too-large', `${what} '${path}' is ${size} B, larger than the ${maxBytes} B limit for a ${what}; check that this is the right file`);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.byteLength === chunks[0]!.buffer.byteLength) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Inflate gzip data, streaming, and stop as soon as the output passes maxOutput: a small file that
 * inflates to gigabytes costs at most maxOutput bytes (plus one chunk), not its full size.
 */
export async function gunzipBounded(bytes: Uint8Array, maxOutput: number, what: string): Promise<Uint8Array> {
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  const chunks: Uint8Array[] = [];
  let total = 0;
  return new Promise<Uint8Array>((resolve, reject) => {
    let done = false;
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      gunzip.destroy();
      reject(e);
    };
    gunzip.on('data', (c: Buffer) => {
      total += c.length;
      if (total > maxOutput) return fail(new FormatError(`${what}: gzip data inflates to more than the ${maxOutput} B limit; check that this is the right file`));
      chunks.push(c);
    });
    gunzip.on('error', (e) => fail(new FormatError(`${what}: gzip data is corrupt or truncated (${(e as NodeJS.ErrnoException).code ?? e.message}); re-download or re-export it`)));
    gunzip.on('end', () => {
      if (done) return;
      done = true;
      resolve(concat(chunks, total));
    });
    gunzip.end(bytes);
  });
}

/** readBounded, then gunzipBounded if the bytes are gzip. */
export async function readMaybeGzip(path: string, o: BoundedReadOptions & { maxOutput: number }): Promise<Uint8Array> {
  const bytes = await readBounded(path, o);
  return isGzip(bytes) ? gunzipBounded(bytes, o.maxOutput, `${o.what} '${path}'`) : bytes;
}
