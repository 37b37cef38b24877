/**
 * `deep-nrc/report`: the paper-style visual report of one or more `NRCReport`s — an SVG per
 * figure and a self-contained HTML page (inline SVG and CSS, no scripts, no network).
 *
 * Figures (layers on x, runs overlaid by colour): NRC1 on a log scale with the collapse threshold,
 * NRC2, NRC3, NRC4 with the model's MSE as a dashed line, stable ranks of features and weights with
 * the targets' stable rank as a reference, and (when measured with `r`) the intrinsic-dimension
 * alignments. Each run's first collapsed layer is a labelled vertical rule; degenerate layers are
 * grey bands.
 *
 * Drawn with Vega-Lite compiled to Vega and rendered by Vega's headless `View.toSVG()`. `vega` and
 * `vega-lite` are optional peer dependencies, imported on the first render; the core entry
 * `deep-nrc` never loads them.
 * @module
 */
export { reportSpecs, renderReportSVGs, renderReportHTML } from "./visual-report.js";
export type { ReportSVGs } from "./visual-report.js";
export type { ReportInput, ReportRun } from "./runs.js";
export type { FigureSpec } from "./specs.js";
export type { FigureName, ReportOptions } from "./report-options.js";
export { CORE_FIGURES } from "./report-options.js";
export { escapeHTML } from "./numbers.js";
