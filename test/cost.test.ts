// The MCU cost model's pure logic: the fit recovers known coefficients and reproduces the shipped
// QEMU calibration, estimates scale the way the hardware does, and bad input gets a typed error.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { lastmile } from './helpers/cli.js';
import { ConfigError, FormatError, ShapeError, UnsupportedError } from '../src/errors.js';
import { parseCalibration, type CalibrationFile } from '../src/cost/calibration.js';
import { fitCalibration, fitKernel, leastSquares, predictInstructions, relativeError } from '../src/cost/fit.js';
import { kernelFeatures, type KernelShape } from '../src/cost/shape.js';
import { estimateKernel, targetForPreset, COST_MODEL_VERSION, type CostTarget } from '../src/cost/model.js';
import { estimateInference, estimateQzoStep } from '../src/cost/graph-estimate.js';
import { FITTED } from '../src/cost/coefficients.js';
import { DEVICE_COSTS } from '../src/cost/device-costs.js';
import { presetNames } from '../src/device/presets.js';
import { resolveGraph } from '../src/model/graph.js';
import { architecturePreset } from '../src/model/presets.js';

const conv = (over: Partial<KernelShape> = {}): KernelShape => ({
  kernel: 'conv_w8', inH: 16, inW: 16, inC: 8, outC: 16, kH: 3, kW: 3, strideH: 1, strideW: 1, padding: 'same', batch: 1, ...over,
});
const m4: CostTarget = { name: 'test-m4', core: 'cortex-m4', clockHz: 100e6, flashWaitStates: 0, flashLineBytes: 16, powerW: 0.01 };

describe('features', () => {
  it('skips padding taps the way the kernels do', () => {
    // 3×3 'same' on 4×4: corner pixels see 4 taps, edges 6, the 4 inner pixels 9 → 4·4 + 8·6 + 4·9 = 100.
    const f = kernelFeatures(conv({ inH: 4, inW: 4, inC: 2, outC: 3 }));
    expect(f.macs).toBe(100 * 2 * 3);
    expect(f.outputs).toBe(16 * 3);
    expect(f.weightBytes).toBe(3 * 3 * 3 * 2);
  });
  it('rejects a window that does not fit, and non-integer shapes', () => {
    expect(() => kernelFeatures(conv({ inH: 2, inW: 2, kH: 3, kW: 3, padding: 'valid' }))).toThrow(ShapeError);
    expect(() => kernelFeatures(conv({ inC: 1.5 }))).toThrow(ShapeError);
    expect(() => kernelFeatures(conv({ kernel: 'nope' as never }))).toThrow(ShapeError);
  });
});

