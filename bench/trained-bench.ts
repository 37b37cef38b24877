/**
 * The trained-like workload of the bench (bench/trained.ts: dead, saturated and duplicated
 * units, a rank-16 bottleneck, collapsed layers down to NRC1 ~ 1e-15): deep-nrc called as users
 * call it — `measureNRC({ layers, targets })` with no backend, and `backend: "wasm"` — against
 * numpy's fast pipeline (Gram + eigh + Cholesky normal equations) and numpy's exact route (QR +
 * SVD, backward stable: also the reference), in alternating rounds so the VM's drift hits every
 * side alike. Each contender's worst error is |Δ| / (|v| + floor) over every layer and metric,
 * with floors 1e-10 for NRC1 and 1e-14 for NRC4 (so ≤ 1e-6 means within 1e-6 relative plus
 * 1e-16 / 1e-20 absolute, the issue's criterion). Also one fallback layer (the bottleneck and the
 * most collapsed layer) against one healthy layer with dead units, timed alone.
 *
 *   npm run bench:trained -- [--quick] [--rounds 3] [--reps 3] [--json out.json]
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmtMs, findPython, machine, median } from "./common.js";
import { job, numpy, type Outcome } from "./children.js";
import type { LayerValues } from "./job.js";
import { TrainedLikeNet } from "./trained.js";

export interface TrainedBenchOptions {
  N: number;
  d: number;
  rounds: number;
  reps: number;
  limitMs: number;
  log: (s: string) => void;
}

const FLOOR: Partial<Record<keyof LayerValues, number>> = { nrc1: 1e-10, nrc4: 1e-14 };

/** Worst |Δ| / (|v| + floor) of `got` against `ref`, and where. */
export function worstError(got: LayerValues[], ref: LayerValues[]): { err: number; where: string } {
  let err = 0;
  let where = "";
  got.forEach((g, l) => {
    for (const m of Object.keys(g) as (keyof LayerValues)[]) {
      const a = g[m];
      const b = ref[l]?.[m];
      if (a === null || b === null || b === undefined) continue;
      const e = Math.abs(a - b) / (Math.abs(b) + (FLOOR[m] ?? 0));
      if (!(e <= err)) {
        err = e;
        where = `${m.replace("stableRank", "sr")} L${l}`;
      }
    }
  });
  return { err, where };
}

export interface TrainedBenchResult {
  workload: string;
  numpyFastMs: number[];
  numpyExactMs: number[];
  contenders: Record<string, { ms: number[]; err: { err: number; where: string } | null }>;
  singleLayer: Record<string, number[]>;
  markdown: string;
}

