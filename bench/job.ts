/**
 * One benchmark job in its own process (so that a backend that stalls can be killed without
 * stalling the bench): `tsx bench/job.ts '<json spec>'`. Prints one JSON line on stdout.
 *
 * Spec: `{ kind: "pipeline" | "kernels", backend, dir, reps, layers?, t? }`.
 * - backend `"default"`: the call users write, `measureNRC({ layers, targets })` with no backend
 *   (its shared backend starts in the untimed warm-up run and is reused after); `"by-name"`:
 *   `backend: "wasm"`. Both pipeline only.
 * - pipeline: `measureNRC` (preset paper) over the first `layers` layers of the workload in
 *   `dir`, `reps` timed runs after a small warm-up; returns the times and the metric values.
 *   Backend start-up is outside the timing (a started backend is passed in).
 * - kernels: `gram` of H0 (N×d) and `symEig` of its centered Gram / N (d×d), `reps` times each.
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { measureNRC, completeKernels, jsBackend } from "../src/index.js";
import type { Backend, CompleteKernels, NRCReport } from "../src/index.js";
import type { LayerCertificate } from "../src/engine/report.js";
import { wasmBackend } from "../src/backends/wasm/index.js";
import { readNpy } from "../src/io/npy.js";
import { openFileSource } from "../src/node/file-source.js";
import type { M, Workload } from "./common.js";
import { mlGram, mlLayer, mlSymEig, toML } from "./mlmatrix.js";

export interface JobSpec {
  kind: "pipeline" | "kernels";
  backend: string;
  dir: string;
  reps: number;
  /** Only the first this many layers (default all). */
  layers?: number;
  /** Only these layers (indices), e.g. one layer to time alone. */
  pick?: number[];
  /** Stop repeating once one run took longer than this (ms); the result says how many ran. */
  longMs?: number;
}

export interface LayerValues {
  nrc1: number | null;
  nrc2: number | null;
  nrc3: number | null;
  nrc4: number | null;
  stableRankFeatures: number | null;
  stableRankWeight: number | null;
}

export interface JobResult {
  backend: string;
  info: string;
  kind: string;
  /** Pipeline run times (ms). */
  times?: number[];
  /** For ml-matrix: layers actually timed (the time is extrapolated to all). */
  layersTimed?: number;
  values?: LayerValues[];
  /** Per layer, the certified path's bounds (null: the float64 path ran). */
  certificates?: (LayerCertificate | null)[];
  targetStableRank?: number;
  gramMs?: number[];
  eigMs?: number[];
  maxRssMB: number;
}

async function load(path: string): Promise<M> {
  const src = await openFileSource(path);
  try {
    const t = await readNpy(src);
    return { rows: t.shape[0], cols: t.shape[1], data: t.data };
  } finally {
    await src.close();
  }
}

async function loadLayers(
  dir: string,
  L: number,
): Promise<{ name: string; features: M; weight: M }[]> {
  const layers: { name: string; features: M; weight: M }[] = [];
  for (let l = 0; l < L; l++)
    layers.push({
      name: `L${l}`,
      features: await load(join(dir, `H${l}.npy`)),
      weight: await load(join(dir, `W${l}.npy`)),
    });
  return layers;
}

async function startBackend(name: string): Promise<{ k: CompleteKernels; info: string }> {
  let b: Backend;
  let info = "";
  switch (name) {
    case "js":
      b = jsBackend;
      break;
    case "wasm1":
      b = wasmBackend({ threads: 1, fma: false });
      break;
    case "wasm2":
      b = wasmBackend({ threads: 2, requireThreads: true, fma: false });
      break;
    case "wasm-f64": {
      // The default wasm backend without its float32 Gram: measureNRC's float64 path (issue 22).
      const raw = await wasmBackend().init();
      const full = completeKernels(raw);
      const threads = (raw as unknown as { threads?: number }).threads;
      return { k: { ...full, lowGram: undefined }, info: `threads ${threads}, float64 path` };
    }
    case "wasm2-fma":
      b = wasmBackend({ threads: 2, requireThreads: true, fma: true });
      break;
    case "tfjs-wasm":
    case "tfjs-cpu": {
      const tf = await import("@tensorflow/tfjs-core");
      if (name === "tfjs-wasm") await import("@tensorflow/tfjs-backend-wasm");
      else await import("@tensorflow/tfjs-backend-cpu");
      const ok = await tf.setBackend(name.slice(5));
      if (!ok) throw new Error(`tf.setBackend('${name.slice(5)}') failed`);
      await tf.ready();
      const { tfjsBackend } = await import("../src/backends/tfjs/index.js");
      b = tfjsBackend(tf);
      info = `tfjs ${tf.version_core} on ${tf.getBackend()}`;
      break;
    }
    case "webgpu": {
      const { webgpuBackend } = await import("../src/backends/webgpu/index.js");
      b = webgpuBackend();
      break;
    }
    default:
      throw new Error(`unknown backend ${name}`);
  }
  const raw = await b.init();
  const k = completeKernels(raw);
  const extra = raw as unknown as { adapterInfo?: string; threads?: number };
  if (extra.adapterInfo) info = extra.adapterInfo;
  if (name.startsWith("wasm")) info = `threads ${extra.threads ?? name.slice(4)}`;
  return { k, info };
}