describe('fit', () => {
  it('recovers the coefficients of data generated from known ones', () => {
    const truth = { quads: 14, tails: 8, dotCalls: 90, tailCalls: 12, rowLoops: 20, colLoops: 5, colZeros: 3, pixels: 50, calls: 1800, colQuads: 4 };
    const shapes = [conv(), conv({ inC: 3, outC: 32 }), conv({ inH: 8, inW: 8, inC: 32 }), conv({ kH: 1, kW: 1, padding: 'valid' }), conv({ strideH: 2, strideW: 2 }),
      conv({ kH: 5, kW: 5, inC: 4 }), conv({ inH: 5, inW: 5, inC: 64, outC: 8 }), conv({ inH: 12, inW: 6, inC: 1, outC: 24, padding: 'valid' }), conv({ inH: 20, inW: 4, kH: 5, kW: 2 }),
      conv({ outC: 9 }), conv({ inC: 5, outC: 12 }), conv({ kH: 3, kW: 1, inC: 2, outC: 6 }), conv({ inH: 9, inW: 7, inC: 7, outC: 10, kH: 1, kW: 1, padding: 'valid' })];
    const records = shapes.map((shape) => {
      const f = kernelFeatures(shape);
      const instructions = Object.entries(truth).reduce((s, [k, c]) => s + c * f[k as keyof typeof truth], 0);
      return { shape, heldOut: false, reps: 1, instructions };
    });
    const fit = fitKernel('conv_w8', records);
    for (const [k, c] of Object.entries(truth)) expect(fit.coefficients[k as keyof typeof truth]).toBeCloseTo(c, 4);
    expect(fit.maxFitError).toBeLessThan(1e-9);
  });
  it('an underdetermined system is a typed error, not NaN coefficients', () => {
    expect(() => leastSquares([[1, 2]], [1])).toThrow(ConfigError);
    expect(() => leastSquares([[1, 2], [2, 4], [3, 6]], [1, 2, 3])).toThrow(ConfigError);
  });
  it('reproduces the shipped QEMU calibration: every fit call within 5%, every held-back call within 10%', () => {
    const cal = parseCalibration(readFileSync(new URL('../bench/results/cost-calibration.json', import.meta.url), 'utf8'));
    expect(Object.keys(cal.cores).sort()).toEqual(['cortex-m33', 'cortex-m4', 'cortex-m55', 'cortex-m7']);
    const fits = fitCalibration(cal);
    let held = 0;
    for (const [core, c] of Object.entries(cal.cores)) {
      for (const r of c.records) {
        const err = relativeError(predictInstructions(fits[core]![r.shape.kernel]!, r.shape), r.instructions);
        expect(err, `${core} ${r.shape.kernel} ${JSON.stringify(r.shape)}`).toBeLessThan(r.heldOut ? 0.1 : 0.05);
        if (r.heldOut) held++;
      }
      // The shipped coefficients are this fit (regenerate with npm run bench:cost-fit when the data changes).
      for (const [k, fit] of Object.entries(fits[core]!)) {
        for (const [name, value] of Object.entries(fit!.coefficients)) expect(FITTED[core]![k as 'add']!.coefficients[name as 'calls']).toBeCloseTo(value!, 6);
      }
    }
    expect(held).toBeGreaterThan(50);
  });
  it('a calibration file with an unknown kernel or a bad count is a FormatError', () => {
    const good: CalibrationFile = { source: 's', compiler: 'c', emulator: 'e', date: 'd', cores: { 'cortex-m4': { board: 'b', sysclkHz: 1, instructionsPerTick: 1, loopCheck: { instructions: 1, ticks: 1 }, cflags: '', records: [{ shape: conv(), heldOut: false, reps: 1, instructions: 10 }] } } };
    expect(parseCalibration(JSON.stringify(good)).cores['cortex-m4']!.records).toHaveLength(1);
    const bad = structuredClone(good);
    bad.cores['cortex-m4']!.records[0]!.instructions = -1;
    expect(() => parseCalibration(JSON.stringify(bad))).toThrow(FormatError);
    const unknown = structuredClone(good);
    (unknown.cores['cortex-m4']!.records[0]!.shape as { kernel: string }).kernel = 'fft';
    expect(() => parseCalibration(JSON.stringify(unknown))).toThrow(FormatError);
    expect(() => parseCalibration('{')).toThrow(FormatError);
  });
});

