/**
 * What a report shows: its figures ({@link FigureName}) and options ({@link ReportOptions}).
 * @module
 */
/** The figures the report draws; `intrinsic` only when some run was measured with `r`. */
export type FigureName = "nrc1" | "nrc2" | "nrc3" | "nrc4" | "stableRank" | "intrinsic";

/** The figures every report has, in display order. */
export const CORE_FIGURES: readonly FigureName[] = ["nrc1", "nrc2", "nrc3", "nrc4", "stableRank"];

/** Options shared by the report functions. */
export interface ReportOptions {
  /** Page / figure-set title. Default `"Deep Neural Regression Collapse report"`. */
  title?: string;
  /** Plot width in pixels (the plotting area, without axes and legends). Default 420. */
  width?: number;
  /** Plot height in pixels. Default 230. */
  height?: number;
  /**
   * Smallest value drawn on a log axis. Values below it (NRC1 or NRC4 of exactly 0 included) are
   * drawn at the floor as downward triangles, and the figure's caption says how many. Default
   * 1e-16 (the float64 relative resolution: a ratio below it is indistinguishable from 0).
   */
  logFloor?: number;
  /** Y scale of the NRC4 panel. Default `"log"` (NRC4 spans decades between input and top layers). */
  nrc4Scale?: "log" | "linear";
  /** Label of a bare `NRCReport` passed without one. Default `"run"`. */
  label?: string;
  /**
   * Colours of the runs, in order (any CSS colour). Default: Tableau 10 for up to 10 runs, a
   * viridis-like ramp beyond (e.g. epochs).
   */
  colors?: readonly string[];
}
