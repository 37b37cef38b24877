/**
 * Vega-Lite specifications of the report's figures, in the style of the Deep NRC paper's plots:
 * one panel per metric, layers on the x axis, runs overlaid by colour. Pure data → JSON; nothing
 * here imports Vega.
 * @module
 */
import { fmtFull, fmtNumber } from "./numbers.js";
import type { ReportRun } from "./runs.js";
import { runColors, logDomain, logTicks, layerTicks, layerNameLabels } from "./scales.js";
import { panels, type Reference } from "./panels.js";
import { type FigureName, type ReportOptions } from "./report-options.js";

/** One figure: its Vega-Lite spec plus the texts the HTML page shows beside it. */
export interface FigureSpec {
  name: FigureName;
  /** Short heading. */
  title: string;
  /** Plain-text caption (what is drawn, reference lines, clamping, missing values). */
  caption: string;
  /** The Vega-Lite (v6) specification; compile with `vega-lite`'s `compile`. */
  spec: Record<string, unknown>;
  /** Number of point marks drawn (one per finite value per run and series). */
  points: number;
}

interface PointRow {
  run: string;
  x: number;
  y: number;
  series: string;
  shape: string;
  desc: string;
}

interface LineRow {
  run: string;
  x: number;
  y: number | null;
  series: string;
}

function plural(n: number, one: string, many = one + "s"): string {
  return `${n} ${n === 1 ? one : many}`;
}

function listLayers(xs: { run: string; x: number; name: string }[], multi: boolean): string {
  const shown = xs.slice(0, 8).map((e) => `${multi ? e.run + ": " : ""}${e.x} (${e.name})`);
  return shown.join(", ") + (xs.length > 8 ? `, … (${xs.length} in all)` : "");
}

/**
 * Builds the Vega-Lite specs of the report's figures (no Vega needed).
 *
 * Every panel has the layer position (0-based, as in `report.layers`) on x, one colour per run, a
 * point per finite value (missing values, e.g. NRC3 of a layer without a weight, leave a gap), a
 * vertical rule with a label at each run's first collapsed layer, and a grey band with the word
 * "degenerate" over each layer a run could not measure. Log panels clamp values below
 * `logFloor` to it (drawn as ▼) and say so in the subtitle and caption.
 *
 * @param runs - validated runs (see `normalizeRuns`).
 * @param opts - sizes, colours, log floor, NRC4 scale.
 * @returns one `FigureSpec` per figure, in display order.
 * @example
 * const figs = buildFigureSpecs([{ label: "run", report }], {});
 * figs.map((f) => f.name); // ['nrc1', 'nrc2', 'nrc3', 'nrc4', 'stableRank']
 */
