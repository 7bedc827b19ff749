// A memory plan as text: one row per buffer with its lifetime drawn over the ops, then a map of
// the arena at each op in the style of TFLM's PrintMemoryPlan, so a reader can see which buffers
// set the peak and how far the plan is from the lower bound. ASCII only: it goes to terminals,
// CI logs and markdown.
import { formatBytes } from '../device/presets.js';
import { liveBytesByOp, type MemoryPlan } from '../runtime/planner.js';

export interface PlanTableOptions {
  /** Most columns for the per-buffer timeline; longer runs fold several ops into a column. */
  readonly timelineWidth?: number;
  /** Columns for the arena map (0 leaves the map out). */
  readonly memoryMapWidth?: number;
}

const LIVE = '#';
const IDLE = '.';
const CLASH = '!';

/** TFLM's ordinal characters: 0-9, a-z, A-Z, then '*'. */
export function ordinalChar(i: number): string {
  if (i < 10) return String.fromCharCode(48 + i);
  if (i < 36) return String.fromCharCode(97 + i - 10);
  if (i < 62) return String.fromCharCode(65 + i - 36);
  return '*';
}

export function formatPlanTable(plan: MemoryPlan, options: PlanTableOptions = {}): string {
  const timelineWidth = Math.max(1, options.timelineWidth ?? 64);
  const mapWidth = Math.max(0, options.memoryMapWidth ?? 64);
  const lines: string[] = [];
  lines.push(
    `Memory plan: ${plan.buffers.length} buffer${plan.buffers.length === 1 ? '' : 's'}, ${plan.opCount} op${plan.opCount === 1 ? '' : 's'}, alignment ${plan.alignment} B`,
  );
  lines.push(...bufferTable(plan, timelineWidth));
  lines.push(summaryLine(plan));
  if (mapWidth > 0 && plan.opCount > 0) lines.push('', ...memoryMap(plan, mapWidth));
  return lines.join('\n');
}

function summaryLine(plan: MemoryPlan): string {
  const efficiency = plan.peakBytes === 0 ? 100 : (100 * plan.lowerBoundBytes) / plan.peakBytes;
  const where = plan.lowerBoundOp >= 0 ? ` at op ${plan.lowerBoundOp}` : '';
  const tried = plan.attempts.map((a) => `${a.strategy} ${a.peakBytes}`).join(', ');
  return (
    `peak ${plan.peakBytes} B (${formatBytes(plan.peakBytes)}), lower bound ${plan.lowerBoundBytes} B${where}, ` +
    `lower bound / peak ${efficiency.toFixed(1)}%, order ${plan.strategy} (tried: ${tried})`
  );
}

function bufferTable(plan: MemoryPlan, timelineWidth: number): string[] {
  const opsPerColumn = Math.max(1, Math.ceil(plan.opCount / timelineWidth));
  const columns = Math.ceil(plan.opCount / opsPerColumn);
  const header = ['id', 'name', 'bytes', 'aligned', 'life', 'offset', 'end', 'timeline'];
  const rows = plan.buffers.map((b, i) => [
    ordinalChar(i),
    b.name,
    String(b.bytes),
    String(b.alignedBytes),
    `[${b.firstUse}, ${b.lastUse}]`,
    String(b.offset),
    String(b.offset + b.alignedBytes),
    timeline(b.firstUse, b.lastUse, columns, opsPerColumn),
  ]);
  const ruler = ['', '', '', '', '', '', '', opsPerColumn === 1 ? opRuler(columns) : `(1 column = ${opsPerColumn} ops)`];
  const table = [header, ruler, ...rows];
  const widths = header.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const numeric = new Set([2, 3, 5, 6]);
  return table.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : numeric.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

function timeline(first: number, last: number, columns: number, opsPerColumn: number): string {
  let s = '';
  for (let c = 0; c < columns; c++) {
    const lo = c * opsPerColumn;
    const hi = lo + opsPerColumn - 1;
    s += first <= hi && last >= lo ? LIVE : IDLE;
  }
  return s;
}

/** Last digit of each op index, so columns can be counted by eye. */
function opRuler(columns: number): string {
  let s = '';
  for (let c = 0; c < columns; c++) s += String(c % 10);
  return s;
}

/** One row per op: which buffer owns each slice of the arena ('!' where two live buffers meet). */
function memoryMap(plan: MemoryPlan, width: number): string[] {
  const extent = Math.max(plan.peakBytes, 1);
  const live = liveBytesByOp(plan);
  const label = (t: number) => String(t).padStart(String(plan.opCount - 1).length);
  const perColumn = extent / width;
  const scale = Number.isInteger(perColumn) ? formatBytes(perColumn) : `~${formatBytes(Math.round(perColumn))}`;
  const lines = [`Arena by op (1 column = ${scale}; '!' = overlap):`];
  for (let t = 0; t < plan.opCount; t++) {
    const row = new Array<string>(width).fill(IDLE);
    plan.buffers.forEach((b, i) => {
      if (t < b.firstUse || t > b.lastUse) return;
      const start = Math.floor((b.offset * width) / extent);
      const end = Math.floor(((b.offset + b.alignedBytes) * width) / extent);
      for (let c = start; c < Math.min(end, width); c++) row[c] = row[c] === IDLE ? ordinalChar(i) : CLASH;
      // A buffer narrower than a column still shows, but only in a free column: a forced column
      // would otherwise draw a false '!' against its neighbour.
      if (end <= start && start < width && row[start] === IDLE) row[start] = ordinalChar(i);
    });
    lines.push(`op ${label(t)} |${row.join('')}| ${formatBytes(live[t]!)}`);
  }
  return lines;
}
