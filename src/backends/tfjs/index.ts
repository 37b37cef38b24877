/**
 * The tfjs backend: Gram matrices, shifted moments and cross products on the active tfjs backend
 * (cpu, wasm, webgl, webgpu, node), exact by default from integer digits whose float32 products
 * and sums are exact (`./exact.ts`, `../slices.ts`); `precision: "float32"` and `lowGram` are the
 * float32 pass: float32 partial products over row tiles (batched `matMul` of explicitly
 * transposed tiles: `transposeA` is ~20× slower on tfjs-wasm), summed in float64 on the host, with
 * the columns centered and power-of-two scaled first (see `../webgpu/f32prep.ts`). Measured for
 * the float32 pass (test/backends/f32-suite.ts): |ΔGᵢⱼ| ≤ 5e-7·‖ãᵢ‖‖ãⱼ‖ on tfjs-wasm (10000×512),
 * 6e-8 on tfjs-cpu; NRC1 within 1.2e-7 absolute. The float64 kernels (eigen, SVD, QR, least
 * squares) run on the CPU backend (wasm, else JS).
 *
 * `@tensorflow/tfjs-core` is an optional peer dependency, imported through a variable specifier
 * only when no namespace is passed; the core entry never imports it. The `deep-nrc/tfjs` entry
 * (tensor inputs, `measureLayersModel`) lives in `src/tfjs/`.
 * @module
 */
import type { Backend, Kernels, Mat, MatF32 } from "../types.js";
import { checkMatPair, checkPrecision, importPeer } from "../peer.js";
import {
  HOST_CROSS_MAX,
  checkShift,
  cpuKernels,
  hostCross,
  startCpu,
  type LowGram,
} from "../offload.js";
import { exactTfProduct, probeExactMatMul } from "./exact.js";
import type { TF } from "./tf.js";
import {
  type ColPrep,
  fillChunk,
  shiftPrep,
  finishProduct,
  lowGramResult,
  pow2Scale,
  prepColumns,
  shiftedStats,
} from "../webgpu/f32prep.js";

export type { TF } from "./tf.js";

/** The part of a tfjs tensor the backend's kernels use. */
interface TfTensor {
  data(): Promise<Float32Array | Int32Array | Uint8Array>;
  dispose(): void;
}

/** Options of {@link tfjsBackend}. */
export interface TfjsBackendOptions {
  /**
   * Rows per float32 partial product (default 1024). Each tile's n×q product is read back and the
   * tiles are summed in float64; smaller tiles round less and read back more.
   */
  tileRows?: number;
  /** Upper bound on the float32 input of one batched matMul, in bytes (default 64 MiB). */
  maxChunkBytes?: number;
  /**
   * `"exact"` (default): products from integer digits (`./exact.ts`), as accurate as float64.
   * `"float32"`: the float32 pass (~1e-7 of the centered data; not for collapsed layers).
   */
  precision?: "exact" | "float32";
  /**
   * The CPU backend for the float64 kernels tfjs does not run (eigen, SVD, QR, least squares).
   * Default: `wasmBackend()`, else the JS kernels. Started by `init()`, disposed with the backend.
   */
  cpu?: Backend;
}

/** The kernels a started tfjs backend provides. */
export interface TfjsKernels extends Kernels {
  readonly name: "tfjs";
  /** The active tfjs backend when the kernels started (`tf.getBackend()`), e.g. `"wasm"`. */
  readonly tfBackend: string;
  /** Rows per float32 partial product. */
  readonly tileRows: number;
  /** How the products are computed: exactly from integer digits, or by the float32 pass. */
  readonly precision: "exact" | "float32";
  gram(a: Mat): Promise<Mat>;
  crossProd(a: Mat, b: Mat): Promise<Mat>;
  /** The float32 pass's Gram about a shift (issue 22's `lowGram`, the certified start). */
  lowGram(a: Mat | MatF32, shift: Float64Array): Promise<LowGram>;
  dispose(): Promise<void>;
}

async function loadTf(tf: TF | undefined): Promise<TF> {
  if (tf) return tf;
  return importPeer<TF>(
    "@tensorflow/tfjs-core",
    "tfjs backend: pass the tf namespace (tfjsBackend(tf)) or install the optional peer '@tensorflow/tfjs-core'",
  );
}

