// The page's bundled sample set (web/assets/digits-5to9.bin, written by scripts/gen-web-samples.mjs)
// and its seeded train / held-out split. Pure: the worker, the page and the Node side of the browser
// test all read the same bytes through this module, so they see the same images in the same order.
import type { Dataset } from '../../src/data/dataset.js';
import { mulberry32, shuffle } from '../../src/util/random.js';

export interface SampleSet {
  height: number;
  width: number;
  classNames: string[];
  /** count × 1 label in 0..classNames.length−1. */
  labels: Uint8Array;
  /** count × height·width grey levels, 0 = background, 255 = ink. */
  pixels: Uint8Array;
  count: number;
}

const MAGIC = 'LMSD';

export function parseSampleSet(bytes: Uint8Array): SampleSet {
  const fail = (why: string): never => {
    throw new Error(`bundled sample set: ${why}; regenerate it with 'node scripts/gen-web-samples.mjs'`);
  };
  if (bytes.length < 12) fail(`${bytes.length} bytes is too short for the header`);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) fail(`it does not start with '${MAGIC}'`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(4) !== 1) fail(`unknown version ${view.getUint8(4)}`);
  const classes = view.getUint8(5);
  const height = view.getUint8(6);
  const width = view.getUint8(7);
  const count = view.getUint32(8, true);
  let at = 12;
  const classNames: string[] = [];
  for (let c = 0; c < classes; c++) {
    if (at >= bytes.length) fail('the class names run past the end');
    const length = bytes[at++]!;
    classNames.push(new TextDecoder().decode(bytes.subarray(at, at + length)));
    at += length;
  }
  const size = height * width;
  if (bytes.length !== at + count + count * size) fail(`expected ${at + count + count * size} bytes for ${count} images of ${height}×${width}, found ${bytes.length}`);
  const labels = bytes.subarray(at, at + count);
  if (labels.some((l) => l >= classes)) fail(`a label is outside 0..${classes - 1}`);
  return { height, width, classNames, labels, pixels: bytes.subarray(at + count), count };
}

export interface SplitOptions {
  /** Training images per class; every other image of the class is held out. */
  shotsPerClass: number;
  seed: number;
}

/** Indices of each class's training and held-out images, shuffled per class from the seed. */
export function splitSampleSet(set: SampleSet, o: SplitOptions): { train: number[]; heldOut: number[] } {
  if (!Number.isInteger(o.shotsPerClass) || o.shotsPerClass < 1) throw new Error(`shots per class must be a whole number ≥ 1, got ${o.shotsPerClass}`);
  const random = mulberry32(o.seed);
  const train: number[] = [];
  const heldOut: number[] = [];
  for (let c = 0; c < set.classNames.length; c++) {
    const members: number[] = [];
    set.labels.forEach((l, i) => {
      if (l === c) members.push(i);
    });
    if (members.length <= o.shotsPerClass) {
      throw new Error(`class '${set.classNames[c]}' has ${members.length} bundled images; ${o.shotsPerClass} per class for training would leave none held out`);
    }
    shuffle(members, random);
    train.push(...members.slice(0, o.shotsPerClass));
    heldOut.push(...members.slice(o.shotsPerClass));
  }
  return { train, heldOut };
}

/** One image as the model's input: grey levels in [0, 1]. */
export function imageValues(set: SampleSet, index: number): Float32Array {
  const size = set.height * set.width;
  return Float32Array.from(set.pixels.subarray(index * size, (index + 1) * size), (v) => v / 255);
}

/** Labelled images (values in [0, 1]) as a library Dataset. */
export function toDataset(name: string, images: readonly Float32Array[], labels: readonly number[], classNames: string[], shape: [number, number, number]): Dataset {
  const size = shape[0] * shape[1] * shape[2];
  const values = new Float32Array(images.length * size);
  images.forEach((img, i) => {
    if (img.length !== size) throw new Error(`image ${i} of '${name}' has ${img.length} values, the model takes ${size}`);
    values.set(img, i * size);
  });
  return { name, shape, images: values, labels: Int32Array.from(labels), classes: classNames.length, classNames };
}
