// Wrapping of the commands' header lines and notes, and the class names they show.
import { describe, it, expect } from 'vitest';
import { wrapLabelled, wrapText } from '../src/cli/format.js';
import { wrapTable } from '../src/cli/wrap-table.js';
import { classNamesOf, listClasses } from '../src/data/class-names.js';

describe('wrapping at the terminal width', () => {
  it('a labelled line keeps its label padding and continues under the text', () => {
    const line = `task     ${'word '.repeat(30).trim()}`;
    const out = wrapLabelled(line, 40).split('\n');
    expect(out[0]!.startsWith('task     word word')).toBe(true);
    expect(out.slice(1).every((l) => l.startsWith('         word'))).toBe(true);
    expect(out.every((l) => l.length <= 40)).toBe(true);
    expect(out.join(' ').replace(/ +/g, ' ')).toBe(line.replace(/ +/g, ' '));
  });

  it('a line that fits is unchanged (tables keep their spacing); a leading indent is kept', () => {
    expect(wrapLabelled('a    b', 100)).toBe('a    b');
    expect(wrapText('x  y', 100)).toBe('x  y');
    expect(wrapText(`  nrf52840: ${'source '.repeat(20)}`.trimEnd(), 50, '    ').split('\n')[0]!.startsWith('  nrf52840: source')).toBe(true);
  });

  it('a wide table is split into parts that repeat the key column; Infinity keeps it whole', () => {
    const rows = [['name', 'a'.repeat(30), 'b'.repeat(30), 'c'.repeat(30)], ['x', '1', '2', '3']];
    const parts = wrapTable(rows, ['l', 'r', 'r', 'r'], 60).split('\n\n');
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(part.startsWith('name')).toBe(true);
    expect(wrapTable(rows, ['l', 'r', 'r', 'r'], Infinity).split('\n')).toHaveLength(2);
  });
});

describe('class names', () => {
  it('names from the source where it has them, ids as text otherwise', () => {
    const fashion = { classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] };
    expect(listClasses(fashion, [5, 6, 9])).toBe('Sandal, Shirt, Ankle boot');
    expect(classNamesOf({}, [5, 6])).toEqual(['5', '6']);
  });
});