/** Runs the trained-like comparison in `root` (a temp dir); see the module doc. */
export async function trainedBench(
  root: string,
  py: string | null,
  o: TrainedBenchOptions,
): Promise<TrainedBenchResult> {
  const t0 = performance.now();
  const net = new TrainedLikeNet(o.N, o.d);
  const w = net.writeTo(join(root, "trained"));
  const label = `${net.L}×${o.N}×${o.d} trained-like`;
  o.log(`trained-like: wrote ${label} in ${fmtMs(performance.now() - t0)}`);
  const ex = await numpy(py, w.dir, ["--exact", "--exact-reps", "1"], o.limitMs * 4);
  const ref = ex.r?.exact ?? null;
  o.log(`numpy exact (QR + SVD): ${ex.status}${ex.r?.exactMs ? ` ${fmtMs(ex.r.exactMs[0])}` : ""}`);
  const names = ["default", "by-name", "wasm2"] as const;
  const ms: Record<string, number[]> = { numpy: [], default: [], "by-name": [], wasm2: [] };
  const vals: Record<string, LayerValues[] | undefined> = {};
  const one = async (b: string): Promise<Outcome> =>
    job({ kind: "pipeline", backend: b, dir: w.dir, reps: o.reps }, o.limitMs);
  for (let round = 0; round < o.rounds; round++) {
    const n = await numpy(py, w.dir, ["--pipeline", "--reps", String(o.reps)], o.limitMs);
    if (n.r?.fastMs) ms.numpy.push(...n.r.fastMs);
    vals.numpy = n.r?.fast ?? vals.numpy;
    const line = [`numpy fast ${n.r?.fastMs ? fmtMs(median(n.r.fastMs)) : n.status}`];
    for (const b of names) {
      const r = await one(b);
      if (r.r?.times) ms[b].push(...r.r.times);
      vals[b] = r.r?.values ?? vals[b];
      line.push(`${b} ${r.r?.times ? fmtMs(median(r.r.times)) : `${r.status} ${r.why ?? ""}`}`);
    }
    o.log(`trained-like round ${round + 1}: ${line.join(", ")}`);
  }
  // One layer alone, called as users call it: healthy with dead units vs the fallbacks.
  const single: Record<string, number[]> = {};
  for (const [key, pick] of [
    ["healthy L1 (20 % dead)", [1]],
    ["bottleneck L4 (fallback)", [4]],
    ["collapsed L7 (fallback)", [7]],
  ] as const) {
    single[key] = [];
    for (let round = 0; round < o.rounds; round++) {
      const r = await job(
        { kind: "pipeline", backend: "default", dir: w.dir, reps: o.reps, pick: [...pick] },
        o.limitMs,
      );
      single[key].push(...(r.r?.times ?? []));
    }
    o.log(`single layer ${key}: ${fmtMs(median(single[key]))}`);
  }
  const npMed = ms.numpy.length ? median(ms.numpy) : NaN;
  const contenders: TrainedBenchResult["contenders"] = {};
  const LABELS: Record<string, string> = {
    numpy: "numpy fast (Gram + eigh + Cholesky)",
    exact: "numpy exact (QR + SVD; the reference)",
    default: "deep-nrc `measureNRC({ layers, targets })`",
    "by-name": 'deep-nrc `backend: "wasm"`',
    wasm2: "deep-nrc, one `wasmBackend({ threads: 2 })` reused",
  };
  const rows: string[] = [
    `| ${label} (N = ${o.N}, t = 3) | median | × numpy fast | worst error vs reference |`,
    "| --- | --- | --- | --- |",
  ];
  const add = (key: string, times: number[], v: LayerValues[] | undefined) => {
    const err = v && ref && key !== "exact" ? worstError(v, ref) : null;
    contenders[key] = { ms: times, err };
    const m = times.length ? median(times) : NaN;
    rows.push(
      `| ${LABELS[key]} | ${fmtMs(m)} | ${Number.isFinite(m / npMed) ? `${(m / npMed).toFixed(2)}×` : "—"} | ${key === "exact" ? "reference" : err ? `${err.err.toExponential(1)} (${err.where})` : "—"} |`,
    );
  };
  add("numpy", ms.numpy, vals.numpy);
  add("exact", ex.r?.exactMs ?? [], ref ?? undefined);
  for (const b of names) add(b, ms[b], vals[b]);
  const healthy = median(single["healthy L1 (20 % dead)"]);
  rows.push(
    "",
    "| one layer alone, default call | median | × the healthy layer |",
    "| --- | --- | --- |",
  );
  for (const [key, t] of Object.entries(single))
    rows.push(`| ${key} | ${fmtMs(median(t))} | ${(median(t) / healthy).toFixed(2)}× |`);
  return {
    workload: label,
    numpyFastMs: ms.numpy,
    numpyExactMs: ex.r?.exactMs ?? [],
    contenders,
    singleLayer: single,
    markdown: rows.join("\n"),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const quick = argv.includes("--quick");
  const jsonAt = argv.indexOf("--json");
  const root = mkdtempSync(join(tmpdir(), "deep-nrc-trained-"));
  const log = (s: string) => process.stderr.write(`[bench:trained] ${s}\n`);
  try {
    const r = await trainedBench(root, findPython(), {
      N: quick ? 2000 : 10000,
      d: quick ? 128 : 512,
      rounds: arg("--rounds", quick ? 1 : 3),
      reps: arg("--reps", 3),
      limitMs: 600000,
      log,
    });
    console.log(r.markdown);
    if (jsonAt >= 0)
      writeFileSync(argv[jsonAt + 1], JSON.stringify({ machine: machine(), ...r }, null, 1));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  process.exit(0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();
