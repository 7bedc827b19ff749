// Small text helpers for CLI tables.
export const kib = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

export function table(rows: string[][], align: ('l' | 'r')[] = []): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (align[c] === 'r' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd())
    .join('\n');
}

export const pct = (x: number | null): string => (x === null ? '—' : `${x.toFixed(1)}%`);

/** Word-wraps prose to `width` columns (continuation lines indented), so long notes fit a terminal. */
export function wrapText(text: string, width = 100, indent = '  '): string {
  if (text.length <= width) return text;
  const lines: string[] = [];
  let line = '';
  // A leading indent (a list item) is kept on the first line.
  const lead = /^ */.exec(text)![0];
  for (const word of text.slice(lead.length).split(/ +/)) {
    const next = line ? `${line} ${word}` : lead + word;
    if (next.length > width && line) {
      lines.push(line);
      line = `${indent}${word}`;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

/**
 * A "label    text" line (as the commands print their header lines), word-wrapped so that
 * continuation lines start under the text; a line that fits is returned unchanged.
 */
export function wrapLabelled(line: string, width = 100): string {
  if (line.length <= width) return line;
  const found = /^\S+ +/.exec(line)?.[0] ?? '';
  const label = found.length < width / 2 ? found : '';
  // The label's own padding is kept; only the text after it is wrapped.
  const indent = ' '.repeat(label.length || 2);
  const lines: string[] = [];
  let current = label;
  for (const word of line.slice(label.length).split(/ +/)) {
    const fresh = current === label || current === indent;
    const next = fresh ? current + word : `${current} ${word}`;
    if (next.length > width && !fresh) {
      lines.push(current);
      current = indent + word;
    } else current = next;
  }
  lines.push(current);
  return lines.join('\n');
}

/** Each line longer than `width` word-wrapped on its own; the others unchanged. */
export function wrapLongLines(text: string, width = 100): string {
  return text.split('\n').map((l) => wrapText(l, width)).join('\n');
}
