// The CLI's one error path: every user error — a LastmileError from lastmile itself, a usage error
// from commander (unknown option or command, missing value or required option), a file the OS
// refused — becomes ONE line and exit status 2; with --json, a JSON object on stdout:
// {"error": {"type", "message", "hint"}}. Anything else is a bug: status 1 with its stack.
import { CommanderError } from 'commander';
import { LastmileError } from '../errors.js';

export interface CliError {
  type: string;
  message: string;
  hint: string;
}

const FAMILY_HINT: Record<string, string> = {
  budget: 'use a larger --device, a smaller batch, or fewer trainable layers',
  format: 'check that the file is the right one and intact',
  shape: 'check the model and data shapes',
  data: 'check the data source',
  config: 'check the option values (lastmile <command> --help)',
  unsupported: 'choose another --build',
  file: 'check the path',
};

/** Node's errno failures that can only come from a path the user gave. */
const USER_ERRNO = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ENOSPC', 'EROFS', 'EDQUOT', 'ELOOP', 'ENAMETOOLONG', 'EEXIST']);

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();

/** The remedy part of a message ("…; do this") as the hint, else the family's generic hint. */
function hintOf(message: string, family: string): string {
  const i = message.lastIndexOf('; ');
  return i > 0 && i < message.length - 2 ? message.slice(i + 2) : FAMILY_HINT[family] ?? '';
}

/** A user error as {type, message, hint}, or null if it is a bug. */
export function classify(e: unknown, command: string | undefined): CliError | null {
  const help = `run 'lastmile${command ? ` ${command}` : ''} --help' for the usage`;
  if (e instanceof LastmileError) {
    const message = oneLine(e.message);
    return { type: e.name, message, hint: hintOf(message, e.family) };
  }
  if (e instanceof CommanderError) {
    if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return { type: 'UsageError', message: 'no command given', hint: help };
    return { type: 'UsageError', message: oneLine(e.message.replace(/^error: /, '')), hint: help };
  }
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && USER_ERRNO.has(code)) {
    return { type: 'FileError', message: oneLine((e as Error).message), hint: 'check the path and its permissions' };
  }
  return null;
}

/** Print the error the way --json or a terminal wants it; the exit status to return. */
export function reportError(e: unknown, o: { json: boolean; command?: string }): number {
  const c = classify(e, o.command);
  if (c === null) {
    if (o.json) console.log(`${JSON.stringify({ error: { type: 'InternalError', message: oneLine(String((e as Error)?.message ?? e)), hint: 'this is a bug in lastmile; please report it with the command line' } })}`);
    throw e;
  }
  if (o.json) console.log(JSON.stringify({ error: c }));
  // lastmile's own messages carry their remedy; a usage error gets the pointer to --help.
  else console.error(`lastmile: ${c.message}${c.type === 'UsageError' ? ` (${c.hint})` : ''}`);
  return 2;
}
