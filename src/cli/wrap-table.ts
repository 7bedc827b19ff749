// A table too wide for the terminal, printed as several narrower tables: each repeats the first
// (key) column and takes as many of the following columns as fit the width.
import { table } from './format.js';

export function wrapTable(rows: string[][], align: ('l' | 'r')[], width: number): string {
  const render = (cols: number[]) => table(rows.map((r) => cols.map((c) => r[c] ?? '')), cols.map((c) => align[c] ?? 'l'));
  const lineWidth = (text: string) => Math.max(...text.split('\n').map((l) => l.length));
  const all = rows[0]!.map((_, c) => c);
  const whole = render(all);
  if (lineWidth(whole) <= width || all.length <= 2) return whole;
  const parts: string[] = [];
  let cols = [0];
  for (let c = 1; c < all.length; c++) {
    // A single column wider than the terminal still gets its own part.
    if (cols.length > 1 && lineWidth(render([...cols, c])) > width) {
      parts.push(render(cols));
      cols = [0];
    }
    cols.push(c);
  }
  parts.push(render(cols));
  return parts.join('\n\n');
}
