// Optional npm packages (ONNX protobufs, the Vega chart renderer) are loaded on first use, so the
// core installs without them (`npm install --omit=optional`). A missing one becomes a typed error
// that names the package to install, instead of a module-resolution stack trace.
import { UnsupportedError } from '../errors.js';

export class MissingPackageError extends UnsupportedError {
  /** The npm package that is not installed. */
  readonly packageName: string;
  constructor(packageName: string, purpose: string) {
    super(`${purpose} needs the optional package '${packageName}', which is not installed: run 'npm install ${packageName}'`);
    this.packageName = packageName;
  }
}

function isMissing(e: unknown, packageName: string): boolean {
  const error = e as { code?: unknown; message?: unknown };
  const message = typeof error?.message === 'string' ? error.message : '';
  if (!message.includes(`'${packageName}'`) && !message.includes(`"${packageName}"`)) return false;
  return error.code === 'ERR_MODULE_NOT_FOUND' || error.code === 'MODULE_NOT_FOUND' || /Cannot find (package|module)/.test(message);
}

/**
 * Run `load` (a literal `import('pkg')`, so bundlers and type checkers still see the package) and
 * turn "package not installed" into MissingPackageError; any other failure passes through.
 */
export async function importOptional<T>(packageName: string, purpose: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (isMissing(e, packageName)) throw new MissingPackageError(packageName, purpose);
    throw e;
  }
}
