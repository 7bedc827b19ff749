// Optional packages (onnx-proto, vega, vega-lite) load on first use; a missing one must be a typed
// error naming it, and any other failure must pass through untouched.
import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '../src/errors.js';
import { importOptional, MissingPackageError } from '../src/util/optional-package.js';

describe('importOptional', () => {
  it('turns a package that is not installed into MissingPackageError naming it', async () => {
    const name = 'lastmile-no-such-package';
    const error = await importOptional(name, 'Drawing charts', () => import(/* @vite-ignore */ name)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPackageError);
    expect(error).toBeInstanceOf(UnsupportedError);
    const e = error as MissingPackageError;
    expect(e.family).toBe('unsupported');
    expect(e.packageName).toBe(name);
    expect(e.message).toBe(`Drawing charts needs the optional package '${name}', which is not installed: run 'npm install ${name}'`);
  });

  it('passes other failures through, including a different missing package deeper down', async () => {
    const boom = new Error('boom');
    await expect(importOptional('vega', 'Drawing charts', () => Promise.reject(boom))).rejects.toBe(boom);
    const deeper = Object.assign(new Error("Cannot find package 'd3-array' imported from /x/vega/index.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(importOptional('vega', 'Drawing charts', () => Promise.reject(deeper))).rejects.toBe(deeper);
  });

  it('returns the module when it is installed', async () => {
    const vega = await importOptional('vega', 'Drawing charts', () => import('vega'));
    expect(typeof vega.View).toBe('function');
  });
});
