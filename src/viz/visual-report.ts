/**
 * The report functions behind `deep-nrc/report`: options checked, runs normalised, the figures'
 * Vega-Lite specs built and rendered to SVG, and the HTML page assembled.
 * @module
 */
import { NRCInputError } from "../errors.js";
import { assembleHTML } from "./html.js";
import { renderFigures } from "./render.js";
import { normalizeRuns, type ReportInput } from "./runs.js";
import { buildFigureSpecs } from "./specs.js";
import { runColors } from "./scales.js";
import type { FigureName, ReportOptions } from "./report-options.js";

/** The SVG of every figure: the five core ones always, `intrinsic` when some run has `r`. */
export type ReportSVGs = Record<Exclude<FigureName, "intrinsic">, string> & { intrinsic?: string };

function checkOptions(fn: string, opts: unknown): ReportOptions {
  if (opts === undefined) return {};
  if (typeof opts !== "object" || opts === null || Array.isArray(opts)) {
    throw new NRCInputError(fn, "opts", `opts must be an object; got ${String(opts)}`);
  }
  const o = opts as ReportOptions;
  for (const k of ["width", "height"] as const) {
    const v = o[k];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 50 && v <= 5000)) {
      throw new NRCInputError(
        fn,
        `opts.${k}`,
        `opts.${k} must be a number in [50, 5000]; got ${String(v)}`,
      );
    }
  }
  const f = o.logFloor;
  if (f !== undefined && !(typeof f === "number" && f > 0 && f < 1)) {
    throw new NRCInputError(
      fn,
      "opts.logFloor",
      `opts.logFloor must be a number in (0, 1); got ${String(f)}`,
    );
  }
  if (o.nrc4Scale !== undefined && o.nrc4Scale !== "log" && o.nrc4Scale !== "linear") {
    throw new NRCInputError(
      fn,
      "opts.nrc4Scale",
      `opts.nrc4Scale must be "log" or "linear"; got ${JSON.stringify(o.nrc4Scale)}`,
    );
  }
  if (o.title !== undefined && typeof o.title !== "string") {
    throw new NRCInputError(fn, "opts.title", `opts.title must be a string; got ${typeof o.title}`);
  }
  if (o.label !== undefined && typeof o.label !== "string") {
    throw new NRCInputError(fn, "opts.label", `opts.label must be a string; got ${typeof o.label}`);
  }
  return o;
}

/**
 * The Vega-Lite specifications of the report's figures, without rendering them (no Vega needed):
 * for embedding with `vega-embed`, restyling, or inspection.
 *
 * @param runs - one `NRCReport`, `{ label, report }`, or an array of `{ label, report }` to overlay.
 * @param opts - see {@link ReportOptions}.
 * @returns one entry per figure: name, title, caption, the Vega-Lite spec and its point count.
 * @throws {NRCInputError} on input that is not a report (no layers, NaN metrics, repeated labels)
 *   or bad options.
 * @example
 * import { reportSpecs } from "deep-nrc/report";
 * const figs = reportSpecs(report);
 * console.log(figs.map((f) => f.name)); // ['nrc1', 'nrc2', 'nrc3', 'nrc4', 'stableRank']
 */
export function reportSpecs(runs: ReportInput, opts?: ReportOptions) {
  const o = checkOptions("reportSpecs", opts);
  return buildFigureSpecs(normalizeRuns("reportSpecs", runs, o.label ?? "run"), o);
}

/**
 * Renders each figure of the report to a standalone SVG string (Vega's headless renderer; works
 * in Node and browsers without a DOM).
 *
 * Log panels (NRC1, NRC4, stable ranks) draw values below `opts.logFloor` (default 1e-16; NRC1 = 0
 * included) at the floor as ▼ and say so in the figure's subtitle. A missing value (e.g. NRC3 of a
 * layer without a weight, or any metric of a degenerate layer) draws no point and breaks the line.
 *
 * @param runs - one `NRCReport`, `{ label, report }`, or an array of `{ label, report }` (several
 *   runs or epochs, overlaid by colour; labels must be unique).
 * @param opts - see {@link ReportOptions}.
 * @returns `{ nrc1, nrc2, nrc3, nrc4, stableRank, intrinsic? }`, each an `<svg>` document string.
 * @throws {NRCInputError} on input that is not a report or bad options.
 * @throws {Error} when the optional peer dependencies `vega` / `vega-lite` are not installed.
 * @example
 * import { writeFileSync } from "node:fs";
 * import { measureNRC } from "deep-nrc";
 * import { renderReportSVGs } from "deep-nrc/report";
 * const report = await measureNRC({ layers, targets });
 * const svgs = await renderReportSVGs(report);
 * writeFileSync("nrc1.svg", svgs.nrc1);
 */
export async function renderReportSVGs(
  runs: ReportInput,
  opts?: ReportOptions,
): Promise<ReportSVGs> {
  const fn = "renderReportSVGs";
  const o = checkOptions(fn, opts);
  const figures = buildFigureSpecs(normalizeRuns(fn, runs, o.label ?? "run"), o);
  const svgs = await renderFigures(fn, figures);
  const out: Record<string, string> = {};
  figures.forEach((f, i) => (out[f.name] = svgs[i]));
  return out as ReportSVGs;
}

/**
 * Renders the whole report as one self-contained HTML page: a summary of the runs, the figures as
 * inline SVG with captions (reference lines, clamping, missing values, degenerate layers), and a
 * per-layer table per run (collapsed layers shaded, the first one ruled, full precision on hover).
 * Inline CSS only: no scripts, no fonts or images fetched. Every user string is HTML-escaped.
 *
 * @param runs - one `NRCReport`, `{ label, report }`, or an array of `{ label, report }`.
 * @param opts - see {@link ReportOptions}.
 * @returns the HTML document.
 * @throws {NRCInputError} on input that is not a report or bad options.
 * @throws {Error} when the optional peer dependencies `vega` / `vega-lite` are not installed.
 * @example
 * import { writeFileSync } from "node:fs";
 * import { renderReportHTML } from "deep-nrc/report";
 * const html = await renderReportHTML([
 *   { label: "epoch 10", report: early },
 *   { label: "epoch 300", report: late },
 * ]);
 * writeFileSync("report.html", html);
 */
export async function renderReportHTML(runs: ReportInput, opts?: ReportOptions): Promise<string> {
  const fn = "renderReportHTML";
  const o = checkOptions(fn, opts);
  const list = normalizeRuns(fn, runs, o.label ?? "run");
  const figures = buildFigureSpecs(list, o);
  const svgs = await renderFigures(fn, figures);
  return assembleHTML(
    o.title ?? "Deep Neural Regression Collapse report",
    list,
    runColors(list.length, o.colors),
    figures,
    svgs,
  );
}
