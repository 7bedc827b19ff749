// Writes Fashion-MNIST test images of a few classes as a PNG image folder (one sub-folder per class),
// the data source `--data folder:DIR` reads at any model's input size.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { FASHION_CLASSES, loadFashionMnist } from '../../src/data/fashion-mnist.js';

export async function writeFashionFolder(dir: string, classes: number[], perClass: number, names?: string[]): Promise<void> {
  const data = await loadFashionMnist('test');
  const [h, w] = data.shape;
  for (const [k, c] of classes.entries()) {
    const sub = join(dir, names?.[k] ?? FASHION_CLASSES[c]!.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase());
    mkdirSync(sub, { recursive: true });
    let written = 0;
    for (let i = 0; i < data.labels.length && written < perClass; i++) {
      if (data.labels[i] !== c) continue;
      const png = new PNG({ width: w, height: h });
      for (let p = 0; p < h * w; p++) {
        const v = Math.round(data.images[i * h * w + p]! * 255);
        png.data[4 * p] = v;
        png.data[4 * p + 1] = v;
        png.data[4 * p + 2] = v;
        png.data[4 * p + 3] = 255;
      }
      writeFileSync(join(sub, `${String(written).padStart(4, '0')}.png`), PNG.sync.write(png));
      written++;
    }
  }
}

if (process.argv[1]?.endsWith('fashion-folder.ts')) {
  await writeFashionFolder(process.argv[2]!, (process.argv[3] ?? '0,1,7').split(',').map(Number), Number(process.argv[4] ?? 40));
}
