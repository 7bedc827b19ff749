// One typed error per failure family. Every message says what was expected, what was found and
// what to do, so a user can act on it without reading a stack trace.

export type ErrorFamily = 'budget' | 'format' | 'shape' | 'data' | 'config' | 'unsupported' | 'file';

export class LastmileError extends Error {
  readonly family: ErrorFamily;
  constructor(family: ErrorFamily, message: string) {
    super(message);
    this.family = family;
    this.name = new.target.name;
  }
}

/** A model, mode or kernel call does not fit the device's SRAM or flash budget. */
export class BudgetError extends LastmileError {
  constructor(message: string) {
    super('budget', message);
  }
}

/** A file (model, checkpoint, IDX, PNG) is truncated, corrupt or hostile. */
export class FormatError extends LastmileError {
  constructor(message: string) {
    super('format', message);
  }
}

/** Tensor shapes, sizes or buffer bounds do not agree. */
export class ShapeError extends LastmileError {
  constructor(message: string) {
    super('shape', message);
  }
}

/** Input data is unusable: NaN/Inf, labels out of range, empty classes. */
export class DataError extends LastmileError {
  constructor(message: string) {
    super('data', message);
  }
}

/** An option or parameter is out of its valid range. */
export class ConfigError extends LastmileError {
  constructor(message: string) {
    super('config', message);
  }
}

/** The engine lacks a feature a requested build needs (e.g. relaxed SIMD). */
export class UnsupportedError extends LastmileError {
  constructor(message: string) {
    super('unsupported', message);
  }
}

/**
 * A path the user gave cannot be used as asked: not a regular file (a device, FIFO, directory or
 * socket), unreadable, not writable, out of space, or a checkpoint directory another run holds.
 * `reason` lets callers and `--json` output tell these apart without parsing the message.
 */
export class FileError extends LastmileError {
  readonly reason: 'not-regular' | 'too-large' | 'unreadable' | 'unwritable' | 'no-space' | 'busy';
  constructor(reason: FileError['reason'], message: string) {
    super('file', message);
    this.reason = reason;
  }
}
