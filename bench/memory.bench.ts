// Peak SRAM of inference, QZO-FF and backprop for each architecture preset and trainable selection,
// from the same planner the sessions use (tests hold the plan equal to the measured high-water mark).
//
//   npm run bench:memory [-- --batch 1] [-- --json FILE]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { architecturePreset, ARCHITECTURE_PRESETS } from '../src/model/presets.js';
import { resolveDevice } from '../src/runtime/devices.js';
import { memoryReport } from '../src/report/memory.js';
import type { TrainSelection } from '../src/train/selection.js';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '1' }, json: { type: 'string' }, device: { type: 'string', default: 'nrf52840' } } });
const batch = Number(values.batch);
const device = resolveDevice(values.device);
const kib = (b: number) => `${(b / 1024).toFixed(1)}`;
const selections: TrainSelection[] = [{ kind: 'full' }, { kind: 'head' }];
const rows: Record<string, unknown>[] = [];
console.log(`peak SRAM in KiB (flash in parentheses), batch ${batch}, device ${device.name} (${kib(device.sramBytes)} KiB SRAM / ${kib(device.flashBytes)} KiB flash); * = does not fit`);
console.log('| model | train | inference 16w8a | QZO-FF 16w8a | backprop f32 | BP / FF | fp16 BP / fp16 FF |');
console.log('|---|---|---|---|---|---|---|');
for (const name of ARCHITECTURE_PRESETS) {
  for (const selection of selections) {
    const r = memoryReport(architecturePreset(name), { device, batch, selection });
    const f16 = memoryReport(architecturePreset(name), { device, batch, selection, compare: 'fp16' });
    const cell = (m: { sramPeak: number; flash: number; fits: boolean }) => `${kib(m.sramPeak)} (${kib(m.flash)})${m.fits ? '' : ' *'}`;
    const { infer, ff, bp } = r.modes;
    console.log(`| ${name} | ${selection.kind} | ${cell(infer!)} | ${cell(ff!)} | ${cell(bp!)} | ${r.bpOverFf!.toFixed(2)}× | ${f16.bpOverFf!.toFixed(2)}× |`);
    rows.push({ model: name, train: selection.kind, batch, infer: infer!.sramPeak, ff: ff!.sramPeak, bp: bp!.sramPeak, flashInfer: infer!.flash, bpOverFf: r.bpOverFf, fp16BpOverFf: f16.bpOverFf, ffFits: ff!.fits, bpFits: bp!.fits });
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify({ device, batch, rows }, null, 2));
