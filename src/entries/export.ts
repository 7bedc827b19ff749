// `lastmile-qzo/export`: the model and its QZO-FF step as a self-contained C99 library for
// Cortex-M (docs/DEPLOY.md). Node only: it writes a folder and reads the C runtime sources shipped
// in the package.
export { exportC, runtimeSource, type CExportOptions, type CExportResult } from '../export/c/index.js';
export { BOARDS, CORES, type Board } from '../export/c/boards.js';
