/**
 * The self-contained HTML page of the report: inline CSS, inline SVG figures, per-run summary
 * and per-layer tables. No scripts, no network.
 * @module
 */
import type { LayerReport } from "../engine/report.js";
import { escapeHTML as esc, fmtFull, fmtNumber } from "./numbers.js";
import type { ReportRun } from "./runs.js";
import type { FigureSpec } from "./specs.js";

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: #222; background: #fafafa; margin: 0; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.meta { color: #666; margin: 0 0 16px; font-size: 12px; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid #e2e2e2; border-radius: 4px; padding: 8px; max-width: 100%; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #444; max-width: 520px; margin-top: 4px; }
table { border-collapse: collapse; background: #fff; font-size: 12px; margin-bottom: 12px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; font-weight: 600; }
td.name, th.name, td.text { text-align: left; }
td.text { white-space: normal; max-width: 320px; }
tr.collapsed td { background: #eef7ee; }
tr.first td { border-top: 2px solid #2a7a2a; }
tr.degenerate td { background: #f1f1f1; color: #777; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: baseline; }
.scroll { overflow-x: auto; }
`;

function cell(x: number | null, cls = ""): string {
  return `<td${cls ? ` class="${cls}"` : ""} title="${esc(fmtFull(x))}">${esc(fmtNumber(x))}</td>`;
}

function runSummary(runs: ReportRun[], colors: string[]): string {
  const rows = runs.map((run, i) => {
    const r = run.report;
    const fc = r.firstCollapsedLayer;
    const fcText = fc === null || fc === undefined ? "none" : `${fc} (${r.layers[fc].name})`;
    const degenerate = r.layers.filter((l) => l.degenerate).length;
    return (
      `<tr><td class="name"><span class="swatch" style="background:${esc(colors[i])}"></span>${esc(run.label)}</td>` +
      `<td class="name">${esc(String(r.preset))}</td><td>${esc(String(r.t))}</td><td>${esc(r.r === null || r.r === undefined ? "—" : String(r.r))}</td>` +
      `<td>${esc(String(r.samples))}</td><td>${esc(String(r.targetDim))}</td><td>${r.layers.length}</td>` +
      cell(r.targetStableRank ?? null) +
      cell(r.modelMSE ?? null) +
      cell(r.collapseThreshold ?? null) +
      `<td class="name">${esc(fcText)}</td><td>${degenerate}</td><td class="name">${esc(String(r.backend ?? ""))}</td></tr>`
    );
  });
  return (
    `<div class="scroll"><table class="runs"><thead><tr><th class="name">run</th><th class="name">preset</th><th>t</th><th>r</th>` +
    `<th>samples N</th><th>target dim</th><th>layers</th><th>target stable rank</th><th>model MSE</th>` +
    `<th>collapse threshold</th><th class="name">first collapsed layer</th><th>degenerate layers</th><th class="name">backend</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table></div>`
  );
}

function layerTable(run: ReportRun): string {
  const r = run.report;
  const hasR = r.layers.some((l) => l.intrinsic);
  const hasMSE = r.modelMSE !== null && r.modelMSE !== undefined;
  const head =
    `<tr><th>#</th><th class="name">layer</th><th class="name">kind</th><th>N</th><th>d</th>` +
    `<th>NRC1</th><th>NRC2</th><th>NRC3</th><th>NRC4</th>${hasMSE ? "<th>NRC4 / MSE</th>" : ""}` +
    `<th>stable rank H</th><th>stable rank W</th>` +
    (hasR ? "<th>NRC1 at r</th><th>NRC3 at r</th><th>bottom alignment</th>" : "") +
    `<th class="name">collapsed</th><th class="name">notes</th></tr>`;
  const rows = r.layers.map((l: LayerReport, x) => {
    const cls = [
      l.collapsed ? "collapsed" : "",
      x === r.firstCollapsedLayer ? "first" : "",
      l.degenerate ? "degenerate" : "",
    ]
      .filter(Boolean)
      .join(" ");
    const note = l.degenerate
      ? `degenerate: ${l.degenerate}`
      : x === r.firstCollapsedLayer
        ? "first collapsed layer"
        : "";
    return (
      `<tr${cls ? ` class="${cls}"` : ""}><td>${x}</td><td class="name">${esc(l.name)}</td><td class="name">${esc(String(l.kind ?? ""))}</td>` +
      `<td>${esc(String(l.samples ?? ""))}</td><td>${esc(String(l.features ?? ""))}</td>` +
      cell(l.nrc1 ?? null) +
      cell(l.nrc2 ?? null) +
      cell(l.nrc3 ?? null) +
      cell(l.nrc4 ?? null) +
      (hasMSE ? cell(l.nrc4OverModelMSE ?? null) : "") +
      cell(l.stableRankFeatures ?? null) +
      cell(l.stableRankWeight ?? null) +
      (hasR
        ? cell(l.intrinsic?.nrc1 ?? null) +
          cell(l.intrinsic?.nrc3 ?? null) +
          cell(l.intrinsic?.bottomAlignment ?? null)
        : "") +
      `<td class="name">${l.collapsed ? "yes" : "no"}</td><td class="text">${esc(note)}</td></tr>`
    );
  });
  return `<div class="scroll"><table class="layers"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table></div>`;
}

/**
 * Assembles the page.
 *
 * @param title - page title (plain text; escaped here).
 * @param runs - the runs drawn.
 * @param colors - each run's colour (as in the figures).
 * @param figures - figure specs (for titles and captions).
 * @param svgs - each figure's SVG, same order as `figures`.
 * @returns the complete HTML document.
 */
export function assembleHTML(
  title: string,
  runs: ReportRun[],
  colors: string[],
  figures: readonly FigureSpec[],
  svgs: readonly string[],
): string {
  const figs = figures
    .map(
      (f, i) =>
        `<figure id="fig-${f.name}" aria-label="${esc(f.title)}">${svgs[i]}` +
        `<figcaption>${esc(f.caption)}</figcaption></figure>`,
    )
    .join("\n");
  const tables = runs
    .map(
      (run, i) =>
        `<h3><span class="swatch" style="background:${esc(colors[i])}"></span>${esc(run.label)}</h3>\n${layerTable(run)}`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="deep-nrc report">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${esc(title)}</h1>
<p class="meta">Deep Neural Regression Collapse metrics per layer (Rangamani &amp; Unal, arXiv 2603.23805). Layers are numbered from 0 in the order measured. Hover a table cell for its full-precision value.</p>
</header>
<h2>Runs</h2>
${runSummary(runs, colors)}
<h2>Figures</h2>
<div class="figures">
${figs}
</div>
<h2>Per-layer values</h2>
${tables}
</body>
</html>
`;
}