function values(r: NRCReport): LayerValues[] {
  return r.layers.map((l) => ({
    nrc1: l.nrc1,
    nrc2: l.nrc2,
    nrc3: l.nrc3,
    nrc4: l.nrc4,
    stableRankFeatures: l.stableRankFeatures,
    stableRankWeight: l.stableRankWeight,
  }));
}

async function timeReps(
  reps: number,
  longMs: number,
  f: () => Promise<unknown> | unknown,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
    if (times[times.length - 1] > longMs) break;
  }
  return times;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as JobSpec;
  const w = JSON.parse(readFileSync(join(spec.dir, "workload.json"), "utf8")) as Workload;
  const L = Math.min(spec.layers ?? w.layers, w.layers);
  const longMs = spec.longMs ?? Infinity;
  const y = await load(join(spec.dir, "Y.npy"));
  const out: JobResult = { backend: spec.backend, info: "", kind: spec.kind, maxRssMB: 0 };

  if (spec.backend === "ml-matrix") {
    out.info = "ml-matrix Matrix.mmul + EVD (pure JS)";
    const Y = toML(y);
    if (spec.kind === "kernels") {
      const h = toML(await load(join(spec.dir, "H0.npy")));
      let g = mlGram(h);
      out.gramMs = await timeReps(spec.reps, longMs, () => (g = mlGram(h)));
      const s = g.div(h.rows);
      out.eigMs = await timeReps(spec.reps, longMs, () => mlSymEig(s));
    } else {
      // Time one layer (the most expensive part is the same for every layer) and extrapolate.
      const h = toML(await load(join(spec.dir, "H0.npy")));
      const wt = toML(await load(join(spec.dir, "W0.npy")));
      let v = mlLayer(h, wt, Y, w.t);
      const one = await timeReps(spec.reps, longMs, () => (v = mlLayer(h, wt, Y, w.t)));
      out.times = one.map((x) => x * L);
      out.layersTimed = 1;
      out.values = [v];
    }
  } else if (spec.backend === "default" || spec.backend === "by-name") {
    if (spec.kind !== "pipeline") throw new Error(`${spec.backend}: pipeline jobs only`);
    const backend = spec.backend === "default" ? undefined : ("wasm" as const);
    out.info = spec.backend === "default" ? "measureNRC({ layers, targets })" : 'backend: "wasm"';
    const all = await loadLayers(spec.dir, L);
    const layers = spec.pick ? spec.pick.map((i) => all[i]) : all;
    const run = () => measureNRC({ layers, targets: y, t: w.t, preset: "paper", backend });
    let rep = await run(); // warm-up: starts the shared backend, tiers up V8
    out.times = await timeReps(spec.reps, longMs, async () => (rep = await run()));
    out.info += ` → ${rep.backend}`;
    out.values = values(rep);
    out.certificates = rep.layers.map((l) => l.certificate ?? null);
    out.targetStableRank = rep.targetStableRank;
  } else {
    const { k, info } = await startBackend(spec.backend);
    out.info = info;
    try {
      if (spec.kind === "kernels") {
        const h = await load(join(spec.dir, "H0.npy"));
        let g = await k.gram(h);
        out.gramMs = await timeReps(spec.reps, longMs, async () => (g = await k.gram(h)));
        // symEig input: the centered Gram / N, formed in float64 here (same matrix for everyone).
        const d = h.cols;
        const mean = new Float64Array(d);
        for (let i = 0; i < h.rows; i++) for (let j = 0; j < d; j++) mean[j] += h.data[i * d + j];
        for (let j = 0; j < d; j++) mean[j] /= h.rows;
        const s = new Float64Array(d * d);
        for (let i = 0; i < d; i++)
          for (let j = 0; j < d; j++) s[i * d + j] = g.data[i * d + j] / h.rows - mean[i] * mean[j];
        const sm = { rows: d, cols: d, data: s };
        out.eigMs = await timeReps(spec.reps, longMs, () => k.symEig(sm));
      } else {
        const layers = await loadLayers(spec.dir, L);
        // Warm-up on a slice (JIT, wasm compilation, worker start), untimed.
        const n0 = Math.min(512, y.rows);
        await measureNRC({
          layers: [
            {
              features: {
                rows: n0,
                cols: layers[0].features.cols,
                data: layers[0].features.data.subarray(0, n0 * layers[0].features.cols),
              },
              weight: layers[0].weight,
            },
          ],
          targets: { rows: n0, cols: y.cols, data: y.data.subarray(0, n0 * y.cols) },
          preset: "paper",
          backend: k,
        });
        // Small workloads: one untimed full-size run too. Their few timed runs otherwise catch
        // kernels V8 has not yet tiered up at this size (measured: d = 64 took 63 ms in the
        // table against 15 ms over 15 runs).
        let work = 0;
        for (const l of layers) work += l.features.rows * l.features.cols * l.features.cols;
        if (work <= 2e9)
          await measureNRC({ layers, targets: y, t: w.t, preset: "paper", backend: k });
        let rep: NRCReport | null = null;
        out.times = await timeReps(spec.reps, longMs, async () => {
          rep = await measureNRC({ layers, targets: y, t: w.t, preset: "paper", backend: k });
        });
        out.values = values(rep!);
        out.certificates = (rep as NRCReport | null)!.layers.map((l) => l.certificate ?? null);
        out.targetStableRank = rep!.targetStableRank;
      }
    } finally {
      await k.dispose?.();
    }
  }
  out.maxRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(out) + "\n");
  // Workers or GPU handles must not keep the process alive.
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`job failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
