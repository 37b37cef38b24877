/**
 * Shared pieces of the benchmarks: the deterministic synthetic workload, a `.npy` writer, the
 * child-process runner with a time limit (a stalled backend must not stall the bench), medians
 * and the machine description.
 * @module
 */
import { spawn, execFileSync } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { makeRng } from "../src/io/synthetic.js";

/** A dense row-major float64 matrix (the library's `Mat`). */
export interface M {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** The shape of one workload written to disk. */
export interface Workload {
  dir: string;
  N: number;
  d: number;
  layers: number;
  t: number;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `.npy` v1.0 header for a C-order array of `<f8` or `<f4`. */
export function npyHeader(descr: "<f8" | "<f4", shape: readonly number[]): Buffer {
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shp}, }`;
  const total = 10 + h.length + 1;
  h += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const b = Buffer.alloc(10 + h.length);
  b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  b.writeUInt16LE(h.length, 8);
  b.write(h, 10, "latin1");
  return b;
}

/** Writes a float64 matrix as a `.npy` file. */
export function writeNpyF64(path: string, m: M): void {
  const head = npyHeader("<f8", [m.rows, m.cols]);
  const body = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  writeFileSync(path, Buffer.concat([head, body]));
}

/** Writes a float32 `.npy` file of `rows`×`cols` whose rows come from `fill` in blocks (streamed). */
export async function writeNpyF32Streamed(
  path: string,
  rows: number,
  cols: number,
  blockRows: number,
  fill: (r0: number, r1: number, out: Float32Array) => void,
): Promise<void> {
  const ws = createWriteStream(path);
  const write = (b: Buffer) =>
    new Promise<void>((res, rej) => ws.write(b, (e) => (e ? rej(e) : res())));
  await write(npyHeader("<f4", [rows, cols]));
  for (let r0 = 0; r0 < rows; r0 += blockRows) {
    const r1 = Math.min(rows, r0 + blockRows);
    const out = new Float32Array((r1 - r0) * cols);
    fill(r0, r1, out);
    await write(Buffer.from(out.buffer));
  }
  await new Promise<void>((res, rej) => ws.end((e?: Error | null) => (e ? rej(e) : res())));
}

/**
 * The synthetic network of the benchmark: targets `Y` (N×t, three columns of different scales and
 * a mean offset) and per layer `H_l = Y·A_l + s_l·E_l·D + 1·μ_lᵀ` (E Gaussian, D a decaying
 * diagonal so the noise spectrum is not flat, s_l shrinking geometrically from 3 to 0.02 so NRC1
 * runs from ~0.6 down to ~1e-4), and weights `W_l = Z_l/√d + c_l·M_l·A_l` whose top input
 * subspace turns towards the signal span as c_l grows. Deterministic in `seed`.
 */
export class SyntheticNet {
  readonly y: M;
  private readonly rngSeed: number;
  constructor(
    readonly N: number,
    readonly d: number,
    readonly L: number,
    readonly t = 3,
    seed = 20260101,
  ) {
    this.rngSeed = seed;
    const rng = makeRng(seed);
    const y = new Float64Array(N * t);
    const sc = [1, 0.7, 0.4, 0.25, 0.15];
    for (let i = 0; i < N; i++)
      for (let j = 0; j < t; j++) y[i * t + j] = 0.5 + sc[j % sc.length] * rng.normal();
    this.y = { rows: N, cols: t, data: y };
  }

  /** Noise scale of layer l. */
  noiseScale(l: number): number {
    return this.L === 1 ? 0.3 : 3 * (0.02 / 3) ** (l / (this.L - 1));
  }

  private loadings(l: number): { A: Float64Array; mu: Float64Array; D: Float64Array } {
    const { d, t } = this;
    const rng = makeRng(this.rngSeed + 1000 * (l + 1));
    const A = new Float64Array(t * d);
    for (let i = 0; i < A.length; i++) A[i] = rng.normal();
    const mu = new Float64Array(d);
    for (let i = 0; i < d; i++) mu[i] = 2 * rng.normal();
    const D = new Float64Array(d);
    for (let i = 0; i < d; i++) D[i] = 1 - (0.9 * i) / Math.max(1, d - 1);
    return { A, mu, D };
  }

  /** Rows [r0, r1) of layer l's features, into `out` (float64 or float32). */
  fillFeatures(l: number, r0: number, r1: number, out: Float64Array | Float32Array): void {
    const { d, t } = this;
    const { A, mu, D } = this.loadings(l);
    const s = this.noiseScale(l);
    // Noise is seeded per (layer, row block of 1024) so any row range reproduces the same values;
    // Box–Muller pairs, ceil(d/2) per row.
    const B = 1024;
    const pairs = (d + 1) >> 1;
    let rng = makeRng(0);
    const row = new Float64Array(2 * pairs);
    const yv = this.y.data;
    for (let i = r0; i < r1; i++) {
      if (i === r0 || i % B === 0) {
        rng = makeRng(this.rngSeed + 7919 * (l + 1) + 104729 * Math.floor(i / B));
        for (let skip = (i % B) * pairs; skip > 0; skip--) (rng.uniform(), rng.uniform());
      }
      for (let j = 0; j < d; j += 2) {
        const r = Math.sqrt(-2 * Math.log(rng.uniform()));
        const a = 2 * Math.PI * rng.uniform();
        row[j] = mu[j] + s * D[j] * r * Math.cos(a);
        if (j + 1 < d) row[j + 1] = mu[j + 1] + s * D[j + 1] * r * Math.sin(a);
      }
      for (let k = 0; k < t; k++) {
        const yk = yv[i * t + k];
        for (let j = 0; j < d; j++) row[j] += yk * A[k * d + j];
      }
      const o = (i - r0) * d;
      for (let j = 0; j < d; j++) out[o + j] = row[j];
    }
  }

  features(l: number): M {
    const data = new Float64Array(this.N * this.d);
    this.fillFeatures(l, 0, this.N, data);
    return { rows: this.N, cols: this.d, data };
  }

  weight(l: number): M {
    const { d, t } = this;
    const { A } = this.loadings(l);
    const rng = makeRng(this.rngSeed + 31 * (l + 1) + 5);
    const c = this.L === 1 ? 0.05 : 0.0005 * 1000 ** (l / (this.L - 1));
    const W = new Float64Array(d * d);
    const M = new Float64Array(d * t);
    for (let i = 0; i < M.length; i++) M[i] = rng.normal();
    const z = 1 / Math.sqrt(d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        let v = z * rng.normal();
        for (let k = 0; k < t; k++) v += c * M[i * t + k] * A[k * d + j];
        W[i * d + j] = v;
      }
    return { rows: d, cols: d, data: W };
  }

  /** Writes `Y.npy`, `H{l}.npy`, `W{l}.npy` (float64) to `dir`. */
  writeTo(dir: string): Workload {
    return writeWorkload(dir, this);
  }
}

/** A network whose layers can be written as a workload. */
export interface WorkloadNet {
  readonly y: M;
  readonly N: number;
  readonly d: number;
  readonly L: number;
  readonly t: number;
  features(l: number): M;
  weight(l: number): M;
}

/** Writes a network as `Y.npy`, `H{l}.npy`, `W{l}.npy` (float64) and `workload.json` in `dir`. */
export function writeWorkload(dir: string, net: WorkloadNet): Workload {
  mkdirSync(dir, { recursive: true });
  writeNpyF64(join(dir, "Y.npy"), net.y);
  for (let l = 0; l < net.L; l++) {
    writeNpyF64(join(dir, `H${l}.npy`), net.features(l));
    writeNpyF64(join(dir, `W${l}.npy`), net.weight(l));
  }
  const w: Workload = { dir, N: net.N, d: net.d, layers: net.L, t: net.t };
  writeFileSync(join(dir, "workload.json"), JSON.stringify(w));
  return w;
}

/** Result of a child process run with a time limit. */
export interface ChildResult {
  ok: boolean;
  /** "ok", "stalled" (killed at the limit, or exited with a never-settled promise), "failed". */
  status: "ok" | "stalled" | "failed";
  stdout: string;
  stderr: string;
  wallMs: number;
  code: number | null;
}

/**
 * Runs a command with a wall-clock limit. Exit code 13 (Node: "unsettled top-level await", i.e.
 * the event loop emptied while a promise was pending: a worker deadlock) also counts as stalled.
 */
export function runChild(
  cmd: string,
  args: readonly string[],
  limitMs: number,
  env: Record<string, string> = {},
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
      detached: true,
    });
    let out = "";
    let err = "";
    let killed = false;
    p.stdout.on("data", (b) => (out += b));
    p.stderr.on("data", (b) => (err += b));
    const timer = setTimeout(() => {
      killed = true;
      try {
        process.kill(-p.pid!, "SIGKILL");
      } catch {
        p.kill("SIGKILL");
      }
    }, limitMs);
    p.on("close", (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      const stalled = killed || code === 13;
      resolve({
        ok: code === 0 && !killed,
        status: code === 0 && !killed ? "ok" : stalled ? "stalled" : "failed",
        stdout: out,
        stderr: err,
        wallMs,
        code,
      });
    });
  });
}

/** The last line of stdout that parses as JSON. */
export function lastJson<T>(stdout: string): T | null {
  const lines = stdout.trim().split("\n").reverse();
  for (const l of lines) {
    if (!l.startsWith("{")) continue;
    try {
      return JSON.parse(l) as T;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

/** The Python interpreter with numpy, or null. */
export function findPython(): string | null {
  for (const py of [process.env.PYTHON, "python3", "/usr/bin/python3"]) {
    if (!py) continue;
    try {
      execFileSync(py, ["-c", "import numpy"], { stdio: "ignore" });
      return py;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Machine facts for the results. */
export function machine(): Record<string, string | number> {
  let model = cpus()[0]?.model ?? "?";
  try {
    const l = execFileSync("lscpu", { encoding: "utf8" });
    model = /Model name:\s*(.+)/.exec(l)?.[1]?.trim() ?? model;
  } catch {
    /* keep os.cpus() */
  }
  let mem = "";
  try {
    mem = /MemTotal:\s*(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? "";
  } catch {
    /* none */
  }
  return {
    cpu: model,
    cores: cpus().length,
    memGiB: mem ? Math.round(Number(mem) / 1048576) : "?",
    node: process.version,
    loadavg: loadavg()
      .map((x) => x.toFixed(2))
      .join(" "),
    date: new Date().toISOString(),
  };
}

/** Formats milliseconds compactly. */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
}
