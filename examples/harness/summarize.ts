/**
 * Turns runs' measurements into markdown tables and SVG figures (the material of
 * docs/REPRODUCTION.md). Works from the in-memory results or from the saved JSON.
 * @module
 */
import { renderReportSVGs } from "../../src/viz/index.js";
import type { LayerReport } from "../../src/engine/report.js";
import type { EpochRecord, RunResult } from "./pipeline.js";
import { lineChartSVG, type Point } from "./plots.js";

/** A named SVG to write. */
export interface Figure {
  file: string;
  svg: string;
}

const f = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined || !Number.isFinite(x)
    ? "–"
    : Math.abs(x) !== 0 && (Math.abs(x) < 1e-2 || Math.abs(x) >= 1e4)
      ? x.toExponential(1)
      : x.toFixed(digits);

function last(r: RunResult): EpochRecord {
  return r.epochs[r.epochs.length - 1];
}

/** Per-layer markdown table of one epoch. */
export function layerTable(rec: EpochRecord): string {
  const rep = rec.report;
  const withR = rep.r !== null;
  const head = [
    "layer",
    "d",
    "NRC1",
    "NRC1@t+1",
    "NRC2",
    "NRC3",
    "NRC4",
    "NRC4/MSE",
    "srank H",
    "srank W",
    ...(withR ? ["NRC1@r", "NRC3@r", "bottom align"] : []),
    "collapsed",
  ];
  const rows = rep.layers.map((l: LayerReport, i: number) =>
    [
      String(i),
      String(l.features),
      l.degenerate ? `degenerate` : f(l.nrc1),
      f(rec.nrc1AtTPlus1[i]),
      f(l.nrc2),
      f(l.nrc3),
      f(l.nrc4),
      f(l.nrc4OverModelMSE, 2),
      f(l.stableRankFeatures, 2),
      f(l.stableRankWeight, 2),
      ...(withR
        ? [f(l.intrinsic?.nrc1), f(l.intrinsic?.nrc3), f(l.intrinsic?.bottomAlignment)]
        : []),
      l.collapsed ? "yes" : "",
    ].join(" | "),
  );
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r} |`),
  ].join("\n");
}

/** One line about a run's final state. */
export function runHeadline(r: RunResult): string {
  const e = last(r);
  const rep = e.report;
  return (
    `**${r.label}** (${r.dataset.name}; depth ${r.spec.model.depth}, width ${r.spec.model.width}, ` +
    `bias ${r.spec.model.bias}, λ ${r.spec.train.weightDecay}, lr ${r.spec.train.lr}, ${r.spec.train.epochs} epochs): ` +
    `train MSE ${f(e.trainMSE, 4)}, test MSE ${f(e.testMSE, 4)}, target stable rank ${f(rep.targetStableRank, 2)}, ` +
    `first collapsed layer ${rep.firstCollapsedLayer ?? "none"} (threshold ${rep.collapseThreshold}); ` +
    `${r.timing.totalSeconds.toFixed(0)} s (train ${r.timing.trainSeconds.toFixed(0)} s, measure ${r.timing.measureSeconds.toFixed(0)} s)` +
    (r.error ? `; **error: ${r.error}**` : "")
  );
}

/**
 * Do the four conditions hold together on the layers from the first collapsed one up?
 * NRC1 ≤ threshold, NRC2 ≥ 0.9, NRC3 ≥ 0.9, NRC4 ≤ 1.5 × train MSE.
 */
export function cooccurrence(rec: EpochRecord): string {
  const rep = rec.report;
  if (rep.firstCollapsedLayer === null) return "no collapsed suffix";
  const parts: string[] = [];
  for (let i = rep.firstCollapsedLayer; i < rep.layers.length; i++) {
    const l = rep.layers[i];
    const ok = [
      (l.nrc2 ?? 0) >= 0.9 ? "NRC2✓" : `NRC2✗(${f(l.nrc2)})`,
      (l.nrc3 ?? 0) >= 0.9 ? "NRC3✓" : `NRC3✗(${f(l.nrc3)})`,
      (l.nrc4OverModelMSE ?? Infinity) <= 1.5 ? "NRC4✓" : `NRC4✗(${f(l.nrc4OverModelMSE, 2)}×)`,
    ];
    parts.push(`layer ${i}: ${ok.join(" ")}`);
  }
  return parts.join("; ");
}

function overTraining(
  r: RunResult,
  metric: (l: LayerReport, rec: EpochRecord, i: number) => number | null,
): Point[] {
  const pts: Point[] = [];
  for (const rec of r.epochs) {
    rec.report.layers.forEach((l, i) =>
      pts.push({ x: rec.epoch, y: metric(l, rec, i), series: `layer ${i}` }),
    );
  }
  return pts;
}

/** Figures of metrics over training for one run (one SVG per metric, a line per layer). */
export async function trainingFigures(prefix: string, r: RunResult): Promise<Figure[]> {
  const figs: Figure[] = [];
  const specs: {
    key: string;
    title: string;
    y: (l: LayerReport, rec: EpochRecord, i: number) => number | null;
    log: boolean;
  }[] = [
    { key: "nrc1", title: "NRC1 (noise component)", y: (l) => l.nrc1, log: true },
    {
      key: "nrc1-tplus1",
      title: "NRC1 measured at t + 1",
      y: (_l, rec, i) => rec.nrc1AtTPlus1[i],
      log: true,
    },
    { key: "nrc2", title: "NRC2 (signal–target CKA)", y: (l) => l.nrc2, log: false },
    { key: "nrc3", title: "NRC3 (feature–weight alignment)", y: (l) => l.nrc3, log: false },
    { key: "nrc4", title: "NRC4 / train MSE", y: (l) => l.nrc4OverModelMSE, log: true },
  ];
  if (r.epochs[0]?.report.r !== null) {
    specs.push({
      key: "bottom",
      title: "top-r weight vs bottom feature subspace",
      y: (l) => l.intrinsic?.bottomAlignment ?? null,
      log: false,
    });
  }
  const order = r.epochs[0]?.report.layers.map((_, i) => `layer ${i}`);
  for (const s of specs) {
    figs.push({
      file: `${prefix}-${r.id}-${s.key}.svg`,
      svg: await lineChartSVG(overTraining(r, s.y), {
        title: `${r.label}: ${s.title}`,
        xTitle: "epoch",
        yTitle: s.title,
        xScale: "symlog",
        yScale: s.log ? "log" : "linear",
        seriesOrder: order,
      }),
    });
  }
  const mse: Point[] = [];
  for (const c of r.curve ?? r.epochs) {
    mse.push({ x: c.epoch, y: c.trainMSE, series: "train MSE" });
    mse.push({ x: c.epoch, y: c.testMSE, series: "test MSE" });
  }
  figs.push({
    file: `${prefix}-${r.id}-mse.svg`,
    svg: await lineChartSVG(mse, {
      title: `${r.label}: MSE`,
      xTitle: "epoch",
      yTitle: "MSE (standardised targets)",
      xScale: "symlog",
      yScale: "log",
    }),
  });
  return figs;
}

/** The library's per-layer figures, several runs' final epochs overlaid. */
export async function perLayerFigures(
  prefix: string,
  runs: { label: string; rec: EpochRecord }[],
): Promise<Figure[]> {
  const svgs = await renderReportSVGs(runs.map((r) => ({ label: r.label, report: r.rec.report })));
  return Object.entries(svgs)
    .filter(([, svg]) => typeof svg === "string")
    .map(([k, svg]) => ({ file: `${prefix}-layers-${k}.svg`, svg: svg as string }));
}

/** Markdown summary + figures of an experiment. */
export async function summarize(
  exp: string,
  runs: RunResult[],
  prefix: string,
): Promise<{ markdown: string; figures: Figure[] }> {
  const md: string[] = [];
  const figs: Figure[] = [];
  for (const r of runs) {
    md.push(runHeadline(r), "");
    if (!r.epochs.length) continue;
    const e = last(r);
    md.push(`Final epoch ${e.epoch}:`, "", layerTable(e), "");
    if (exp === "deep" || exp === "rank")
      md.push(`Co-occurrence above the first collapsed layer: ${cooccurrence(e)}`, "");
    if (e.prop1) md.push(prop1Table(r), "");
    if (exp === "deep" || exp === "rank") figs.push(...(await trainingFigures(prefix, r)));
  }
  const finals = runs.filter((r) => r.epochs.length).map((r) => ({ label: r.label, rec: last(r) }));
  if (exp === "wd") {
    md.push(wdTable(runs), "");
    figs.push(...(await wdFigures(prefix, runs)));
  }
  if (exp === "prop1") figs.push(await prop1Figure(prefix, runs));
  if (finals.length && exp !== "prop1") {
    // Per-layer figures need runs with the same target dimension and r to overlay sensibly.
    const groups = new Map<string, typeof finals>();
    for (const fr of finals) {
      const k = `t${fr.rec.report.t}-r${fr.rec.report.r}`;
      groups.set(k, [...(groups.get(k) ?? []), fr]);
    }
    for (const [k, g] of groups)
      figs.push(...(await perLayerFigures(groups.size > 1 ? `${prefix}-${k}` : prefix, g)));
  }
  return { markdown: md.join("\n"), figures: figs };
}

/** Proposition 1 rows of a run's last epoch with them. */
export function prop1Table(r: RunResult): string {
  const out: string[] = [];
  for (const rec of r.epochs) {
    if (!rec.prop1) continue;
    out.push(`Proposition 1 at epoch ${rec.epoch} (${r.label}):`, "");
    out.push(
      "| t | layer | lhs | √ε1 + √ε2 | lhs / bound | ε1 | ε2 | holds |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const p of rec.prop1) {
      out.push(
        `| ${p.t} | ${p.layer} | ${f(p.lhs)} | ${f(p.bound)} | ${f(p.lhs / p.bound, 2)} | ${f(p.eps1)} | ${f(p.eps2)} | ${p.holds ? "yes" : "**no**"} |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}

