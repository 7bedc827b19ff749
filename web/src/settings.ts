// What a personalisation run is configured by and what it reports, with no library code attached:
// the page's UI bundle imports this without pulling the device into it.

export type Precision = '16w8a' | '8w8a';

/** Everything that decides the trained weights. Two runs with equal settings and data end bit-identical. */
export interface TrainSettings {
  device: { name: string; sramBytes: number; flashBytes: number };
  precision: Precision;
  /** Directions per step, m. */
  directions: number;
  /** full, head, last:K or bias. */
  selection: string;
  lr: number;
  epsilon: number;
  steps: number;
  seed: number;
  /** Samples per forward call on the device (the session's batch). */
  microBatch: number;
  /** Samples per step; 0 means the whole training set. */
  batchSize: number;
  /** Stochastic rounding of ε·z and the update: what lets 8-bit weights train. */
  dither: boolean;
}

export const DEFAULT_SETTINGS: Omit<TrainSettings, 'device'> = {
  precision: '16w8a', directions: 3, selection: 'full', lr: 3e-3, epsilon: 1e-3, steps: 400, seed: 1, microBatch: 5, batchSize: 0, dither: false,
};

export interface ModeFootprint {
  sram: number;
  flash: number;
  fits: boolean;
}

export interface MemoryFigures {
  budget: { sram: number; flash: number };
  inference: ModeFootprint;
  qzoFf: ModeFootprint;
  /** f32 backprop (Adam) of the same trainable layers, planned as a framework would hold it. */
  backprop: ModeFootprint;
}

export interface Accuracy {
  /** Percent of the training images classified right. */
  train: number;
  /** Percent of the held-out images; null when there are none (e.g. only drawn classes). */
  heldOut: number | null;
}

/** The cost model's on-device estimates as the page shows them (worker → page). */
export interface McuEstimateText {
  /** False when the device has no calibrated core (the lines then say why). */
  available: boolean;
  /** Time per QZO-FF step, for the whole adaptation, and its energy. */
  adaptation: string;
  inference: string;
  /** What the estimate assumes (classes, batch, m, steps, precision, cost-model version). */
  basis: string;
}
