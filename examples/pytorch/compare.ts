/**
 * Measures a folder exported by `train_nrc.py` (features.i.npy, weight.i.npy, targets.npy,
 * meta.json) with deep-nrc's `measureNRC`, and compares every metric with the float64 values the
 * script computed with PyTorch on exactly the same rows (`meta.json: metrics_on_exported_rows`).
 *
 *   npx tsx examples/pytorch/compare.ts <folder> [--json out.json]
 *
 * Prints a per-layer table (library value, script value, relative difference) and the largest
 * relative difference per metric.
 * @module
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { measureNRC, proposition1Bound } from "../../src/index.js";
import { readNpy } from "../../src/io/npy.js";
import { memorySource } from "../../src/io/source.js";

interface ScriptLayer {
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
  prop1: { lhs: number; bound: number };
}

async function load(path: string) {
  const bytes = readFileSync(path);
  const t = await readNpy(
    memorySource(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
  );
  if (t.shape.length !== 2) throw new Error(`${path}: expected a 2-D array, got shape ${t.shape}`);
  return {
    rows: t.shape[0],
    cols: t.shape[1],
    data: Float64Array.from(t.data as ArrayLike<number>),
  };
}

/** Compare the library with the script on one exported folder. */
export async function compareFolder(folder: string) {
  const meta = JSON.parse(readFileSync(join(folder, "meta.json"), "utf8")) as {
    config: { t: number; r: number; data: string };
    train_mse: number;
    metrics_on_exported_rows: ScriptLayer[];
  };
  const n = readdirSync(folder).filter((f) => /^features\.\d+\.npy$/.test(f)).length;
  const layers = [];
  for (let i = 0; i < n; i++) {
    layers.push({
      name: `layer ${i}`,
      features: await load(join(folder, `features.${i}.npy`)),
      weight: await load(join(folder, `weight.${i}.npy`)),
    });
  }
  const targets = await load(join(folder, "targets.npy"));
  const r = meta.config.data === "lowrank" ? meta.config.r : undefined;
  const t0 = performance.now();
  const report = await measureNRC({ layers, targets, ...(r !== undefined ? { r } : {}) });
  const seconds = (performance.now() - t0) / 1000;
  const rows: Record<string, number | string | null>[] = [];
  const worst: Record<string, number> = {};
  const rel = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined
      ? null
      : Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
  for (let i = 0; i < n; i++) {
    const lib = report.layers[i];
    const ref = meta.metrics_on_exported_rows[i];
    if (lib.degenerate || ref.degenerate) continue;
    const p1 = await proposition1Bound(layers[i].features, targets, report.t);
    const pairs: [string, number | null, number | null | undefined][] = [
      ["nrc1", lib.nrc1, ref.nrc1],
      ["nrc2", lib.nrc2, ref.nrc2],
      ["nrc3", lib.nrc3, ref.nrc3],
      ["nrc4", lib.nrc4, ref.nrc4],
      ["srankH", lib.stableRankFeatures, ref.srank_features],
      ["srankW", lib.stableRankWeight, ref.srank_weight],
      ["prop1lhs", p1.lhs, ref.prop1.lhs],
      ["prop1bound", p1.bound, ref.prop1.bound],
    ];
    const row: Record<string, number | string | null> = { layer: i };
    for (const [k, a, b] of pairs) {
      const d = rel(a, b);
      row[k] = a;
      row[`${k}_ref`] = b ?? null;
      if (d !== null) worst[k] = Math.max(worst[k] ?? 0, d);
    }
    rows.push(row);
  }
  return { folder, seconds, worst, rows, report };
}

const isMain = process.argv[1] && /compare\.ts$/.test(process.argv[1]);
if (isMain) {
  const args = process.argv.slice(2);
  const folder = args[0];
  if (!folder) {
    console.error("usage: compare.ts <folder> [--json out.json]");
    process.exit(2);
  }
  const out = await compareFolder(folder);
  console.log(`measureNRC on ${folder}: ${out.seconds.toFixed(1)} s`);
  for (const r of out.rows) {
    console.log(
      `layer ${r.layer}: NRC1 ${Number(r.nrc1).toExponential(4)} (torch ${Number(r.nrc1_ref).toExponential(4)})  NRC2 ${Number(r.nrc2).toFixed(6)}  NRC3 ${Number(r.nrc3).toFixed(6)}  NRC4 ${Number(r.nrc4).toExponential(4)}`,
    );
  }
  console.log("largest relative difference library vs PyTorch float64, per metric:");
  for (const [k, v] of Object.entries(out.worst)) console.log(`  ${k}: ${v.toExponential(2)}`);
  const j = args.indexOf("--json");
  if (j >= 0 && args[j + 1]) writeFileSync(args[j + 1], JSON.stringify(out));
}
