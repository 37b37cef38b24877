/**
 * The figure panels of the report (which metric each plots, its reference lines and scale).
 * @module
 */
import type { FigureName, ReportOptions } from "./report-options.js";
import type { LayerReport, NRCReport } from "../engine/report.js";
import { metric, type ReportRun } from "./runs.js";

export interface Series {
  name: string;
  get: (l: LayerReport) => number | null;
  shape: string;
  dash: number[];
  /** Measured at the intrinsic dimension: skipped for runs without `r`. */
  intrinsic?: boolean;
}

export interface Reference {
  /** Mark name, e.g. `mse_rule`. */
  name: string;
  label: string;
  dash: number[];
  /** Value per run (null: none for that run). */
  get: (r: NRCReport) => number | null;
  /** Colour by run (true) or a neutral grey (false, deduplicated by value). */
  byRun: boolean;
}

export interface PanelDef {
  name: FigureName;
  title: string;
  yTitle: string;
  scale: "log" | "linear";
  series: Series[];
  references: Reference[];
  describe: string;
  /** Where the first-collapsed labels go: away from where collapsed layers' values sit. */
  labelsAt: "top" | "bottom";
}

export const SOLID: number[] = [1, 0];

export function intrinsicOf(l: LayerReport) {
  return l.intrinsic ?? null;
}

export function panels(runs: ReportRun[], opts: ReportOptions): PanelDef[] {
  const hasR = runs.some((r) => r.report.layers.some((l) => intrinsicOf(l) !== null));
  const rs = [...new Set(runs.map((r) => r.report.r).filter((r): r is number => r !== null))];
  const rText = rs.length === 1 ? `r = ${rs[0]}` : "r";
  const nrc1Series: Series[] = [
    { name: "NRC1 at t", get: (l) => metric(l, "nrc1"), shape: "circle", dash: SOLID },
  ];
  if (hasR) {
    nrc1Series.push({
      name: `NRC1 at ${rText}`,
      get: (l) => intrinsicOf(l)?.nrc1 ?? null,
      shape: "diamond",
      dash: [5, 3],
      intrinsic: true,
    });
  }
  const defs: PanelDef[] = [
    {
      name: "nrc1",
      labelsAt: "top",
      title: "NRC1: noise component",
      yTitle: "NRC1 (log scale)",
      scale: "log",
      series: nrc1Series,
      references: [
        {
          name: "threshold_rule",
          label: "collapse threshold",
          dash: [2, 3],
          get: (r) => r.collapseThreshold ?? null,
          byRun: false,
        },
      ],
      describe:
        "Share of the features' variance outside their top-t principal subspace, Σ_{i>t} λ_i / Σ λ_i (→ 0 in collapsed layers). Dotted grey line: the collapse threshold.",
    },
    {
      name: "nrc2",
      labelsAt: "bottom",
      title: "NRC2: signal–target alignment",
      yTitle: "NRC2 (linear CKA)",
      scale: "linear",
      series: [{ name: "NRC2", get: (l) => metric(l, "nrc2"), shape: "circle", dash: SOLID }],
      references: [],
      describe:
        "Linear CKA between the features projected on their top-t subspace and the targets (→ 1 in collapsed layers).",
    },
    {
      name: "nrc3",
      labelsAt: "bottom",
      title: "NRC3: feature–weight alignment",
      yTitle: "NRC3 (mean cos θ)",
      scale: "linear",
      series: [{ name: "NRC3", get: (l) => metric(l, "nrc3"), shape: "circle", dash: SOLID }],
      references: [],
      describe:
        "Mean cosine of the principal angles between the features' top-t subspace and the top-t input subspace of the layer's weight (→ 1 in collapsed layers).",
    },
    {
      name: "nrc4",
      labelsAt: "top",
      title: "NRC4: linear predictability",
      yTitle: `NRC4 (MSE${(opts.nrc4Scale ?? "log") === "log" ? ", log scale" : ""})`,
      scale: opts.nrc4Scale ?? "log",
      series: [{ name: "NRC4", get: (l) => metric(l, "nrc4"), shape: "circle", dash: SOLID }],
      references: [
        {
          name: "mse_rule",
          label: "model MSE",
          dash: [6, 4],
          get: (r) => r.modelMSE ?? null,
          byRun: true,
        },
      ],
      describe:
        "MSE of the best linear prediction of the centered targets from the layer's features, ‖H·pinv(H)·Yc − Yc‖²_F/(N·t) (≈ the model's train MSE in collapsed layers). Dashed line: the model's MSE.",
    },
    {
      name: "stableRank",
      labelsAt: "top",
      title: "Stable ranks",
      yTitle: "stable rank (log scale)",
      scale: "log",
      series: [
        {
          name: "features",
          get: (l) => metric(l, "stableRankFeatures"),
          shape: "circle",
          dash: SOLID,
        },
        {
          name: "weights",
          get: (l) => metric(l, "stableRankWeight"),
          shape: "square",
          dash: [5, 3],
        },
      ],
      references: [
        {
          name: "target_rule",
          label: "targets",
          dash: [2, 3],
          get: (r) => r.targetStableRank ?? null,
          byRun: true,
        },
      ],
      describe:
        "Stable rank ‖A‖²_F/‖A‖²_2 of each layer's features (solid) and weight (dashed); dotted line: the targets' stable rank (collapsed features approach it).",
    },
  ];
  if (hasR) {
    defs.push({
      name: "intrinsic",
      labelsAt: "top",
      title: `Intrinsic dimension (${rText})`,
      yTitle: "alignment (mean cos)",
      scale: "linear",
      series: [
        {
          name: `NRC3 at ${rText}`,
          get: (l) => intrinsicOf(l)?.nrc3 ?? null,
          shape: "circle",
          dash: SOLID,
          intrinsic: true,
        },
        {
          name: "bottom alignment",
          get: (l) => intrinsicOf(l)?.bottomAlignment ?? null,
          shape: "square",
          dash: [5, 3],
          intrinsic: true,
        },
      ],
      references: [],
      describe:
        "NRC3 measured with the intrinsic dimension r in place of t (solid, → 1), and the alignment of the weight's top-r input subspace with the features' bottom (d − r) subspace (dashed, → 0 when collapsed layers pass no noise on).",
    });
  }
  return defs;
}
