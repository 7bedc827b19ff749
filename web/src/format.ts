// Number formats shared by the page's panels.

export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
export const pct = (value: number | null | undefined): string => (value === null || value === undefined ? '—' : `${value.toFixed(1)}%`);
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
