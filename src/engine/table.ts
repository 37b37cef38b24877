/**
 * Plain-text rendering of a report: the per-layer table the demo and the CLI print.
 * @module
 */
import type { LayerReport, NRCReport } from "./report.js";
import { NRCInputError } from "../errors.js";

function num(v: number | null, digits = 4): string {
  if (v === null) return "—";
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return v.toFixed(digits);
}

/** Why single metrics of a measured layer are null (`reasons`), for the last column. */
function notes(l: LayerReport): string {
  const r = l.reasons;
  if (!r) return "";
  const parts: string[] = [];
  if (r.nrc1 && r.nrc1 === r.nrc2 && r.nrc1 === r.nrc3) parts.push(`NRC1–3: ${r.nrc1}`);
  else {
    if (r.nrc1) parts.push(`NRC1: ${r.nrc1}`);
    if (r.nrc2 && r.nrc2 !== r.nrc1) parts.push(`NRC2: ${r.nrc2}`);
    else if (r.nrc2) parts[parts.length - 1] = `NRC1–2: ${r.nrc1}`;
    if (r.nrc3) parts.push(`NRC3: ${r.nrc3}`);
  }
  if (r.intrinsic) parts.push(`@r: ${r.intrinsic}`);
  return parts.length ? ` (${parts.join("; ")})` : "";
}

/**
 * Formats a report as an aligned text table (one row per layer) with a header and a summary line.
 * @param report - a {@link NRCReport}.
 * @returns the table, lines joined with "\n".
 * @example
 * ```ts
 * import { formatReport, measureNRC, makeSyntheticNetwork } from "deep-nrc";
 * console.log(formatReport(await measureNRC(makeSyntheticNetwork())));
 * ```
 */
export function formatReport(report: NRCReport): string {
  if (
    report === null ||
    typeof report !== "object" ||
    !Array.isArray((report as { layers?: unknown }).layers)
  )
    throw new NRCInputError(
      "formatReport",
      "report",
      `report must be a measureNRC report ({ layers: [...], … }); got ${report === null ? "null" : Array.isArray(report) ? "an array" : typeof report === "object" ? "an object without layers" : typeof report}`,
    );
  const intrinsic = report.r !== null;
  const ratio = report.modelMSE !== null && report.modelMSE !== undefined;
  const head = ["layer", "N×d", "NRC1", "NRC2", "NRC3", "NRC4", "srank(H)", "srank(W)"];
  if (ratio) head.splice(6, 0, "NRC4/MSE");
  if (intrinsic) head.push(`NRC1@r`, `NRC3@r`, "bottom");
  head.push("collapsed");
  const rows = report.layers.map((l) => {
    const cells = [
      l.name,
      `${l.samples}×${l.features}`,
      num(l.nrc1),
      num(l.nrc2),
      num(l.nrc3),
      num(l.nrc4),
      ...(ratio ? [num(l.nrc4OverModelMSE, 3)] : []),
      num(l.stableRankFeatures, 3),
      num(l.stableRankWeight, 3),
    ];
    if (intrinsic)
      cells.push(
        num(l.intrinsic?.nrc1 ?? null),
        num(l.intrinsic?.nrc3 ?? null),
        num(l.intrinsic?.bottomAlignment ?? null),
      );
    cells.push(
      (l.degenerate ? `degenerate: ${l.degenerate}` : l.collapsed ? "yes" : "no") + notes(l),
    );
    return cells;
  });
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, j) =>
        j === 0 || j === cells.length - 1 ? c.padEnd(widths[j]) : c.padStart(widths[j]),
      )
      .join("  ")
      .trimEnd();
  const first =
    report.firstCollapsedLayer === null
      ? "none"
      : `${report.layers[report.firstCollapsedLayer].name} (index ${report.firstCollapsedLayer})`;
  return [
    `preset ${report.preset}, t = ${report.t}${intrinsic ? `, r = ${report.r}` : ""}, N = ${report.samples}, targets ${report.targetDim}-dim (stable rank ${num(report.targetStableRank, 3)}), backend ${report.backend}`,
    line(head),
    line(head.map((_, j) => "-".repeat(widths[j]))),
    ...rows.map(line),
    `first collapsed layer (NRC1 ≤ ${report.collapseThreshold}): ${first}${report.modelMSE !== null ? `; model MSE ${num(report.modelMSE)}` : ""}`,
  ].join("\n");
}
