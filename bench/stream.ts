/**
 * `npm run bench:stream`: the streaming benchmark (issue 4). 1,000,000 samples × 512 features ×
 * 4 layers (× `--scale`) written as float32 `.npy` files, streamed from disk in row batches into
 * `createNRCAccumulator` by a child process whose peak RSS is read (its own
 * `process.resourceUsage().maxRSS` and, where present, `/usr/bin/time -v`). The time is compared
 * with the backend's Gram kernel on the same data (the unavoidable O(N·d²) part).
 *
 *   npm run bench:stream -- [--scale 1] [--batch 2048] [--backend wasm1|wasm2|js] [--nrc4 tsqr|rescan]
 *                           [--dir DIR] [--keep] [--gram-every K] [--json out.json] [--limit s]
 *                           [--decode f32|f64] [--repeat K]
 *
 * `--decode f64` streams the features decoded to float64 in JS (the path before float32 batches
 * reached the kernels); `--repeat K` runs the measured child K times on the same files, and with
 * `--decode both` alternates f32 and f64 children (interleaved, so a shared machine's load
 * affects both alike).
 *
 * The disk is checked first; when the files would not fit (with 20 % to spare) the sample count
 * is scaled down and the factor is printed.
 * @module
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  SyntheticNet,
  fmtMs,
  lastJson,
  machine,
  runChild,
  writeNpyF32Streamed,
  writeNpyF64,
} from "./common.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const D = 512;
const LAYERS = 4;
const FULL_N = 1_000_000;
const T = 3;

interface StreamOut {
  N: number;
  layers: number;
  batch: number;
  backend: string;
  nrc4Mode: string;
  decode: string;
  rescans: number;
  streamMs: number;
  accumulateMs: number;
  finalizeError: string | null;
  readMs: number;
  gramMs: number;
  gramMsMeasured: number;
  gramBatchesTimed: number;
  batches: number;
  peakRssMB: number;
  rssAfterStartMB: number;
  nrc1: (number | null)[];
  nrc3: (number | null)[];
  nrc4: (number | null)[];
}

function args(argv: string[]) {
  const o = {
    scale: 1,
    batch: 2048,
    backend: "wasm1",
    dir: "",
    keep: false,
    gramEvery: 0,
    json: "",
    limitS: 3600,
    nrc4: "tsqr",
    decode: "f32",
    repeat: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--scale") o.scale = Number(argv[++i]);
    else if (a === "--batch") o.batch = Number(argv[++i]);
    else if (a === "--backend") o.backend = argv[++i];
    else if (a === "--dir") o.dir = argv[++i];
    else if (a === "--keep") o.keep = true;
    else if (a === "--gram-every") o.gramEvery = Number(argv[++i]);
    else if (a === "--json") o.json = argv[++i];
    else if (a === "--limit") o.limitS = Number(argv[++i]);
    else if (a === "--nrc4") o.nrc4 = argv[++i];
    else if (a === "--decode") o.decode = argv[++i];
    else if (a === "--repeat") o.repeat = Number(argv[++i]);
    else if (a === "--help" || a === "-h") {
      console.log(
        "npm run bench:stream -- [--scale 1] [--batch 2048] [--backend wasm1|wasm2|js] [--nrc4 tsqr|rescan] [--dir DIR] [--keep] [--gram-every K] [--json out.json] [--limit s]",
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!(o.scale > 0 && o.scale <= 1)) throw new Error("--scale must be in (0, 1]");
  if (o.nrc4 !== "tsqr" && o.nrc4 !== "rescan") throw new Error("--nrc4 must be tsqr or rescan");
  if (!["f32", "f64", "both"].includes(o.decode))
    throw new Error("--decode must be f32, f64 or both");
  if (!(Number.isInteger(o.repeat) && o.repeat >= 1)) throw new Error("--repeat must be ≥ 1");
  return o;
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`[bench:stream] ${s}\n`);
  const startLoad = loadavg();
  const userDir = o.dir !== "";
  const dir = userDir ? o.dir : mkdtempSync(join(tmpdir(), "deep-nrc-stream-"));
  mkdirSync(dir, { recursive: true });
  let N = Math.round(FULL_N * o.scale);
  const bytesFor = (n: number) => n * D * 4 * LAYERS + n * T * 4 + LAYERS * D * D * 8 + 4096;
  const fs = statfsSync(dir);
  const avail = Number(fs.bavail) * Number(fs.bsize);
  let diskFactor = 1;
  if (bytesFor(N) > 0.8 * avail) {
    diskFactor = (0.8 * avail) / bytesFor(N);
    N = Math.floor(N * diskFactor);
    log(
      `disk short (${(avail / 1e9).toFixed(1)} GB free): samples scaled by ${diskFactor.toFixed(3)} to ${N}`,
    );
  }
  const gramEvery = o.gramEvery || (N > 200_000 ? 4 : 1);
  log(
    `load average at start ${startLoad.map((x) => x.toFixed(2)).join(" ")}; ${N} samples × ${D} × ${LAYERS} layers float32 = ${(bytesFor(N) / 1e9).toFixed(2)} GB in ${dir} (${(avail / 1e9).toFixed(1)} GB free)`,
  );

  let writeMs = 0;
  const wlPath = join(dir, "workload.json");
  const reuse =
    existsSync(wlPath) &&
    (() => {
      const w = JSON.parse(readFileSync(wlPath, "utf8"));
      return w.N === N && w.d === D && w.layers === LAYERS && w.t === T && w.dtype === "f4";
    })();
  try {
    if (reuse) log("reusing the files already in --dir");
    else {
      const t0 = performance.now();
      const net = new SyntheticNet(N, D, LAYERS, T);
      const block = 8192;
      await writeNpyF32Streamed(join(dir, "Y.npy"), N, T, 1 << 16, (r0, r1, out) =>
        out.set(net.y.data.subarray(r0 * T, r1 * T)),
      );
      for (let l = 0; l < LAYERS; l++) {
        writeNpyF64(join(dir, `W${l}.npy`), net.weight(l));
        await writeNpyF32Streamed(join(dir, `H${l}.npy`), N, D, block, (r0, r1, out) =>
          net.fillFeatures(l, r0, r1, out),
        );
        log(`wrote H${l}.npy (${fmtMs(performance.now() - t0)} so far)`);
      }
      writeFileSync(wlPath, JSON.stringify({ dir, N, d: D, layers: LAYERS, t: T, dtype: "f4" }));
      writeMs = performance.now() - t0;
    }

    const results: unknown[] = [];
    const summary: string[] = [];
    const modes = o.decode === "both" ? ["f32", "f64"] : [o.decode];
    for (let rep = 0; rep < o.repeat; rep++)
      for (const decode of modes) {
        const spec = {
          dir,
          layers: LAYERS,
          batch: o.batch,
          backend: o.backend,
          gramEvery,
          nrc4: o.nrc4,
          decode,
        };
        const nodeArgs = ["--import", "tsx", join(HERE, "stream-child.ts"), JSON.stringify(spec)];
        const useTime = existsSync("/usr/bin/time");
        const c = await runChild(
          useTime ? "/usr/bin/time" : process.execPath,
          useTime ? ["-v", process.execPath, ...nodeArgs] : nodeArgs,
          o.limitS * 1000,
        );
        const r = lastJson<StreamOut>(c.stdout);
        const timeRss = /Maximum resident set size \(kbytes\): (\d+)/.exec(c.stderr)?.[1];
        if (c.status !== "ok" || !r) {
          const cut = c.stderr.indexOf("\tCommand being timed");
          log(
            `child ${c.status} (exit ${c.code}): ${(cut >= 0 ? c.stderr.slice(0, cut) : c.stderr).slice(-3000)}`,
          );
          process.exitCode = 1;
          return;
        }
        summary.push(
          `${decode} features: stream / Gram ${(r.streamMs / r.gramMs).toFixed(2)} (stream ${fmtMs(r.streamMs)}, Gram ${fmtMs(r.gramMs)}, accumulate / Gram ${(r.accumulateMs / r.gramMs).toFixed(2)}, peak RSS ${r.peakRssMB.toFixed(0)} MB${timeRss ? ` / ${(Number(timeRss) / 1024).toFixed(0)} MB time -v` : ""})`,
        );
        const ratio = r.streamMs / r.gramMs;
        const gbs = (bytesFor(N) / 1e9 / (r.streamMs / 1000)).toFixed(2);
        const rows = [
          [
            "samples × features × layers",
            `${N} × ${D} × ${LAYERS} (scale ${o.scale}${diskFactor < 1 ? `, disk factor ${diskFactor.toFixed(3)}` : ""})`,
          ],
          [
            "data on disk (float32 .npy)",
            `${(bytesFor(N) / 1e9).toFixed(2)} GB${writeMs ? `, written in ${fmtMs(writeMs)}` : " (reused)"}`,
          ],
          ["backend, batch rows", `${r.backend}, ${r.batch} (${r.batches} batches)`],
          [
            "features into the accumulator as",
            r.decode === "f32" ? "float32 (widened in the kernels)" : "float64 (decoded in JS)",
          ],
          [
            "accumulator nrc4 mode",
            r.nrc4Mode === "rescan"
              ? `rescan (moments, then ${r.rescans} more read pass${r.rescans === 1 ? "" : "es"} in finalize)`
              : "tsqr (one pass)",
          ],
          [
            "stream time (read + accumulate + finalize)",
            `${fmtMs(r.streamMs)} (${gbs} GB/s; reads ${fmtMs(r.readMs)})`,
          ],
          [
            "Gram kernel time, same data",
            `${fmtMs(r.gramMs)}${r.gramBatchesTimed < r.batches ? ` (timed on ${r.gramBatchesTimed} of ${r.batches} batches, scaled)` : ""}`,
          ],
          ["  of which: read + accumulate (all batches)", fmtMs(r.accumulateMs)],
          [
            "  of which: finalize()",
            r.finalizeError
              ? `FAILED after ${fmtMs(r.streamMs - r.accumulateMs)}: ${r.finalizeError}`
              : fmtMs(r.streamMs - r.accumulateMs),
          ],
          ["stream / Gram (target ≤ 1.5)", ratio.toFixed(2)],
          ["accumulate / Gram", (r.accumulateMs / r.gramMs).toFixed(2)],
          [
            "peak RSS (target < 300 MB)",
            `${r.peakRssMB.toFixed(0)} MB (process.resourceUsage)${timeRss ? `, ${(Number(timeRss) / 1024).toFixed(0)} MB (/usr/bin/time -v)` : ""}; ${r.rssAfterStartMB.toFixed(0)} MB after start-up`,
          ],
          [
            "NRC1 per layer",
            r.nrc1.map((x) => (x === null ? "null" : x.toExponential(3))).join(", "),
          ],
          [
            "load average start → end",
            `${startLoad.map((x) => x.toFixed(2)).join(" ")} → ${loadavg()
              .map((x) => x.toFixed(2))
              .join(" ")}`,
          ],
        ];
        const w0 = Math.max(...rows.map((x) => x[0].length));
        const w1 = Math.max(...rows.map((x) => x[1].length));
        console.log(`| ${"streaming".padEnd(w0)} | ${"".padEnd(w1)} |`);
        console.log(`|${"-".repeat(w0 + 2)}|${"-".repeat(w1 + 2)}|`);
        for (const [a, b] of rows) console.log(`| ${a.padEnd(w0)} | ${b.padEnd(w1)} |`);
        results.push({
          machine: machine(),
          options: o,
          N,
          diskFactor,
          writeMs,
          result: r,
          timeRssKB: timeRss ?? null,
          loadStart: startLoad,
          loadEnd: loadavg(),
        });
      }
    if (summary.length > 1) for (const line of summary) console.log(line);
    if (o.json) writeFileSync(o.json, JSON.stringify(results, null, 1));
  } finally {
    if (!o.keep && !userDir) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
