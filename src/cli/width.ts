// The width every command's output fits by default: a 100-column terminal. Tables too wide are
// split (wrap-table.ts) and prose is word-wrapped (format.ts); `--wide` keeps each table and note
// on one line for scripts and wide terminals. Error messages are not wrapped: they stay one line.
export const TERMINAL_COLUMNS = 100;

export const WIDE_HELP = `print tables and notes in one piece instead of wrapping them at ${TERMINAL_COLUMNS} columns`;

/** The width a command wraps its output at. */
export const columnsFor = (wide: boolean | undefined): number => (wide ? Infinity : TERMINAL_COLUMNS);
