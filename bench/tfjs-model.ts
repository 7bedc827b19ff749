// The same architecture as a lastmile preset, built with TF.js layers, for the training comparison:
// conv/depthwise with TFLite 'same'/'valid' padding (TF.js uses the same rule), fused activations as
// the layer's activation, dense after a spatial tensor through an explicit flatten (our dense layer
// flattens NHWC implicitly), add + ReLU for residual joins. Layers outside the trainable selection are
// frozen (trainable = false) and the optimizer gets only the trainable variables.
import * as tf from '@tensorflow/tfjs';
import type { Architecture } from '../src/model/graph.js';
import type { Activation, ModelNode } from '../src/model/layers.js';
import { isExplicitPadding, type Padding } from '../src/kernels/geometry.js';
import { ConfigError } from '../src/errors.js';

const act = (a: Activation): 'linear' | 'relu' | 'relu6' => (a === 'none' ? 'linear' : a);

/** TF.js layers know only the 'same'/'valid' rules; explicit pads (imported ONNX models) have no TF.js layer. */
function tfjsPadding(node: { name: string; padding: Padding }): 'same' | 'valid' {
  if (isExplicitPadding(node.padding)) {
    throw new ConfigError(`layer '${node.name}' has explicit pads [${node.padding.join(', ')}], which TF.js layers cannot express; the TF.js comparison needs 'same' or 'valid' padding`);
  }
  return node.padding;
}

export interface TfjsModel {
  model: tf.LayersModel;
  trainable: tf.Variable[];
}

export function buildTfjsModel(arch: Architecture, trainable: ReadonlySet<string>): TfjsModel {
  const tensors = new Map<string, tf.SymbolicTensor>();
  const layers = new Map<string, tf.layers.Layer>();
  let input: tf.SymbolicTensor | undefined;
  let prev = '';
  for (const node of arch.nodes) {
    const inputs = (node.inputs ?? [prev]).map((n) => tensors.get(n)!);
    const x = inputs[0]!;
    let out: tf.SymbolicTensor;
    const add = (layer: tf.layers.Layer, from: tf.SymbolicTensor | tf.SymbolicTensor[]) => {
      layers.set(node.name, layer);
      return layer.apply(from) as tf.SymbolicTensor;
    };
    out = buildNode(node, x, inputs, add, (shape) => (input = tf.input({ shape, name: node.name })));
    tensors.set(node.name, out);
    prev = node.name;
  }
  const model = tf.model({ inputs: input!, outputs: tensors.get(prev)! });
  for (const [name, layer] of layers) if (!trainable.has(name)) layer.trainable = false;
  const vars: tf.Variable[] = [];
  for (const name of trainable) {
    for (const w of layers.get(name)?.trainableWeights ?? []) vars.push(w.read() as tf.Variable);
  }
  return { model, trainable: vars };
}

function buildNode(
  node: ModelNode, x: tf.SymbolicTensor, inputs: tf.SymbolicTensor[],
  add: (layer: tf.layers.Layer, from: tf.SymbolicTensor | tf.SymbolicTensor[]) => tf.SymbolicTensor,
  makeInput: (shape: number[]) => tf.SymbolicTensor,
): tf.SymbolicTensor {
  const name = node.name;
  switch (node.kind) {
    case 'input':
      return makeInput(node.shape);
    case 'conv2d':
      return add(tf.layers.conv2d({ name, filters: node.filters, kernelSize: node.kernel, strides: node.stride, padding: tfjsPadding(node), activation: act(node.activation) }), x);
    case 'depthwise':
      return add(tf.layers.depthwiseConv2d({ name, kernelSize: node.kernel, strides: node.stride, padding: tfjsPadding(node), depthMultiplier: node.depthMultiplier, activation: act(node.activation) }), x);
    case 'dense': {
      const flat = x.shape.length > 2 ? (tf.layers.flatten({ name: `${name}_flatten` }).apply(x) as tf.SymbolicTensor) : x;
      return add(tf.layers.dense({ name, units: node.units, activation: act(node.activation) }), flat);
    }
    case 'maxpool':
      return add(tf.layers.maxPooling2d({ name, poolSize: node.pool, strides: node.stride, padding: tfjsPadding(node) }), x);
    case 'avgpool':
      return add(tf.layers.averagePooling2d({ name, poolSize: node.pool, strides: node.stride, padding: tfjsPadding(node) }), x);
    case 'globalavgpool':
      return add(tf.layers.globalAveragePooling2d({ name }), x);
    case 'add': {
      const sum = add(tf.layers.add({ name }), inputs);
      return node.activation === 'none' ? sum : (tf.layers.activation({ name: `${name}_act`, activation: act(node.activation) }).apply(sum) as tf.SymbolicTensor);
    }
    case 'flatten':
      return add(tf.layers.flatten({ name }), x);
    case 'relu':
    case 'relu6':
      return add(tf.layers.activation({ name, activation: node.kind }), x);
  }
}
