/**
 * The bench's child processes: a `bench/job.ts` job or `bench/numpy_pipeline.py` run with a
 * wall-clock limit (a backend that hangs is "stalled", never waited for), and the comparison of
 * their metric values with a reference.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lastJson, runChild, type ChildResult } from "./common.js";
import type { JobResult, JobSpec, LayerValues } from "./job.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const TSX = join(HERE, "..", "node_modules", ".bin", "tsx");
/** Node before 22 runs relaxed SIMD (the wasm FMA build) only behind this V8 flag. */
const RELAXED_FLAG =
  Number(process.versions.node.split(".")[0]) < 22 ? ["--experimental-wasm-relaxed-simd"] : [];

/** A job's outcome: its result, or why there is none. */
export interface Outcome {
  status: "ok" | "stalled" | "failed" | "n/a" | "skipped" | "over limit";
  /** For "over limit" without a run: the extrapolated time (ms). */
  est?: number;
  why?: string;
  r?: JobResult;
  wallMs?: number;
}

function reason(c: ChildResult): string {
  const lines = c.stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("at ") && !/^=+$/.test(l));
  const msg = lines.find((l) => /failed|Error|error/.test(l)) ?? lines[lines.length - 1] ?? "";
  return msg.replace(/^job failed: (Error: )?/, "").slice(0, 160);
}

export async function job(
  spec: JobSpec,
  limitMs: number,
  nodeFlags: string[] = [],
  env: Record<string, string> = {},
): Promise<Outcome> {
  const script = [join(HERE, "job.ts"), JSON.stringify(spec)];
  const c =
    spec.backend.endsWith("-fma") || nodeFlags.length > 0
      ? await runChild(
          process.execPath,
          [...RELAXED_FLAG, ...nodeFlags, "--import", "tsx", ...script],
          limitMs,
          env,
        )
      : await runChild(TSX, script, limitMs, env);
  if (c.status === "ok") {
    const r = lastJson<JobResult>(c.stdout);
    if (r) return { status: "ok", r, wallMs: c.wallMs };
    return { status: "failed", why: "no result line", wallMs: c.wallMs };
  }
  if (c.status === "stalled")
    return {
      status: "stalled",
      why:
        c.code === 13
          ? "a promise never settled (event loop emptied: worker deadlock)"
          : `killed after ${(limitMs / 1000).toFixed(0)} s`,
      wallMs: c.wallMs,
    };
  const why = reason(c);
  // A backend that cannot start (no adapter, no module) is "n/a", anything else "failed".
  const na = /adapter|initBackend|unavailable|Cannot find|setBackend/.test(why);
  return { status: na ? "n/a" : "failed", why, wallMs: c.wallMs };
}

export interface NumpyOut {
  numpy: string;
  blas: string;
  threads: string;
  gramMs?: number[];
  eigMs?: number[];
  fastMs?: number[];
  fast?: LayerValues[];
  authorsMs?: number[];
  authors?: LayerValues[];
  exactMs?: number[];
  exact?: LayerValues[];
  targetStableRank?: number;
}

export async function numpy(
  py: string | null,
  dir: string,
  args: string[],
  limitMs: number,
): Promise<{ status: Outcome["status"]; why?: string; r?: NumpyOut }> {
  if (!py) return { status: "n/a", why: "no python3 with numpy" };
  const c = await runChild(py, [join(HERE, "numpy_pipeline.py"), dir, ...args], limitMs);
  if (c.status !== "ok") return { status: c.status, why: reason(c) || `exit ${c.code}` };
  const r = lastJson<NumpyOut>(c.stdout);
  return r ? { status: "ok", r } : { status: "failed", why: "no result line" };
}

export const METRICS: (keyof LayerValues)[] = [
  "nrc1",
  "nrc2",
  "nrc3",
  "nrc4",
  "stableRankFeatures",
  "stableRankWeight",
];

/** Largest relative difference of `got` from `ref` over layers and metrics, and where. */
export function maxRel(got: LayerValues[], ref: LayerValues[]): { rel: number; where: string } {
  let rel = 0;
  let where = "";
  got.forEach((g, l) => {
    for (const m of METRICS) {
      const a = g[m];
      const b = ref[l]?.[m];
      if (a === null || b === null || b === undefined) continue;
      const r = Math.abs(a - b) / Math.abs(b);
      if (!(r <= rel)) {
        rel = r;
        where = `${m.replace("stableRank", "sr")} L${l}`;
      }
    }
  });
  return { rel, where };
}
