// The memory gauge: SRAM of each mode against the device's budget, on one scale, so it is plain that
// QZO-FF trains in about the memory of inference while backprop would not fit.
import { kib } from './format.js';
import type { MemoryFigures } from './settings.js';

interface Bar {
  label: string;
  bytes: number;
  className: string;
}

export function renderMemoryGauge(host: HTMLElement, memory: MemoryFigures, measuredSram: number | null): void {
  const bars: Bar[] = [
    { label: 'QZO-FF, measured high-water', bytes: measuredSram ?? 0, className: 'measured' },
    { label: 'QZO-FF, planned', bytes: memory.qzoFf.sram, className: 'planned' },
    { label: 'Inference only', bytes: memory.inference.sram, className: 'inference' },
    { label: 'Backprop f32 (Adam) would need', bytes: memory.backprop.sram, className: 'backprop' },
  ];
  const budget = memory.budget.sram;
  const scale = Math.max(budget, ...bars.map((b) => b.bytes)) * 1.02;
  const budgetAt = (100 * budget) / scale;
  const rows = bars.map((b) => {
    const fits = b.bytes <= budget;
    const row = document.createElement('div');
    row.className = 'gauge-row';
    const label = document.createElement('span');
    label.className = 'gauge-label';
    label.textContent = b.label;
    const track = document.createElement('span');
    track.className = 'gauge-track';
    const fill = document.createElement('span');
    fill.className = `gauge-fill ${b.className}${fits ? '' : ' over'}`;
    fill.style.width = `${(100 * b.bytes) / scale}%`;
    const marker = document.createElement('span');
    marker.className = 'gauge-budget';
    marker.style.left = `${budgetAt}%`;
    track.append(fill, marker);
    const value = document.createElement('span');
    value.className = 'gauge-value';
    value.textContent = b.className === 'measured' && measuredSram === null ? '—' : `${kib(b.bytes)}${fits ? '' : ' (does not fit)'}`;
    row.append(label, track, value);
    return row;
  });
  const summary = document.createElement('p');
  summary.className = 'gauge-summary';
  const ratio = memory.backprop.sram / memory.qzoFf.sram;
  summary.textContent = `Budget ${kib(budget)} SRAM (the line). Backprop would need ${ratio.toFixed(1)}× the SRAM of QZO-FF${memory.backprop.fits ? '' : ', more than the device has'}.`;
  host.replaceChildren(...rows, summary);
}
