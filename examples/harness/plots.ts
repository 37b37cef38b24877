/**
 * Harness-specific figures (metrics over training, metrics vs weight decay), drawn with Vega-Lite
 * and rendered headlessly to SVG by Vega. Per-layer figures at chosen epochs come from the
 * library's own `renderReportSVGs` (src/viz).
 * @module
 */
import * as vega from "vega";
import * as vl from "vega-lite";

/** One point of a line chart. */
export interface Point {
  x: number;
  y: number | null;
  series: string;
}

/** Options of {@link lineChartSVG}. */
export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  xScale?: "linear" | "log" | "symlog";
  yScale?: "linear" | "log";
  /** Legend title. */
  seriesTitle?: string;
  /** Horizontal reference lines (e.g. the target's stable rank). */
  rules?: { y: number; label: string }[];
  /** Smallest value drawn on a log y axis (smaller ones are clamped to it). */
  logFloor?: number;
  width?: number;
  height?: number;
  /** Sort order of the series in the legend (default: first appearance). */
  seriesOrder?: string[];
}

/**
 * A multi-series line chart as a standalone SVG string.
 * @param points - the data (null y values are dropped).
 * @param o - titles and scales.
 * @returns the SVG document.
 */
export async function lineChartSVG(points: Point[], o: LineChartOptions): Promise<string> {
  const floor = o.logFloor ?? 1e-12;
  const data = points
    .filter((p) => p.y !== null && Number.isFinite(p.y))
    .map((p) => ({
      x: p.x,
      y: o.yScale === "log" ? Math.max(p.y as number, floor) : p.y,
      series: p.series,
    }));
  const order = o.seriesOrder ?? [...new Set(data.map((d) => d.series))];
  const layers: unknown[] = [
    {
      mark: { type: "line", point: { size: 18 }, strokeWidth: 1.5 },
      encoding: {
        x: {
          field: "x",
          type: "quantitative",
          title: o.xTitle,
          ...(o.xTitle === "layer" ? { axis: { tickMinStep: 1, format: "d" } } : {}),
          scale: { type: o.xScale ?? "linear", ...(o.xScale === "symlog" ? { constant: 1 } : {}) },
        },
        y: {
          field: "y",
          type: "quantitative",
          title: o.yTitle,
          scale: { type: o.yScale ?? "linear" },
          axis: o.yScale === "log" ? { format: ".0e" } : {},
        },
        color: {
          field: "series",
          type: "nominal",
          title: o.seriesTitle ?? "",
          legend: { labelLimit: 400 },
          sort: order,
          scale: order.length > 10 ? { scheme: "viridis" } : { scheme: "tableau10" },
        },
      },
    },
  ];
  for (const r of o.rules ?? []) {
    layers.push({
      data: { values: [{ y: r.y, label: r.label }] },
      layer: [
        {
          mark: { type: "rule", strokeDash: [5, 4], color: "#444" },
          encoding: { y: { field: "y", type: "quantitative" } },
        },
        {
          mark: { type: "text", align: "left", dx: 4, dy: -6, color: "#444", fontSize: 10 },
          encoding: {
            y: { field: "y", type: "quantitative" },
            x: { value: 0 },
            text: { field: "label" },
          },
        },
      ],
    });
  }
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: o.title,
    width: o.width ?? 420,
    height: o.height ?? 230,
    background: "white",
    data: { values: data },
    layer: layers,
  };
  const compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