/**
 * A backend that runs the Gram matrices, shifted moments and cross products on the active tfjs
 * backend (`tf.getBackend()`: cpu, wasm, webgl, webgpu, tensorflow), exact by default: the centered,
 * power-of-two-scaled columns are cut into 7 integer digits of ≤ 2^7 and multiplied as float32
 * tiles of ≤ 1024 rows, where every partial sum is an integer below 2^24 and so exact, then
 * recombined in float64 (`./exact.ts`) — as accurate as float64, collapsed layers included. That
 * needs float32 arithmetic: `init()` probes matMul on such a sum and refuses a backend that
 * rounds it (WebGL with float16 textures only), saying to pass `precision: "float32"`. `lowGram` is the float32 pass about a shift (float32 tiles summed in
 * float64), the start of issue 22's certified spectrum. Eigen, SVD, QR and least squares run on
 * the CPU backend (`cpu`, default wasm, else JS).
 *
 * @param tf The tfjs namespace whose backend to use (default: `import("@tensorflow/tfjs-core")`,
 *   which must share its engine with the backend you registered). Register and select a backend
 *   first, e.g. `import "@tensorflow/tfjs-backend-wasm"; await tf.setBackend("wasm")`.
 * @param opts `precision` (`"exact"`, default, or `"float32"`: the float32 pass for every
 *   product, ~1e-7 of the centered data), `cpu`, `tileRows` (default 1024), `maxChunkBytes`
 *   (default 64 MiB).
 * @returns A {@link Backend}; `init()` waits for `tf.ready()` and starts the CPU backend.
 * @throws `init()` rejects with an NRCInputError for a `precision` other than "exact"/"float32",
 *   and with an Error when tfjs cannot be loaded or no tfjs backend is registered.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { measureNRC } from "deep-nrc";
 * import { tfjsBackend } from "deep-nrc/tfjs";
 * await tf.setBackend("cpu");
 * const report = await measureNRC({ layers, targets, backend: tfjsBackend(tf) });
 * ```
 */
export function tfjsBackend(tf?: TF, opts: TfjsBackendOptions = {}): Backend {
  return {
    name: "tfjs",
    async init(): Promise<TfjsKernels> {
      checkPrecision("tfjsBackend", opts.precision);
      const t = await loadTf(tf);
      try {
        await t.ready();
      } catch (e) {
        throw new Error(
          `tfjs backend: no tfjs backend is ready (register one, e.g. import "@tensorflow/tfjs-backend-cpu"): ${(e as Error).message}`,
        );
      }
      const name = t.getBackend();
      if (!name) throw new Error("tfjs backend: tf.getBackend() returned no backend");
      if ((opts.precision ?? "exact") === "exact") {
        const wrong = await probeExactMatMul(t);
        if (wrong !== null)
          throw new Error(
            `tfjs backend: tfjs-${name}'s matMul is not exact on integers below 2^24 (a probe read ${wrong}, not 16500094: float16 arithmetic?), so the exact products cannot run on it; pass precision: "float32" or use another backend`,
          );
      }
      return makeTfjsKernels(t, name, await startCpu(opts.cpu), opts);
    },
  };
}

