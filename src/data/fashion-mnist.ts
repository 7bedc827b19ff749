// Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files, gzip).
import { DataError } from '../errors.js';
import { datasetFromIdx, readIdxFile } from './idx.js';
import type { Dataset } from './dataset.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

async function findFile(dir: string, stem: string): Promise<string> {
  const { access } = await import('node:fs/promises');
  for (const candidate of [`${stem}.gz`, stem]) {
    try {
      await access(`${dir}/${candidate}`);
      return `${dir}/${candidate}`;
    } catch {
      /* try the next spelling */
    }
  }
  throw new DataError(`Fashion-MNIST file '${stem}(.gz)' not found in ${dir}: install it with 'apt-get install dataset-fashion-mnist' (Debian) or pass the IDX files' folder`);
}

export async function loadFashionMnist(split: 'train' | 'test', dir = FASHION_MNIST_DIR): Promise<Dataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = await readIdxFile(await findFile(dir, `${prefix}-images-idx3-ubyte`));
  const labels = await readIdxFile(await findFile(dir, `${prefix}-labels-idx1-ubyte`));
  return datasetFromIdx(`fashion-mnist-${split}`, images, labels, 10, FASHION_CLASSES);
}
