/**
 * `npm run bench:certified` (issue 22): the certified path (float32 Gram refined in float64 on
 * the data, measureNRC's default where the backend has `lowGram`) against the float64 path (the
 * same wasm backend without `lowGram`) and numpy's fast pipeline (Gram + eigh + Cholesky), in
 * alternating rounds in one run, each job in its own process, with the CPU model printed.
 * Workloads: the standard one (8 × 10000 × 512, t = 3), `--sweep` (d = 1024 and 2048 at
 * N = 10000), `--trained` (the trained-like layers of bench/trained.ts, with numpy's exact route
 * as the reference). `--revectorize` adds the default call under V8's
 * `--experimental-wasm-revectorize` (Node ≥ 24; reported, not depended on). Every certified
 * layer's certificate goes to the JSON (`--json out.json`).
 *
 *   npm run bench:certified -- [--quick] [--rounds 3] [--reps 2] [--sweep] [--trained]
 *     [--revectorize] [--json out.json]
 * Run it under another Node by putting that node first on PATH (the jobs run `tsx`).
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SyntheticNet, findPython, fmtMs, machine, median, writeWorkload } from "./common.js";
import { job, maxRel, numpy } from "./children.js";
import type { JobResult } from "./job.js";
import { TrainedLikeNet } from "./trained.js";
import { worstError } from "./trained-bench.js";

const argv = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const quick = argv.includes("--quick");
const rounds = arg("--rounds", quick ? 1 : 3);
const reps = arg("--reps", 2);
const limitMs = 600000;
const log = (s: string) => process.stderr.write(`[bench:certified] ${s}\n`);

let revec: string[] = [];
if (argv.includes("--revectorize")) {
  const v8 = execFileSync(process.execPath, ["--v8-options"], { encoding: "utf8" });
  if (v8.includes("--experimental-wasm-revectorize")) revec = ["--experimental-wasm-revectorize"];
  else log(`--revectorize: ${process.version} does not know the flag; skipped`);
}

interface Contender {
  key: string;
  label: string;
  backend: string;
  flags: string[];
  env?: Record<string, string>;
}
/** The certified path wherever its shape allows (opt-in: measureNRC's default is the float64 path). */
const FORCE = { DEEP_NRC_CERTIFIED: "1" };
const contenders: Contender[] = [
  {
    key: "certified",
    label: "measureNRC({ layers, targets }), certified path (DEEP_NRC_CERTIFIED=1)",
    backend: "default",
    flags: [],
    env: FORCE,
  },
  {
    key: "default",
    label: "measureNRC({ layers, targets }) as released (float64 path)",
    backend: "default",
    flags: [],
  },
  { key: "float64", label: "wasm, float64 path (no lowGram)", backend: "wasm-f64", flags: [] },
];
if (revec.length)
  contenders.push({
    key: "certified+revec",
    label: "certified path, --experimental-wasm-revectorize",
    backend: "default",
    flags: revec,
    env: FORCE,
  });

interface WorkloadResult {
  name: string;
  numpyFastMs: number[];
  ms: Record<string, number[]>;
  results: Record<string, JobResult | undefined>;
  markdown: string;
}