async function prop1Figure(prefix: string, runs: RunResult[]): Promise<Figure> {
  const pts: Point[] = [];
  for (const r of runs) {
    const rec = [...r.epochs].reverse().find((e) => e.prop1);
    if (!rec?.prop1) continue;
    for (const p of rec.prop1)
      pts.push({
        x: p.layer,
        y: p.lhs / p.bound,
        series: `${r.label}${p.t !== rec.report.t ? ` [t=${p.t}]` : ""}`,
      });
  }
  return {
    file: `${prefix}-ratio.svg`,
    svg: await lineChartSVG(pts, {
      title: "Proposition 1 on trained layers: lhs / (√ε1 + √ε2)",
      xTitle: "layer",
      yTitle: "lhs / bound (≤ 1: bound holds)",
      rules: [{ y: 1, label: "bound" }],
    }),
  };
}

function layerMean(
  rep: { layers: LayerReport[] },
  from: number,
  key: (l: LayerReport) => number | null,
): number | null {
  const v = rep.layers
    .slice(from)
    .map(key)
    .filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

/** Weight-decay table: final metrics per λ. */
export function wdTable(runs: RunResult[]): string {
  const out = [
    "| λ | train MSE (min over training) | train MSE (final) | test MSE | NRC1 last layer | NRC1 mean layers 4+ | NRC3 last layer | NRC3 mean layers 4+ | srank W mean layers 4+ | dead layers |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of runs) {
    if (!r.epochs.length) continue;
    const e = last(r);
    const L = e.report.layers.length;
    const ll = e.report.layers[L - 1];
    const minMSE = Math.min(
      ...(r.curve ?? r.epochs).filter((x) => x.epoch > 0).map((x) => x.trainMSE),
    );
    out.push(
      `| ${r.spec.train.weightDecay} | ${f(minMSE, 4)} | ${f(e.trainMSE, 4)} | ${f(e.testMSE, 4)} | ${f(ll.nrc1)} | ${f(layerMean(e.report, 4, (l) => l.nrc1))} | ${f(ll.nrc3)} | ${f(layerMean(e.report, 4, (l) => l.nrc3))} | ${f(
        layerMean(e.report, 4, (l) => l.stableRankWeight),
        2,
      )} | ${e.report.layers.filter((l) => l.degenerate).length} |`,
    );
  }
  return out.join("\n");
}

async function wdFigures(prefix: string, runs: RunResult[]): Promise<Figure[]> {
  const figs: Figure[] = [];
  const mse: Point[] = [];
  const nrc1: Point[] = [];
  for (const r of runs) {
    for (const c of r.curve ?? []) {
      if (c.epoch > 0)
        mse.push({ x: c.epoch, y: c.trainMSE, series: `λ=${r.spec.train.weightDecay}` });
    }
    for (const rec of r.epochs) {
      if (rec.epoch === 0) continue;
      nrc1.push({
        x: rec.epoch,
        y: layerMean(rec.report, 4, (l) => l.nrc1),
        series: `λ=${r.spec.train.weightDecay}`,
      });
    }
  }
  figs.push({
    file: `${prefix}-train-mse.svg`,
    svg: await lineChartSVG(mse, {
      title: "Train MSE over training, per weight decay",
      xTitle: "epoch",
      yTitle: "train MSE",
      yScale: "log",
    }),
  });
  figs.push({
    file: `${prefix}-nrc1-over-training.svg`,
    svg: await lineChartSVG(nrc1, {
      title: "Mean NRC1 of layers 4+ over training",
      xTitle: "epoch",
      yTitle: "NRC1",
      yScale: "log",
    }),
  });
  const byLayer = (key: (l: LayerReport) => number | null, title: string, log: boolean) => {
    const pts: Point[] = [];
    for (const r of runs) {
      if (!r.epochs.length) continue;
      last(r).report.layers.forEach((l, i) =>
        pts.push({ x: i, y: key(l), series: `λ=${r.spec.train.weightDecay}` }),
      );
    }
    return lineChartSVG(pts, {
      title,
      xTitle: "layer",
      yTitle: title,
      yScale: log ? "log" : "linear",
    });
  };
  figs.push({
    file: `${prefix}-nrc3-by-layer.svg`,
    svg: await byLayer((l) => l.nrc3, "NRC3 per layer, per λ (final)", false),
  });
  figs.push({
    file: `${prefix}-srank-w-by-layer.svg`,
    svg: await byLayer(
      (l) => l.stableRankWeight,
      "Weight stable rank per layer, per λ (final)",
      true,
    ),
  });
  return figs;
}
