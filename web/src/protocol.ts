// Messages between the page and its training worker. Datasets and images travel as typed arrays
// (structured clone); the exported model comes back as bytes.
import type { Dataset } from '../../src/data/dataset.js';
import type { BuildFlavor } from '../../src/device/features.js';
import type { Accuracy, McuEstimateText, MemoryFigures, TrainSettings } from './settings.js';

export type ToWorker =
  | { type: 'init'; wasmBaseUrl: string; modelUrl: string }
  | { type: 'train'; settings: TrainSettings; train: Dataset; heldOut: Dataset | null; evalEvery: number }
  | { type: 'stop' }
  | { type: 'reset' }
  | { type: 'predict'; id: number; image: Float32Array }
  /** A 1 s, 16 kHz clip: its MFCC from the device's front end, and the adapted model's answer when `predict` and a run exists. */
  | { type: 'mfcc'; id: number; clip: Int16Array; predict: boolean }
  | { type: 'export' }
  /** A .tflite file the user chose: it replaces the backbone for estimates and training. */
  | { type: 'load-model'; name: string; bytes: Uint8Array }
  /** Cost-model estimates for these settings, `classes` outputs and `trainImages` training images. */
  | { type: 'estimate'; id: number; settings: TrainSettings; classes: number; trainImages: number };

export interface ModelSummary {
  architecture: string;
  parameters: number;
  pretrainedOn: string;
}

export interface ImportedModelSummary extends ModelSummary {
  kind: 'float' | 'quantized';
  inputShape: number[];
  /** One line per layer: name, kind, output shape. */
  layers: string[];
  /** Inference plan of one image on the device (quantized models; float ones are quantized when training starts). */
  plan: { sramBytes: number; flashBytes: number } | null;
  /** The input is a 28×28×1 image, so the bundled digits and the drawing pad apply. */
  trainsOnPage: boolean;
}

export type FromWorker =
  | { type: 'ready'; build: BuildFlavor; features: { simd: boolean; relaxedSimd: boolean }; model: ModelSummary }
  | { type: 'prepared'; memory: MemoryFigures; zeroShot: Accuracy; classNames: string[]; build: BuildFlavor; trainCount: number; heldOutCount: number }
  | { type: 'progress'; losses: { step: number; loss: number }[]; accuracy?: { step: number } & Accuracy; sramHighWater: number; stepsPerSec: number }
  | { type: 'done'; steps: number; stopped: boolean; final: Accuracy; hash: string; trainMs: number; sramHighWater: number }
  | { type: 'prediction'; id: number; probabilities: Float32Array }
  /** features: int8 [49][10] as the device computed them; values: (q − zero point) · scale, the model's real-valued input. */
  | { type: 'mfcc'; id: number; features: Int8Array; values: Float32Array; probabilities: Float32Array | null; quant: { scale: number; zeroPoint: number } }
  | { type: 'model'; bytes: Uint8Array }
  | { type: 'estimate'; id: number; estimate: McuEstimateText }
  | { type: 'model-loaded'; name: string; summary: ImportedModelSummary }
  /** family: the library's error family ('budget', 'config', …) or 'internal' for anything unexpected. */
  | { type: 'error'; message: string; family: string; during: 'init' | 'train' | 'predict' | 'export' | 'estimate' | 'load-model' | 'mfcc' };
