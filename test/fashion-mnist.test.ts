import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { loadFashionMnist, FASHION_MNIST_DIR } from '../src/data/fashion-mnist.js';
import { validateDataset } from '../src/data/dataset.js';
import { DataError } from '../src/errors.js';

// CI installs Debian's dataset-fashion-mnist; on a machine without it these tests say so and skip.
const installed = existsSync(FASHION_MNIST_DIR);

describe.skipIf(!installed)('Fashion-MNIST from the Debian package', () => {
  it('loads 60,000 training and 10,000 test images of 28×28 with 10 balanced classes', async () => {
    const train = await loadFashionMnist('train');
    const test = await loadFashionMnist('test');
    expect(train.labels.length).toBe(60000);
    expect(test.labels.length).toBe(10000);
    expect(train.shape).toEqual([28, 28, 1]);
    validateDataset(test);
    const counts = new Array(10).fill(0);
    for (const l of test.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});

describe('Fashion-MNIST when missing', () => {
  it('says how to install it', async () => {
    await expect(loadFashionMnist('test', '/nonexistent/fashion')).rejects.toThrow(DataError);
    await expect(loadFashionMnist('test', '/nonexistent/fashion')).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
  });
});
