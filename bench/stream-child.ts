/**
 * The measured process of `npm run bench:stream` (see bench/stream.ts): streams the float32 `.npy`
 * files of the workload from disk in row batches into `createNRCAccumulator`, then (a second,
 * separate pass) times the backend's Gram kernel on batches of the same data. Prints one JSON line.
 *
 *   node --import tsx bench/stream-child.ts '{"dir":…,"layers":4,"batch":4096,"backend":"wasm1",
 *                                            "gramEvery":4}'
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { completeKernels, createNRCAccumulator, jsBackend } from "../src/index.js";
import type { Backend, Mat, NRCReport } from "../src/index.js";
import { wasmBackend } from "../src/backends/wasm/index.js";
import { readNpy, readNpyHeader } from "../src/io/npy.js";
import { openFileSource, type FileSource } from "../src/node/file-source.js";
import { tensorToMatrix } from "../src/io/common.js";

interface Spec {
  dir: string;
  layers: number;
  batch: number;
  backend: string;
  /** Time the Gram kernel on every k-th batch (1 = all) and scale up to all batches. */
  gramEvery: number;
  /** The accumulator's NRC4 mode (default tsqr). */
  nrc4?: "tsqr" | "rescan";
  /**
   * How float32 features reach the accumulator: `"f32"` (default, as the CLI: kept float32, the
   * kernels widen while packing) or `"f64"` (decoded to float64 in JS first, the earlier path).
   */
  decode?: "f32" | "f64";
}

function backend(name: string): Backend {
  if (name === "js") return jsBackend;
  if (name === "wasm1") return wasmBackend({ threads: 1 });
  if (name === "wasm2") return wasmBackend({ threads: 2, requireThreads: true });
  throw new Error(`stream bench: backend ${name} not supported here (js, wasm1, wasm2)`);
}

const rssMB = () => process.resourceUsage().maxRSS / 1024;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as Spec;
  const srcs: FileSource[] = [];
  for (let l = 0; l < spec.layers; l++)
    srcs.push(await openFileSource(join(spec.dir, `H${l}.npy`)));
  const ysrc = await openFileSource(join(spec.dir, "Y.npy"));
  const yHeader = await readNpyHeader(ysrc);
  const N = yHeader.shape[0];
  const hHeaders = await Promise.all(srcs.map((s) => readNpyHeader(s)));
  const weights: Mat[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const s = await openFileSource(join(spec.dir, `W${l}.npy`));
    weights.push(tensorToMatrix(await readNpy(s)));
    await s.close();
  }
  const t = JSON.parse(readFileSync(join(spec.dir, "workload.json"), "utf8")).t as number;
  const k = completeKernels(await backend(spec.backend).init());
  const rssAfterStart = rssMB();

  // Pass 1: the accumulator, everything included (reads, float32 → float64, stats, merges).
  const nrc4 = spec.nrc4 ?? "tsqr";
  const acc = createNRCAccumulator({ weights, t, preset: "paper", backend: k, nrc4 });
  let readMs = 0;
  let rescans = 0;
  // As the CLI's fileBatches: headers parsed once, every file's rows requested at once, decoded
  // into two alternating sets of buffers; float32 features kept float32 (decode "f32").
  const keep = (spec.decode ?? "f32") === "f32";
  const sets: (Float64Array | Float32Array)[][] = [];
  let slot = 0;
  const readRows = (rows: [number, number]) => {
    const bufs = (sets[slot] ??= [yHeader, ...hHeaders].map((h, j) => {
      const len = spec.batch * h.shape.slice(1).reduce((a, x) => a * x, 1);
      return keep && j > 0 && h.descr === "<f4" ? new Float32Array(len) : new Float64Array(len);
    }));
    slot ^= 1;
    const p = Promise.all([
      readNpy(ysrc, { rows, header: yHeader, into: bufs[0] as Float64Array }),
      ...srcs.map((s, l) =>
        readNpy(s, { rows, header: hHeaders[l], into: bufs[l + 1], float32: true }),
      ),
    ]).then(([y, ...hs]) => ({
      features: hs.map((h) => tensorToMatrix(h)),
      targets: tensorToMatrix(y),
    }));
    p.catch(() => undefined);
    return p;
  };
  // The next batch is read while this one is accumulated (as the CLI does); readMs is the time
  // spent waiting for a batch that was not ready.
  // A re-read runs backwards (`reverse`, as the CLI's): what the page cache still holds from the
  // previous pass — the end of each file — is read first.
  async function* readBatches(reverse = false) {
    const starts: number[] = [];
    for (let r0 = 0; r0 < N; r0 += spec.batch) starts.push(r0);
    if (reverse) starts.reverse();
    const at = (r0: number): [number, number] => [r0, Math.min(N, r0 + spec.batch)];
    let next = readRows(at(starts[0]));
    for (let i = 0; i < starts.length; i++) {
      const tr = performance.now();
      const batch = await next;
      readMs += performance.now() - tr;
      if (i + 1 < starts.length) next = readRows(at(starts[i + 1]));
      yield batch;
    }
  }
  const t0 = performance.now();
  await acc.addAll(readBatches());
  const accumulateMs = performance.now() - t0;
  // finalize() can throw (a library bug is reported as such); the accumulation figures stand.
  let report: NRCReport | null = null;
  let finalizeError: string | null = null;
  try {
    report = await acc.finalize({
      rescan: () => {
        rescans++;
        return readBatches(rescans % 2 === 1);
      },
    });
  } catch (e) {
    finalizeError = e instanceof Error ? e.message : String(e);
  }
  const streamMs = performance.now() - t0;
  const peakRssMB = rssMB();

  // Pass 2: the Gram kernel alone on the same batches (reads excluded from its time).
  let gramMs = 0;
  let timed = 0;
  let batches = 0;
  for (let r0 = 0, b = 0; r0 < N; r0 += spec.batch, b++) {
    batches++;
    if (b % spec.gramEvery !== 0) continue;
    const rows: [number, number] = [r0, Math.min(N, r0 + spec.batch)];
    for (const s of srcs) {
      const h = tensorToMatrix(await readNpy(s, { rows }));
      const tg = performance.now();
      await k.gram(h);
      gramMs += performance.now() - tg;
    }
    timed++;
  }
  await k.dispose?.();
  process.stdout.write(
    JSON.stringify({
      N,
      layers: spec.layers,
      batch: spec.batch,
      backend: spec.backend,
      nrc4Mode: nrc4,
      decode: keep ? "f32" : "f64",
      rescans,
      streamMs,
      accumulateMs,
      finalizeError,
      readMs,
      gramMsMeasured: gramMs,
      gramBatchesTimed: timed,
      batches,
      gramMs: (gramMs * batches) / timed,
      peakRssMB,
      rssAfterStartMB: rssAfterStart,
      nrc1: report?.layers.map((l) => l.nrc1) ?? [],
      nrc3: report?.layers.map((l) => l.nrc3) ?? [],
      nrc4: report?.layers.map((l) => l.nrc4) ?? [],
    }) + "\n",
  );
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `stream job failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