async function runWorkload(
  name: string,
  dir: string,
  py: string | null,
  exact: boolean,
): Promise<WorkloadResult> {
  const ms: Record<string, number[]> = { numpy: [] };
  const results: Record<string, JobResult | undefined> = {};
  for (const c of contenders) ms[c.key] = [];
  let ref = null;
  if (exact) {
    const ex = await numpy(py, dir, ["--exact", "--exact-reps", "1"], limitMs * 4);
    ref = ex.r?.exact ?? null;
    log(`${name}: numpy exact (reference) ${ex.status}`);
  }
  for (let round = 0; round < rounds; round++) {
    const line: string[] = [];
    const n = await numpy(py, dir, ["--pipeline", "--reps", String(reps)], limitMs);
    if (n.r?.fastMs) ms.numpy.push(...n.r.fastMs);
    line.push(`numpy fast ${n.r?.fastMs ? fmtMs(median(n.r.fastMs)) : n.status}`);
    for (const c of contenders) {
      const r = await job(
        { kind: "pipeline", backend: c.backend, dir, reps },
        limitMs,
        c.flags,
        c.env,
      );
      if (r.r?.times) ms[c.key].push(...r.r.times);
      results[c.key] = r.r ?? results[c.key];
      line.push(`${c.key} ${r.r?.times ? fmtMs(median(r.r.times)) : `${r.status} ${r.why ?? ""}`}`);
    }
    log(`${name} round ${round + 1}: ${line.join(", ")}`);
  }
  const np = ms.numpy.length ? median(ms.numpy) : NaN;
  const f64 = results.float64?.values;
  const rows = [
    `| ${name} | median | × numpy fast | × float64 path | layers certified | ${exact ? "worst error vs numpy exact" : "max rel. diff. vs float64 path"} |`,
    "| --- | --- | --- | --- | --- | --- |",
    `| numpy fast (Gram + eigh + Cholesky) | ${fmtMs(np)} | 1 | — | — | — |`,
  ];
  const f64ms = ms.float64.length ? median(ms.float64) : NaN;
  for (const c of contenders) {
    const m = ms[c.key].length ? median(ms[c.key]) : NaN;
    const r = results[c.key];
    const certs = r?.certificates ?? [];
    const nCert = certs.filter((x) => x !== null).length;
    let acc = "—";
    if (r?.values && exact && ref) {
      const e = worstError(r.values, ref);
      acc = `${e.err.toExponential(1)} (${e.where})`;
    } else if (r?.values && f64 && c.key !== "float64") {
      const e = maxRel(r.values, f64);
      acc = `${e.rel.toExponential(1)} (${e.where})`;
    }
    rows.push(
      `| ${c.label} | ${fmtMs(m)} | ${(m / np).toFixed(2)}× | ${(m / f64ms).toFixed(2)}× | ${c.key === "float64" ? "—" : `${nCert}/${certs.length}`} | ${acc} |`,
    );
  }
  return { name, numpyFastMs: ms.numpy, ms, results, markdown: rows.join("\n") };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "deep-nrc-certified-"));
  const py = findPython();
  const m = machine();
  log(`CPU: ${m.cpu} (${m.cores} logical), Node ${m.node}, load ${m.loadavg}`);
  const out: WorkloadResult[] = [];
  try {
    const [N, d, L] = quick ? [2000, 256, 2] : [10000, 512, 8];
    const std = writeWorkload(join(root, "std"), new SyntheticNet(N, d, L, 3));
    out.push(await runWorkload(`${L}×${N}×${d} standard (t = 3)`, std.dir, py, false));
    if (argv.includes("--sweep"))
      for (const [dw, lw] of quick
        ? [[512, 1]]
        : [
            [1024, 2],
            [2048, 1],
          ]) {
        const w = writeWorkload(join(root, `w${dw}`), new SyntheticNet(N, dw, lw, 3));
        out.push(await runWorkload(`${lw}×${N}×${dw} width sweep`, w.dir, py, false));
      }
    if (argv.includes("--trained")) {
      const net = new TrainedLikeNet(N, quick ? 256 : 512);
      const w = net.writeTo(join(root, "trained"));
      out.push(await runWorkload(`${net.L}×${N}×${net.d} trained-like`, w.dir, py, true));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  console.log(
    `CPU: ${m.cpu}; ${m.cores} logical CPUs; Node ${m.node}; load average ${m.loadavg}\n`,
  );
  for (const w of out) console.log(w.markdown + "\n");
  const jsonAt = argv.indexOf("--json");
  if (jsonAt >= 0)
    writeFileSync(
      argv[jsonAt + 1],
      JSON.stringify(
        {
          machine: m,
          flags: revec,
          workloads: out.map((w) => ({
            name: w.name,
            ms: w.ms,
            certificates: w.results.certified?.certificates ?? null,
            values: Object.fromEntries(Object.entries(w.results).map(([k, r]) => [k, r?.values])),
          })),
        },
        null,
        1,
      ),
    );
  process.exit(0);
}

void main();
