/**
 * The tfjs backend: Gram matrices and cross products on the active tfjs backend (cpu, wasm,
 * webgl, webgpu, node). tfjs computes in float32, so the products are float32 partial products
 * over row tiles (batched `matMul` of explicitly transposed tiles: `transposeA` is ~20× slower
 * on tfjs-wasm), summed in float64 on the host, with the columns centered and power-of-two
 * scaled first (see `../webgpu/f32prep.ts`). Everything else falls back to the float64 JS kernels.
 * Measured (test/backends/f32-suite.ts): |ΔGᵢⱼ| ≤ 5e-7·‖ãᵢ‖‖ãⱼ‖ on tfjs-wasm (10000×512, whose
 * matMul sums in float32), 6e-8 on tfjs-cpu (which sums 48-term blocks in float64); NRC1 within
 * 1.2e-7 absolute, NRC2/NRC3 within 4e-7 where the eigengap is ≥ 0.03. Time on tfjs-wasm
 * (10000×512 Gram, 2 cores): ~0.4 s; `matMul(x, x, true)` took 17.8× as long as
 * `matMul(transpose(x), x)` there.
 *
 * `@tensorflow/tfjs-core` is an optional peer dependency, imported through a variable specifier
 * only when no namespace is passed; the core entry never imports it. The `deep-nrc/tfjs` entry
 * (tensor inputs, `measureLayersModel`) lives in `src/tfjs/`.
 * @module
 */
import { NRCInputError, fmtShape } from "../../errors.js";
import type { Backend, Kernels, Mat } from "../types.js";
import { type ColPrep, fillChunk, finishProduct, prepColumns } from "../webgpu/f32prep.js";

/**
 * The tfjs namespace (`import * as tf from "@tensorflow/tfjs-core"` or `@tensorflow/tfjs`): only
 * the members this module calls, typed loosely, so that the published declarations do not import
 * `@tensorflow/tfjs-core` (an optional peer: `tsc` without `skipLibCheck` must pass without it).
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface TF {
  getBackend(): string;
  ready(): Promise<void>;
  tidy(...args: any[]): any;
  tensor2d(...args: any[]): any;
  matMul(...args: any[]): any;
  transpose(...args: any[]): any;
  concat(...args: any[]): any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

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
}

/** The kernels a started tfjs backend provides. */
export interface TfjsKernels extends Kernels {
  readonly name: "tfjs";
  /** The active tfjs backend when the kernels started (`tf.getBackend()`), e.g. `"wasm"`. */
  readonly tfBackend: string;
  /** Rows per float32 partial product. */
  readonly tileRows: number;
  gram(a: Mat): Promise<Mat>;
  crossProd(a: Mat, b: Mat): Promise<Mat>;
}

async function loadTf(tf: TF | undefined): Promise<TF> {
  if (tf) return tf;
  try {
    // A variable specifier: bundling the core (which names this backend) never pulls in the peer.
    const peer = "@tensorflow/tfjs-core";
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ peer)) as unknown as TF;
  } catch (e) {
    throw new Error(
      `tfjs backend: pass the tf namespace (tfjsBackend(tf)) or install the optional peer '@tensorflow/tfjs-core': ${(e as Error).message}`,
    );
  }
}

function checkMat(fn: string, arg: string, x: Mat): void {
  if (
    x === null ||
    typeof x !== "object" ||
    !Number.isInteger(x.rows) ||
    !Number.isInteger(x.cols) ||
    x.rows < 1 ||
    x.cols < 1 ||
    !(x.data instanceof Float64Array) ||
    x.data.length !== x.rows * x.cols
  )
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must be a Mat { rows ≥ 1, cols ≥ 1, data: Float64Array of rows·cols }; got ${
        x && typeof x === "object"
          ? `${fmtShape(x.rows, x.cols)} with data length ${x.data?.length}`
          : typeof x
      }`,
    );
}

/**
 * A backend that runs the Gram matrix `AᵀA` and cross products `AᵀB` on the active tfjs backend
 * (`tf.getBackend()`: cpu, wasm, webgl, webgpu, tensorflow), as float32 partial products over row
 * tiles summed in float64 (columns centered and power-of-two scaled before the float32 conversion,
 * means added back exactly). `symEig`, `svd`, `qr` and `matmul` stay on the float64 JS kernels.
 * Accuracy: about 1e-7 relative to the centered Gram (float32); use the `js`/`wasm` backends where a
 * metric must resolve less than ~1e-6 of the variance (NRC1 of collapsed layers).
 *
 * @param tf The tfjs namespace whose backend to use (default: `import("@tensorflow/tfjs-core")`,
 *   which must share its engine with the backend you registered). Register and select a backend
 *   first, e.g. `import "@tensorflow/tfjs-backend-wasm"; await tf.setBackend("wasm")`.
 * @param opts `tileRows` (default 1024), `maxChunkBytes` (default 64 MiB).
 * @returns A {@link Backend}; `init()` waits for `tf.ready()`.
 * @throws `init()` rejects when tfjs cannot be loaded or no tfjs backend is registered.
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
      return makeTfjsKernels(t, name, opts);
    },
  };
}

function makeTfjsKernels(tf: TF, tfBackend: string, opts: TfjsBackendOptions): TfjsKernels {
  const tileRows = Math.max(1, Math.floor(opts.tileRows ?? 1024));
  const maxChunkBytes = Math.max(4096, opts.maxChunkBytes ?? 64 * 1024 * 1024);

  async function product(fn: string, a: Mat, b: Mat | null): Promise<Mat> {
    checkMat(fn, "a", a);
    if (b) {
      checkMat(fn, "b", b);
      if (b.rows !== a.rows)
        throw new NRCInputError(
          fn,
          "b",
          `a and b must have the same number of rows; got ${fmtShape(a.rows, a.cols)} and ${fmtShape(b.rows, b.cols)}`,
        );
    }
    const m = a.rows;
    const n = a.cols;
    const q = b ? b.cols : n;
    const pa: ColPrep = prepColumns(a);
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
      fillChunk(a, pa, r0, r1, fa);
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
    return finishProduct(acc, m, pa, pb, b === null);
  }

  return {
    name: "tfjs",
    tfBackend,
    tileRows,
    gram: (a: Mat) => product("gram", a, null),
    crossProd: (a: Mat, b: Mat) => product("crossProd", a, b),
  };
}