export function buildFigureSpecs(runs: ReportRun[], opts: ReportOptions): FigureSpec[] {
  const width = opts.width ?? 420;
  const height = opts.height ?? 230;
  const floor = opts.logFloor ?? 1e-16;
  const multi = runs.length > 1;
  const labels = runs.map((r) => r.label);
  const colors = runColors(runs.length, opts.colors);
  const nLayers = Math.max(...runs.map((r) => r.report.layers.length));
  const pointSize = nLayers > 40 ? 10 : 36;

  // Only the "lines" layer states the colour legend; the others leave it unset so that
  // Vega-Lite's layer merge sees no conflict.
  const colorEnc = (legend: boolean) => ({
    field: "run",
    type: "nominal",
    scale: { domain: labels, range: colors },
    ...(legend
      ? {
          legend: multi
            ? {
                title: "run",
                orient: "bottom",
                direction: "horizontal",
                columns: Math.min(runs.length, 5),
              }
            : null,
        }
      : {}),
  });
  const xEnc = {
    field: "x",
    type: "quantitative",
    scale: { domain: [-0.5, nLayers - 0.5], nice: false, zero: false },
    axis: {
      title: "layer",
      values: layerTicks(nLayers),
      format: "d",
      grid: false,
      ...layerNameLabels(runs.find((r) => r.report.layers.length === nLayers)!.report.layers),
    },
  };

  // Degenerate layers: one band per layer position, naming the runs.
  const degenerate = new Map<number, string[]>();
  const degList: { run: string; x: number; name: string }[] = [];
  for (const run of runs) {
    run.report.layers.forEach((l, x) => {
      if (l.degenerate) {
        degenerate.set(x, [...(degenerate.get(x) ?? []), run.label]);
        degList.push({ run: run.label, x, name: l.name });
      }
    });
  }
  const degRows = [...degenerate.entries()].map(([x, rs]) => ({
    x0: x - 0.5,
    x1: x + 0.5,
    x,
    text: !multi
      ? "degenerate"
      : rs.length === runs.length
        ? "degenerate (all runs)"
        : `degenerate (${rs.join(", ")})`,
  }));

  // First collapsed layers: a rule per run; one label per run, or, beyond 4 runs, one per layer
  // position naming its runs (so 20 epochs do not stack 20 labels).
  const collapseRows = runs.flatMap((run) => {
    const fc = run.report.firstCollapsedLayer;
    return fc === null || fc === undefined ? [] : [{ run: run.label, x: fc }];
  });
  const collapseLabels: { x: number; slot: number; right: number; text: string; color: string }[] =
    [];
  if (runs.length <= 4) {
    runs.forEach((run, i) => {
      const fc = run.report.firstCollapsedLayer;
      if (fc === null || fc === undefined) return;
      collapseLabels.push({
        x: fc,
        slot: collapseLabels.length,
        right: fc > (nLayers - 1) * 0.6 ? 1 : 0,
        text: multi
          ? `${run.label}: first collapsed ${fc}`
          : `first collapsed: ${fc} (${run.report.layers[fc].name})`,
        color: colors[i],
      });
    });
  } else {
    const byLayer = new Map<number, number[]>();
    runs.forEach((run, i) => {
      const fc = run.report.firstCollapsedLayer;
      if (fc !== null && fc !== undefined) byLayer.set(fc, [...(byLayer.get(fc) ?? []), i]);
    });
    [...byLayer.entries()]
      .sort((a, b) => a[0] - b[0])
      .forEach(([fc, idx], slot) => {
        const names =
          idx.length <= 3
            ? idx.map((i) => runs[i].label).join(", ")
            : `${runs[idx[0]].label} … ${runs[idx[idx.length - 1]].label} (${idx.length} runs)`;
        collapseLabels.push({
          x: fc,
          slot,
          right: fc > (nLayers - 1) * 0.6 ? 1 : 0,
          text: `first collapsed ${fc}: ${names}`,
          color: idx.length === 1 ? colors[idx[0]] : "#555555",
        });
      });
  }
  const noCollapse = runs.filter((r) => r.report.firstCollapsedLayer == null).map((r) => r.label);

  return panels(runs, opts).map((def) => {
    const pointRows: PointRow[] = [];
    const lineRows: LineRow[] = [];
    const clamped: { run: string; x: number; name: string }[] = [];
    const missing = new Map<string, { run: string; x: number; name: string }[]>();
    for (const run of runs) {
      for (const s of def.series) {
        if (s.intrinsic && run.report.r == null) continue;
        run.report.layers.forEach((l, x) => {
          const v = s.get(l);
          if (v === null) {
            lineRows.push({ run: run.label, x, y: null, series: s.name });
            if (!l.degenerate) {
              missing.set(s.name, [
                ...(missing.get(s.name) ?? []),
                { run: run.label, x, name: l.name },
              ]);
            }
            return;
          }
          let y = v;
          let shape = s.shape;
          if (def.scale === "log" && !(v >= floor)) {
            y = floor;
            shape = "triangle-down";
            clamped.push({ run: run.label, x, name: l.name });
          }
          lineRows.push({ run: run.label, x, y, series: s.name });
          pointRows.push({
            run: run.label,
            x,
            y,
            series: s.name,
            shape,
            desc: `${multi ? run.label + ", " : ""}layer ${x} (${l.name}): ${s.name} = ${fmtFull(v)}`,
          });
        });
      }
    }

    // Reference lines: a rule per run (coloured by run, or grey and deduplicated), and one label
    // per distinct value (naming the runs only when their values differ).
    const refRows: { run: string; y: number; ref: string }[] = [];
    const refValues: { ref: Reference; byValue: Map<number, number[]> }[] = [];
    for (const ref of def.references) {
      const byValue = new Map<number, number[]>();
      runs.forEach((run, i) => {
        const v = ref.get(run.report);
        if (v === null || !(def.scale === "linear" || v > 0)) return;
        byValue.set(v, [...(byValue.get(v) ?? []), i]);
        if (ref.byRun || byValue.get(v)!.length === 1)
          refRows.push({ run: run.label, y: v, ref: ref.name });
      });
      refValues.push({ ref, byValue });
    }

    let yScale: Record<string, unknown>;
    let yAxis: Record<string, unknown>;
    if (def.scale === "log") {
      const dom = logDomain([...pointRows.map((r) => r.y), ...refRows.map((r) => r.y)]);
      yScale = { type: "log", domain: dom, nice: false, padding: 6 };
      yAxis = {
        title: def.yTitle,
        values: logTicks(dom),
        labelExpr:
          "datum.value >= 0.001 && datum.value < 100000 ? format(datum.value, '~g') : format(datum.value, '.0e')",
      };
    } else {
      const hi = Math.max(1, ...pointRows.map((r) => r.y), ...refRows.map((r) => r.y));
      const lo = Math.min(0, ...pointRows.map((r) => r.y), ...refRows.map((r) => r.y));
      yScale = {
        type: "linear",
        domain: [lo, hi],
        nice: hi !== 1 || lo !== 0,
        zero: true,
        clamp: true,
        padding: 6,
      };
      yAxis = { title: def.yTitle, tickCount: 5 };
    }
    const yEnc = { field: "y", type: "quantitative", scale: yScale, axis: yAxis };

    // One label per distinct reference value, naming the runs when their values differ; labels
    // closer than a line of text on screen are merged into one.
    const dom = yScale.domain as [number, number];
    const frac = (v: number) =>
      def.scale === "log"
        ? (Math.log10(v) - Math.log10(dom[0])) / (Math.log10(dom[1]) - Math.log10(dom[0]))
        : (v - dom[0]) / (dom[1] - dom[0]);
    const refLabels: { y: number; ref: string; label: string; color: string }[] = [];
    for (const { ref, byValue } of refValues) {
      const named = ref.byRun && byValue.size > 1;
      const items = [...byValue.entries()]
        .map(([v, idx]) => ({ v, idx, px: frac(v) * height }))
        .sort((a, b) => a.px - b.px);
      const clusters: (typeof items)[] = [];
      for (const it of items) {
        const last = clusters[clusters.length - 1];
        if (last && it.px - last[last.length - 1].px < 12) last.push(it);
        else clusters.push([it]);
      }
      for (const c of clusters) {
        const who = (idx: number[]) => idx.map((i) => runs[i].label).join(", ");
        const label =
          c.length === 1
            ? `${ref.label}${named ? ` (${who(c[0].idx)})` : ""} = ${fmtNumber(c[0].v)}`
            : `${ref.label}: ${c.map((it) => `${fmtNumber(it.v)} (${who(it.idx)})`).join(", ")}`;
        refLabels.push({
          y: c[c.length - 1].v,
          ref: ref.name,
          label,
          color: named && c.length === 1 ? colors[c[0].idx[0]] : "#555555",
        });
      }
    }

    const layer: Record<string, unknown>[] = [];
    // Text labels go on top of the data, each over a white halo (the same text, stroked white).
    const labels: Record<string, unknown>[] = [];
    if (degRows.length > 0) {
      layer.push({
        name: "degenerate",
        data: { values: degRows },
        mark: { type: "rect", color: "#999999", opacity: 0.22 },
        encoding: { x: { ...xEnc, field: "x0" }, x2: { field: "x1" } },
      });
      layer.push({
        name: "degenerate_label",
        data: { values: degRows },
        mark: {
          type: "text",
          angle: 270,
          fontSize: 10,
          color: "#555555",
          align: "center",
          baseline: "middle",
          limit: height - 10,
        },
        encoding: { x: xEnc, y: { value: height / 2 }, text: { field: "text" } },
      });
    }
    const seriesDash = {
      field: "series",
      type: "nominal",
      scale: { domain: def.series.map((s) => s.name), range: def.series.map((s) => s.dash) },
      legend:
        def.series.length > 1 ? { title: null, orient: "bottom", direction: "horizontal" } : null,
    };
    for (const ref of def.references) {
      const rows = refRows.filter((r) => r.ref === ref.name);
      if (rows.length === 0) continue;
      const base = { data: { values: rows } };
      layer.push({
        ...base,
        name: ref.name,
        mark: {
          type: "rule",
          strokeDash: ref.dash,
          strokeWidth: 1.5,
          ...(ref.byRun ? {} : { color: "#777777" }),
        },
        encoding: { y: yEnc, ...(ref.byRun ? { color: colorEnc(false) } : {}) },
      });
      labels.push({
        data: { values: refLabels.filter((r) => r.ref === ref.name) },
        name: ref.name.replace(/_rule$/, "_label"),
        mark: { type: "text", align: "left", baseline: "bottom", dy: -2, fontSize: 10 },
        encoding: {
          x: { value: 3 },
          y: yEnc,
          text: { field: "label" },
          color: { field: "color", type: "nominal", scale: null },
        },
      });
    }
    if (collapseRows.length > 0) {
      layer.push({
        name: "collapse_rule",
        data: { values: collapseRows },
        mark: { type: "rule", strokeWidth: 1.5, opacity: 0.8 },
        encoding: { x: xEnc, color: colorEnc(false) },
      });
      for (const [suffix, right] of [
        ["l", 0],
        ["r", 1],
      ] as const) {
        const rows = collapseLabels
          .filter((r) => r.right === right)
          .map((r) => ({
            ...r,
            yPix: def.labelsAt === "top" ? 4 + 13 * r.slot : height - 4 - 13 * r.slot,
          }));
        if (rows.length === 0) continue;
        labels.push({
          name: `collapse_label_${suffix}`,
          data: { values: rows },
          mark: {
            type: "text",
            align: right ? "right" : "left",
            baseline: def.labelsAt === "top" ? "top" : "bottom",
            dx: right ? -4 : 4,
            fontSize: 10,
            fontWeight: "bold",
            limit: width - 12,
          },
          encoding: {
            x: xEnc,
            y: { field: "yPix", type: "quantitative", scale: null },
            text: { field: "text" },
            color: { field: "color", type: "nominal", scale: null },
          },
        });
      }
    }
    layer.push({
      name: "lines",
      data: { values: lineRows },
      mark: { type: "line", strokeWidth: 1.6, interpolate: "linear" },
      encoding: {
        x: xEnc,
        y: yEnc,
        color: colorEnc(true),
        detail: { field: "series" },
        strokeDash: seriesDash,
        order: { field: "x", type: "quantitative" },
      },
    });
    layer.push({
      name: "points",
      data: { values: pointRows },
      mark: { type: "point", filled: true, size: pointSize, opacity: 0.95 },
      encoding: {
        x: xEnc,
        y: yEnc,
        color: colorEnc(false),
        shape: { field: "shape", type: "nominal", scale: null },
        description: { field: "desc" },
      },
    });

    for (const l of labels) {
      const { color: _color, ...enc } = l.encoding as Record<string, unknown>;
      layer.push({
        ...l,
        name: `${l.name as string}_halo`,
        mark: {
          ...(l.mark as object),
          color: "white",
          stroke: "white",
          strokeWidth: 3,
          strokeOpacity: 0.85,
        },
        encoding: enc,
      });
      layer.push(l);
    }

    const notes: string[] = [];
    if (clamped.length > 0) {
      notes.push(
        `${plural(clamped.length, "value")} below ${floor} (exact zeros included) ${clamped.length === 1 ? "is" : "are"} drawn at ${floor} as ▼: ${listLayers(clamped, multi)}.`,
      );
    }
    for (const [series, xs] of missing) {
      const noWeight = series === "NRC3" || series === "weights" ? " (no weight given)" : "";
      notes.push(
        `No ${series} value (no point) for ${plural(xs.length, "layer")}${noWeight}: ${listLayers(xs, multi)}.`,
      );
    }
    if (degList.length > 0) {
      notes.push(`Grey bands: degenerate layers (not measured): ${listLayers(degList, multi)}.`);
    }
    if (collapseRows.length > 0) {
      notes.push(
        "Vertical rule: the first collapsed layer (start of the longest run of top layers with NRC1 ≤ the threshold)" +
          (noCollapse.length > 0 ? `; none in ${noCollapse.join(", ")}.` : "."),
      );
    } else {
      notes.push("No run has a collapsed top layer (no first-collapsed rule).");
    }
    const caption = [def.describe, ...notes].join(" ");
    const subtitle = clamped.length > 0 ? [`▼: value < ${floor} (incl. 0) drawn at ${floor}`] : [];

    const spec: Record<string, unknown> = {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      description: `${def.title}. ${caption}`,
      title: { text: def.title, subtitle, anchor: "start", fontSize: 13, subtitleFontSize: 10 },
      width,
      height,
      background: "white",
      padding: 6,
      config: {
        font: "Helvetica, Arial, sans-serif",
        axis: {
          labelFontSize: 10,
          titleFontSize: 11,
          titleFontWeight: "normal",
          titleLimit: height,
        },
        legend: { labelFontSize: 10, symbolStrokeWidth: 2, labelLimit: 200 },
        view: { stroke: "#cccccc" },
      },
      layer,
    };
    return { name: def.name, title: def.title, caption, spec, points: pointRows.length };
  });
}
