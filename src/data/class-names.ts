// The names users know classes by. A data source with names (folders, wav:DIR word folders,
// Fashion-MNIST, a model's stored labels) is shown by name; one without (IDX files) by id.

/** The name of each class id: the source's own name, or the id as text when it has none. */
export function classNamesOf(data: { classNames?: readonly string[] }, ids: readonly number[]): string[] {
  return ids.map((c) => data.classNames?.[c] ?? String(c));
}

/** "Sandal, Shirt, Sneaker" (or "5, 6, 7" for digits and unnamed sources), for one-line summaries. */
export function listClasses(data: { classNames?: readonly string[] }, ids: readonly number[]): string {
  return classNamesOf(data, ids).join(', ');
}
