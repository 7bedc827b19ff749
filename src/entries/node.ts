// `lastmile-qzo/node`: Node-only helpers that read files — the bundled MNIST digits, Fashion-MNIST
// and other IDX files, folders of PNGs, checkpoints on disk. Not for browsers.
export { loadBundledMnist } from '../data/mnist.js';
export { loadFashionMnist, FASHION_MNIST_DIR, FASHION_CLASSES } from '../data/fashion-mnist.js';
export { readIdxFile, parseIdx, datasetFromIdx, type IdxArray } from '../data/idx.js';
export { loadImageFolder, type ImageFolderOptions } from '../data/image-folder.js';
export { FileCheckpointStore } from '../train/checkpoint-store.js';
