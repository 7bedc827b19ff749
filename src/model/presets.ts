// Architecture presets: the four MLPerf Tiny reference models (the standard MCU-scale workloads)
// and two small MNIST models. Batch-norm layers of the originals are folded into conv/dense biases,
// as TFLite converters do, so each preset is exactly the graph an MCU would run.
import { ConfigError } from '../errors.js';
import type { Architecture } from './graph.js';
import type { Activation, ModelNode, Padding } from './layers.js';

const conv = (name: string, filters: number, k: [number, number], s: number, padding: Padding = 'same', activation: Activation = 'relu', inputs?: string[]): ModelNode => ({
  kind: 'conv2d', name, filters, kernel: k, stride: [s, s], padding, activation, ...(inputs ? { inputs } : {}),
});
const dw = (name: string, s: number, activation: Activation = 'relu'): ModelNode => ({
  kind: 'depthwise', name, depthMultiplier: 1, kernel: [3, 3], stride: [s, s], padding: 'same', activation,
});
const dense = (name: string, units: number, activation: Activation = 'none'): ModelNode => ({ kind: 'dense', name, units, activation });

/** MLPerf Tiny keyword spotting DS-CNN (49×10 MFCC input, 12 classes). */
function dsCnn(): Architecture {
  const nodes: ModelNode[] = [{ kind: 'input', name: 'input', shape: [49, 10, 1] }, conv('conv1', 64, [10, 4], 2)];
  for (let i = 1; i <= 4; i++) nodes.push(dw(`dw${i}`, 1), conv(`pw${i}`, 64, [1, 1], 1));
  nodes.push({ kind: 'avgpool', name: 'pool', pool: [25, 5], stride: [25, 5], padding: 'valid' }, dense('logits', 12));
  return { name: 'ds-cnn', nodes };
}

/** MLPerf Tiny image classification ResNet-8 (CIFAR-10, 32×32×3). */
function resnet8(): Architecture {
  const nodes: ModelNode[] = [{ kind: 'input', name: 'input', shape: [32, 32, 3] }, conv('conv1', 16, [3, 3], 1)];
  let prev = 'conv1';
  const stacks: [number, number][] = [[16, 1], [32, 2], [64, 2]];
  stacks.forEach(([filters, stride], i) => {
    const s = `s${i + 1}`;
    nodes.push(conv(`${s}a`, filters, [3, 3], stride, 'same', 'relu', [prev]), conv(`${s}b`, filters, [3, 3], 1, 'same', 'none'));
    let shortcut = prev;
    if (stride !== 1) {
      nodes.push(conv(`${s}proj`, filters, [1, 1], stride, 'same', 'none', [prev]));
      shortcut = `${s}proj`;
    }
    nodes.push({ kind: 'add', name: `${s}add`, inputs: [`${s}b`, shortcut], activation: 'relu' });
    prev = `${s}add`;
  });
  nodes.push({ kind: 'globalavgpool', name: 'pool' }, dense('logits', 10));
  return { name: 'resnet8', nodes };
}

/** MLPerf Tiny visual wake words MobileNetV1 with width multiplier 0.25 (96×96×3, 2 classes). */
function mobilenetV1025(): Architecture {
  const nodes: ModelNode[] = [{ kind: 'input', name: 'input', shape: [96, 96, 3] }, conv('conv1', 8, [3, 3], 2)];
  const blocks: [number, number][] = [[16, 1], [32, 2], [32, 1], [64, 2], [64, 1], [128, 2], [128, 1], [128, 1], [128, 1], [128, 1], [128, 1], [256, 2], [256, 1]];
  blocks.forEach(([filters, stride], i) => nodes.push(dw(`dw${i + 1}`, stride), conv(`pw${i + 1}`, filters, [1, 1], 1)));
  nodes.push({ kind: 'globalavgpool', name: 'pool' }, dense('logits', 2));
  return { name: 'mobilenetv1-0.25', nodes };
}

/** MLPerf Tiny anomaly detection FC auto-encoder (640 log-mel features). */
function fcAutoencoder(): Architecture {
  const nodes: ModelNode[] = [{ kind: 'input', name: 'input', shape: [640] }];
  for (let i = 1; i <= 4; i++) nodes.push(dense(`enc${i}`, 128, 'relu'));
  nodes.push(dense('bottleneck', 8, 'relu'));
  for (let i = 1; i <= 4; i++) nodes.push(dense(`dec${i}`, 128, 'relu'));
  nodes.push(dense('output', 640));
  return { name: 'fc-autoencoder', nodes };
}

/** A small CNN for 28×28 digits: the shipped backbones use it (≈ 6 K parameters). */
function mnistCnn(): Architecture {
  return {
    name: 'mnist-cnn',
    nodes: [
      { kind: 'input', name: 'input', shape: [28, 28, 1] },
      conv('conv1', 8, [3, 3], 1),
      { kind: 'maxpool', name: 'pool1', pool: [2, 2], stride: [2, 2], padding: 'valid' },
      conv('conv2', 16, [3, 3], 1),
      { kind: 'maxpool', name: 'pool2', pool: [2, 2], stride: [2, 2], padding: 'valid' },
      conv('conv3', 32, [3, 3], 1),
      { kind: 'globalavgpool', name: 'gap' },
      dense('logits', 10),
    ],
  };
}

/** A two-hidden-layer MLP for 28×28 digits. */
function mlp(): Architecture {
  return {
    name: 'mlp',
    nodes: [{ kind: 'input', name: 'input', shape: [784] }, dense('fc1', 128, 'relu'), dense('fc2', 64, 'relu'), dense('logits', 10)],
  };
}

const PRESETS: Record<string, () => Architecture> = {
  'ds-cnn': dsCnn,
  resnet8,
  'mobilenetv1-0.25': mobilenetV1025,
  'fc-autoencoder': fcAutoencoder,
  'mnist-cnn': mnistCnn,
  mlp,
};

export const ARCHITECTURE_PRESETS = Object.keys(PRESETS);
export const MLPERF_TINY_PRESETS = ['ds-cnn', 'resnet8', 'mobilenetv1-0.25', 'fc-autoencoder'];

export function architecturePreset(name: string): Architecture {
  const make = PRESETS[name];
  if (!make) throw new ConfigError(`unknown architecture preset '${name}'; known: ${ARCHITECTURE_PRESETS.join(', ')}`);
  return make();
}