function makeTfjsKernels(
  tf: TF,
  tfBackend: string,
  cpu: Kernels | null,
  opts: TfjsBackendOptions,
): TfjsKernels {
  const precision = opts.precision ?? "exact";
  const tileRows = Math.max(1, Math.floor(opts.tileRows ?? 1024));
  const maxChunkBytes = Math.max(4096, opts.maxChunkBytes ?? 64 * 1024 * 1024);

  /** The float32 pass: the float64 sum of float32 tile products of centered, scaled columns. */
  async function f32Acc(
    a: Mat | MatF32,
    b: Mat | MatF32 | null,
    fillA?: (r0: number, r1: number, dst: Float32Array) => void,
  ): Promise<{ acc: Float64Array; pa: ColPrep; pb: ColPrep }> {
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : n;
    // (with fillA the caller's rows need no column statistics here)
    const pa: ColPrep = fillA
      ? { mean: new Float64Array(n), csum: new Float64Array(n), scale: new Float64Array(n).fill(1) }
      : prepColumns(a);
    const pb: ColPrep = b ? prepColumns(b) : pa;
    const T = Math.min(tileRows, m);
    const tilesTotal = Math.ceil(m / T);
    const bytesPerTile = T * (n + (b ? q : 0)) * 4;
    const tilesPerChunk = Math.max(
      1,
      Math.min(tilesTotal, Math.floor(maxChunkBytes / bytesPerTile)),
    );
    const acc = new Float64Array(n * q);
    const nq = n * q;
    for (let t0 = 0; t0 < tilesTotal; t0 += tilesPerChunk) {
      const tiles = Math.min(tilesPerChunk, tilesTotal - t0);
      const r0 = t0 * T;
      const r1 = Math.min(m, r0 + tiles * T);
      const fa = new Float32Array(tiles * T * n);
      if (fillA) fillA(r0, r1, fa);
      else fillChunk(a, pa, r0, r1, fa);
      let fb: Float32Array | null = null;
      if (b) {
        fb = new Float32Array(tiles * T * q);
        fillChunk(b, pb, r0, r1, fb);
      }
      const out: TfTensor = tf.tidy(() => {
        const parts: TfTensor[] = [];
        for (let t = 0; t < tiles; t++) {
          const x = tf.tensor2d(fa.subarray(t * T * n, (t + 1) * T * n), [T, n], "float32");
          const y = fb
            ? tf.tensor2d(fb.subarray(t * T * q, (t + 1) * T * q), [T, q], "float32")
            : x;
          // Transpose explicitly: matMul's transposeA is far slower on some tfjs backends.
          parts.push(tf.matMul(tf.transpose(x), y));
        }
        return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
      });
      let part: Float32Array | Int32Array | Uint8Array;
      try {
        part = await out.data();
      } finally {
        out.dispose();
      }
      for (let t = 0; t < tiles; t++) {
        const o = t * nq;
        if (b) {
          for (let k = 0; k < nq; k++) acc[k] += part[o + k];
        } else {
          for (let i = 0; i < n; i++) {
            const ro = i * n;
            for (let j = i; j < n; j++) acc[ro + j] += part[o + ro + j];
          }
        }
      }
    }
    return { acc, pa, pb };
  }

  const exact = (a: Mat | MatF32, b: Mat | MatF32 | null, sa?: Float64Array, sb?: Float64Array) =>
    exactTfProduct(tf, a, b, tileRows, maxChunkBytes, sa, sb);

  async function product(fn: string, a: Mat, b: Mat | null): Promise<Mat> {
    checkMatPair(fn, a, b);
    if (precision === "exact") return exact(a, b);
    const { acc, pa, pb } = await f32Acc(a, b);
    return finishProduct(acc, a.rows, pa, pb, b === null);
  }

  const kernels: TfjsKernels = {
    ...cpuKernels(cpu),
    name: "tfjs",
    tfBackend,
    tileRows,
    precision,
    float32Inputs: true,
    gram: (a: Mat) => product("gram", a, null),
    crossProd: (a: Mat, b: Mat) => product("crossProd", a, b),
    async lowGram(a: Mat | MatF32, shift: Float64Array) {
      checkMatPair("lowGram", a, null);
      checkShift("lowGram", a, shift);
      // One host pass for the float64 sums, squares and scales; rows centered at the shift and
      // scaled in float64, each entry rounded once to float32 (the bound's model exactly).
      const st = shiftedStats(a, shift);
      const scale = st.maxAbs.map(pow2Scale);
      const fill = (r0: number, r1: number, dst: Float32Array) =>
        fillChunk(a, shiftPrep(shift, scale), r0, r1, dst);
      const { acc } = await f32Acc(a, null, fill);
      return lowGramResult(acc, a.rows, new Float64Array(a.cols), scale, st, tileRows);
    },

    async dispose() {
      await cpu?.dispose?.();
    },
  };
  if (precision === "exact")
    kernels.shiftedMoments = async (a: Mat | MatF32, shift: Float64Array, b: Mat) => {
      checkMatPair("shiftedMoments", a, b);
      checkShift("shiftedMoments", a, shift);
      const side = hostCross(a, shift, b);
      const gram = await exact(a, null, shift);
      const cross =
        b.cols > HOST_CROSS_MAX ? await exact(a, b, shift, new Float64Array(b.cols)) : side.cross;
      return { gram, cross, sums: side.sums };
    };
  return kernels;
}
