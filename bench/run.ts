/**
 * `npm run bench`: every backend against numpy/OpenBLAS on the same data, in one table.
 *
 *   npm run bench -- [--quick] [--json out.json] [--reps 3] [--backends js,wasm1,…]
 *                    [--no-scaling] [--no-trained] [--limit 300] [--scale-limit 90] [--keep]
 *
 * Writes a deterministic synthetic network (bench/common.ts) as float64 `.npy` files to a temp
 * dir; every measurement runs in a child process with a wall-clock limit (a backend that hangs is
 * reported as "stalled", never waited for); numpy runs `bench/numpy_pipeline.py` on the same files
 * (timing inside Python, file load excluded). See bench/README.md.
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SyntheticNet, fmtMs, findPython, machine, median, type Workload } from "./common.js";
import type { JobResult, LayerValues } from "./job.js";
import { job, maxRel, numpy, type Outcome } from "./children.js";
import { trainedBench } from "./trained-bench.js";

interface Opts {
  quick: boolean;
  json: string | null;
  reps: number;
  backends: string[];
  scaling: boolean;
  limitS: number;
  scaleLimitS: number;
  keep: boolean;
  rounds: number;
  trained: boolean;
}

const ALL = ["js", "wasm1", "wasm2", "wasm2-fma", "tfjs-wasm", "tfjs-cpu", "webgpu", "ml-matrix"];
const LABEL: Record<string, string> = {
  js: "js (f64)",
  wasm1: "wasm 1 thread (f64)",
  wasm2: "wasm 2 threads (f64)",
  "wasm2-fma": "wasm 2 threads, FMA (f64)",
  "tfjs-wasm": "tfjs-wasm (exact int-digit Gram)",
  "tfjs-cpu": "tfjs-cpu (exact int-digit Gram)",
  webgpu: "webgpu llvmpipe (exact int-slice Gram)",
  "ml-matrix": "ml-matrix (f64)",
  numpy: "numpy fast (f64, Gram+eigh)",
  authors: "numpy authors-style (f64, SVD+pinv)",
};
const FLOAT64 = new Set(["js", "wasm1", "wasm2", "wasm2-fma", "ml-matrix"]);

function parseArgs(argv: string[]): Opts {
  const o: Opts = {
    quick: false,
    json: null,
    reps: 3,
    backends: ALL,
    scaling: true,
    limitS: NaN,
    scaleLimitS: NaN,
    keep: false,
    rounds: NaN,
    trained: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") o.quick = true;
    else if (a === "--json") o.json = argv[++i];
    else if (a === "--reps") o.reps = Math.max(1, Number(argv[++i]));
    else if (a === "--backends") o.backends = argv[++i].split(",");
    else if (a === "--no-scaling") o.scaling = false;
    else if (a === "--limit") o.limitS = Number(argv[++i]);
    else if (a === "--scale-limit") o.scaleLimitS = Number(argv[++i]);
    else if (a === "--keep") o.keep = true;
    else if (a === "--no-trained") o.trained = false;
    else if (a === "--rounds") o.rounds = Math.max(0, Number(argv[++i]));
    else if (a === "--help" || a === "-h") {
      console.log(
        "npm run bench -- [--quick] [--json out.json] [--reps 3] [--backends js,wasm1,wasm2,wasm2-fma,tfjs-wasm,tfjs-cpu,webgpu,ml-matrix] [--no-scaling] [--limit seconds] [--scale-limit seconds] [--rounds 3] [--no-trained] [--keep]",
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isFinite(o.limitS)) o.limitS = o.quick ? 60 : 300;
  if (!Number.isFinite(o.scaleLimitS)) o.scaleLimitS = o.quick ? 30 : 90;
  if (!Number.isFinite(o.rounds)) o.rounds = o.quick ? 1 : 3;
  return o;
}

const fmtRel = (x: { rel: number; where: string }) =>
  `${x.rel === 0 ? "0" : x.rel.toExponential(1)} (${x.where})`;

function cell(o: Outcome | undefined, f: (r: JobResult) => string): string {
  if (!o) return "—";
  if (o.status === "ok" && o.r) return f(o.r);
  return o.status;
}

interface ScalePoint {
  axis: "N" | "d";
  label: string;
  N: number;
  d: number;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const startLoad = loadavg();
  const mach = machine();
  const std = o.quick ? { N: 2000, d: 128, L: 4 } : { N: 10000, d: 512, L: 8 };
  const t = 3;
  const limitMs = o.limitS * 1000;
  const longMs = o.quick ? 5000 : 15000;
  const root = mkdtempSync(join(tmpdir(), "deep-nrc-bench-"));
  const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  log(`load average at start: ${startLoad.map((x) => x.toFixed(2)).join(" ")}; data in ${root}`);
  const py = findPython();

  try {
    // ---------------------------------------------------------------- standard workload
    let t0 = performance.now();
    const net = new SyntheticNet(std.N, std.d, std.L, t);
    const w: Workload = net.writeTo(join(root, "std"));
    log(
      `wrote ${std.L} layers × ${std.N} × ${std.d} (+ weights) in ${fmtMs(performance.now() - t0)}`,
    );

    const np = await numpy(
      py,
      w.dir,
      ["--kernels", "--pipeline", "--authors", "--reps", String(o.reps)],
      limitMs * 2,
    );
    const npr = np.r;
    log(
      `numpy: ${np.status}${np.why ? ` (${np.why})` : ""}${npr ? ` fast ${fmtMs(median(npr.fastMs!))}, authors ${fmtMs(median(npr.authorsMs!))}` : ""}`,
    );
    const ref = npr?.authors ?? null;

    const kern: Record<string, Outcome> = {};
    const pipe: Record<string, Outcome> = {};
    for (const b of o.backends) {
      kern[b] = await job(
        { kind: "kernels", backend: b, dir: w.dir, reps: o.reps, longMs },
        Math.min(limitMs, 120000),
      );
      log(`${b} kernels: ${kern[b].status}${kern[b].why ? ` (${kern[b].why})` : ""}`);
      if (kern[b].status === "n/a" || kern[b].status === "stalled") {
        // A backend whose kernels cannot start or hang would do the same inside measureNRC.
        pipe[b] = kern[b];
        continue;
      }
      pipe[b] = await job(
        { kind: "pipeline", backend: b, dir: w.dir, reps: o.reps, longMs },
        limitMs,
      );
      const p = pipe[b];
      log(
        `${b} pipeline: ${p.status}${p.why ? ` (${p.why})` : ""}${p.r?.times ? ` ${fmtMs(median(p.r.times))}` : ""}`,
      );
    }

    // ---------------------------------------------------------------- scaling
    const points: ScalePoint[] = o.quick
      ? [
          { axis: "N", label: "N=1e3", N: 1000, d: 128 },
          { axis: "N", label: "N=4e3", N: 4000, d: 128 },
          { axis: "d", label: "d=32", N: 2000, d: 32 },
          { axis: "d", label: "d=256", N: 2000, d: 256 },
        ]
      : [
          { axis: "N", label: "N=1e4", N: 10000, d: 512 },
          { axis: "N", label: "N=5e4", N: 50000, d: 512 },
          { axis: "N", label: "N=2.5e5", N: 250000, d: 512 },
          { axis: "d", label: "d=64", N: 10000, d: 64 },
          { axis: "d", label: "d=256", N: 10000, d: 256 },
          { axis: "d", label: "d=1024", N: 10000, d: 1024 },
          { axis: "d", label: "d=2048", N: 10000, d: 2048 },
        ];
    const scale: Record<string, Record<string, Outcome>> = {};
    const npScale: Record<string, number | string> = {};
    if (o.scaling) {
      // Per axis, each backend carries its last single-layer time forward; a point whose
      // extrapolated time (N: linear, d: quadratic, a lower bound) exceeds the limit is not run.
      const scaleLimitMs = o.scaleLimitS * 1000;
      const last: Record<string, { N: number; d: number; ms: number } | { dead: Outcome }> = {};
      for (const p of points) {
        t0 = performance.now();
        const dir = join(root, p.label);
        const sw = new SyntheticNet(p.N, p.d, 1, t).writeTo(dir);
        log(
          `scaling ${p.label} (${p.N}×${p.d}, 1 layer): data in ${fmtMs(performance.now() - t0)}`,
        );
        const n = await numpy(py, sw.dir, ["--pipeline", "--reps", String(o.reps)], limitMs);
        npScale[p.label] = n.r?.fastMs ? median(n.r.fastMs) : n.status;
        scale[p.label] = {};
        const first = points.find((x) => x.axis === p.axis) === p;
        for (const b of o.backends) {
          const key = `${p.axis}:${b}`;
          if (first || !last[key]) {
            const sp = pipe[b];
            last[key] =
              sp.status === "ok" && sp.r?.times
                ? { N: std.N, d: std.d, ms: median(sp.r.times) / std.L }
                : { dead: sp };
          }
          const prev = last[key];
          if ("dead" in prev) {
            scale[p.label][b] = {
              status:
                prev.dead.status === "ok" || prev.dead.status === "over limit"
                  ? "skipped"
                  : prev.dead.status,
              why: "skipped: not ok at a smaller size or in the standard run",
            };
            continue;
          }
          const grow = p.axis === "N" ? p.N / prev.N : (p.d / prev.d) ** 2;
          const est = prev.ms * grow;
          if (grow > 1 && est > scaleLimitMs) {
            scale[p.label][b] = { status: "over limit", est, why: `extrapolated ${fmtMs(est)}` };
            last[key] = { dead: scale[p.label][b] };
            log(`  ${b}: not run, extrapolated ${fmtMs(est)} > ${o.scaleLimitS} s`);
            continue;
          }
          const r = await job(
            { kind: "pipeline", backend: b, dir: sw.dir, reps: o.reps, longMs },
            scaleLimitMs,
          );
          if (r.status === "stalled" && !/never settled/.test(r.why ?? "")) {
            r.status = "over limit";
            r.why = `killed at the ${o.scaleLimitS} s limit`;
          }
          scale[p.label][b] = r;
          last[key] =
            r.status === "ok" && r.r?.times
              ? { N: p.N, d: p.d, ms: median(r.r.times) }
              : { dead: r };
          log(
            `  ${b}: ${r.status}${r.r?.times ? ` ${fmtMs(median(r.r.times))}${r.r.times.length < o.reps ? ` (${r.r.times.length} run)` : ""}` : ""}`,
          );
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }

    // ---------------------------------------------------------------- head to head
    // On a shared VM a machine's speed drifts by tens of percent within minutes, so the headline
    // ratios are also measured in alternating rounds (numpy, then wasm 2 threads, R times, on the
    // standard workload), every sample of both sides kept: min and median over all of them. The
    // wasm side is the FMA build where it ran (the default on Node ≥ 22), else the plain one.
    const hb = pipe["wasm2-fma"]?.status === "ok" ? "wasm2-fma" : "wasm2";
    const h2h = {
      npFast: [...(npr?.fastMs ?? [])],
      npGram: [...(npr?.gramMs ?? [])],
      npEig: [...(npr?.eigMs ?? [])],
      wasmEig: [...(kern[hb]?.r?.eigMs ?? [])],
      wasmPipe: [...(pipe[hb]?.r?.times ?? [])],
      wasmGram: [...(kern[hb]?.r?.gramMs ?? [])],
      rounds: 0,
    };
    if (o.rounds > 0 && npr && pipe[hb]?.status === "ok") {
      for (let round = 0; round < o.rounds; round++) {
        const n2 = await numpy(
          py,
          w.dir,
          ["--kernels", "--pipeline", "--reps", String(o.reps)],
          limitMs,
        );
        const k2 = await job(
          { kind: "kernels", backend: hb, dir: w.dir, reps: o.reps, longMs },
          Math.min(limitMs, 120000),
        );
        const p2 = await job(
          { kind: "pipeline", backend: hb, dir: w.dir, reps: o.reps, longMs },
          limitMs,
        );
        if (!n2.r?.fastMs || !k2.r?.gramMs || !p2.r?.times) break;
        h2h.npFast.push(...n2.r.fastMs);
        h2h.npGram.push(...(n2.r.gramMs ?? []));
        h2h.npEig.push(...(n2.r.eigMs ?? []));
        h2h.wasmEig.push(...(k2.r.eigMs ?? []));
        h2h.wasmGram.push(...k2.r.gramMs);
        h2h.wasmPipe.push(...p2.r.times);
        h2h.rounds++;
        log(
          `round ${round + 1}: numpy fast ${fmtMs(median(n2.r.fastMs))}, ${hb} ${fmtMs(median(p2.r.times))}; Gram ${fmtMs(median(n2.r.gramMs ?? []))} vs ${fmtMs(median(k2.r.gramMs))}`,
        );
      }
    }

    // ---------------------------------------------------------------- the table
    const npFast = npr?.fastMs ? median(npr.fastMs) : null;
    const npGram = npr?.gramMs ? median(npr.gramMs) : null;
    const npEig = npr?.eigMs ? median(npr.eigMs) : null;
    const flops = 2 * std.N * std.d * std.d;
    const gf = (ms: number) => (flops / ms / 1e6).toFixed(1);
    const head = [
      "backend",
      `measureNRC ${std.L}×${std.N}×${std.d}`,
      "× numpy",
      "max rel diff vs f64 ref",
      `Gram ${std.N}×${std.d}`,
      "GFLOP/s",
      `symEig ${std.d}`,
      "× eigh",
      ...(o.scaling ? points.map((p) => `1 layer ${p.label}`) : []),
    ];
    const rows: string[][] = [];
    const scaleCell = (b: string, p: ScalePoint): string => {
      const s = scale[p.label]?.[b];
      if (!s) return "—";
      if (s.status === "over limit")
        return s.est ? `≳${fmtMs(s.est)} (est.)` : `> ${o.scaleLimitS} s`;
      if (s.status !== "ok" || !s.r?.times) return s.status;
      const m = median(s.r.times);
      const npm = npScale[p.label];
      const ratio = typeof npm === "number" ? ` (${(m / npm).toFixed(1)}×)` : "";
      return `${fmtMs(m)}${ratio}${s.r.times.length < o.reps ? "¹" : ""}`;
    };
    for (const b of o.backends) {
      const k = kern[b];
      const p = pipe[b];
      const pt = p?.r?.times ? median(p.r.times) : null;
      const mark = b === "ml-matrix" && p?.r?.layersTimed ? "²" : "";
      const short = p?.r?.times && p.r.times.length < o.reps ? "¹" : "";
      rows.push([
        LABEL[b] ?? b,
        pt !== null ? `${fmtMs(pt)}${mark}${short}` : p ? `${p.status}` : "—",
        pt !== null && npFast ? `${(pt / npFast).toFixed(2)}` : "—",
        p?.r?.values && ref ? fmtRel(maxRel(p.r.values, ref)) : "—",
        cell(k, (r) => fmtMs(median(r.gramMs!))),
        cell(k, (r) => gf(median(r.gramMs!))),
        cell(k, (r) => fmtMs(median(r.eigMs!))),
        cell(k, (r) => (npEig ? (median(r.eigMs!) / npEig).toFixed(2) : "—")),
        ...(o.scaling ? points.map((pp) => scaleCell(b, pp)) : []),
      ]);
    }
    const npRow = (label: string, times?: number[], vals?: LayerValues[], isRef = false) => [
      label,
      times ? fmtMs(median(times)) : np.status,
      times && npFast ? (median(times) / npFast).toFixed(2) : "—",
      isRef ? "reference" : vals && ref ? fmtRel(maxRel(vals, ref)) : "—",
    ];
    rows.push([
      ...npRow(LABEL.numpy, npr?.fastMs, npr?.fast),
      npGram !== null ? fmtMs(npGram) : np.status,
      npGram !== null ? gf(npGram) : "—",
      npEig !== null ? fmtMs(npEig) : np.status,
      npEig !== null ? "1.00" : "—",
      ...(o.scaling
        ? points.map((p) => {
            const v = npScale[p.label];
            return typeof v === "number" ? fmtMs(v) : (v ?? "—");
          })
        : []),
    ]);
    rows.push([
      ...npRow(LABEL.authors, npr?.authorsMs, npr?.authors, true),
      "—",
      "—",
      "—",
      "—",
      ...(o.scaling ? points.map(() => "—") : []),
    ]);
    if (o.scaling) {
      const best = points.map((p) => {
        let bb = "";
        let bt = Infinity;
        for (const b of o.backends) {
          const s = scale[p.label]?.[b];
          if (!FLOAT64.has(b) || s?.status !== "ok" || !s.r?.times) continue;
          const m = median(s.r.times);
          if (m < bt) ((bt = m), (bb = b));
        }
        return bb || "—";
      });
      rows.push(["fastest f64 JS backend", "", "", "", "", "", "", "", ...best]);
    }
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
    const table = [
      line(head),
      `|${widths.map((x) => "-".repeat(x + 2)).join("|")}|`,
      ...rows.map(line),
    ].join("\n");

    const endLoad = loadavg();
    const notes: string[] = [
      `Machine: ${mach.cpu}, ${mach.cores} cores, ${mach.memGiB} GiB, Node ${mach.node}; ${npr ? `numpy ${npr.numpy}, ${npr.blas}, OPENBLAS_NUM_THREADS=${npr.threads}` : `numpy: ${np.status} (${np.why ?? ""})`}; ${mach.date}.`,
      `Load average (1/5/15 min) at start ${startLoad.map((x) => x.toFixed(2)).join(" ")}, at end ${endLoad.map((x) => x.toFixed(2)).join(" ")}.`,
      `Every time is the median of ${o.reps} runs (¹: fewer, a run took > ${longMs / 1000} s). ${o.quick ? "QUICK sizes (smoke check only)." : ""}`,
      `measureNRC: preset paper, t = ${t}, backend started before timing; × numpy = time / numpy fast pipeline (same run, same data). Max rel diff: largest |x − ref|/|ref| over every layer's NRC1–4 and stable ranks, ref = numpy authors-style float64 (SVD of each Hc, pinv of H).`,
      "GFLOP/s = 2·N·d²/time of the Gram kernel (numpy: H.T @ H, syrk). Scaling columns: measureNRC on 1 layer (N×d features, d×d weight), in parentheses × numpy fast on the same data.",
    ];
    if (o.backends.includes("ml-matrix"))
      notes.push(
        "²: ml-matrix pipeline timed on 1 layer and multiplied by the layer count (its max rel diff is of that layer).",
      );
    const probs = o.backends
      .flatMap((b) => [
        kern[b] && kern[b].status !== "ok"
          ? `${b} kernels: ${kern[b].status} — ${kern[b].why}`
          : "",
        pipe[b] && pipe[b].status !== "ok" && pipe[b] !== kern[b]
          ? `${b} pipeline: ${pipe[b].status} — ${pipe[b].why}`
          : "",
      ])
      .filter(Boolean);
    for (const p of points)
      for (const b of o.backends) {
        const s = scale[p.label]?.[b];
        if (
          s &&
          s.status !== "ok" &&
          s.status !== "skipped" &&
          s.status !== "over limit" &&
          !(s.why ?? "").startsWith("skipped")
        )
          probs.push(`${b} scaling ${p.label}: ${s.status} — ${s.why}`);
      }
    if (probs.length) notes.push("Not measured: " + probs.join("; ") + ".");
    for (const b of o.backends) {
      const info = kern[b]?.r?.info ?? pipe[b]?.r?.info;
      if (info && (b === "webgpu" || b.startsWith("tfjs"))) notes.push(`${b}: ${info}.`);
    }
    let h2hTable = "";
    if (h2h.wasmPipe.length && h2h.npFast.length) {
      const mn = (a: number[]) => Math.min(...a);
      // Two rows per quantity: the best sample of each side, then the medians.
      const pair = (label: string, np: number[], ours: number[], f: (ms: number) => string) => [
        [
          `${label}, ${f === fmtMs ? "min" : "best"}`,
          f(mn(np)),
          f(mn(ours)),
          (mn(ours) / mn(np)).toFixed(2),
        ],
        ["  median", f(median(np)), f(median(ours)), (median(ours) / median(np)).toFixed(2)],
      ];
      const hr = [
        ["", "numpy fast", LABEL[hb].replace(" (f64)", ""), "wasm time / numpy time"],
        ...pair(`measureNRC ${std.L}×${std.N}×${std.d}`, h2h.npFast, h2h.wasmPipe, fmtMs),
      ];
      if (h2h.wasmGram.length && h2h.npGram.length)
        hr.push(...pair(`Gram ${std.N}×${std.d} GFLOP/s`, h2h.npGram, h2h.wasmGram, gf));
      if (h2h.wasmEig.length && h2h.npEig.length)
        hr.push(...pair(`symEig ${std.d}, all vectors`, h2h.npEig, h2h.wasmEig, fmtMs));
      const hw = hr[0].map((_, i) => Math.max(...hr.map((r) => r[i].length)));
      const hl = (r: string[]) => `| ${r.map((c, i) => c.padEnd(hw[i])).join(" | ")} |`;
      h2hTable = [
        hl(hr[0]),
        `|${hw.map((x) => "-".repeat(x + 2)).join("|")}|`,
        ...hr.slice(1).map(hl),
      ].join("\n");
      notes.push(
        `Head to head: the main run's samples plus ${h2h.rounds} alternating round(s) (numpy, then ${LABEL[hb].replace(" (f64)", "")}; ${o.reps} runs each): ${h2h.npFast.length} numpy and ${h2h.wasmPipe.length} wasm samples of measureNRC, ${h2h.npGram.length} and ${h2h.wasmGram.length} of the Gram and of symEig (numpy: eigh); min and median over all of them.`,
      );
    }
    // ---------------------------------------------------------------- trained-like workload
    const trained = o.trained
      ? await trainedBench(root, py, {
          N: std.N,
          d: std.d,
          rounds: Math.max(1, o.rounds),
          reps: o.reps,
          limitMs,
          log,
        })
      : null;
    console.log(table);
    console.log("");
    if (trained) {
      console.log(trained.markdown);
      console.log("");
    }
    if (h2hTable) {
      console.log(h2hTable);
      console.log("");
    }
    for (const n of notes) console.log(n);

    if (o.json) {
      writeFileSync(
        o.json,
        JSON.stringify(
          {
            machine: mach,
            loadStart: startLoad,
            loadEnd: endLoad,
            options: o,
            standard: { ...std, t },
            numpy: npr ?? np,
            kernels: kern,
            pipeline: pipe,
            scaling: { points, numpy: npScale, backends: scale },
            table,
            headToHead: { ...h2h, table: h2hTable },
            trained,
            notes,
          },
          null,
          1,
        ),
      );
      log(`wrote ${o.json}`);
    }
  } finally {
    if (!o.keep) rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
