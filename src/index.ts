// The public library API of lastmile (the package's "." entry): the emulated device, models,
// quantization and training. Browser-safe: nothing reachable from here imports a Node built-in or
// an optional package (test/package checks with an esbuild browser bundle). Node file helpers, ONNX
// and reports have their own entries (src/entries/*.ts; see docs/PACKAGING.md). The paper's
// experiments are not part of it: they are an internal module (src/experiments/) that
// `lastmile experiment` runs.
export * from './errors.js';
export { MissingPackageError } from './util/optional-package.js';
export { Device, type DeviceOptions } from './device/device.js';
export { setDefaultWasmBaseUrl } from './device/wasm-source.js';
export { Mcu, type Budget } from './device/mcu.js';
export { Arena, type DeviceBuffer } from './device/arena.js';
export { detectFeatures, bestBuild, type BuildFlavor } from './device/features.js';
export { resolveDevice, describeDevice, presetNames, PRESETS, DEFAULT_DEVICE, type ResolvedDevice } from './device/presets.js';
export { planMemory, verifyPlan, type MemoryPlan, type BufferRequest } from './runtime/planner.js';
export { QuantizedSession, type SessionOptions, type SessionPlan } from './runtime/session.js';
export { BackpropSession, type BackpropOptions, type OptimizerSpec } from './runtime/backprop-session.js';
export { Profiler } from './device/profiler.js';
export { resolveGraph, type Architecture } from './model/graph.js';
export type { ModelNode } from './model/layers.js';
export { architecturePreset, ARCHITECTURE_PRESETS, MLPERF_TINY_PRESETS } from './model/presets.js';
export { initFloatModel, loadModel, saveModel, type FloatModel, type QuantizedModel, type Model } from './model/model.js';
export { quantizeMultiplier } from './kernels/multiplier.js';
export { quantizeModel } from './quant/quantize.js';
export { calibrate } from './quant/calibrate.js';
export { sampleEpisode, type Episode } from './data/fewshot.js';
export { corrupt, CORRUPTIONS } from './data/corruptions.js';
export { selectClasses, subset, type Dataset } from './data/dataset.js';
export { adapt, type AdaptOptions, type AdaptResult } from './train/adapt.js';
export { QzoFfTrainer, qzoFfSramBuffers, type TrainerState } from './train/qzo-ff.js';
export { encodeCheckpoint, decodeCheckpoint, loadNewestCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointStore } from './train/checkpoint.js';
export { trainBackprop, evaluateFloat } from './train/backprop.js';
export { evaluate } from './train/evaluate.js';
export { pretrain } from './train/pretrain.js';
export { withPrototypeHead } from './train/prototype.js';
export { memoryReport } from './report/memory.js';
