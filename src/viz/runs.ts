/**
 * Normalises and validates the report's input: one `NRCReport`, or several labelled ones
 * (runs, epochs) to overlay.
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { LayerReport, NRCReport } from "../engine/report.js";

/** One labelled report to draw (a run, an epoch, a weight-decay setting, ...). */
export interface ReportRun {
  /** The name shown in legends and table headings; unique among the runs. */
  label: string;
  /** A `measureNRC` / accumulator report. */
  report: NRCReport;
}

/** What the report functions accept: a single report, or labelled reports to overlay. */
export type ReportInput = NRCReport | ReportRun | readonly ReportRun[];

const METRIC_FIELDS = [
  "nrc1",
  "nrc2",
  "nrc3",
  "nrc4",
  "nrc4OverModelMSE",
  "stableRankFeatures",
  "stableRankWeight",
] as const;

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return `a ${typeof v}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkNullableNumber(fn: string, arg: string, v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new NRCInputError(fn, arg, `${arg} must be a finite number or null; got ${describe(v)}`);
  }
  return v;
}

function checkLayer(fn: string, arg: string, v: unknown): void {
  if (!isObject(v)) {
    throw new NRCInputError(fn, arg, `${arg} must be a layer report object; got ${describe(v)}`);
  }
  if (typeof v.name !== "string") {
    throw new NRCInputError(fn, arg, `${arg}.name must be a string; got ${describe(v.name)}`);
  }
  if (v.degenerate !== null && v.degenerate !== undefined && typeof v.degenerate !== "string") {
    throw new NRCInputError(
      fn,
      arg,
      `${arg}.degenerate must be a string or null; got ${describe(v.degenerate)}`,
    );
  }
  for (const f of METRIC_FIELDS) checkNullableNumber(fn, `${arg}.${f}`, v[f]);
  if (v.intrinsic !== null && v.intrinsic !== undefined) {
    if (!isObject(v.intrinsic)) {
      throw new NRCInputError(
        fn,
        arg,
        `${arg}.intrinsic must be an object or null; got ${describe(v.intrinsic)}`,
      );
    }
    for (const f of ["nrc1", "nrc3", "bottomAlignment"]) {
      checkNullableNumber(fn, `${arg}.intrinsic.${f}`, v.intrinsic[f]);
    }
  }
}

function checkReport(fn: string, arg: string, v: unknown): NRCReport {
  if (!isObject(v) || !Array.isArray(v.layers)) {
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must be an NRCReport (an object with a layers array); got ${describe(v)}`,
    );
  }
  if (v.layers.length === 0) {
    throw new NRCInputError(fn, arg, `${arg}.layers must hold at least one layer; got 0`);
  }
  v.layers.forEach((l, i) => checkLayer(fn, `${arg}.layers[${i}]`, l));
  checkNullableNumber(fn, `${arg}.modelMSE`, v.modelMSE);
  checkNullableNumber(fn, `${arg}.targetStableRank`, v.targetStableRank);
  checkNullableNumber(fn, `${arg}.collapseThreshold`, v.collapseThreshold);
  const fc = v.firstCollapsedLayer;
  if (
    fc !== null &&
    fc !== undefined &&
    !(typeof fc === "number" && Number.isInteger(fc) && fc >= 0 && fc < v.layers.length)
  ) {
    throw new NRCInputError(
      fn,
      `${arg}.firstCollapsedLayer`,
      `${arg}.firstCollapsedLayer must be null or a layer position in [0, ${v.layers.length - 1}]; got ${describe(fc)}`,
    );
  }
  return v as unknown as NRCReport;
}

/**
 * Turns any accepted input into a validated list of labelled runs (never mutating the input).
 *
 * @param fn - the public function's name, for error messages.
 * @param input - one report, one labelled run, or an array of labelled runs.
 * @param defaultLabel - the label given to a bare report.
 * @returns the runs, in the given order.
 * @throws {NRCInputError} when the input is not a report, a run has no string label, labels
 *   repeat, a report has no layers, or a metric is NaN/±Infinity or not a number.
 * @example
 * normalizeRuns("renderReportHTML", report, "run"); // [{ label: "run", report }]
 */
export function normalizeRuns(fn: string, input: unknown, defaultLabel: string): ReportRun[] {
  let runs: ReportRun[];
  if (Array.isArray(input)) {
    if (input.length === 0) {
      throw new NRCInputError(fn, "runs", "runs must hold at least one { label, report }; got 0");
    }
    runs = input.map((r, i) => {
      if (!isObject(r) || typeof r.label !== "string") {
        throw new NRCInputError(
          fn,
          `runs[${i}]`,
          `runs[${i}] must be { label: string, report: NRCReport }; got ${isObject(r) ? `label ${describe(r.label)}` : describe(r)}`,
        );
      }
      return { label: r.label, report: checkReport(fn, `runs[${i}].report`, r.report) };
    });
  } else if (isObject(input) && "report" in input && !("layers" in input)) {
    if (typeof input.label !== "string") {
      throw new NRCInputError(
        fn,
        "runs.label",
        `runs.label must be a string; got ${describe(input.label)}`,
      );
    }
    runs = [{ label: input.label, report: checkReport(fn, "runs.report", input.report) }];
  } else {
    runs = [{ label: defaultLabel, report: checkReport(fn, "runs", input) }];
  }
  const seen = new Set<string>();
  runs.forEach((r, i) => {
    if (seen.has(r.label)) {
      throw new NRCInputError(
        fn,
        `runs[${i}].label`,
        `run labels must be unique; got ${describe(r.label)} twice`,
      );
    }
    seen.add(r.label);
  });
  return runs;
}

/** A layer's metric value, reading `undefined` as missing. */
export function metric(layer: LayerReport, key: (typeof METRIC_FIELDS)[number]): number | null {
  const v = layer[key];
  return v === undefined ? null : v;
}
