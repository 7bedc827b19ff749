// The classes the user teaches: bundled digits and/or their own drawn examples, shown as a table.
import type { ClassPlan } from './training-data.js';
import type { SampleSet } from './samples.js';

export interface ClassEntry {
  name: string;
  bundled: number | null;
  drawn: Float32Array[];
}

export class ClassList {
  readonly classes: ClassEntry[] = [];

  constructor(
    private readonly rows: HTMLTableSectionElement,
    private readonly drawSelect: HTMLSelectElement,
    private readonly onChange: () => void,
    /** Training and held-out image counts of a class under the current split. */
    private readonly counts: (c: ClassEntry) => { train: number; heldOut: number },
  ) {}

  plan(): ClassPlan[] {
    return this.classes.map((c) => ({ name: c.name, bundled: c.bundled, drawn: c.drawn }));
  }

  /** Add the bundled classes, keeping any drawn examples of a class with the same name. */
  addBundled(samples: SampleSet): void {
    samples.classNames.forEach((name, index) => {
      const existing = this.classes.find((c) => c.name === name);
      if (existing) existing.bundled = index;
      else this.classes.push({ name, bundled: index, drawn: [] });
    });
    this.render();
  }

  /** Returns an error message, or null when the class was added. */
  add(name: string): string | null {
    const trimmed = name.trim();
    if (!trimmed) return 'Give the new class a name.';
    if (this.classes.some((c) => c.name === trimmed)) return `There is already a class '${trimmed}'.`;
    if (this.classes.length >= 10) return 'The page teaches at most 10 classes at once.';
    this.classes.push({ name: trimmed, bundled: null, drawn: [] });
    this.render();
    this.drawSelect.value = String(this.classes.length - 1);
    return null;
  }

  addExample(index: number, image: Float32Array): void {
    this.classes[index]!.drawn.push(image);
    this.render();
  }

  private remove(index: number): void {
    this.classes.splice(index, 1);
    this.render();
  }

  render(): void {
    const selected = this.drawSelect.value;
    if (this.classes.length === 0) {
      const row = this.rows.insertRow();
      this.rows.replaceChildren(row);
      const cell = row.insertCell();
      cell.colSpan = 4;
      cell.className = 'empty';
      cell.textContent = 'No classes yet: load the bundled digits or add your own.';
    } else {
      this.rows.replaceChildren(
        ...this.classes.map((c, i) => {
          const row = document.createElement('tr');
          const n = this.counts(c);
          const name = document.createElement('td');
          name.className = 'class-name';
          name.textContent = c.name;
          const train = document.createElement('td');
          train.className = 'num';
          train.textContent = c.drawn.length ? `${n.train} (${c.drawn.length} drawn)` : String(n.train);
          const held = document.createElement('td');
          held.className = 'num';
          held.textContent = String(n.heldOut);
          const actions = document.createElement('td');
          const remove = document.createElement('button');
          remove.type = 'button';
          remove.className = 'small';
          remove.textContent = 'Remove';
          remove.setAttribute('aria-label', `Remove class ${c.name}`);
          remove.addEventListener('click', () => this.remove(i));
          actions.append(remove);
          row.append(name, train, held, actions);
          return row;
        }),
      );
    }
    this.drawSelect.replaceChildren(...this.classes.map((c, i) => new Option(c.name, String(i))));
    if (this.classes.length === 0) this.drawSelect.add(new Option('no classes yet', ''));
    this.drawSelect.disabled = this.classes.length === 0;
    if (selected !== '' && Number(selected) < this.classes.length) this.drawSelect.value = selected;
    this.onChange();
  }
}
