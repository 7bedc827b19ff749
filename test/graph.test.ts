import { describe, it, expect } from 'vitest';
import { resolveGraph, totalMacs, paramNodes, convOutputSize, padBefore } from '../src/model/graph.js';
import { architecturePreset, ARCHITECTURE_PRESETS } from '../src/model/presets.js';
import { ShapeError, ConfigError } from '../src/errors.js';

describe('model graph shape inference', () => {
  it('follows TFLite same/valid output sizes and padding', () => {
    expect(convOutputSize(49, 10, 2, 'same')).toBe(25);
    expect(convOutputSize(10, 4, 2, 'same')).toBe(5);
    expect(convOutputSize(32, 3, 1, 'valid')).toBe(30);
    expect(convOutputSize(96, 3, 2, 'same')).toBe(48);
    expect(padBefore(49, 10, 2, 'same')).toBe(4); // total 9 → 4 before, 5 after
    expect(padBefore(96, 3, 2, 'same')).toBe(0); // total 1 → 0 before, 1 after
  });

  it('resolves the MLPerf Tiny presets to their published shapes and MAC counts', () => {
    const ds = resolveGraph(architecturePreset('ds-cnn'));
    expect(ds.nodes.find((n) => n.node.name === 'conv1')!.outShape).toEqual([25, 5, 64]);
    expect(ds.outputShape).toEqual([12]);
    // MLPerf Tiny reports ≈ 2.7 M MACs for DS-CNN and ≈ 12.5 M for ResNet-8.
    expect(totalMacs(ds) / 1e6).toBeCloseTo(2.66, 1);
    const rn = resolveGraph(architecturePreset('resnet8'));
    expect(rn.outputShape).toEqual([10]);
    expect(totalMacs(rn) / 1e6).toBeCloseTo(12.5, 0);
    const mb = resolveGraph(architecturePreset('mobilenetv1-0.25'));
    expect(mb.nodes.find((n) => n.node.name === 'pw13')!.outShape).toEqual([3, 3, 256]);
    expect(mb.outputShape).toEqual([2]);
    const ae = resolveGraph(architecturePreset('fc-autoencoder'));
    expect(ae.outputShape).toEqual([640]);
    expect(paramNodes(ae)).toHaveLength(10);
  });

  it('every preset resolves', () => {
    for (const name of ARCHITECTURE_PRESETS) expect(() => resolveGraph(architecturePreset(name))).not.toThrow();
  });

  it('rejects malformed graphs with shape errors that name the node', () => {
    expect(() => resolveGraph({ name: 'x', nodes: [{ kind: 'input', name: 'in', shape: [8] }, { kind: 'conv2d', name: 'c', filters: 4, kernel: [3, 3], stride: [1, 1], padding: 'same', activation: 'relu' }] })).toThrow(/'c'.*\[H, W, C\]/);
    expect(() => resolveGraph({ name: 'x', nodes: [{ kind: 'input', name: 'in', shape: [4, 4, 1] }, { kind: 'conv2d', name: 'c', filters: 4, kernel: [5, 5], stride: [1, 1], padding: 'valid', activation: 'relu' }] })).toThrow(ShapeError);
    expect(() => resolveGraph({ name: 'x', nodes: [{ kind: 'input', name: 'in', shape: [8] }, { kind: 'dense', name: 'd', units: 2, activation: 'none', inputs: ['nope'] }] })).toThrow(/not an earlier node/);
    expect(() => resolveGraph({ name: 'x', nodes: [{ kind: 'input', name: 'in', shape: [8] }, { kind: 'dense', name: 'in', units: 2, activation: 'none' }] })).toThrow(/used twice/);
    expect(() => architecturePreset('resnet9')).toThrow(ConfigError);
  });
});
