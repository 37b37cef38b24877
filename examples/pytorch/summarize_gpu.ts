/**
 * Tables and figures from the JSON records `train_nrc.py` writes (one `<config>.json` per run,
 * metrics computed in float64 by the script on the full training set).
 *
 *   npx tsx examples/pytorch/summarize_gpu.ts [dir=docs/reproduction/gpu]
 *
 * Writes `<dir>/SUMMARY.md` and `<dir>/gpu-*.svg`.
 * @module
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lineChartSVG, type Point } from "../harness/plots.js";

interface Layer {
  degenerate: string | null;
  nrc1: number;
  nrc1_t_plus_1: number | null;
  nrc2: number;
  nrc3: number;
  nrc4: number;
  srank_features: number;
  srank_weight: number;
  nrc1_r?: number;
  nrc3_r?: number;
  bottom_alignment?: number;
  prop1: { lhs: number; bound: number; holds: boolean };
}
interface Rec {
  name: string;
  config: Record<string, number | string | boolean>;
  device: string;
  torch: string;
  error: string | null;
  seconds: { total: number; measure: number };
  curve: { epoch: number; train_mse: number; test_mse: number }[];
  epochs: { epoch: number; train_mse: number; test_mse: number; layers: Layer[] }[];
}

const fmt = (x: number | null | undefined, d = 3) =>
  x === null || x === undefined || !Number.isFinite(x)
    ? "–"
    : x !== 0 && (Math.abs(x) < 1e-2 || Math.abs(x) >= 1e4)
      ? x.toExponential(1)
      : x.toFixed(d);

function table(rec: Rec): string {
  const e = rec.epochs[rec.epochs.length - 1];
  const withR = e.layers.some((l) => l.nrc1_r !== undefined);
  const head = [
    "layer",
    "NRC1",
    "NRC1@t+1",
    "NRC2",
    "NRC3",
    "NRC4",
    "NRC4/MSE",
    "srank H",
    "srank W",
    ...(withR ? ["NRC1@r", "NRC3@r", "bottom align"] : []),
    "Prop1 lhs/bound",
  ];
  const rows = e.layers.map((l, i) =>
    l.degenerate
      ? [String(i), `dead (${l.degenerate})`, ...head.slice(2).map(() => "–")]
      : [
          String(i),
          fmt(l.nrc1),
          fmt(l.nrc1_t_plus_1),
          fmt(l.nrc2),
          fmt(l.nrc3),
          fmt(l.nrc4),
          fmt(l.nrc4 / e.train_mse, 2),
          fmt(l.srank_features, 2),
          fmt(l.srank_weight, 2),
          ...(withR ? [fmt(l.nrc1_r), fmt(l.nrc3_r), fmt(l.bottom_alignment)] : []),
          fmt(l.prop1.lhs / l.prop1.bound, 2),
        ],
  );
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

function headline(rec: Rec): string {
  const c = rec.config;
  const e = rec.epochs[rec.epochs.length - 1];
  const minTrain = Math.min(...rec.curve.filter((x) => x.epoch > 0).map((x) => x.train_mse));
  return (
    `**${rec.name}** (${c.data} t=${c.t} r=${c.r}; depth ${c.depth}, width ${c.width}, bias ${c.bias}, init ${c.init}, ` +
    `lr ${c.lr}, λ ${c.wd}, ${c.epochs} epochs, batch ${c.batch}): train MSE ${fmt(e.train_mse, 4)} ` +
    `(min over training ${fmt(minTrain, 4)}), test MSE ${fmt(e.test_mse, 4)}; ${rec.seconds.total.toFixed(0)} s on ${rec.device} (torch ${rec.torch})` +
    (rec.error ? `; error: ${rec.error}` : "")
  );
}

function perLayer(
  recs: Rec[],
  key: (l: Layer) => number | null | undefined,
  label: (r: Rec) => string,
): Point[] {
  const pts: Point[] = [];
  for (const r of recs) {
    const e = r.epochs[r.epochs.length - 1];
    e.layers.forEach((l, i) =>
      pts.push({ x: i, y: l.degenerate ? null : (key(l) ?? null), series: label(r) }),
    );
  }
  return pts;
}

/** Build SUMMARY.md and the figures. */
export async function summarizeGpu(dir: string): Promise<void> {
  const recs = new Map<string, Rec>();
  for (const f of readdirSync(dir).filter((f) => /^(deep|rank|wd)-.*\.json$/.test(f))) {
    const r = JSON.parse(readFileSync(join(dir, f), "utf8")) as Rec;
    recs.set(r.name, r);
  }
  const get = (n: string) => recs.get(n);
  const md: string[] = ["# Full-scale PyTorch runs (GPU)", ""];
  const order = [...recs.keys()].sort();
  for (const n of order) md.push(headline(recs.get(n)!), "", table(recs.get(n)!), "");
  const figs: [string, Promise<string>][] = [];
  const deep = ["deep-nobias", "deep-bias"].map(get).filter((r): r is Rec => !!r);
  figs.push([
    "gpu-deep-nrc1.svg",
    lineChartSVG(
      [
        ...perLayer(
          deep,
          (l) => l.nrc1,
          (r) => `${r.name}: NRC1 (t=3)`,
        ),
        ...perLayer(
          deep,
          (l) => l.nrc1_t_plus_1,
          (r) => `${r.name}: NRC1 at t+1=4`,
        ),
      ],
      {
        title: "Full scale (8×512, 1000 epochs): NRC1 per layer",
        xTitle: "layer",
        yTitle: "noise component",
        yScale: "log",
        logFloor: 1e-12,
      },
    ),
  ]);
  figs.push([
    "gpu-deep-nrc23.svg",
    lineChartSVG(
      [
        ...perLayer(
          deep,
          (l) => l.nrc2,
          (r) => `${r.name}: NRC2`,
        ),
        ...perLayer(
          deep,
          (l) => l.nrc3,
          (r) => `${r.name}: NRC3`,
        ),
      ],
      {
        title: "Full scale: NRC2 and NRC3 per layer",
        xTitle: "layer",
        yTitle: "value",
      },
    ),
  ]);
  const nob = get("deep-nobias");
  if (nob) {
    const pts: Point[] = [];
    for (const e of nob.epochs)
      e.layers.forEach((l, i) => pts.push({ x: e.epoch, y: l.nrc1, series: `layer ${i}` }));
    figs.push([
      "gpu-deep-nobias-nrc1-epochs.svg",
      lineChartSVG(pts, {
        title: "deep-nobias (full scale): NRC1 per layer over training",
        xTitle: "epoch",
        yTitle: "NRC1",
        xScale: "symlog",
        yScale: "log",
      }),
    ]);
  }
  const wdNames = [...recs.keys()]
    .filter((n) => n.startsWith("wd-"))
    .concat(nob ? ["deep-nobias"] : []);
  const wd = wdNames
    .map(get)
    .filter((r): r is Rec => !!r)
    .sort((a, b) => Number(a.config.wd) - Number(b.config.wd));
  const lab = (r: Rec) => `λ=${r.config.wd}`;
  figs.push([
    "gpu-wd-nrc3.svg",
    lineChartSVG(
      perLayer(wd, (l) => l.nrc3, lab),
      { title: "Weight decay sweep (full scale): NRC3 per layer", xTitle: "layer", yTitle: "NRC3" },
    ),
  ]);
  figs.push([
    "gpu-wd-srank-w.svg",
    lineChartSVG(
      perLayer(wd, (l) => l.srank_weight, lab),
      {
        title: "Weight decay sweep: weight stable rank per layer",
        xTitle: "layer",
        yTitle: "stable rank of W",
        yScale: "log",
      },
    ),
  ]);
  figs.push([
    "gpu-wd-nrc1.svg",
    lineChartSVG(
      perLayer(wd, (l) => l.nrc1, lab),
      {
        title: "Weight decay sweep: NRC1 per layer",
        xTitle: "layer",
        yTitle: "NRC1",
        yScale: "log",
      },
    ),
  ]);
  const curve: Point[] = [];
  for (const r of wd)
    for (const c of r.curve)
      if (c.epoch > 0 && c.epoch % 5 === 0)
        curve.push({ x: c.epoch, y: c.train_mse, series: lab(r) });
  figs.push([
    "gpu-wd-train-mse.svg",
    lineChartSVG(curve, {
      title: "Weight decay sweep: train MSE over training",
      xTitle: "epoch",
      yTitle: "train MSE",
      yScale: "log",
    }),
  ]);
  md.push("## Weight-decay sweep (teacher t=3, 8×512, no bias, 1000 epochs)", "");
  md.push(
    "| λ | train MSE | test MSE | NRC1 mean layers 3–7 | NRC1@t+1 mean layers 3–7 | NRC3 mean layers 3–7 | srank W mean layers 3–6 | dead layers |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of wd) {
    const e = r.epochs[r.epochs.length - 1];
    const top = e.layers.slice(3);
    const mean = (f: (l: Layer) => number | null | undefined, ls = top) => {
      const v = ls
        .filter((l) => !l.degenerate)
        .map(f)
        .filter((x): x is number => typeof x === "number");
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
    };
    md.push(
      `| ${r.config.wd} | ${fmt(e.train_mse, 4)} | ${fmt(e.test_mse, 4)} | ${fmt(mean((l) => l.nrc1))} | ${fmt(mean((l) => l.nrc1_t_plus_1))} | ${fmt(mean((l) => l.nrc3))} | ${fmt(
        mean((l) => l.srank_weight, e.layers.slice(3, 7)),
        2,
      )} | ${e.layers.filter((l) => l.degenerate).length} |`,
    );
  }
  md.push("");
  const rank = [...recs.keys()]
    .filter((n) => n.startsWith("rank"))
    .sort()
    .map(get)
    .filter((r): r is Rec => !!r);
  figs.push([
    "gpu-rank-intrinsic.svg",
    lineChartSVG(
      [
        ...perLayer(
          rank,
          (l) => l.nrc3_r,
          (r) => `${r.name}: NRC3@r`,
        ),
        ...perLayer(
          rank,
          (l) => l.bottom_alignment,
          (r) => `${r.name}: bottom align`,
        ),
      ],
      {
        title: "Low-rank targets (10×1024, 1000 epochs): NRC3 at r and bottom alignment",
        xTitle: "layer",
        yTitle: "mean cosine",
        width: 520,
        height: 300,
      },
    ),
  ]);
  figs.push([
    "gpu-rank-nrc1r.svg",
    lineChartSVG(
      perLayer(
        rank,
        (l) => l.nrc1_r,
        (r) => r.name,
      ),
      { title: "Low-rank targets: NRC1 at r", xTitle: "layer", yTitle: "NRC1 at r", yScale: "log" },
    ),
  ]);
  const p1 = [...deep, ...rank];
  figs.push([
    "gpu-prop1.svg",
    lineChartSVG(
      perLayer(
        p1,
        (l) => l.prop1.lhs / l.prop1.bound,
        (r) => r.name,
      ),
      {
        title: "Proposition 1 on trained layers (full scale): lhs / (√ε1+√ε2)",
        xTitle: "layer",
        yTitle: "lhs / bound",
        rules: [{ y: 1, label: "bound" }],
      },
    ),
  ]);
  for (const [file, svg] of figs) writeFileSync(join(dir, file), await svg);
  writeFileSync(join(dir, "SUMMARY.md"), md.join("\n") + "\n");
  console.log(`${dir}: SUMMARY.md and ${figs.length} figures`);
}

const isMain = process.argv[1] && /summarize_gpu\.ts$/.test(process.argv[1]);
if (isMain) await summarizeGpu(process.argv[2] ?? "docs/reproduction/gpu");
