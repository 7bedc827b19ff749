// `lastmile-qzo/report`: memory reports and tables, Vega-Lite chart specs drawn to SVG, and the
// self-contained HTML report pages the CLI writes. Node only (writeHtmlFile writes files); the
// charts need the optional packages vega and vega-lite (without them, MissingPackageError from
// renderChart, and a note in place of each chart on the HTML pages).
export { memoryReport, type MemoryReport, type Mode } from '../report/memory.js';
export { formatPlanTable, type PlanTableOptions } from '../report/plan-table.js';
export {
  renderChart,
  renderSvg,
  lossCurveSpec,
  accuracySpec,
  memoryModesSpec,
  perLayerSpec,
  profileSpec,
  lossCurveChart,
  accuracyChart,
  memoryModesChart,
  perLayerChart,
  profileChart,
  type RenderedChart,
} from '../report/charts.js';
export { adaptReportHtml, memoryReportHtml, profileReportHtml, writeHtmlFile, type AdaptHtmlInput, type MemoryHtmlInput, type ProfileReport } from '../report/html.js';
