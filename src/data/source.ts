// Where a command's images come from: the bundled MNIST digits, Debian's Fashion-MNIST, or IDX files.
import { ConfigError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { loadBundledMnist } from './mnist.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { datasetFromIdx, readIdxFile } from './idx.js';
import { loadImageFolder } from './image-folder.js';
import { loadWavFolder, type KwsFrontEnd } from './wav-folder.js';

export const DATA_HELP = "mnist (bundled), fashion-mnist (Debian package dataset-fashion-mnist), idx:IMAGES,LABELS (IDX files, raw or .gz), folder:DIR (one sub-folder of PNGs per class, resized to the model's input), or wav:DIR (one sub-folder of .wav clips per class, named by word; MLPerf Tiny KWS MFCC features)";

export interface AudioOptions {
  /** The model's output labels, if it has them: a wav folder named like a label gets that label's class id. */
  classOrder?: readonly string[];
  /** Computes a clip's features (the device front end: createMfccFrontEnd() in src/kernels/mfcc.ts). */
  frontEnd?: KwsFrontEnd;
}

/** inputShape: the model's [H, W, C], used to resize image folders; audio: what wav:DIR needs. */
export async function loadData(spec: string, split: 'train' | 'test' = 'train', inputShape: readonly number[] = [28, 28, 1], audio: AudioOptions = {}): Promise<Dataset> {
  if (spec === 'mnist') return loadBundledMnist();
  if (spec === 'fashion-mnist') return loadFashionMnist(split);
  if (spec.startsWith('idx:')) {
    const [images, labels] = spec.slice(4).split(',');
    if (!images || !labels) throw new ConfigError(`--data idx: needs two paths, 'idx:IMAGES,LABELS', got '${spec}'`);
    return datasetFromIdx(images, await readIdxFile(images), await readIdxFile(labels));
  }
  if (spec.startsWith('folder:')) {
    const [h, w, c] = inputShape;
    if (h === undefined || w === undefined || (c !== 1 && c !== 3)) throw new ConfigError(`an image folder needs a model with an [H, W, 1|3] input, got [${inputShape.join(', ')}]`);
    return loadImageFolder(spec.slice(7), { size: [h, w], channels: c });
  }
  if (spec.startsWith('wav:')) {
    if (!audio.frontEnd) throw new ConfigError(`--data ${spec}: this command does not take audio yet (wav:DIR works with adapt and experiment kws)`);
    return loadWavFolder(spec.slice(4), { frontEnd: audio.frontEnd, ...(audio.classOrder ? { classOrder: audio.classOrder } : {}) });
  }
  throw new ConfigError(`unknown data source '${spec}'; use ${DATA_HELP}`);
}

/** "5-9" → [5..9]; "1,3,8" → [1,3,8]; with class names, "yes,no" → their ids. */
export function parseClassList(text: string, classNames?: readonly string[]): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const named = classNames?.indexOf(part.trim()) ?? -1;
    if (named >= 0) {
      out.push(named);
      continue;
    }
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new ConfigError(`class list '${text}' is not like '5-9' or '1,3,8'${classNames ? ` or names from ${classNames.join(', ')}` : ''}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new ConfigError(`class range '${part}' runs backwards`);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return [...new Set(out)];
}