describe('estimates', () => {
  it('scale with work, clock, wait states and power', () => {
    const small = estimateKernel(conv({ outC: 16 }), m4);
    const big = estimateKernel(conv({ outC: 64 }), m4);
    // Four times the channels: four times the dot products, the same column gathered once per pixel.
    expect(big.instructions / small.instructions).toBeGreaterThan(3);
    expect(big.instructions / small.instructions).toBeLessThan(4.01);
    const fast = estimateKernel(conv(), { ...m4, clockHz: 200e6 });
    expect(fast.cycles).toBeCloseTo(small.cycles, 6);
    expect(fast.ms).toBeCloseTo(small.ms / 2, 9);
    expect(small.mJ).toBeCloseTo(small.ms * 0.01, 12);
    const slowFlash = estimateKernel(conv(), { ...m4, flashWaitStates: 5 });
    expect(slowFlash.waitCycles).toBeCloseTo((kernelFeatures(conv()).weightBytesRead / 16) * 5, 6);
    expect(slowFlash.cycles).toBeGreaterThan(small.cycles);
    expect(estimateKernel(conv(), { ...m4, powerW: null }).mJ).toBeNull();
  });
  it('an inference is the sum of its layers, and a QZO-FF step is 2·m perturbed forwards plus the update', () => {
    const graph = resolveGraph(architecturePreset('resnet8'));
    const target = targetForPreset('nrf52840');
    const inf = estimateInference(graph, target, 16);
    expect(inf.mcu.cyclesPerInference).toBe(inf.layers.reduce((s, l) => s + l.cycles, 0));
    expect(inf.macs).toBe(graph.nodes.reduce((s, n) => s + n.macs, 0));
    expect(Object.keys(inf.mcu).sort()).toEqual(['clockHz', 'core', 'cyclesPerInference', 'device', 'mJPerInference', 'model', 'msPerInference'].sort());
    expect(inf.mcu.model).toBe(COST_MODEL_VERSION);
    // Nothing trainable: the step is 2·m plain forwards of the batch, each about batch × one inference.
    const frozen = estimateQzoStep(graph, target, { directions: 4, batch: 2, steps: 10, bits: 16, trainable: [] });
    expect(frozen.msPerStep / (8 * inf.mcu.msPerInference)).toBeGreaterThan(1.9);
    expect(frozen.msPerStep / (8 * inf.mcu.msPerInference)).toBeLessThan(2.01);
    // Training the head adds its weight staging to every forward and the update once per step.
    const step = estimateQzoStep(graph, target, { directions: 4, batch: 2, steps: 10, bits: 16, trainable: ['logits'] });
    expect(step.msPerStep).toBeGreaterThan(frozen.msPerStep);
    const head = estimateKernel({ kernel: 'update_w16', inH: 1, inW: 1, inC: 64 * 10, outC: 4, kH: 1, kW: 1, strideH: 1, strideW: 1, padding: 'valid', batch: 1 }, target);
    expect(step.msPerStep).toBeGreaterThan(frozen.msPerStep + head.ms);
    expect(step.totalMs).toBeCloseTo(step.msPerStep * 10, 6);
    expect(step.mJ).toBeCloseTo(step.totalMs * target.powerW!, 9);
  });
  it('every device preset has time/energy data; cores without a calibrated model say so with a typed error', () => {
    for (const name of presetNames()) {
      const cost = DEVICE_COSTS[name];
      expect(cost, name).toBeDefined();
      expect(cost!.sources.power.length).toBeGreaterThan(10);
      if (cost!.core) expect(targetForPreset(name).clockHz).toBe(cost!.clockHz);
      else expect(() => targetForPreset(name)).toThrow(UnsupportedError);
    }
    expect(() => targetForPreset('pdp11')).toThrow(ConfigError);
    expect(() => estimateKernel(conv(), { ...m4, clockHz: -1 })).toThrow(ConfigError);
    expect(() => estimateKernel(conv(), { ...m4, core: 'cortex-a53' as never })).toThrow(ConfigError);
  });
});

describe('lastmile estimate', () => {
  // The command from the TypeScript sources, as the golden runs call it.
  // Spawned asynchronously: a worker blocked in spawnSync misses vitest's RPC deadlines on a loaded machine.
  const run = async (args: string[]) => {
    const r = await lastmile(args, { fromSource: true, timeoutMs: 120_000 });
    return { status: r.code, stdout: r.stdout, stderr: r.stderr };
  };

  it('--json prints {mcu: {core, clockHz, cyclesPerInference, msPerInference, mJPerInference}, layers}', async () => {
    const r = await run(['--json', 'estimate', '--model', 'ds-cnn', '--device', 'stm32f411', '--precision', '8w8a']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { mcu: Record<string, number>; layers: Array<{ layer: string; cycles: number; ms: number }>; costModel: string };
    expect(Object.keys(out.mcu).sort()).toEqual(['clockHz', 'core', 'cyclesPerInference', 'mJPerInference', 'msPerInference']);
    expect(out.mcu.core).toBe('cortex-m4');
    expect(out.mcu.clockHz).toBe(100e6);
    expect(out.layers.reduce((s, l) => s + l.cycles, 0)).toBe(out.mcu.cyclesPerInference);
    // Wait states only add time; each layer's cycles are rounded to whole cycles, so allow one per layer.
    expect(out.mcu.msPerInference).toBeGreaterThan((out.mcu.cyclesPerInference - out.layers.length) / 100e6 * 1000);
    expect(out.costModel).toBe(COST_MODEL_VERSION);
  });

  it('a device without a calibrated core and a bare budget are refused with a clear message (exit 2)', async () => {
    for (const device of ['rp2040', '256k/1m']) {
      const r = await run(['estimate', '--model', 'mnist-cnn', '--device', device]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/no estimate|bare budget|preset with a core/);
    }
  });
});
