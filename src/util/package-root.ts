// The installed package's root folder (Node only): shipped models live under it.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_NAME } from './package-name.js';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === PACKAGE_NAME) return (cached = dir);
    dir = dirname(dir);
  }
  throw new Error(`cannot find the ${PACKAGE_NAME} package root`);
}

export const shippedModel = (file: string): string => join(packageRoot(), 'models', file);
